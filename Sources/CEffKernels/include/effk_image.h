// Image preprocessing kernels: packed RGB8 → the model's int8 input.
#ifndef EFFK_IMAGE_H
#define EFFK_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Resize the crop [x0, x0+cw) × [y0, y0+ch) of a packed RGB8 image (row stride in bytes)
// to out_w × out_h with a bilinear (triangle) filter whose support widens with the
// downscale factor, as Pillow's Image.resize(BILINEAR) does, in the same fixed-point
// arithmetic (horizontal pass, then vertical, 22 fractional bits), so results match
// Pillow byte for byte. `scratch` needs out_w * ch * 3 bytes plus
// effk_resize_coeffs_size(cw, out_w) + effk_resize_coeffs_size(ch, out_h) bytes.
size_t effk_rgb8_resize_scratch_size(int32_t cw, int32_t ch, int32_t out_w, int32_t out_h);
void effk_rgb8_resize_bilinear__scalar(const uint8_t *in, int32_t stride, int32_t x0, int32_t y0,
                                       int32_t cw, int32_t ch, uint8_t *out, int32_t out_w,
                                       int32_t out_h, void *scratch);

// 256-entry table: q = clamp(rint(((u - mean) / std) / scale) + zero_point) in float32,
// rounding half to even (as numpy does when the reference inputs were made).
void effk_qs8_input_table(float mean, float std, float scale, int32_t zero_point, int8_t table[256]);
void effk_u8_lookup_qs8__scalar(const int8_t table[256], const uint8_t *in, int8_t *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif
