// DEPTHWISE_CONV_2D (depth multiplier 1) for both AArch64 tables: 16 channels per vector.
//
// Per tap: SMULL/SMULL2 (16 exact int8 products into int16) and SADDW into four int32x4
// accumulators. The input zero point is folded into the packed bias (bias - zp * sum of
// all taps); a tap that falls in the padding contributes w * zp instead of w * x, which
// cancels the fold for it, so every pixel gets exactly the scalar kernel's
// sum over in-image taps of w * (x - zp) + bias (mod 2^32, as its int32 accumulator).
//
// When no weight is -128 (TFLite's symmetric int8 weights), the in-image taps of the hot
// path go two at a time: SMULL + SMLAL sums two products in int16 (|w * x| <= 127 * 128,
// so two fit), halving the widening adds.
//
// Packed layout:
//   int32 header[4]                  [0]: 1 if no weight is -128
//   int32 bias_fold[cpad]            cpad = round_up(c, 16)
//   int8  w[cpad / 16][kh * kw][16]  zero padded
#if defined(__aarch64__)

#include <stdlib.h>

#include "neon_internal.h"

size_t effk_qs8_dwconv_packed_size__neon(int32_t kh, int32_t kw, int32_t c) {
  const size_t cp = (size_t)EFFK_ROUND_UP(c, 16);
  return 4 * sizeof(int32_t) + cp * sizeof(int32_t) + cp * (size_t)kh * (size_t)kw;
}

void effk_qs8_dwconv_pack__neon(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                                int32_t c, int32_t input_zero_point, void *packed) {
  const int32_t cp = EFFK_ROUND_UP(c, 16), taps = kh * kw;
  int32_t *hdr = (int32_t *)packed;
  int32_t *bias_fold = hdr + 4;
  int8_t *w = (int8_t *)(bias_fold + cp);
  memset(w, 0, (size_t)cp * (size_t)taps);
  int32_t no_min = 1;
  for (size_t i = 0; i < (size_t)taps * (size_t)c; ++i) no_min &= filter[i] != INT8_MIN;
  hdr[0] = no_min;
  hdr[1] = hdr[2] = hdr[3] = 0;
  for (int32_t ch = 0; ch < cp; ++ch) {
    uint32_t acc = 0;
    if (ch < c) {
      uint32_t sum = 0;
      for (int32_t t = 0; t < taps; ++t) {
        const int8_t f = filter[(size_t)t * c + ch];
        sum += (uint32_t)(int32_t)f;
        w[((size_t)(ch / 16) * taps + t) * 16 + ch % 16] = f;
      }
      acc = (bias ? (uint32_t)bias[ch] : 0u) - (uint32_t)input_zero_point * sum;
    }
    bias_fold[ch] = (int32_t)acc;
  }
}

typedef struct {
  int32x4_t a0, a1, a2, a3;
} acc16;

static inline void mac16(acc16 *a, int8x16_t x, int8x16_t w) {
  const int16x8_t lo = vmull_s8(vget_low_s8(x), vget_low_s8(w));
  const int16x8_t hi = vmull_high_s8(x, w);
  a->a0 = vaddw_s16(a->a0, vget_low_s16(lo));
  a->a1 = vaddw_high_s16(a->a1, lo);
  a->a2 = vaddw_s16(a->a2, vget_low_s16(hi));
  a->a3 = vaddw_high_s16(a->a3, hi);
}

// Two taps at once; only when no weight is -128.
static inline void mac16x2(acc16 *a, int8x16_t x0, int8x16_t w0, int8x16_t x1, int8x16_t w1) {
  const int16x8_t lo = vmlal_s8(vmull_s8(vget_low_s8(x0), vget_low_s8(w0)), vget_low_s8(x1),
                                vget_low_s8(w1));
  const int16x8_t hi = vmlal_high_s8(vmull_high_s8(x0, w0), x1, w1);
  a->a0 = vaddw_s16(a->a0, vget_low_s16(lo));
  a->a1 = vaddw_high_s16(a->a1, lo);
  a->a2 = vaddw_s16(a->a2, vget_low_s16(hi));
  a->a3 = vaddw_high_s16(a->a3, hi);
}

