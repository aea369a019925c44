// Shared helpers of the avx512vnni kernels (internal). x86-64 only.
#ifndef EFFK_AVX512VNNI_COMMON_H
#define EFFK_AVX512VNNI_COMMON_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "../tables.h"

// Every function of this folder carries this target; nothing is compiled with -m flags.
#define EFFK_T512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define EFFK_INLINE512 static inline __attribute__((always_inline)) EFFK_T512

// Per-lane constants of TFLite's MultiplyByQuantizedMultiplier for 16 int32 lanes.
typedef struct {
  __m512i me;     // multiplier (even lanes used by vpmuldq)
  __m512i mo;     // multiplier of the odd lanes, moved to the even halves
  __m512i lsh;    // max(shift, 0)
  __m512i rsh;    // max(-shift, 0)
  __m512i rhalf;  // (1 << rsh) >> 1
} effk_rq512;

EFFK_INLINE512 effk_rq512 effk_rq512_make(__m512i m, __m512i s) {
  effk_rq512 q;
  q.me = m;
  q.mo = _mm512_srli_epi64(m, 32);
  q.lsh = _mm512_max_epi32(s, _mm512_setzero_si512());
  q.rsh = _mm512_max_epi32(_mm512_sub_epi32(_mm512_setzero_si512(), s), _mm512_setzero_si512());
  q.rhalf = _mm512_srli_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), q.rsh), 1);
  return q;
}

// Per-channel constants for up to 16 channels (lanes past the mask get multiplier 0).
EFFK_INLINE512 effk_rq512 effk_rq512_load(const int32_t *mult, const int32_t *shift, __mmask16 k) {
  return effk_rq512_make(_mm512_maskz_loadu_epi32(k, mult), _mm512_maskz_loadu_epi32(k, shift));
}

EFFK_INLINE512 effk_rq512 effk_rq512_uniform(int32_t mult, int32_t shift) {
  return effk_rq512_make(_mm512_set1_epi32(mult), _mm512_set1_epi32(shift));
}

// Whether multipliers/shifts need the general requantization: a positive shift (a left shift
// before the multiply) or a multiplier of INT32_MIN (the one saturating product). TFLite's
// QuantizeMultiplier never gives INT32_MIN, and conv shifts are <= 0 in practice.
static inline int effk_rq_general(const int32_t *mult, const int32_t *shift, int32_t n) {
  int32_t any = 0;
  for (int32_t i = 0; i < n; ++i) any |= (shift[i] > 0) | (mult[i] == INT32_MIN);
  return any != 0;
}

// TFLite MultiplyByQuantizedMultiplier (double rounding), bit exact, on 16 int32 lanes:
//   x' = x << lsh (wrapping, as the reference's (uint32_t) shift)
//   SaturatingRoundingDoublingHighMul(x', m) = floor((x'*m + 2^30) / 2^31) for every sign
//     (the nudge 1-2^30 for negative products plus truncation toward zero is the same as
//     adding 2^30 and flooring), computed in 64 bits with vpmuldq on even/odd lanes. The
//     only product that overflows is INT32_MIN*INT32_MIN (2^31, wraps to INT32_MIN, which
//     no other input can produce): it saturates to INT32_MAX.
//   RoundingDivideByPOT(v, e) rounds half away from zero: sign(v) * ((|v| + half) >> e),
//     half = (1 << e) >> 1; |v| + half < 2^32 (v != INT32_MIN), so the shift is unsigned.
// GENERAL = 0 leaves out the left shift and the saturation: valid only when every lane's
// shift is <= 0 and no multiplier is INT32_MIN (effk_rq_general() == 0).
EFFK_INLINE512 __m512i effk_rq512_apply_t(__m512i x, const effk_rq512 *q, const int GENERAL) {
  const __m512i nudge = _mm512_set1_epi64(INT64_C(1) << 30);
  if (GENERAL) x = _mm512_sllv_epi32(x, q->lsh);
  const __m512i pe = _mm512_add_epi64(_mm512_mul_epi32(x, q->me), nudge);
  const __m512i po = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), q->mo), nudge);
  __m512i v = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 31), _mm512_slli_epi64(po, 1));
  if (GENERAL) {
    const __m512i min32 = _mm512_set1_epi32(INT32_MIN);
    v = _mm512_mask_mov_epi32(v, _mm512_cmpeq_epi32_mask(v, min32), _mm512_set1_epi32(INT32_MAX));
  }
  const __m512i r = _mm512_srlv_epi32(_mm512_add_epi32(_mm512_abs_epi32(v), q->rhalf), q->rsh);
  return _mm512_mask_sub_epi32(r, _mm512_movepi32_mask(v), _mm512_setzero_si512(), r);
}

