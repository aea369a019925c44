// Shared helpers of the avx2 kernels (internal). x86-64 only.
#ifndef EFFK_AVX2_COMMON_H
#define EFFK_AVX2_COMMON_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "../tables.h"

// Every function of this folder carries this target; nothing is compiled with -m flags.
#define EFFK_T256 __attribute__((target("avx2")))
#define EFFK_INLINE256 static inline __attribute__((always_inline)) EFFK_T256

// Per-lane constants of TFLite's MultiplyByQuantizedMultiplier for 8 int32 lanes.
typedef struct {
  __m256i me;     // multiplier (even lanes used by vpmuldq)
  __m256i mo;     // multiplier of the odd lanes, moved to the even halves
  __m256i lsh;    // max(shift, 0)
  __m256i rsh;    // max(-shift, 0)
  __m256i rhalf;  // (1 << rsh) >> 1
} effk_rq256;

EFFK_INLINE256 effk_rq256 effk_rq256_make(__m256i m, __m256i s) {
  effk_rq256 q;
  q.me = m;
  q.mo = _mm256_srli_epi64(m, 32);
  q.lsh = _mm256_max_epi32(s, _mm256_setzero_si256());
  q.rsh = _mm256_max_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), s), _mm256_setzero_si256());
  q.rhalf = _mm256_srli_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), q.rsh), 1);
  return q;
}

EFFK_INLINE256 effk_rq256 effk_rq256_load(const int32_t *mult, const int32_t *shift) {
  return effk_rq256_make(_mm256_loadu_si256((const __m256i *)mult),
                         _mm256_loadu_si256((const __m256i *)shift));
}

EFFK_INLINE256 effk_rq256 effk_rq256_uniform(int32_t mult, int32_t shift) {
  return effk_rq256_make(_mm256_set1_epi32(mult), _mm256_set1_epi32(shift));
}

// As effk_rq_general of avx512vnni/common.h: a positive shift or an INT32_MIN multiplier.
static inline int effk_rq_general256(const int32_t *mult, const int32_t *shift, int32_t n) {
  int32_t any = 0;
  for (int32_t i = 0; i < n; ++i) any |= (shift[i] > 0) | (mult[i] == INT32_MIN);
  return any != 0;
}

// TFLite MultiplyByQuantizedMultiplier (double rounding), bit exact, on 8 int32 lanes; see
// avx512vnni/common.h for the derivation. SaturatingRoundingDoublingHighMul is
// floor((x*m + 2^30) / 2^31) from vpmuldq on even/odd lanes (INT32_MIN*INT32_MIN, the one
// overflow, wraps to INT32_MIN and is moved to INT32_MAX by adding the all-ones compare);
// RoundingDivideByPOT is sign(v) * ((|v| + half) >> e), the sign restored by vpsignd (which
// zeroes where v == 0, where the magnitude is 0 anyway). GENERAL = 0 leaves out the left
// shift and the saturation (valid when no shift is > 0 and no multiplier is INT32_MIN).
EFFK_INLINE256 __m256i effk_rq256_apply_t(__m256i x, const effk_rq256 *q, const int GENERAL) {
  const __m256i nudge = _mm256_set1_epi64x(INT64_C(1) << 30);
  if (GENERAL) x = _mm256_sllv_epi32(x, q->lsh);
  const __m256i pe = _mm256_add_epi64(_mm256_mul_epi32(x, q->me), nudge);
  const __m256i po = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), q->mo), nudge);
  __m256i v = _mm256_blend_epi32(_mm256_srli_epi64(pe, 31), _mm256_slli_epi64(po, 1), 0xAA);
  if (GENERAL) v = _mm256_add_epi32(v, _mm256_cmpeq_epi32(v, _mm256_set1_epi32(INT32_MIN)));
  const __m256i r = _mm256_srlv_epi32(_mm256_add_epi32(_mm256_abs_epi32(v), q->rhalf), q->rsh);
  return _mm256_sign_epi32(r, v);
}

EFFK_INLINE256 __m256i effk_rq256_apply(__m256i x, const effk_rq256 *q) {
  return effk_rq256_apply_t(x, q, 1);
}

// Requantize, add the output zero point (wrapping), clamp (CLAMP = 0: the caller's saturating
// packs clamp to [-128, 127], valid only for the full activation range).
EFFK_INLINE256 __m256i effk_rq256_out_t(__m256i acc, const effk_rq256 *q, __m256i zp, __m256i lo,
                                         __m256i hi, const int GENERAL, const int CLAMP) {
  const __m256i v = _mm256_add_epi32(effk_rq256_apply_t(acc, q, GENERAL), zp);
  return CLAMP ? _mm256_min_epi32(_mm256_max_epi32(v, lo), hi) : v;
}

