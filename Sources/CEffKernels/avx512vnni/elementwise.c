// add, mul, mul_channel, lookup, mean_hw with AVX-512 (16 int32 lanes; byte tails masked).
// Same integer arithmetic as scalar/elementwise.c, mean.c and lut.c, lane by lane.
#if defined(__x86_64__)
#include "common.h"

typedef struct {
  __m512i off1, off2, ooff, lo, hi;
  __m128i lshift;
  effk_rq512 q1, q2, qo;
} add_consts;

EFFK_INLINE512 __m512i add16(const add_consts *k, __m512i a, __m512i b) {
  const __m512i x1 = _mm512_sll_epi32(_mm512_add_epi32(a, k->off1), k->lshift);
  const __m512i x2 = _mm512_sll_epi32(_mm512_add_epi32(b, k->off2), k->lshift);
  const __m512i s = _mm512_add_epi32(effk_rq512_apply(x1, &k->q1), effk_rq512_apply(x2, &k->q2));
  const __m512i r = _mm512_add_epi32(effk_rq512_apply(s, &k->qo), k->ooff);
  return _mm512_min_epi32(_mm512_max_epi32(r, k->lo), k->hi);
}

EFFK_T512 void effk_qs8_add__avx512vnni(const effk_add_params *p, const int8_t *a,
                                        const int8_t *b, int8_t *out, size_t n) {
  add_consts k;
  k.off1 = _mm512_set1_epi32(p->input1_offset);
  k.off2 = _mm512_set1_epi32(p->input2_offset);
  k.ooff = _mm512_set1_epi32(p->output_offset);
  k.lo = _mm512_set1_epi32(p->act_min);
  k.hi = _mm512_set1_epi32(p->act_max);
  k.lshift = _mm_cvtsi32_si128(p->left_shift);
  k.q1 = effk_rq512_uniform(p->input1_multiplier, p->input1_shift);
  k.q2 = effk_rq512_uniform(p->input2_multiplier, p->input2_shift);
  k.qo = effk_rq512_uniform(p->output_multiplier, p->output_shift);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i va = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(a + i)));
    const __m512i vb = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + i)));
    _mm512_mask_cvtepi32_storeu_epi8(out + i, 0xFFFF, add16(&k, va, vb));
  }
  if (i < n) {
    const __mmask16 m = effk_mask16((int32_t)(n - i));
    const __m512i va = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a + i));
    const __m512i vb = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, b + i));
    _mm512_mask_cvtepi32_storeu_epi8(out + i, m, add16(&k, va, vb));
  }
}

typedef struct {
  __m512i off1, off2, ooff, lo, hi;
  effk_rq512 q;
} mul_consts;

EFFK_INLINE512 void mul_consts_init(mul_consts *k, const effk_mul_params *p) {
  k->off1 = _mm512_set1_epi32(p->input1_offset);
  k->off2 = _mm512_set1_epi32(p->input2_offset);
  k->ooff = _mm512_set1_epi32(p->output_offset);
  k->lo = _mm512_set1_epi32(p->act_min);
  k->hi = _mm512_set1_epi32(p->act_max);
  k->q = effk_rq512_uniform(p->output_multiplier, p->output_shift);
}

EFFK_INLINE512 __m512i mul16(const mul_consts *k, __m512i a, __m512i b) {
  const __m512i prod = _mm512_mullo_epi32(_mm512_add_epi32(a, k->off1), _mm512_add_epi32(b, k->off2));
  const __m512i r = _mm512_add_epi32(effk_rq512_apply(prod, &k->q), k->ooff);
  return _mm512_min_epi32(_mm512_max_epi32(r, k->lo), k->hi);
}

EFFK_INLINE512 void mul_row(const mul_consts *k, const int8_t *a, const int8_t *b, int8_t *out,
                            size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i va = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(a + i)));
    const __m512i vb = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + i)));
    _mm512_mask_cvtepi32_storeu_epi8(out + i, 0xFFFF, mul16(k, va, vb));
  }
  if (i < n) {
    const __mmask16 m = effk_mask16((int32_t)(n - i));
    const __m512i va = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a + i));
    const __m512i vb = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, b + i));
    _mm512_mask_cvtepi32_storeu_epi8(out + i, m, mul16(k, va, vb));
  }
}