EFFK_INLINE512 __m512i effk_rq512_apply(__m512i x, const effk_rq512 *q) {
  return effk_rq512_apply_t(x, q, 1);
}

// Requantize, add the output zero point (wrapping, as the reference's int32 add), clamp.
// CLAMP = 0 skips the clamp: only for act_min == -128 and act_max == 127, and only when the
// caller narrows with signed saturation (vpmovsdb / vpackssdw+vpacksswb), which then clamps.
EFFK_INLINE512 __m512i effk_rq512_out_t(__m512i acc, const effk_rq512 *q, __m512i zp, __m512i lo,
                                         __m512i hi, const int GENERAL, const int CLAMP) {
  const __m512i v = _mm512_add_epi32(effk_rq512_apply_t(acc, q, GENERAL), zp);
  return CLAMP ? _mm512_min_epi32(_mm512_max_epi32(v, lo), hi) : v;
}

EFFK_INLINE512 __m512i effk_rq512_out(__m512i acc, const effk_rq512 *q, __m512i zp, __m512i lo,
                                       __m512i hi) {
  return effk_rq512_out_t(acc, q, zp, lo, hi, 1, 1);
}

static inline __mmask16 effk_mask16(int32_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}
static inline __mmask64 effk_mask64(int32_t n) {
  return n >= 64 ? ~(__mmask64)0 : n <= 0 ? (__mmask64)0 : (((__mmask64)1 << n) - 1);
}

// ---- fp32 requantization with an exactness test ---------------------------------------------
// For a multiplier m >= 0 and shift -e with e >= 1, effk_rq512_apply(x) + zp is exactly
//   floor(v + a),  v = x * m / 2^(31+e),  a = zp + 1/2 + 2^-(e+1) (x >= 0) or zp + 1/2 - 2^-(e+1) (x < 0):
// the reference's two roundings, floor((x*m + 2^30) / 2^31) and then half away from zero at
// 2^e, nest into one floor of x*m plus 2^30 + 2^(30+e) (x >= 0) or 2^(30+e) - 2^30 (x < 0)
// over 2^(31+e). fp32 computes t = fl(fl(x) * s + a - eps), s = fl(m / 2^(31+e)), eps = 2^-12,
// one rounding each (explicit round-to-nearest, whatever MXCSR says). Where |v + a| < 256 (every
// unsaturated output; |a| <= 129), the error of t against v + a - eps is below
// 2^-24 * (2|v| + |t|) + 2^-17 < 7e-5 (x, s and the fma rounded once each, a once when
// prepared), so t < v + a <= t + 2 eps: when floor(t) == floor(t + 2 eps) (tested exactly, as
// t - floor(t) < 1 - 2 eps), that is floor(v + a). A lane that close to an integer fails the
// test and the whole vector is redone by the exact integer path (on random accumulators about
// 1 vector in 150). Where |v + a| >= 256, t has the same sign and |t| > 255 (relative error
// < 2^-22), so both saturate alike; e >= 1 keeps |v| < 2^30 and the conversion in range.
// On Zen 4 it took Lite0's convolutions (stem, 1x1, depthwise) from 3.38 to 3.08 ms
// (scripts/bench-kernels --isa avx512vnni).
#define EFFK_RQF_MAXN 2048
#define EFFK_RQF_EPS (1.0f / 4096.0f)
#define EFFK_RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define EFFK_RD (_MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)

// Whether a call may use it: every shift in [-60, -1], every multiplier >= 0 (never INT32_MIN),
// an int8 output zero point and activation range, and at most EFFK_RQF_MAXN channels (the
// constants live on the stack).
static inline int effk_rqf_usable(const int32_t *mult, const int32_t *shift, int32_t n,
                                  int32_t zp, int32_t act_min, int32_t act_max) {
  if (n > EFFK_RQF_MAXN || zp < -128 || zp > 127 || act_min < -128 || act_max > 127 ||
      act_min > act_max)
    return 0;
  int32_t bad = 0;
  for (int32_t i = 0; i < n; ++i) bad |= (shift[i] > -1) | (shift[i] < -60) | (mult[i] < 0);
  return bad == 0;
}

