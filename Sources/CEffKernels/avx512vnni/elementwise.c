// add, mul, mul_channel, lookup, mean_hw with AVX-512 (16 int32 lanes; byte tails masked).
// Same integer arithmetic as scalar/elementwise.c, mean.c and lut.c, lane by lane.
#if defined(__x86_64__)
#include <math.h>

#include "common.h"

// ADD, MUL and MUL by a channel vector go 64 elements a step: four 16-lane int32 computations,
// narrowed with signed saturation (vpackssdw, vpacksswb, then a vpermd to undo the packs'
// 128-bit lane interleave) and clamped to [act_min, act_max] as bytes, one 64-byte store. The
// act range lies within int8, so saturating then clamping the bytes equals clamping the int32.
// The requantization leaves out the left shift and its saturation when no multiplier needs
// them (effk_rq_general), as the convolutions do.

// Four int32 vectors (elements 16j..16j+15 in r[j]) to 64 int8 in element order.
EFFK_INLINE512 __m512i narrow64(__m512i r0, __m512i r1, __m512i r2, __m512i r3, __m512i lo8,
                                __m512i hi8) {
  const __m512i p = _mm512_packs_epi16(_mm512_packs_epi32(r0, r1), _mm512_packs_epi32(r2, r3));
  // Byte 16L + 4j + i of p holds element 16j + 4L + i: dword d of the result is dword 4(d%4) + d/4.
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_min_epi8(_mm512_max_epi8(_mm512_permutexvar_epi32(idx, p), lo8), hi8);
}

// Elements left for the 16-lane group j of a 64-element step that has `left` elements left.
static inline size_t group_left(size_t left, int j) {
  return left > 16 * (size_t)j ? left - 16 * (size_t)j : 0;
}

// The step's four results narrowed, clamped and stored: a masked store for a short last step.
EFFK_INLINE512 void store64(int8_t *out, size_t left, const __m512i r[4], __m512i lo8, __m512i hi8) {
  _mm512_mask_storeu_epi8(out, effk_mask64(left > 64 ? 64 : (int32_t)left),
                          narrow64(r[0], r[1], r[2], r[3], lo8, hi8));
}

EFFK_INLINE512 __m512i load16(const int8_t *p, size_t left) {
  if (left >= 16) return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(effk_mask16((int32_t)left), p));
}

// ADD and MUL's GENERAL argument is the requantization mode: RQ_INT, RQ_GENERAL or RQ_FP
// (common.h; ADD's fp32 path has its own constants and bound, below).

// ADD in fp32. The reference computes f1 = RQ((a - zp1) << 20), f2 likewise (TFLite's
// MultiplyByQuantizedMultiplier, common.h), then out = RQ_out(f1 + f2) + zp_out. Each fi is
// within 3/4 of yi = (ai - zpi) * 2^20 * m_i / 2^(31+e_i) (its two roundings), and the output's
// rounding is floor(So * (f1 + f2) + zp_out + 1/2 +- 2^-(eo+1)) (sign of f1 + f2; common.h),
// So = mo / 2^(31+eo). So fp32 computes w = a * S1 + (b * S2 + O) ~ So * (y1 + y2) (Si the
// input's scale into output units, O the zero points' share) and u = w + zp_out + 1/2 +-
// 2^-(eo+1) - eps, the sign taken from w. With the terms bounded by B = 256 (S1 + S2) <= 1024
// and So <= 2^-12, |u - (exact argument - eps)| <= 6 B 2^-24 + 1.5 So + 1.6e-5 < 7.6e-4 < eps =
// 2^-10, so where u - floor(u) < 1 - 2 eps, floor(u) is the reference's value; other lanes are
// redone by the integer path. Where w has the wrong sign, |So (f1 + f2)| < 7.6e-4 and either sign gives zp_out
// (eo >= 1 keeps the offset within 1/4). The test fails about one lane in 500.
#define ADD_FP_EPS (1.0f / 1024.0f)

typedef struct {
  __m512i off1, off2, ooff, lo8, hi8;
  __m128i lshift;
  effk_rq512 q1, q2, qo;
  __m512 s1, s2, o, cpos, cneg;  // RQ_FP constants
} add_consts;