// acc += w * zp in int32, for a zero point that is not an int8 value.
static inline void mac16_wide(acc16 *a, int8x16_t w, int32_t zp) {
  const int16x8_t lo = vmovl_s8(vget_low_s8(w)), hi = vmovl_high_s8(w);
  a->a0 = vmlaq_n_s32(a->a0, vmovl_s16(vget_low_s16(lo)), zp);
  a->a1 = vmlaq_n_s32(a->a1, vmovl_high_s16(lo), zp);
  a->a2 = vmlaq_n_s32(a->a2, vmovl_s16(vget_low_s16(hi)), zp);
  a->a3 = vmlaq_n_s32(a->a3, vmovl_high_s16(hi), zp);
}

typedef struct {
  int32x4_t zp, lo, hi;
} out_params;

static inline int8x16_t requant16(acc16 a, const int32_t *mult, const int32_t *shift,
                                  const out_params *op) {
  const int32x4_t r0 = effk_neon_mbqm(a.a0, effk_neon_quant_load(mult, shift));
  const int32x4_t r1 = effk_neon_mbqm(a.a1, effk_neon_quant_load(mult + 4, shift + 4));
  const int32x4_t r2 = effk_neon_mbqm(a.a2, effk_neon_quant_load(mult + 8, shift + 8));
  const int32x4_t r3 = effk_neon_mbqm(a.a3, effk_neon_quant_load(mult + 12, shift + 12));
  return effk_neon_clamp_narrow(vaddq_s32(r0, op->zp), vaddq_s32(r1, op->zp),
                                vaddq_s32(r2, op->zp), vaddq_s32(r3, op->zp), op->lo, op->hi);
}

static inline acc16 load_bias(const int32_t *b) {
  acc16 a = {vld1q_s32(b), vld1q_s32(b + 4), vld1q_s32(b + 8), vld1q_s32(b + 12)};
  return a;
}

// All taps in the image, 16 full channels: the hot path. `taps` and `paired` are
// compile-time constants at the call sites of the common kernel sizes, so the loop unrolls.
static inline __attribute__((always_inline)) void interior16(
    const int8_t *x, const ptrdiff_t *tap_off, const int8_t *w, int32_t taps, int paired,
    acc16 *a) {
  int32_t t = 0;
  if (paired)
    for (; t + 2 <= taps; t += 2)
      mac16x2(a, vld1q_s8(x + tap_off[t]), vld1q_s8(w + t * 16), vld1q_s8(x + tap_off[t + 1]),
              vld1q_s8(w + t * 16 + 16));
  for (; t < taps; ++t) mac16(a, vld1q_s8(x + tap_off[t]), vld1q_s8(w + t * 16));
}

static inline __attribute__((always_inline)) void row_interior_k(
    const int8_t *x, const ptrdiff_t *tap_off, const int8_t *w, const int32_t *bias_fold,
    const int32_t *mult, const int32_t *shift, const out_params *op, int32_t taps, int paired,
    int32_t cb_begin, int32_t cb_end, int8_t *out, int32_t npix, ptrdiff_t x_step, int32_t c) {
  for (int32_t i = 0; i < npix; ++i, x += x_step, out += c) {
    for (int32_t cb = cb_begin; cb < cb_end; ++cb) {
      acc16 a = load_bias(bias_fold + cb * 16);
      interior16(x + cb * 16, tap_off, w + (size_t)cb * taps * 16, taps, paired, &a);
      vst1q_s8(out + cb * 16, requant16(a, mult + cb * 16, shift + cb * 16, op));
    }
  }
}