EFFK_T512 void effk_qs8_mul__avx512vnni(const effk_mul_params *p, const int8_t *a,
                                        const int8_t *b, int8_t *out, size_t n) {
  mul_consts k;
  mul_consts_init(&k, p);
  mul_row(&k, a, b, out, n);
}

EFFK_T512 void effk_qs8_mul_channel__avx512vnni(const effk_mul_params *p, const int8_t *a,
                                                const int8_t *channel, int8_t *out, int32_t c,
                                                int32_t pixel_begin, int32_t pixel_end) {
  mul_consts k;
  mul_consts_init(&k, p);
  for (int32_t px = pixel_begin; px < pixel_end; ++px)
    mul_row(&k, a + (size_t)px * c, channel, out + (size_t)px * c, (size_t)c);
}

// 256-entry lookup. With AVX512_VBMI: two vpermi2b over the table halves, blended on the index's
// top bit. Without: vpshufb over each 16-entry slice, merged under a mask of the high nibble.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) static void lookup_vbmi(
    const int8_t table[256], const int8_t *in, int8_t *out, size_t n) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  size_t i = 0;
  for (; i < n; i += 64) {
    const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
    const __m512i x = _mm512_maskz_loadu_epi8(m, in + i);
    const __m512i lo = _mm512_permutex2var_epi8(t0, x, t1);
    const __m512i hi = _mm512_permutex2var_epi8(t2, x, t3);
    _mm512_mask_storeu_epi8(out + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi));
  }
}

EFFK_T512 static void lookup_bw(const int8_t table[256], const int8_t *in, int8_t *out, size_t n) {
  __m512i t[16];
  for (int s = 0; s < 16; ++s)
    t[s] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(table + 16 * s)));
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (size_t i = 0; i < n; i += 64) {
    const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
    const __m512i x = _mm512_maskz_loadu_epi8(m, in + i);
    const __m512i idx = _mm512_and_si512(x, low4);
    const __m512i hi4 = _mm512_and_si512(_mm512_srli_epi16(x, 4), low4);
    __m512i r = _mm512_setzero_si512();
    for (int s = 0; s < 16; ++s)
      r = _mm512_mask_shuffle_epi8(r, _mm512_cmpeq_epi8_mask(hi4, _mm512_set1_epi8((char)s)), t[s], idx);
    _mm512_mask_storeu_epi8(out + i, m, r);
  }
}

void effk_qs8_lookup__avx512vnni(const int8_t table[256], const int8_t *in, int8_t *out,
                                 size_t n) {
  if (effk__x86_has_avx512vbmi())
    lookup_vbmi(table, in, out, n);
  else
    lookup_bw(table, in, out, n);
}

// MEAN over H and W: int32 column sums, 64 channels per pass.
EFFK_T512 void effk_qs8_mean_hw__avx512vnni(const effk_mean_params *p, const int8_t *input,
                                            int8_t *output) {
  const int32_t hw = p->h * p->w, c = p->c;
  const effk_rq512 q = effk_rq512_uniform(p->multiplier, p->shift);
  // temp_sum - zp * num_elements, narrowed to int32 (wrapping, as the reference's narrowing).
  const __m512i corr = _mm512_set1_epi32((int32_t)(uint32_t)((uint64_t)(int64_t)p->input_zero_point *
                                                             (uint64_t)(int64_t)hw));
  const __m512i ozp = _mm512_set1_epi32(p->output_zero_point);
  const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
  for (int32_t cb = 0; cb < c; cb += 64) {
    __mmask16 km[4];
    for (int j = 0; j < 4; ++j) km[j] = effk_mask16(c - cb - 16 * j);
    __m512i s[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512()};
    const int8_t *src = input + cb;
    for (int32_t i = 0; i < hw; ++i, src += c)
      for (int j = 0; j < 4; ++j)
        if (km[j])
          s[j] = _mm512_add_epi32(s[j], _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(km[j], src + 16 * j)));
    for (int j = 0; j < 4; ++j) {
      if (!km[j]) break;
      const __m512i v = effk_rq512_out(_mm512_sub_epi32(s[j], corr), &q, ozp, lo, hi);
      _mm512_mask_cvtepi32_storeu_epi8(output + cb + 16 * j, km[j], v);
    }
  }
}
#endif
