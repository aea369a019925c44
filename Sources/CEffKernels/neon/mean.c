// MEAN over H and W for both AArch64 tables: per-channel int32 sums, 16 channels a
// vector, summed first in int16 over up to 256 pixels at a time (|sum| <= 256 * 128
// fits), then the scalar spec's requantization lane by lane.
#if defined(__aarch64__)

#include "neon_internal.h"

static inline int8x16_t finish16(const effk_mean_params *p, const int32x4_t s[4], effk_neon_quant q,
                                 int32_t hw) {
  // (int32)((int64)sum - (int64)zp * hw) == sum - zp * hw mod 2^32
  const int32x4_t corr = vdupq_n_s32((int32_t)((uint32_t)p->input_zero_point * (uint32_t)hw));
  const int32x4_t zp = vdupq_n_s32(p->output_zero_point);
  int32x4_t r[4];
  for (int i = 0; i < 4; ++i) r[i] = vaddq_s32(effk_neon_mbqm(vsubq_s32(s[i], corr), q), zp);
  return effk_neon_clamp_narrow(r[0], r[1], r[2], r[3], vdupq_n_s32(-128), vdupq_n_s32(127));
}

// Channels [c_begin, c_end), c_begin a multiple of 16.
void effk_qs8_mean_hw_channels__neon(const effk_mean_params *p, const int8_t *input,
                                     int8_t *output, int32_t c_begin, int32_t c_end) {
  const int32_t hw = p->h * p->w, c = p->c;
  if (c_end > c) c_end = c;
  if (c_end <= c_begin) return;
  const effk_neon_quant q = effk_neon_quant_dup(p->multiplier, p->shift);
  for (int32_t ch = c_begin; ch < c_end; ch += 16) {
    const int32_t n = c - ch < 16 ? c - ch : 16;
    int32x4_t s[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    for (int32_t i0 = 0; i0 < hw; i0 += 256) {
      const int32_t i1 = hw - i0 < 256 ? hw : i0 + 256;
      int16x8_t lo = vdupq_n_s16(0), hi = vdupq_n_s16(0);
      for (int32_t i = i0; i < i1; ++i) {
        const int8_t *x = input + (size_t)i * c + ch;
        const int64_t before = (int64_t)i * c + ch;  // readable bytes before x
        const int32_t avail = before > 16 ? 16 : (int32_t)before;
        const int8x16_t v = n == 16 ? vld1q_s8(x) : effk_neon_load_partial(x, n, avail);
        lo = vaddw_s8(lo, vget_low_s8(v));
        hi = vaddw_high_s8(hi, v);
      }
      s[0] = vaddw_s16(s[0], vget_low_s16(lo));
      s[1] = vaddw_high_s16(s[1], lo);
      s[2] = vaddw_s16(s[2], vget_low_s16(hi));
      s[3] = vaddw_high_s16(s[3], hi);
    }
    effk_neon_store_partial(output + ch, finish16(p, s, q, hw), n);
  }
}

void effk_qs8_mean_hw__neon(const effk_mean_params *p, const int8_t *input, int8_t *output) {
  effk_qs8_mean_hw_channels__neon(p, input, output, 0, p->c);
}

#endif