// Constants of channels [0, n) in groups of 16: {s[16], a_pos[16], a_neg[16]} per group; lanes
// past n get s = 0 and a = zp + 1/2 - eps (their output, zp, is never stored and never fails
// the test). Lanes with shift 0 (only padding: see effk_rqf_usable) get a = zp + 1/2 - eps.
EFFK_INLINE512 void effk_rqf512_prepare(const int32_t *mult, const int32_t *shift, int32_t n,
                                        int32_t zp, float *tab) {
  const __m512 base = _mm512_set1_ps((float)zp + 0.5f - EFFK_RQF_EPS);  // exact
  for (int32_t c = 0; c < n; c += 16, tab += 48) {
    const __mmask16 k = effk_mask16(n - c);
    const __m512i m = _mm512_maskz_loadu_epi32(k, mult + c);
    const __m512i sh = _mm512_maskz_loadu_epi32(k, shift + c);
    // m * 2^(shift - 31): one rounding in the conversion, the power of two is exact.
    const __m512 s = _mm512_scalef_round_ps(
        _mm512_cvt_roundepi32_ps(m, EFFK_RN),
        _mm512_cvtepi32_ps(_mm512_sub_epi32(sh, _mm512_set1_epi32(31))),
        EFFK_RN);
    // 2^-(e+1) where e >= 1; 0 for e = 0 (lanes past n, or multiplier-0 padding), where the
    // two roundings are one and a = zp + 1/2 for either sign.
    const __mmask16 ke = _mm512_mask_cmplt_epi32_mask(k, sh, _mm512_setzero_si512());
    const __m512 d = _mm512_maskz_scalef_round_ps(
        ke, _mm512_set1_ps(1.0f), _mm512_cvtepi32_ps(_mm512_sub_epi32(sh, _mm512_set1_epi32(1))),
        EFFK_RN);
    _mm512_storeu_ps(tab, s);
    _mm512_storeu_ps(tab + 16, _mm512_add_round_ps(base, d, EFFK_RN));
    _mm512_storeu_ps(tab + 32, _mm512_sub_round_ps(base, d, EFFK_RN));
  }
}

// floor(t) for one group of 16 channels (tab: its constants), that is effk_rq512_apply(x) + zp,
// not clamped, in every lane outside *failed (lanes for the exact path). Callers test the
// masks of several vectors at once.
//
// RELU: the caller clamps to an activation range with act_min >= zp, so every x < 0, whose
// exact output is at most zp, comes out as act_min; then a_pos serves every lane (no sign
// blend): for x < 0, t <= fl(a_pos) <= zp + 3/4 (a_pos <= zp + 1/2 + 1/4 and zp + 3/4 is a
// float), so floor(t) <= zp <= act_min and the clamp gives act_min too.
EFFK_INLINE512 __m512i effk_rqf512_try_t(__m512i x, const float *tab, __mmask16 *failed,
                                         const int RELU) {
  const __m512 a = RELU ? _mm512_loadu_ps(tab + 16)
                        : _mm512_mask_blend_ps(_mm512_movepi32_mask(x), _mm512_loadu_ps(tab + 16),
                                               _mm512_loadu_ps(tab + 32));
  const __m512 t = _mm512_fmadd_round_ps(_mm512_cvt_roundepi32_ps(x, EFFK_RN), _mm512_loadu_ps(tab), a, EFFK_RN);
  // floor(t + 2 eps) == floor(t) exactly when t - floor(t) < 1 - 2 eps (vreduceps: exact).
  *failed = _mm512_cmp_ps_mask(_mm512_reduce_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC),
                               _mm512_set1_ps(1.0f - 2 * EFFK_RQF_EPS), _CMP_GE_OQ);
  return _mm512_cvt_roundps_epi32(t, EFFK_RD);
}
EFFK_INLINE512 __m512i effk_rqf512_try(__m512i x, const float *tab, __mmask16 *failed) {
  return effk_rqf512_try_t(x, tab, failed, 0);
}

// Requantization modes of the kernels of this folder, chosen once per call: TFLite's integer
// path, specialized (RQ_INT: no positive shift, no INT32_MIN multiplier) or general
// (RQ_GENERAL), or fp32 with the exactness test (RQ_FP), which leaves the clamp to the bytes;
// RQ_FPR is RQ_FP under a ReLU-like clamp (act_min >= zp: no sign blend, see above).
enum { RQ_INT = 0, RQ_GENERAL = 1, RQ_FP = 2, RQ_FPR = 3 };

// The mode of a per-channel requantization of n channels (the fp32 modes need
// effk_rqf512_prepare's constants).
static inline int effk_rq_mode(const int32_t *mult, const int32_t *shift, int32_t n, int32_t zp,
                               int32_t act_min, int32_t act_max) {
  if (effk_rqf_usable(mult, shift, n, zp, act_min, act_max)) return act_min >= zp ? RQ_FPR : RQ_FP;
  return effk_rq_general(mult, shift, n) ? RQ_GENERAL : RQ_INT;
}

