// add, mul, mul_channel, lookup, mean_hw with AVX2 (8 int32 lanes; byte tails through a
// small buffer). Same integer arithmetic as scalar/elementwise.c, mean.c and lut.c.
#if defined(__x86_64__)
#include "common.h"

// Loads n <= 8 bytes (all 8 when full) sign-extended to int32.
EFFK_INLINE256 __m256i load8(const int8_t *p, size_t n) {
  if (n >= 8) return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
  int8_t tmp[8] = {0};
  memcpy(tmp, p, n);
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)tmp));
}

EFFK_INLINE256 void store8(int8_t *p, __m256i v, size_t n) {  // v already in int8 range
  const __m128i b = effk_pack8_256(v);
  if (n >= 8) {
    _mm_storel_epi64((__m128i *)p, b);
  } else {
    int8_t tmp[16];
    _mm_storeu_si128((__m128i *)tmp, b);
    memcpy(p, tmp, n);
  }
}

typedef struct {
  __m256i off1, off2, ooff, lo, hi;
  __m128i lshift;
  effk_rq256 q1, q2, qo;
} add_consts;

EFFK_INLINE256 __m256i add8(const add_consts *k, __m256i a, __m256i b) {
  const __m256i x1 = _mm256_sll_epi32(_mm256_add_epi32(a, k->off1), k->lshift);
  const __m256i x2 = _mm256_sll_epi32(_mm256_add_epi32(b, k->off2), k->lshift);
  const __m256i s = _mm256_add_epi32(effk_rq256_apply(x1, &k->q1), effk_rq256_apply(x2, &k->q2));
  const __m256i r = _mm256_add_epi32(effk_rq256_apply(s, &k->qo), k->ooff);
  return _mm256_min_epi32(_mm256_max_epi32(r, k->lo), k->hi);
}

EFFK_T256 void effk_qs8_add__avx2(const effk_add_params *p, const int8_t *a, const int8_t *b,
                                  int8_t *out, size_t n) {
  add_consts k;
  k.off1 = _mm256_set1_epi32(p->input1_offset);
  k.off2 = _mm256_set1_epi32(p->input2_offset);
  k.ooff = _mm256_set1_epi32(p->output_offset);
  k.lo = _mm256_set1_epi32(p->act_min);
  k.hi = _mm256_set1_epi32(p->act_max);
  k.lshift = _mm_cvtsi32_si128(p->left_shift);
  k.q1 = effk_rq256_uniform(p->input1_multiplier, p->input1_shift);
  k.q2 = effk_rq256_uniform(p->input2_multiplier, p->input2_shift);
  k.qo = effk_rq256_uniform(p->output_multiplier, p->output_shift);
  for (size_t i = 0; i < n; i += 8) {
    const size_t m = n - i;
    store8(out + i, add8(&k, load8(a + i, m), load8(b + i, m)), m);
  }
}

typedef struct {
  __m256i off1, off2, ooff, lo, hi;
  effk_rq256 q;
} mul_consts;

EFFK_INLINE256 void mul_consts_init(mul_consts *k, const effk_mul_params *p) {
  k->off1 = _mm256_set1_epi32(p->input1_offset);
  k->off2 = _mm256_set1_epi32(p->input2_offset);
  k->ooff = _mm256_set1_epi32(p->output_offset);
  k->lo = _mm256_set1_epi32(p->act_min);
  k->hi = _mm256_set1_epi32(p->act_max);
  k->q = effk_rq256_uniform(p->output_multiplier, p->output_shift);
}

EFFK_INLINE256 void mul_row(const mul_consts *k, const int8_t *a, const int8_t *b, int8_t *out,
                            size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    const size_t m = n - i;
    const __m256i prod = _mm256_mullo_epi32(_mm256_add_epi32(load8(a + i, m), k->off1),
                                            _mm256_add_epi32(load8(b + i, m), k->off2));
    const __m256i r = _mm256_add_epi32(effk_rq256_apply(prod, &k->q), k->ooff);
    store8(out + i, _mm256_min_epi32(_mm256_max_epi32(r, k->lo), k->hi), m);
  }
}