// Whether ADD may take RQ_FP, and its constants.
EFFK_T512 static int add_fp_init(add_consts *k, const effk_add_params *p) {
  const int32_t m1 = p->input1_multiplier, m2 = p->input2_multiplier, mo = p->output_multiplier;
  const int32_t e1 = -p->input1_shift, e2 = -p->input2_shift, eo = -p->output_shift;
  if (m1 < 0 || m2 < 0 || mo < 0 || e1 < 0 || e2 < 0 || e1 > 60 || e2 > 60 || eo < 1 || eo > 60 ||
      p->left_shift < 0 || p->left_shift > 22 || p->input1_offset < -128 || p->input1_offset > 128 ||
      p->input2_offset < -128 || p->input2_offset > 128 || p->output_offset < -128 ||
      p->output_offset > 127 || p->act_min < -128 || p->act_max > 127 || p->act_min > p->act_max)
    return 0;
  const double so = ldexp((double)mo, -31 - eo);
  const double s1 = so * ldexp((double)m1, p->left_shift - 31 - e1);
  const double s2 = so * ldexp((double)m2, p->left_shift - 31 - e2);
  if (so > 1.0 / 4096 || 256.0 * (s1 + s2) > 1024.0) return 0;
  const double d = ldexp(1.0, -eo - 1), base = p->output_offset + 0.5 - ADD_FP_EPS;
  k->s1 = _mm512_set1_ps((float)s1);
  k->s2 = _mm512_set1_ps((float)s2);
  k->o = _mm512_set1_ps((float)(p->input1_offset * s1 + p->input2_offset * s2));
  k->cpos = _mm512_set1_ps((float)(base + d));
  k->cneg = _mm512_set1_ps((float)(base - d));
  return 1;
}

EFFK_INLINE512 __m512i add16(const add_consts *k, __m512i a, __m512i b, const int GENERAL) {
  if (GENERAL == RQ_FP) {
    const __m512 af = _mm512_cvt_roundepi32_ps(a, EFFK_RN), bf = _mm512_cvt_roundepi32_ps(b, EFFK_RN);
    const __m512 w = _mm512_fmadd_round_ps(af, k->s1, _mm512_fmadd_round_ps(bf, k->s2, k->o, EFFK_RN), EFFK_RN);
    const __m512 c = _mm512_mask_blend_ps(_mm512_movepi32_mask(_mm512_castps_si512(w)), k->cpos, k->cneg);
    const __m512 u = _mm512_add_round_ps(w, c, EFFK_RN);
    const __m512 frac = _mm512_reduce_ps(u, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);  // exact
    if (__builtin_expect(_mm512_cmp_ps_mask(frac, _mm512_set1_ps(1.0f - 2 * ADD_FP_EPS), _CMP_GE_OQ) == 0, 1))
      return _mm512_cvt_roundps_epi32(u, EFFK_RD);
  }
  const int G = GENERAL == RQ_FP ? 0 : GENERAL;
  const __m512i x1 = _mm512_sll_epi32(_mm512_add_epi32(a, k->off1), k->lshift);
  const __m512i x2 = _mm512_sll_epi32(_mm512_add_epi32(b, k->off2), k->lshift);
  const __m512i s = _mm512_add_epi32(effk_rq512_apply_t(x1, &k->q1, G),
                                     effk_rq512_apply_t(x2, &k->q2, G));
  return _mm512_add_epi32(effk_rq512_apply_t(s, &k->qo, G), k->ooff);
}

EFFK_INLINE512 void add_run(const add_consts *k, const int8_t *a, const int8_t *b, int8_t *out,
                            size_t n, const int GENERAL) {
  for (size_t i = 0; i < n; i += 64) {
    const size_t left = n - i;
    __m512i r[4];
    for (int j = 0; j < 4; ++j) {
      const size_t lj = group_left(left, j);
      r[j] = add16(k, load16(a + i + 16 * j, lj), load16(b + i + 16 * j, lj), GENERAL);
    }
    store64(out + i, left, r, k->lo8, k->hi8);
  }
}

