// ADD, MUL and the squeeze-excitation per-channel MUL for both AArch64 tables, 16
// elements at a time in int32 lanes, with the scalar spec's arithmetic lane by lane
// (wrapping shifts and adds, TFLite's double-rounding multiplier, clamp, (int8_t) cast).
#if defined(__aarch64__)

#include "neon_internal.h"

typedef struct {
  int32x4_t v[4];
} i32x16;

static inline i32x16 widen_add(int8x16_t x, int32x4_t offset) {
  const int16x8_t lo = vmovl_s8(vget_low_s8(x)), hi = vmovl_high_s8(x);
  i32x16 r = {{vaddq_s32(vmovl_s16(vget_low_s16(lo)), offset),
               vaddq_s32(vmovl_high_s16(lo), offset),
               vaddq_s32(vmovl_s16(vget_low_s16(hi)), offset),
               vaddq_s32(vmovl_high_s16(hi), offset)}};
  return r;
}

// ---- ADD --------------------------------------------------------------------------------

typedef struct {
  int32x4_t off1, off2, off_out, left, lo, hi;
  effk_neon_quant q1, q2, qo;
} add_consts;

static inline add_consts add_setup(const effk_add_params *p) {
  add_consts k;
  k.off1 = vdupq_n_s32(p->input1_offset);
  k.off2 = vdupq_n_s32(p->input2_offset);
  k.off_out = vdupq_n_s32(p->output_offset);
  k.left = vdupq_n_s32(p->left_shift);
  k.lo = vdupq_n_s32(p->act_min);
  k.hi = vdupq_n_s32(p->act_max);
  k.q1 = effk_neon_quant_dup(p->input1_multiplier, p->input1_shift);
  k.q2 = effk_neon_quant_dup(p->input2_multiplier, p->input2_shift);
  k.qo = effk_neon_quant_dup(p->output_multiplier, p->output_shift);
  return k;
}

static inline int8x16_t add16(const add_consts *k, int8x16_t a, int8x16_t b) {
  const i32x16 x1 = widen_add(a, k->off1), x2 = widen_add(b, k->off2);
  int32x4_t r[4];
  for (int i = 0; i < 4; ++i) {
    const int32x4_t s1 = effk_neon_mbqm(vshlq_s32(x1.v[i], k->left), k->q1);
    const int32x4_t s2 = effk_neon_mbqm(vshlq_s32(x2.v[i], k->left), k->q2);
    r[i] = vaddq_s32(effk_neon_mbqm(vaddq_s32(s1, s2), k->qo), k->off_out);
  }
  return effk_neon_clamp_narrow(r[0], r[1], r[2], r[3], k->lo, k->hi);
}

void effk_qs8_add__neon(const effk_add_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                        size_t n) {
  const add_consts k = add_setup(p);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) vst1q_s8(out + i, add16(&k, vld1q_s8(a + i), vld1q_s8(b + i)));
  if (i < n) {
    const int32_t r = (int32_t)(n - i), before = i > 16 ? 16 : (int32_t)i;
    effk_neon_store_partial(out + i, add16(&k, effk_neon_load_partial(a + i, r, before),
                                           effk_neon_load_partial(b + i, r, before)), r);
  }
}

// ---- MUL --------------------------------------------------------------------------------

typedef struct {
  int32x4_t off1, off2, off_out, lo, hi;
  effk_neon_quant q;
} mul_consts;

static inline mul_consts mul_setup(const effk_mul_params *p) {
  mul_consts k;
  k.off1 = vdupq_n_s32(p->input1_offset);
  k.off2 = vdupq_n_s32(p->input2_offset);
  k.off_out = vdupq_n_s32(p->output_offset);
  k.lo = vdupq_n_s32(p->act_min);
  k.hi = vdupq_n_s32(p->act_max);
  k.q = effk_neon_quant_dup(p->output_multiplier, p->output_shift);
  return k;
}

static inline int8x16_t mul16_x2(const mul_consts *k, int8x16_t a, const i32x16 *x2) {
  const i32x16 x1 = widen_add(a, k->off1);
  int32x4_t r[4];
  for (int i = 0; i < 4; ++i)
    r[i] = vaddq_s32(effk_neon_mbqm(vmulq_s32(x1.v[i], x2->v[i]), k->q), k->off_out);
  return effk_neon_clamp_narrow(r[0], r[1], r[2], r[3], k->lo, k->hi);
}

static inline int8x16_t mul16(const mul_consts *k, int8x16_t a, int8x16_t b) {
  const i32x16 x2 = widen_add(b, k->off2);
  return mul16_x2(k, a, &x2);
}

void effk_qs8_mul__neon(const effk_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                        size_t n) {
  const mul_consts k = mul_setup(p);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) vst1q_s8(out + i, mul16(&k, vld1q_s8(a + i), vld1q_s8(b + i)));
  if (i < n) {
    const int32_t r = (int32_t)(n - i), before = i > 16 ? 16 : (int32_t)i;
    effk_neon_store_partial(out + i, mul16(&k, effk_neon_load_partial(a + i, r, before),
                                           effk_neon_load_partial(b + i, r, before)), r);
  }
}

// out[px][ch] = a[px][ch] * channel[ch] (input1 = a, input2 = channel).
void effk_qs8_mul_channel__neon(const effk_mul_params *p, const int8_t *a, const int8_t *channel,
                                int8_t *out, int32_t c, int32_t pixel_begin, int32_t pixel_end) {
  if (c <= 0) return;
  const mul_consts k = mul_setup(p);
  const int32_t full = c / 16 * 16, rem = c - full;
  for (int32_t px = pixel_begin; px < pixel_end; ++px) {
    const int8_t *ap = a + (size_t)px * c;
    int8_t *op = out + (size_t)px * c;
    for (int32_t ch = 0; ch < full; ch += 16) {
      const i32x16 x2 = widen_add(vld1q_s8(channel + ch), k.off2);
      vst1q_s8(op + ch, mul16_x2(&k, vld1q_s8(ap + ch), &x2));
    }
    if (rem) {
      const int32_t before = full > 16 ? 16 : full;
      const i32x16 x2 = widen_add(effk_neon_load_partial(channel + full, rem, before), k.off2);
      const int64_t avail = (int64_t)px * c + full;  // readable bytes before ap + full
      const int32_t ab = avail > 16 ? 16 : (int32_t)avail;
      const int8x16_t va = effk_neon_load_partial(ap + full, rem, ab);
      effk_neon_store_partial(op + full, mul16_x2(&k, va, &x2), rem);
    }
  }
}

#endif