EFFK_T256 void effk_qs8_mul__avx2(const effk_mul_params *p, const int8_t *a, const int8_t *b,
                                  int8_t *out, size_t n) {
  mul_consts k;
  mul_consts_init(&k, p);
  mul_row(&k, a, b, out, n);
}

EFFK_T256 void effk_qs8_mul_channel__avx2(const effk_mul_params *p, const int8_t *a,
                                          const int8_t *channel, int8_t *out, int32_t c,
                                          int32_t pixel_begin, int32_t pixel_end) {
  mul_consts k;
  mul_consts_init(&k, p);
  for (int32_t px = pixel_begin; px < pixel_end; ++px)
    mul_row(&k, a + (size_t)px * c, channel, out + (size_t)px * c, (size_t)c);
}

// 256-entry lookup: vpshufb over each 16-entry slice, selected by the high nibble.
EFFK_T256 void effk_qs8_lookup__avx2(const int8_t table[256], const int8_t *in, int8_t *out,
                                     size_t n) {
  __m256i t[16];
  for (int s = 0; s < 16; ++s)
    t[s] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(table + 16 * s)));
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i x = _mm256_loadu_si256((const __m256i *)(in + i));
    const __m256i idx = _mm256_and_si256(x, low4);
    const __m256i hi4 = _mm256_and_si256(_mm256_srli_epi16(x, 4), low4);
    __m256i r = _mm256_setzero_si256();
    for (int s = 0; s < 16; ++s)
      r = _mm256_blendv_epi8(r, _mm256_shuffle_epi8(t[s], idx),
                             _mm256_cmpeq_epi8(hi4, _mm256_set1_epi8((char)s)));
    _mm256_storeu_si256((__m256i *)(out + i), r);
  }
  for (; i < n; ++i) out[i] = table[(uint8_t)in[i]];
}

// MEAN over H and W: int32 column sums, 32 channels per pass (tail through a buffer).
// Channels [c_begin, c_end), c_begin a multiple of 32.
EFFK_T256 void effk_qs8_mean_hw_channels__avx2(const effk_mean_params *p, const int8_t *input,
                                               int8_t *output, int32_t c_begin, int32_t c_end) {
  const int32_t hw = p->h * p->w, c = p->c;
  if (c_end > c) c_end = c;
  const effk_rq256 q = effk_rq256_uniform(p->multiplier, p->shift);
  const __m256i corr = _mm256_set1_epi32(
      (int32_t)(uint32_t)((uint64_t)(int64_t)p->input_zero_point * (uint64_t)(int64_t)hw));
  const __m256i ozp = _mm256_set1_epi32(p->output_zero_point);
  const __m256i lo = _mm256_set1_epi32(-128), hi = _mm256_set1_epi32(127);
  for (int32_t cb = c_begin; cb < c_end; cb += 32) {
    const int32_t nc = c - cb < 32 ? c - cb : 32;
    __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                    _mm256_setzero_si256()};
    const int8_t *src = input + cb;
    if (nc == 32) {
      for (int32_t i = 0; i < hw; ++i, src += c)
        for (int j = 0; j < 4; ++j)
          s[j] = _mm256_add_epi32(s[j], _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(src + 8 * j))));
    } else {
      for (int32_t i = 0; i < hw; ++i, src += c)
        for (int j = 0; j < 4 && 8 * j < nc; ++j)
          s[j] = _mm256_add_epi32(s[j], load8(src + 8 * j, (size_t)(nc - 8 * j)));
    }
    for (int j = 0; j < 4 && 8 * j < nc; ++j) {
      const __m256i v = _mm256_add_epi32(effk_rq256_apply(_mm256_sub_epi32(s[j], corr), &q), ozp);
      store8(output + cb + 8 * j, _mm256_min_epi32(_mm256_max_epi32(v, lo), hi),
             (size_t)(nc - 8 * j));
    }
  }
}

EFFK_T256 void effk_qs8_mean_hw__avx2(const effk_mean_params *p, const int8_t *input,
                                      int8_t *output) {
  effk_qs8_mean_hw_channels__avx2(p, input, output, 0, p->c);
}
#endif
