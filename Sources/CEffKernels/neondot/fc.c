// FULLY_CONNECTED (a GEMV per batch row), AArch64 NEON + dotprod (SDOT).
// Same packed layout as the neon table (its pack functions are used), layout and epilogue in
// neon_internal.h. Only the functions marked EFFK_TARGET_DOTPROD use SDOT.
#if defined(__aarch64__)

#include "../neon/neon_internal.h"
#include "../tables.h"

enum { NR = EFFK_NEON_FC_NR, KR = EFFK_NEON_FC_KR };

static inline __attribute__((always_inline)) EFFK_TARGET_DOTPROD int32x4_t mac16(int32x4_t acc,
                                                                                 int8x16_t w,
                                                                                 int8x16_t x) {
  return vdotq_s32(acc, w, x);
}

// NB (1 or 2) blocks of 4 channels from block blk, one batch row.
static inline __attribute__((always_inline)) EFFK_TARGET_DOTPROD void fc_tile(
    const effk_fc_params *p, const int8_t *x, const int32_t *bias_fold, const int8_t *w,
    const double *scale, int32_t corr, int8_t *out, int32_t blk, int32_t oc_begin, int32_t oc_end,
    const int NB) {
  const int32_t in_c = p->in_c, groups = (in_c + KR - 1) / KR, full = in_c / KR;
  const size_t bstride = (size_t)groups * NR * KR;
  const int8_t *wb = w + (size_t)blk * bstride;
  int32x4_t acc[2][4];
  for (int j = 0; j < NB; ++j)
    for (int r = 0; r < 4; ++r) acc[j][r] = vdupq_n_s32(0);
  for (int32_t g = 0; g < groups; ++g) {
    int8x16_t xv;
    if (g < full) {
      xv = vld1q_s8(x + (size_t)g * KR);
    } else {
      int8_t t[KR] = {0};
      memcpy(t, x + (size_t)g * KR, (size_t)(in_c - g * KR));
      xv = vld1q_s8(t);
    }
    for (int j = 0; j < NB; ++j) {
      const int8_t *wg = wb + (size_t)j * bstride + (size_t)g * NR * KR;
      for (int r = 0; r < 4; ++r) acc[j][r] = mac16(acc[j][r], vld1q_s8(wg + r * KR), xv);
    }
  }
  for (int j = 0; j < NB; ++j) {
    const int32_t oc0 = (blk + j) * NR;
    const int32_t lo = oc_begin > oc0 ? oc_begin - oc0 : 0;
    const int32_t hi = oc_end < oc0 + NR ? oc_end - oc0 : NR;
    if (hi <= lo) continue;
    int32x4_t s = effk_neon_fc_reduce4(acc[j][0], acc[j][1], acc[j][2], acc[j][3]);
    s = vaddq_s32(s, vaddq_s32(vld1q_s32(bias_fold + oc0), vdupq_n_s32(corr)));
    effk_neon_fc_store4(s, scale + oc0, p, out + oc0, lo, hi);
  }
}

EFFK_TARGET_DOTPROD void effk_qs8_fc__neondot(const effk_fc_params *p, const int8_t *input,
                                              const void *packed, const double *scale,
                                              int8_t *output, int32_t oc_begin, int32_t oc_end) {
  if (oc_end <= oc_begin) return;
  const int32_t out_c = p->out_c, ocp = EFFK_ROUND_UP(out_c, NR);
  const int32_t *bias_fold = (const int32_t *)packed;
  const int8_t *w = (const int8_t *)(bias_fold + ocp);
  const int32_t blk_end = (oc_end + NR - 1) / NR;
  for (int32_t b = 0; b < p->batches; ++b) {
    const int8_t *x = input + (size_t)b * p->in_c;
    const int32_t corr = effk__fc_row_correction(p, x);
    int8_t *out = output + (size_t)b * out_c;
    int32_t blk = oc_begin / NR;
    for (; blk + 2 <= blk_end; blk += 2)
      fc_tile(p, x, bias_fold, w, scale, corr, out, blk, oc_begin, oc_end, 2);
    if (blk < blk_end) fc_tile(p, x, bias_fold, w, scale, corr, out, blk, oc_begin, oc_end, 1);
  }
}

#endif