// Two vectors of 8 int32 (channels 0-7, 8-15) -> 16 int8 in order (signed saturation).
EFFK_INLINE256 __m128i effk_pack16_256(__m256i a, __m256i b) {
  const __m256i t = _mm256_packs_epi32(a, b);  // a0-3 b0-3 | a4-7 b4-7
  const __m256i u = _mm256_packs_epi16(t, t);  // bytes: a0-3 b0-3 a0-3 b0-3 | a4-7 b4-7 ...
  const __m256i o = _mm256_permutevar8x32_epi32(u, _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5));
  return _mm256_castsi256_si128(o);
}

// One vector of 8 int32 -> 8 int8 in the low half (signed saturation).
EFFK_INLINE256 __m128i effk_pack8_256(__m256i a) {
  const __m128i t = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  return _mm_packs_epi16(t, t);
}

// The kernels of this folder (gemm.c, dwconv.c, elementwise.c), gathered by table.c.
size_t effk_qs8_conv1x1_packed_size__avx2(int32_t in_c, int32_t out_c);
void effk_qs8_conv1x1_pack__avx2(const int8_t *filter, const int32_t *bias, int32_t in_c,
                                 int32_t out_c, int32_t input_zero_point, void *packed);
void effk_qs8_conv1x1_6x16c2__avx2(const effk_conv2d_params *p, const int8_t *input,
                                   const void *packed, const int32_t *mult, const int32_t *shift,
                                   int8_t *output, int32_t pixel_begin, int32_t pixel_end);
void effk_qs8_conv1x1_channels_6x16c2__avx2(const effk_conv2d_params *p, const int8_t *input,
    const void *packed, const int32_t *mult, const int32_t *shift, int8_t *output,
    int32_t pixel_begin, int32_t pixel_end, int32_t c_begin, int32_t c_end);
size_t effk_qs8_conv_packed_size__avx2(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c);
void effk_qs8_conv_pack__avx2(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                              int32_t in_c, int32_t out_c, int32_t input_zero_point,
                              void *packed);
void effk_qs8_conv_im2col_6x16c2__avx2(const effk_conv2d_params *p, const int8_t *input,
                                       const void *packed, const int32_t *mult,
                                       const int32_t *shift, int8_t *output, int32_t oy_begin,
                                       int32_t oy_end);
size_t effk_qs8_dwconv_packed_size__avx2(int32_t kh, int32_t kw, int32_t c);
void effk_qs8_dwconv_pack__avx2(const int8_t *filter, const int32_t *bias, int32_t kh,
                                int32_t kw, int32_t c, int32_t input_zero_point, void *packed);
void effk_qs8_dwconv_16c2__avx2(const effk_conv2d_params *p, const int8_t *input,
                                const void *packed, const int32_t *mult, const int32_t *shift,
                                int8_t *output, int32_t oy_begin, int32_t oy_end);
void effk_qs8_dwconv_channels_16c2__avx2(const effk_conv2d_params *p, const int8_t *input,
                                         const void *packed, const int32_t *mult,
                                         const int32_t *shift, int8_t *output, int32_t oy_begin,
                                         int32_t oy_end, int32_t c_begin, int32_t c_end);
void effk_qs8_add__avx2(const effk_add_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                        size_t n);
void effk_qs8_mul__avx2(const effk_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                        size_t n);
void effk_qs8_mul_channel__avx2(const effk_mul_params *p, const int8_t *a, const int8_t *channel,
                                int8_t *out, int32_t c, int32_t pixel_begin, int32_t pixel_end);
void effk_qs8_lookup__avx2(const int8_t table[256], const int8_t *in, int8_t *out, size_t n);
void effk_qs8_mean_hw__avx2(const effk_mean_params *p, const int8_t *input, int8_t *output);
void effk_qs8_mean_hw_channels__avx2(const effk_mean_params *p, const int8_t *input,
                                     int8_t *output, int32_t c_begin, int32_t c_end);

// FULLY_CONNECTED (fc.c).
size_t effk_qs8_fc_packed_size__avx2(int32_t in_c, int32_t out_c);
void effk_qs8_fc_pack__avx2(const int8_t *filter, const int32_t *bias, int32_t in_c,
                            int32_t out_c, int32_t input_zero_point, int32_t filter_zero_point,
                            void *packed);
void effk_qs8_fc__avx2(const effk_fc_params *p, const int8_t *input, const void *packed,
                       const double *scale, int8_t *output, int32_t oc_begin, int32_t oc_end);

#endif  // __x86_64__
#endif