static void row_interior(const int8_t *x, const ptrdiff_t *tap_off, const int8_t *w,
                         const int32_t *bias_fold, const int32_t *mult, const int32_t *shift,
                         const out_params *op, int32_t taps, int paired, int32_t cb_begin,
                         int32_t cb_end, int8_t *out, int32_t npix, ptrdiff_t x_step, int32_t c) {
#define ROW(T, P)                                                                          \
  row_interior_k(x, tap_off, w, bias_fold, mult, shift, op, T, P, cb_begin, cb_end, out, npix, \
                 x_step, c)
  if (paired) {
    if (taps == 9)
      ROW(9, 1);
    else if (taps == 25)
      ROW(25, 1);
    else
      ROW(taps, 1);
  } else {
    if (taps == 9)
      ROW(9, 0);
    else if (taps == 25)
      ROW(25, 0);
    else
      ROW(taps, 0);
  }
#undef ROW
}

// Output rows [oy_begin, oy_end), channel blocks of 16 [cb_begin, cb_end).
static void dwconv_range(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                         const int32_t *multiplier, const int32_t *shift, int8_t *output,
                         int32_t oy_begin, int32_t oy_end, int32_t cb_begin, int32_t cb_end) {
  const int32_t in_h = p->in_h, in_w = p->in_w, c = p->out_c, out_w = p->out_w;
  const int32_t kh = p->kernel_h, kw = p->kernel_w, taps = kh * kw;
  const int32_t sh = p->stride_h, sw = p->stride_w, dh = p->dilation_h, dw = p->dilation_w;
  const int32_t cp = EFFK_ROUND_UP(c, 16), full_blocks = c / 16, rem = c % 16;
  const int32_t zp = p->input_zero_point;
  const int zp_is_int8 = zp >= -128 && zp <= 127;
  const int8x16_t vzp8 = vdupq_n_s8((int8_t)zp);
  const int32_t *hdr = (const int32_t *)packed;
  const int paired = hdr[0] != 0;
  const int32_t *bias_fold = hdr + 4;
  const int8_t *w = (const int8_t *)(bias_fold + cp);
  const out_params op = {vdupq_n_s32(p->output_zero_point), vdupq_n_s32(p->act_min),
                         vdupq_n_s32(p->act_max)};
  if (oy_end <= oy_begin || out_w <= 0 || c <= 0 || taps <= 0 || cb_end <= cb_begin) return;
  // Full blocks of the range, and whether it holds the partial last block.
  const int32_t full_end = cb_end < full_blocks ? cb_end : full_blocks;
  const int with_tail = rem && cb_end > full_blocks;

  // Per-channel quantization padded to whole vectors for the channel tail.
  int32_t tail_mult[16] = {0}, tail_shift[16] = {0};
  if (rem) {
    memcpy(tail_mult, multiplier + full_blocks * 16, (size_t)rem * sizeof(int32_t));
    memcpy(tail_shift, shift + full_blocks * 16, (size_t)rem * sizeof(int32_t));
  }

  // Input offset of each tap relative to the window's top-left pixel (no fast path if
  // an absurd kernel size does not get the memory for them).
  ptrdiff_t tap_off_stack[64];
  ptrdiff_t *tap_off =
      taps <= 64 ? tap_off_stack : (ptrdiff_t *)malloc((size_t)taps * sizeof(ptrdiff_t));
  if (tap_off)
    for (int32_t fy = 0; fy < kh; ++fy)
      for (int32_t fx = 0; fx < kw; ++fx)
        tap_off[fy * kw + fx] = ((ptrdiff_t)fy * dh * in_w + (ptrdiff_t)fx * dw) * c;

  // Output columns whose whole window is inside the image horizontally: [ox_lo, ox_hi).
  int32_t ox_lo = 0, ox_hi = 0;
  if (sw > 0) {
    ox_lo = p->pad_left > 0 ? (p->pad_left + sw - 1) / sw : 0;
    // ix0 + dw * (kw - 1) <= in_w - 1  <=>  ox * sw <= last
    const int64_t last = (int64_t)in_w - 1 - (int64_t)dw * (kw - 1) + p->pad_left;
    ox_hi = last < 0 ? 0 : (int32_t)(last / sw + 1);
    if (ox_hi > out_w) ox_hi = out_w;
    if (ox_lo > ox_hi) ox_lo = ox_hi;
  }

  for (int32_t oy = oy_begin; oy < oy_end; ++oy) {
    const int32_t iy0 = oy * sh - p->pad_top;
    const int fast = tap_off && full_blocks > 0 && ox_lo < ox_hi && iy0 >= 0 &&
                     (int64_t)iy0 + (int64_t)dh * (kh - 1) < in_h;
    int8_t *orow = output + (size_t)oy * out_w * c;
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int32_t ix0 = ox * sw - p->pad_left;
      int8_t *out = orow + (size_t)ox * c;
      if (fast && ox == ox_lo) {  // every column in [ox_lo, ox_hi) has all its taps inside
        const int8_t *x = input + ((size_t)iy0 * in_w + ix0) * c;
        row_interior(x, tap_off, w, bias_fold, multiplier, shift, &op, taps, paired, cb_begin,
                     full_end, out, ox_hi - ox_lo, (ptrdiff_t)sw * c, c);
        if (with_tail) {  // channel tail of the interior columns
          const int8_t *wb = w + (size_t)full_blocks * taps * 16;
          for (int32_t j = ox_lo; j < ox_hi; ++j) {
            const int8_t *xj = x + (ptrdiff_t)(j - ox_lo) * sw * c + full_blocks * 16;
            acc16 a = load_bias(bias_fold + full_blocks * 16);
            for (int32_t t = 0; t < taps; ++t)
              mac16(&a, effk_neon_load_partial(xj + tap_off[t], rem, full_blocks * 16),
                    vld1q_s8(wb + t * 16));
            effk_neon_store_partial(orow + (size_t)j * c + full_blocks * 16,
                                    requant16(a, tail_mult, tail_shift, &op), rem);
          }
        }
        ox = ox_hi - 1;
        continue;
      }
      // General path: any tap may fall in the padding.
      for (int32_t cb = cb_begin; cb < cb_end; ++cb) {
        const int32_t n = cb < full_blocks ? 16 : rem;
        acc16 a = load_bias(bias_fold + cb * 16);
        const int8_t *wb = w + (size_t)cb * taps * 16;
        for (int32_t fy = 0; fy < kh; ++fy) {
          const int32_t iy = iy0 + dh * fy;
          for (int32_t fx = 0; fx < kw; ++fx) {
            const int32_t ix = ix0 + dw * fx;
            const int8x16_t wv = vld1q_s8(wb + (fy * kw + fx) * 16);
            if (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) {
              const int8_t *xp = input + ((size_t)iy * in_w + ix) * c + cb * 16;
              mac16(&a, n == 16 ? vld1q_s8(xp) : effk_neon_load_partial(xp, n, cb * 16), wv);
            } else if (zp_is_int8) {
              mac16(&a, vzp8, wv);
            } else {
              mac16_wide(&a, wv, zp);
            }
          }
        }
        const int8x16_t o = n == 16 ? requant16(a, multiplier + cb * 16, shift + cb * 16, &op)
                                    : requant16(a, tail_mult, tail_shift, &op);
        effk_neon_store_partial(out + cb * 16, o, n);
      }
    }
  }
  if (tap_off && tap_off != tap_off_stack) free(tap_off);
}

void effk_qs8_dwconv_16c__neon(const effk_conv2d_params *p, const int8_t *input,
                               const void *packed, const int32_t *multiplier,
                               const int32_t *shift, int8_t *output, int32_t oy_begin,
                               int32_t oy_end) {
  dwconv_range(p, input, packed, multiplier, shift, output, oy_begin, oy_end, 0,
               (p->out_c + 15) / 16);
}

void effk_qs8_dwconv_channels_16c__neon(const effk_conv2d_params *p, const int8_t *input,
                                        const void *packed, const int32_t *multiplier,
                                        const int32_t *shift, int8_t *output, int32_t oy_begin,
                                        int32_t oy_end, int32_t c_begin, int32_t c_end) {
  if (c_end > p->out_c) c_end = p->out_c;
  dwconv_range(p, input, packed, multiplier, shift, output, oy_begin, oy_end, c_begin / 16,
               (c_end + 15) / 16);
}

#endif
