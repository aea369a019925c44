// FULLY_CONNECTED (a GEMV per batch row) with AVX2. x86-64 only.
//
// Packed layout: tables.h's blocked layout with nr = 8, kr = 2, x_offset = 0. Each pair of
// input channels is broadcast as two int16 and VPMADDWD multiplies it by 8 output channels x 2
// sign-extended weights: int8 * int8 products summed in pairs are exact in int32 (VPMADDUBSW
// would saturate int16, so it is not used). Up to 4 blocks (32 channels) share each input pair.
//
// Requantization in double, 4 lanes at a time, bit for bit the reference's round(acc * scale):
// exact int32 -> double, one IEEE multiply, round half away from zero as trunc(v) plus
// copysign(1, v) where |v - trunc(v)| >= 0.5, and vcvttpd2dq (INT32_MIN where the value does
// not fit, as the scalar cvttsd2si). Partial blocks (range edges) use effk__fc_requantize.
#if defined(__x86_64__)
#include "common.h"

#define FC_NR 8
enum { FC_KR = 2 };

size_t effk_qs8_fc_packed_size__avx2(int32_t in_c, int32_t out_c) {
  return effk__fc_blocked_packed_size(in_c, out_c, FC_NR, FC_KR);
}

void effk_qs8_fc_pack__avx2(const int8_t *filter, const int32_t *bias, int32_t in_c,
                            int32_t out_c, int32_t input_zero_point, int32_t filter_zero_point,
                            void *packed) {
  effk__fc_blocked_pack(filter, bias, in_c, out_c, input_zero_point, filter_zero_point, 0, FC_NR,
                        FC_KR, packed);
}

EFFK_INLINE256 __m128i fc_requant4(__m128i acc, const double *scale) {
  const __m256d v = _mm256_mul_pd(_mm256_cvtepi32_pd(acc), _mm256_loadu_pd(scale));
  const __m256d t = _mm256_round_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256d sign = _mm256_set1_pd(-0.0);
  const __m256d d = _mm256_andnot_pd(sign, _mm256_sub_pd(v, t));
  const __m256d m = _mm256_cmp_pd(d, _mm256_set1_pd(0.5), _CMP_GE_OQ);
  const __m256d one = _mm256_or_pd(_mm256_set1_pd(1.0), _mm256_and_pd(v, sign));
  return _mm256_cvttpd_epi32(_mm256_add_pd(t, _mm256_and_pd(m, one)));
}

EFFK_INLINE256 void fc_store8(__m256i acc, const double *scale, const effk_fc_params *p,
                              int8_t *out) {
  const __m128i zp = _mm_set1_epi32(p->output_zero_point);
  const __m128i mn = _mm_set1_epi32(p->act_min), mx = _mm_set1_epi32(p->act_max);
  __m128i lo = _mm_add_epi32(fc_requant4(_mm256_castsi256_si128(acc), scale), zp);
  __m128i hi = _mm_add_epi32(fc_requant4(_mm256_extracti128_si256(acc, 1), scale + 4), zp);
  lo = _mm_min_epi32(_mm_max_epi32(lo, mn), mx);
  hi = _mm_min_epi32(_mm_max_epi32(hi, mn), mx);
  const __m128i v16 = _mm_packs_epi32(lo, hi);
  _mm_storel_epi64((__m128i *)out, _mm_packs_epi16(v16, v16));
}

// NB (1..4) blocks starting at block blk, one batch row.
EFFK_INLINE256 void fc_tile(const effk_fc_params *p, const int8_t *x, const int32_t *bias_fold,
                            const int8_t *w, const double *scale, int32_t corr, int8_t *out,
                            int32_t blk, int32_t oc_begin, int32_t oc_end, const int NB) {
  const int32_t in_c = p->in_c, groups = (in_c + FC_KR - 1) / FC_KR, full = in_c / FC_KR;
  const size_t bstride = (size_t)groups * FC_NR * FC_KR;
  const int8_t *wb = w + (size_t)blk * bstride;
  __m256i acc[4];
  for (int j = 0; j < NB; ++j)
    acc[j] = _mm256_add_epi32(
        _mm256_loadu_si256((const __m256i *)(bias_fold + (size_t)(blk + j) * FC_NR)),
        _mm256_set1_epi32(corr));
  for (int32_t g = 0; g < groups; ++g) {
    const uint32_t x0 = (uint16_t)(int16_t)x[2 * g];
    const uint32_t x1 = g < full ? (uint16_t)(int16_t)x[2 * g + 1] : 0u;  // odd in_c: last pair
    const __m256i xv = _mm256_set1_epi32((int32_t)(x0 | x1 << 16));
    for (int j = 0; j < NB; ++j) {
      const __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(
          (const __m128i *)(wb + (size_t)j * bstride + (size_t)g * FC_NR * FC_KR)));
      acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(xv, wv));
    }
  }
  for (int j = 0; j < NB; ++j) {
    const int32_t oc0 = (blk + j) * FC_NR;
    const int32_t lo = oc_begin > oc0 ? oc_begin - oc0 : 0;
    const int32_t hi = oc_end < oc0 + FC_NR ? oc_end - oc0 : FC_NR;
    if (lo == 0 && hi == FC_NR) {
      fc_store8(acc[j], scale + oc0, p, out + oc0);
    } else {
      int32_t a[FC_NR];
      _mm256_storeu_si256((__m256i *)a, acc[j]);
      for (int32_t i = lo; i < hi; ++i)
        out[oc0 + i] = effk__fc_requantize(a[i], scale[oc0 + i], p->output_zero_point, p->act_min,
                                           p->act_max);
    }
  }
}

#define FC_NBMAX 4
#define FC_ATTR EFFK_T256
#define FC_NAME effk_qs8_fc__avx2
#include "../fc_driver.h"
#endif