EFFK_T512 void effk_qs8_add__avx512vnni(const effk_add_params *p, const int8_t *a,
                                        const int8_t *b, int8_t *out, size_t n) {
  add_consts k;
  k.off1 = _mm512_set1_epi32(p->input1_offset);
  k.off2 = _mm512_set1_epi32(p->input2_offset);
  k.ooff = _mm512_set1_epi32(p->output_offset);
  k.lo8 = _mm512_set1_epi8((char)p->act_min);
  k.hi8 = _mm512_set1_epi8((char)p->act_max);
  k.lshift = _mm_cvtsi32_si128(p->left_shift);
  k.q1 = effk_rq512_uniform(p->input1_multiplier, p->input1_shift);
  k.q2 = effk_rq512_uniform(p->input2_multiplier, p->input2_shift);
  k.qo = effk_rq512_uniform(p->output_multiplier, p->output_shift);
  const int32_t m[3] = {p->input1_multiplier, p->input2_multiplier, p->output_multiplier};
  const int32_t sh[3] = {p->input1_shift, p->input2_shift, p->output_shift};
  if (add_fp_init(&k, p))  // implies no positive shift and no INT32_MIN multiplier
    add_run(&k, a, b, out, n, RQ_FP);
  else if (effk_rq_general(m, sh, 3))
    add_run(&k, a, b, out, n, 1);
  else
    add_run(&k, a, b, out, n, 0);
}

typedef struct {
  __m512i off1, off2, ooff, lo8, hi8;
  effk_rq512 q;
  float rqf[48];  // RQ_FP constants (every lane alike)
  int rq;         // the mode
} mul_consts;

EFFK_INLINE512 void mul_consts_init(mul_consts *k, const effk_mul_params *p) {
  k->off1 = _mm512_set1_epi32(p->input1_offset);
  k->off2 = _mm512_set1_epi32(p->input2_offset);
  k->ooff = _mm512_set1_epi32(p->output_offset);
  k->lo8 = _mm512_set1_epi8((char)p->act_min);
  k->hi8 = _mm512_set1_epi8((char)p->act_max);
  k->q = effk_rq512_uniform(p->output_multiplier, p->output_shift);
  k->rq = effk_rq_general(&p->output_multiplier, &p->output_shift, 1);
  if (effk_rqf_usable(&p->output_multiplier, &p->output_shift, 1, p->output_offset, p->act_min,
                      p->act_max)) {
    int32_t m[16], sh[16];
    for (int i = 0; i < 16; ++i) {
      m[i] = p->output_multiplier;
      sh[i] = p->output_shift;
    }
    effk_rqf512_prepare(m, sh, 16, p->output_offset, k->rqf);
    k->rq = RQ_FP;
  }
}

// The product (a + off1) * b16 where b16 holds (b + off2) in the low 16 bits of each lane and 0
// above: both factors are within [-255, 255], so vpmaddwd's a_lo * b_lo + a_hi * 0 is exact.
// RQ_FP results are not clamped (store64 clamps the bytes).
EFFK_INLINE512 __m512i mul16(const mul_consts *k, __m512i a, __m512i b16, const int GENERAL) {
  const __m512i prod = _mm512_madd_epi16(_mm512_add_epi32(a, k->off1), b16);
  if (GENERAL == RQ_FP) {
    __mmask16 failed;
    const __m512i r = effk_rqf512_try(prod, k->rqf, &failed);
    if (__builtin_expect(failed == 0, 1)) return r;
    return _mm512_add_epi32(effk_rq512_apply_t(prod, &k->q, 0), k->ooff);
  }
  return _mm512_add_epi32(effk_rq512_apply_t(prod, &k->q, GENERAL), k->ooff);
}

EFFK_INLINE512 __m512i low16(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi32(0xFFFF)); }

EFFK_INLINE512 void mul_run(const mul_consts *k, const int8_t *a, const int8_t *b, int8_t *out,
                            size_t n, const int GENERAL) {
  for (size_t i = 0; i < n; i += 64) {
    const size_t left = n - i;
    __m512i r[4];
    for (int j = 0; j < 4; ++j) {
      const size_t lj = group_left(left, j);
      const __m512i b16 = low16(_mm512_add_epi32(load16(b + i + 16 * j, lj), k->off2));
      r[j] = mul16(k, load16(a + i + 16 * j, lj), b16, GENERAL);
    }
    store64(out + i, left, r, k->lo8, k->hi8);
  }
}

