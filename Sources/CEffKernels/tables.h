// Internal to CEffKernels: the per-ISA kernel tables that dispatch.c chooses from, and
// CPU facts the tables may consult. Not part of the public interface (include/).
#ifndef EFFK_TABLES_H
#define EFFK_TABLES_H

#include <math.h>

#include "effk_dispatch.h"

#ifdef __cplusplus
extern "C" {
#endif

// Defined in scalar/table.c (every platform), avx2/table.c and avx512vnni/table.c
// (x86-64 only), neon/ and neondot/ (aarch64 only). dispatch.c references a table only on
// the architecture that defines it.
extern const effk_isa_kernels effk_kernels__scalar;
extern const effk_isa_kernels effk_kernels__avx2;
extern const effk_isa_kernels effk_kernels__avx512vnni;
extern const effk_isa_kernels effk_kernels__neon;
extern const effk_isa_kernels effk_kernels__neondot;

// ---- conv1x1 fallback shared by the x86 tables (scalar/conv.c) ------------------------
//
// CONV_2D 1x1 by the scalar reference over output pixels [pixel_begin, pixel_end) and channels
// [c_begin, c_end) of p (filter [out_c][in_c], bias of out_c entries), writing nothing else:
// the SIMD tables' path for an in_c too large for their stack panel.
void effk__conv1x1_range__scalar(const effk_conv2d_params *p, const int8_t *input,
                                 const int8_t *filter, const int32_t *bias, const int32_t *mult,
                                 const int32_t *shift, int8_t *output, int32_t pixel_begin,
                                 int32_t pixel_end, int32_t c_begin, int32_t c_end);

// ---- FULLY_CONNECTED helpers shared by the ISA tables (fc_pack.c) ----------------------
//
// Blocked layout of the SIMD tables (nr output channels per block, kr input channels per group):
//   int32 bias_fold[ocp]   bias[oc] - (izp + x_offset) * sum_k w[oc][k] + fzp * izp * in_c
//   int8  w[ocp / nr][kp / kr][nr][kr] = w[nr * blk + j][kr * g + t], zero padded
//   ocp = round_up(out_c, nr), kp = round_up(in_c, kr).
// The kernel adds sum_k w[oc][k] * (x[k] + x_offset) (x_offset 128 where it feeds the input as
// uint8, e.g. VNNI) and, per batch row, effk__fc_row_correction(). All int32 arithmetic wraps,
// as the reference's does: the sum is the reference's accumulator mod 2^32.
size_t effk__fc_blocked_packed_size(int32_t in_c, int32_t out_c, int32_t nr, int32_t kr);
void effk__fc_blocked_pack(const int8_t *filter, const int32_t *bias, int32_t in_c, int32_t out_c,
                           int32_t input_zero_point, int32_t filter_zero_point, int32_t x_offset,
                           int32_t nr, int32_t kr, void *packed);
// -filter_zero_point * sum_k x[k] (wrapping); 0 when filter_zero_point == 0.
int32_t effk__fc_row_correction(const effk_fc_params *p, const int8_t *x);

// One output of effk_qs8_fc__scalar from its accumulator, without undefined behaviour: the
// reference's (int32_t)round(...) is reproduced as the CPU's conversion does it where the value
// does not fit (x86: INT32_MIN; AArch64: saturation, NaN -> 0), and "+ zp" wraps.
static inline int8_t effk__fc_requantize(int32_t acc, double scale, int32_t zp, int32_t act_min,
                                         int32_t act_max) {
  const double r = round((double)acc * scale);
  int32_t v;
  if (r >= -2147483648.0 && r < 2147483648.0)
    v = (int32_t)r;
  else
#if defined(__aarch64__)
    v = r != r ? 0 : (r > 0 ? INT32_MAX : INT32_MIN);
#else
    v = INT32_MIN;
#endif
  v = (int32_t)((uint32_t)v + (uint32_t)zp);
  if (v < act_min) v = act_min;
  if (v > act_max) v = act_max;
  return (int8_t)v;
}

// ---- camera frames (scalar/frame.c) ----------------------------------------------------------
// YUV → RGB coefficients with 16 fractional bits (see effk_convert.h): R = yy + rv*v,
// G = yy - gu*u - gv*v, B = yy + bu*u with yy = (Y - y_off) * cy, u = U - 128, v = V - 128,
// each then (x + 32768) >> 16 clamped to [0, 255]. Every term fits int32.
typedef struct {
  int32_t y_off, cy, rv, gu, gv, bu;
} effk_yuv_coeffs;
effk_yuv_coeffs effk__yuv_coeffs(int32_t matrix, int32_t full_range);

// Pillow's fixed-point precision for 8-bit resampling (EFFK_RESIZE_PRECISION_BITS).
#define EFFK_FRAME_PB 22

// Pillow's horizontal bilinear pass of one RGB8 row: for xx < out_w, channel c,
// dst[3xx + c] = clip8(2^21 + sum_{x < bounds[2xx+1]} row[3(bounds[2xx] + x) + c] * kk[xx*ksize + x])
// (bounds and kk from effk__resize_coeffs; clip8: 0 below 0, 255 from 2^30, else >> 22).
// Reads row bytes [0, 3 * in_w) only. The ISA versions are its byte-exact twins.
void effk__rgb8_resize_row_h__scalar(const uint8_t *row, int32_t in_w, const int32_t *bounds,
                                     const int32_t *kk, int32_t ksize, int32_t out_w, uint8_t *dst);

#if defined(__x86_64__)
// Colour conversion of one row with AVX2 (avx2/frame.c; the avx512vnni table uses it too).
void effk_frame_row_to_rgb8__avx2(const effk_frame *f, int32_t x0, int32_t y, int32_t n, uint8_t *rgb);
void effk__rgb8_resize_row_h__avx2(const uint8_t *row, int32_t in_w, const int32_t *bounds,
                                   const int32_t *kk, int32_t ksize, int32_t out_w, uint8_t *dst);
#endif
#if defined(__aarch64__)
// Colour conversion of one row with NEON (neon/frame.c; the neondot table uses it too).
void effk_frame_row_to_rgb8__neon(const effk_frame *f, int32_t x0, int32_t y, int32_t n, uint8_t *rgb);
void effk__rgb8_resize_row_h__neon(const uint8_t *row, int32_t in_w, const int32_t *bounds,
                                   const int32_t *kk, int32_t ksize, int32_t out_w, uint8_t *dst);
#endif

#if defined(__x86_64__)
// 1 when the CPU (and OS) supports AVX512_VBMI (vpermb); set by dispatch.c before any
// avx512vnni table is handed out. The avx512vnni lookup uses it to pick vpermi2b.
int effk__x86_has_avx512vbmi(void);
#endif

#ifdef __cplusplus
}
#endif

#endif