// The same with the exact path folded in: mult/shift/k the group's integer parameters.
EFFK_INLINE512 __m512i effk_rqf512_out_t(__m512i x, const float *tab, const int32_t *mult,
                                         const int32_t *shift, __mmask16 k, __m512i zp,
                                         const int RELU) {
  __mmask16 failed;
  const __m512i r = effk_rqf512_try_t(x, tab, &failed, RELU);
  if (__builtin_expect(failed == 0, 1)) return r;
  const effk_rq512 q = effk_rq512_load(mult, shift, k);
  return _mm512_add_epi32(effk_rq512_apply_t(x, &q, 0), zp);
}
EFFK_INLINE512 __m512i effk_rqf512_out(__m512i x, const float *tab, const int32_t *mult,
                                       const int32_t *shift, __mmask16 k, __m512i zp) {
  return effk_rqf512_out_t(x, tab, mult, shift, k, zp, 0);
}

// The kernels of this folder (gemm.c, dwconv.c, elementwise.c), gathered by table.c.
size_t effk_qs8_conv1x1_packed_size__avx512vnni(int32_t in_c, int32_t out_c);
void effk_qs8_conv1x1_pack__avx512vnni(const int8_t *filter, const int32_t *bias, int32_t in_c,
                                        int32_t out_c, int32_t input_zero_point, void *packed);
void effk_qs8_conv1x1_7x64c4__avx512vnni(const effk_conv2d_params *p, const int8_t *input,
                                         const void *packed, const int32_t *mult,
                                         const int32_t *shift, int8_t *output,
                                         int32_t pixel_begin, int32_t pixel_end);
void effk_qs8_conv1x1_channels_7x64c4__avx512vnni(const effk_conv2d_params *p, const int8_t *input,
    const void *packed, const int32_t *mult, const int32_t *shift, int8_t *output,
    int32_t pixel_begin, int32_t pixel_end, int32_t c_begin, int32_t c_end);
size_t effk_qs8_conv_packed_size__avx512vnni(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c);
void effk_qs8_conv_pack__avx512vnni(const int8_t *filter, const int32_t *bias, int32_t kh,
                                     int32_t kw, int32_t in_c, int32_t out_c,
                                     int32_t input_zero_point, void *packed);
void effk_qs8_conv_im2col_7x64c4__avx512vnni(const effk_conv2d_params *p, const int8_t *input,
                                              const void *packed, const int32_t *mult,
                                              const int32_t *shift, int8_t *output,
                                              int32_t oy_begin, int32_t oy_end);
size_t effk_qs8_dwconv_packed_size__avx512vnni(int32_t kh, int32_t kw, int32_t c);
void effk_qs8_dwconv_pack__avx512vnni(const int8_t *filter, const int32_t *bias, int32_t kh,
                                      int32_t kw, int32_t c, int32_t input_zero_point,
                                      void *packed);
void effk_qs8_dwconv_64c4__avx512vnni(const effk_conv2d_params *p, const int8_t *input,
                                      const void *packed, const int32_t *mult,
                                      const int32_t *shift, int8_t *output, int32_t oy_begin,
                                      int32_t oy_end);
void effk_qs8_dwconv_channels_64c4__avx512vnni(const effk_conv2d_params *p,
                                               const int8_t *input, const void *packed,
                                               const int32_t *mult, const int32_t *shift,
                                               int8_t *output, int32_t oy_begin, int32_t oy_end,
                                               int32_t c_begin, int32_t c_end);
void effk_qs8_add__avx512vnni(const effk_add_params *p, const int8_t *a, const int8_t *b,
                              int8_t *out, size_t n);
void effk_qs8_mul__avx512vnni(const effk_mul_params *p, const int8_t *a, const int8_t *b,
                              int8_t *out, size_t n);
void effk_qs8_mul_channel__avx512vnni(const effk_mul_params *p, const int8_t *a,
                                      const int8_t *channel, int8_t *out, int32_t c,
                                      int32_t pixel_begin, int32_t pixel_end);
void effk_qs8_lookup__avx512vnni(const int8_t table[256], const int8_t *in, int8_t *out,
                                 size_t n);
void effk_qs8_mean_hw__avx512vnni(const effk_mean_params *p, const int8_t *input,
                                  int8_t *output);
void effk_qs8_mean_hw_channels__avx512vnni(const effk_mean_params *p, const int8_t *input,
                                           int8_t *output, int32_t c_begin, int32_t c_end);

// FULLY_CONNECTED (fc.c).
size_t effk_qs8_fc_packed_size__avx512vnni(int32_t in_c, int32_t out_c);
void effk_qs8_fc_pack__avx512vnni(const int8_t *filter, const int32_t *bias, int32_t in_c,
                                  int32_t out_c, int32_t input_zero_point, int32_t filter_zero_point,
                                  void *packed);
void effk_qs8_fc__avx512vnni(const effk_fc_params *p, const int8_t *input, const void *packed,
                             const double *scale, int8_t *output, int32_t oc_begin, int32_t oc_end);

#endif  // __x86_64__
#endif