EFFK_T512 void effk_qs8_mul__avx512vnni(const effk_mul_params *p, const int8_t *a,
                                        const int8_t *b, int8_t *out, size_t n) {
  mul_consts k;
  mul_consts_init(&k, p);
  if (k.rq == RQ_FP)
    mul_run(&k, a, b, out, n, RQ_FP);
  else if (k.rq)
    mul_run(&k, a, b, out, n, 1);
  else
    mul_run(&k, a, b, out, n, 0);
}

// [pixels][c] by a [c] vector as one flat run over the pixels' c * (pixel_end - pixel_begin)
// elements: element e takes channel e % c, so the channel factors (b + off2, low 16 bits) are
// laid out once, repeated to c + 64 entries, and a 64-element step reads them from e % c on
// (no per-pixel remainder: c = 32 fills whole vectors too).
#define MUL_CHANNEL_MAX 4096

EFFK_INLINE512 void mul_channel_run(const mul_consts *k, const int32_t *bx, int32_t c,
                                    const int8_t *a, int8_t *out, size_t n, const int GENERAL) {
  int32_t base = 0;
  size_t i = 0;
  if (GENERAL == RQ_FP) {  // whole steps: plain loads and stores, one test for four vectors
    for (; i + 64 <= n; i += 64) {
      __m512i prod[4], r[4];
      __mmask16 failed = 0;
      for (int j = 0; j < 4; ++j) {
        const __m512i x = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(a + i + 16 * j)));
        prod[j] = _mm512_madd_epi16(_mm512_add_epi32(x, k->off1), _mm512_loadu_si512(bx + base + 16 * j));
        __mmask16 f;
        r[j] = effk_rqf512_try(prod[j], k->rqf, &f);
        failed |= f;
      }
      if (__builtin_expect(failed, 0))
        for (int j = 0; j < 4; ++j) r[j] = _mm512_add_epi32(effk_rq512_apply_t(prod[j], &k->q, 0), k->ooff);
      _mm512_storeu_si512(out + i, narrow64(r[0], r[1], r[2], r[3], k->lo8, k->hi8));
      base += 64;
      while (base >= c) base -= c;
    }
  }
  for (; i < n; i += 64) {
    const size_t left = n - i;
    __m512i r[4];
    for (int j = 0; j < 4; ++j) {
      const size_t lj = group_left(left, j);
      r[j] = mul16(k, load16(a + i + 16 * j, lj), _mm512_loadu_si512(bx + base + 16 * j), GENERAL);
    }
    store64(out + i, left, r, k->lo8, k->hi8);
    base += 64;
    while (base >= c) base -= c;
  }
}

EFFK_T512 void effk_qs8_mul_channel__avx512vnni(const effk_mul_params *p, const int8_t *a,
                                                const int8_t *channel, int8_t *out, int32_t c,
                                                int32_t pixel_begin, int32_t pixel_end) {
  mul_consts k;
  mul_consts_init(&k, p);
  if (pixel_end <= pixel_begin || c <= 0) return;
  if (c > MUL_CHANNEL_MAX) {
    for (int32_t px = pixel_begin; px < pixel_end; ++px) {
      if (k.rq == RQ_FP)
        mul_run(&k, a + (size_t)px * c, channel, out + (size_t)px * c, (size_t)c, RQ_FP);
      else if (k.rq)
        mul_run(&k, a + (size_t)px * c, channel, out + (size_t)px * c, (size_t)c, 1);
      else
        mul_run(&k, a + (size_t)px * c, channel, out + (size_t)px * c, (size_t)c, 0);
    }
    return;
  }
  // Laid out per call (per tile), so in vectors: a scalar loop with a division per entry
  // cost more than the multiply itself on 7x7x1152 tiles.
  int32_t bx[MUL_CHANNEL_MAX + 64] __attribute__((aligned(64)));
  const __m512i off2 = _mm512_set1_epi32(p->input2_offset), low16 = _mm512_set1_epi32(0xFFFF);
  for (int32_t i = 0; i < c; i += 16) {  // (uint16_t)(int16_t)(channel + offset), |.| <= 255
    const __m512i x = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(effk_mask16(c - i), channel + i));
    _mm512_mask_storeu_epi32(bx + i, effk_mask16(c - i), _mm512_and_si512(_mm512_add_epi32(x, off2), low16));
  }
  for (int32_t i = c; i < c + 64; ++i) bx[i] = bx[i - c];  // entry i is channel i % c
  const size_t first = (size_t)pixel_begin * c, n = (size_t)(pixel_end - pixel_begin) * c;
  if (k.rq == RQ_FP)
    mul_channel_run(&k, bx, c, a + first, out + first, n, RQ_FP);
  else if (k.rq)
    mul_channel_run(&k, bx, c, a + first, out + first, n, 1);
  else
    mul_channel_run(&k, bx, c, a + first, out + first, n, 0);
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

