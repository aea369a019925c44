// 256-entry int8 table lookup (LOGISTIC, requantize) for both AArch64 tables: TBL/TBX
// over four 64-byte quarters of the table.
#if defined(__aarch64__)

#include "neon_internal.h"

static inline int8x16_t lookup16(const int8x16x4_t t[4], int8x16_t x) {
  const uint8x16_t i0 = vreinterpretq_u8_s8(x);
  const uint8x16_t c64 = vdupq_n_u8(64);
  const uint8x16_t i1 = vsubq_u8(i0, c64), i2 = vsubq_u8(i1, c64), i3 = vsubq_u8(i2, c64);
  // Out-of-range indices (>= 64) leave the lane alone in TBX (and give 0 in TBL).
  int8x16_t r = vqtbl4q_s8(t[0], i0);
  r = vqtbx4q_s8(r, t[1], i1);
  r = vqtbx4q_s8(r, t[2], i2);
  return vqtbx4q_s8(r, t[3], i3);
}

void effk_qs8_lookup__neon(const int8_t table[256], const int8_t *in, int8_t *out, size_t n) {
  int8x16x4_t t[4];
  for (int q = 0; q < 4; ++q) {
    const int8_t *tq = table + 64 * q;
    t[q].val[0] = vld1q_s8(tq);
    t[q].val[1] = vld1q_s8(tq + 16);
    t[q].val[2] = vld1q_s8(tq + 32);
    t[q].val[3] = vld1q_s8(tq + 48);
  }
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    vst1q_s8(out + i, lookup16(t, vld1q_s8(in + i)));
    vst1q_s8(out + i + 16, lookup16(t, vld1q_s8(in + i + 16)));
  }
  for (; i + 16 <= n; i += 16) vst1q_s8(out + i, lookup16(t, vld1q_s8(in + i)));
  if (i < n) {
    const int32_t r = (int32_t)(n - i);
    const int8x16_t x = effk_neon_load_partial(in + i, r, i > 16 ? 16 : (int32_t)i);
    effk_neon_store_partial(out + i, lookup16(t, x), r);
  }
}

#endif
