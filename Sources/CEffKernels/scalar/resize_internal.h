// Pillow's bilinear coefficients, shared by the RGB8 resize (resize.c) and the fused camera
// frame conversion (frame.c). Not part of the public interface.
#ifndef EFFK_RESIZE_INTERNAL_H
#define EFFK_RESIZE_INTERNAL_H
#include <stdint.h>

#define EFFK_RESIZE_PRECISION_BITS (32 - 8 - 2)

// Taps per output sample for a triangle filter resizing in_size to out_size.
int32_t effk__resize_kernel_size(int32_t in_size, int32_t out_size);
// Per output index: bounds[2i] = first input index, bounds[2i+1] = tap count; kk[i*ksize ..]
// the fixed-point weights (Pillow's precompute_coeffs + normalize_coeffs_8bpc).
void effk__resize_coeffs(int32_t in_size, int32_t out_size, int32_t ksize, int32_t *bounds, int32_t *kk);

#endif