// MEAN over H and W, channels [c_begin, c_end) (c_begin a multiple of 64), 64 channels per
// pass. Each pixel's bytes, made unsigned (x ^ 0x80 == x + 128), are summed in 16-bit lanes
// (vpunpck{l,h}bw with zero: two adds per 64 channels, where int32 lanes took four sign
// extensions and four adds) for up to 256 pixels (255 * 256 < 2^16), then widened into int32
// sums. sum(x + 128) - 128 hw is the reference's int32 sum exactly (hw * 255 < 2^31). The
// unpacks leave channel 16L + 4j + i (128-bit lane L) in int32 vector j, lane L, element i;
// vpackssdw + vpacksswb put them back in order (and saturate, as the clamp to [-128, 127]).
EFFK_T512 void effk_qs8_mean_hw_channels__avx512vnni(const effk_mean_params *p,
                                                     const int8_t *input, int8_t *output,
                                                     int32_t c_begin, int32_t c_end) {
  const int32_t hw = p->h * p->w, c = p->c;
  if (c_end > c) c_end = c;
  const effk_rq512 q = effk_rq512_uniform(p->multiplier, p->shift);
  // 128 hw for the flip, and temp_sum - zp * num_elements (wrapping, as the reference's
  // narrowing to int32).
  const __m512i corr = _mm512_set1_epi32((int32_t)(uint32_t)((uint64_t)(int64_t)(p->input_zero_point + 128) *
                                                             (uint64_t)(int64_t)hw));
  const __m512i ozp = _mm512_set1_epi32(p->output_zero_point);
  const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
  const __m512i flip = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
  for (int32_t cb = c_begin; cb < c_end; cb += 64) {
    const int32_t nc = c - cb < 64 ? c - cb : 64;
    const __mmask64 km = effk_mask64(nc);
    __m512i s[4] = {zero, zero, zero, zero};
    const int8_t *src = input + cb;
    for (int32_t i0 = 0; i0 < hw; i0 += 256) {
      const int32_t i1 = hw - i0 < 256 ? hw : i0 + 256;
      __m512i s16lo = zero, s16hi = zero;
      for (int32_t i = i0; i < i1; ++i, src += c) {
        const __m512i x = _mm512_xor_si512(nc == 64 ? _mm512_loadu_si512(src) : _mm512_maskz_loadu_epi8(km, src), flip);
        s16lo = _mm512_add_epi16(s16lo, _mm512_unpacklo_epi8(x, zero));
        s16hi = _mm512_add_epi16(s16hi, _mm512_unpackhi_epi8(x, zero));
      }
      s[0] = _mm512_add_epi32(s[0], _mm512_unpacklo_epi16(s16lo, zero));
      s[1] = _mm512_add_epi32(s[1], _mm512_unpackhi_epi16(s16lo, zero));
      s[2] = _mm512_add_epi32(s[2], _mm512_unpacklo_epi16(s16hi, zero));
      s[3] = _mm512_add_epi32(s[3], _mm512_unpackhi_epi16(s16hi, zero));
    }
    __m512i v[4];
    for (int j = 0; j < 4; ++j) v[j] = effk_rq512_out(_mm512_sub_epi32(s[j], corr), &q, ozp, lo, hi);
    const __m512i o = _mm512_packs_epi16(_mm512_packs_epi32(v[0], v[1]), _mm512_packs_epi32(v[2], v[3]));
    _mm512_mask_storeu_epi8(output + cb, km, o);
  }
}

EFFK_T512 void effk_qs8_mean_hw__avx512vnni(const effk_mean_params *p, const int8_t *input,
                                            int8_t *output) {
  effk_qs8_mean_hw_channels__avx512vnni(p, input, output, 0, p->c);
}
#endif
