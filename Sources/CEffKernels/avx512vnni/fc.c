// FULLY_CONNECTED (a GEMV per batch row) with AVX-512 VNNI. x86-64 only.
//
// Packed layout: tables.h's blocked layout with nr = 16, kr = 4 and x_offset = 128: VPDPBUSD
// multiplies the input as uint8 (x ^ 0x80 = x + 128) by the int8 weights, 16 output channels
// x 4 input channels per instruction; int32 accumulation is exact (wrapping, as the reference).
// Up to 4 blocks (64 channels) share each broadcast input group.
//
// Requantization in double on 16 lanes, bit for bit the reference's round(acc * scale):
// vcvtdq2pd is exact, the product is one IEEE multiply as in C, and round-half-away-from-zero is
// t = trunc(v); t += copysign(1, v) where |v - t| >= 0.5 (v - t is exact). vcvttpd2dq gives the
// same INT32_MIN as the scalar cvttsd2si where the value does not fit int32.
#if defined(__x86_64__)
#include "common.h"

#define FC_NR 16
enum { FC_KR = 4 };

size_t effk_qs8_fc_packed_size__avx512vnni(int32_t in_c, int32_t out_c) {
  return effk__fc_blocked_packed_size(in_c, out_c, FC_NR, FC_KR);
}

void effk_qs8_fc_pack__avx512vnni(const int8_t *filter, const int32_t *bias, int32_t in_c,
                                  int32_t out_c, int32_t input_zero_point,
                                  int32_t filter_zero_point, void *packed) {
  effk__fc_blocked_pack(filter, bias, in_c, out_c, input_zero_point, filter_zero_point, 128, FC_NR,
                        FC_KR, packed);
}

EFFK_INLINE512 __m512d fc_round512(__m512d v) {
  const __m512d t = _mm512_roundscale_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512d d = _mm512_abs_pd(_mm512_sub_pd(v, t));
  const __mmask8 m = _mm512_cmp_pd_mask(d, _mm512_set1_pd(0.5), _CMP_GE_OQ);
  const __m512d one = _mm512_or_pd(_mm512_set1_pd(1.0),
                                   _mm512_and_pd(v, _mm512_set1_pd(-0.0)));
  return _mm512_mask_add_pd(t, m, t, one);
}

// Requantizes 16 accumulators of channels [oc0, oc0 + 16) and stores lanes in `lanes`.
EFFK_INLINE512 void fc_store16(__m512i acc, const double *scale, const effk_fc_params *p,
                               __mmask16 lanes, int8_t *out) {
  const __m512d lo = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(acc)),
                                   _mm512_maskz_loadu_pd((__mmask8)lanes, scale));
  const __m512d hi = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(acc, 1)),
                                   _mm512_maskz_loadu_pd((__mmask8)(lanes >> 8), scale + 8));
  __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvttpd_epi32(fc_round512(lo))),
                                 _mm512_cvttpd_epi32(fc_round512(hi)), 1);
  v = _mm512_add_epi32(v, _mm512_set1_epi32(p->output_zero_point));
  v = _mm512_max_epi32(v, _mm512_set1_epi32(p->act_min));
  v = _mm512_min_epi32(v, _mm512_set1_epi32(p->act_max));
  _mm_mask_storeu_epi8(out, lanes, _mm512_cvtepi32_epi8(v));
}

// NB (1..4) blocks starting at block blk, one batch row.
EFFK_INLINE512 void fc_tile(const effk_fc_params *p, const int8_t *x, const int32_t *bias_fold,
                            const int8_t *w, const double *scale, int32_t corr, int8_t *out,
                            int32_t blk, int32_t oc_begin, int32_t oc_end, const int NB) {
  const int32_t in_c = p->in_c, groups = (in_c + FC_KR - 1) / FC_KR, full = in_c / FC_KR;
  const size_t bstride = (size_t)groups * FC_NR * FC_KR;
  const int8_t *wb = w + (size_t)blk * bstride;
  __m512i acc[4];
  for (int j = 0; j < NB; ++j)
    acc[j] = _mm512_add_epi32(_mm512_loadu_si512(bias_fold + (size_t)(blk + j) * FC_NR),
                              _mm512_set1_epi32(corr));
  const __m512i flip = _mm512_set1_epi32((int32_t)0x80808080u);
  for (int32_t g = 0; g < full; ++g) {
    int32_t x4;
    memcpy(&x4, x + (size_t)g * 4, 4);
    const __m512i xv = _mm512_xor_si512(_mm512_set1_epi32(x4), flip);
    for (int j = 0; j < NB; ++j)
      acc[j] = _mm512_dpbusd_epi32(
          acc[j], xv, _mm512_loadu_si512(wb + (size_t)j * bstride + (size_t)g * FC_NR * FC_KR));
  }
  if (full < groups) {
    uint8_t t[4] = {0, 0, 0, 0};
    memcpy(t, x + (size_t)full * 4, (size_t)(in_c - full * 4));
    int32_t x4;
    memcpy(&x4, t, 4);
    const __m512i xv = _mm512_xor_si512(_mm512_set1_epi32(x4), flip);
    for (int j = 0; j < NB; ++j)
      acc[j] = _mm512_dpbusd_epi32(
          acc[j], xv, _mm512_loadu_si512(wb + (size_t)j * bstride + (size_t)full * FC_NR * FC_KR));
  }
  for (int j = 0; j < NB; ++j) {
    const int32_t oc0 = (blk + j) * FC_NR;
    const int32_t lo = oc_begin > oc0 ? oc_begin - oc0 : 0;
    const int32_t hi = oc_end < oc0 + FC_NR ? oc_end - oc0 : FC_NR;
    if (hi <= lo) continue;
    const __mmask16 lanes = (__mmask16)((0xFFFFu >> (FC_NR - hi)) & (0xFFFFu << lo));
    fc_store16(acc[j], scale + oc0, p, lanes, out + oc0);
  }
}

#define FC_NBMAX 4
#define FC_ATTR EFFK_T512
#define FC_NAME effk_qs8_fc__avx512vnni
#include "../fc_driver.h"
#endif
