// AArch64 NEON + dotprod (ARMv8.2-A SDOT) int8 GEMM core behind CONV_2D 1x1 and the
// im2col conv of the "neondot" table. Only the functions marked EFFK_TARGET_DOTPROD use
// SDOT; the table is selected only where the CPU reports HWCAP_ASIMDDP.
//
// Tile: 4 pixels x 16 output channels, 16 int32x4 accumulators with output channels in
// the lanes (no final reduction): SDOT by element multiplies 4 weight rows x 4 k by the
// 4 k of one pixel held in one 32-bit lane of the input vector.
//
// Packed layout (effk_qs8_gemm_4x16c4_pack__neondot):
//   int32 bias_fold[round_up(out_c, 16)]          bias[oc] - zp * sum_k w[oc][k]
//   int8  w[out_c / 16][kpad / 4][4 (j)][4 (l)][4 (t)] = w[16 ob + 4 j + l][4 g + t]
//   kpad = round_up(k_len, 16), zero padded.
#if defined(__aarch64__)

#include "../neon/neon_internal.h"

enum { NR = 16, MR = 4 };

size_t effk_qs8_gemm_4x16c4_packed_size__neondot(int32_t k_len, int32_t out_c) {
  const size_t ocp = (size_t)EFFK_ROUND_UP(out_c, NR);
  const size_t kp = (size_t)EFFK_ROUND_UP(k_len, 16);
  return ocp * sizeof(int32_t) + ocp * kp;
}

void effk_qs8_gemm_4x16c4_pack__neondot(const int8_t *filter, const int32_t *bias, int32_t k_len,
                                        int32_t out_c, int32_t input_zero_point, void *packed) {
  const int32_t ocp = EFFK_ROUND_UP(out_c, NR);
  const int32_t kp = EFFK_ROUND_UP(k_len, 16);
  int32_t *bias_fold = (int32_t *)packed;
  int8_t *w = (int8_t *)(bias_fold + ocp);
  memset(w, 0, (size_t)ocp * (size_t)kp);
  for (int32_t oc = 0; oc < ocp; ++oc) {
    uint32_t acc = 0;
    if (oc < out_c) {
      const int8_t *f = filter + (size_t)oc * k_len;
      uint32_t sum = 0;
      const int32_t ob = oc / NR, j = (oc % NR) / 4, l = oc % 4;
      for (int32_t k = 0; k < k_len; ++k) {
        sum += (uint32_t)(int32_t)f[k];
        w[(size_t)ob * NR * kp + (size_t)(k / 4) * 64 + j * 16 + l * 4 + k % 4] = f[k];
      }
      acc = (bias ? (uint32_t)bias[oc] : 0u) - (uint32_t)input_zero_point * sum;
    }
    bias_fold[oc] = (int32_t)acc;
  }
}

// One k group (4 k) g of the 16 held in a0..a3, weights at wg (4 vectors of 16).
#define DOT_GROUP(wg, g)                                                        \
  do {                                                                          \
    const int8x16_t b0 = vld1q_s8((wg)), b1 = vld1q_s8((wg) + 16);              \
    const int8x16_t b2 = vld1q_s8((wg) + 32), b3 = vld1q_s8((wg) + 48);         \
    c00 = vdotq_laneq_s32(c00, b0, a0, g); c01 = vdotq_laneq_s32(c01, b1, a0, g); \
    c02 = vdotq_laneq_s32(c02, b2, a0, g); c03 = vdotq_laneq_s32(c03, b3, a0, g); \
    c10 = vdotq_laneq_s32(c10, b0, a1, g); c11 = vdotq_laneq_s32(c11, b1, a1, g); \
    c12 = vdotq_laneq_s32(c12, b2, a1, g); c13 = vdotq_laneq_s32(c13, b3, a1, g); \
    c20 = vdotq_laneq_s32(c20, b0, a2, g); c21 = vdotq_laneq_s32(c21, b1, a2, g); \
    c22 = vdotq_laneq_s32(c22, b2, a2, g); c23 = vdotq_laneq_s32(c23, b3, a2, g); \
    c30 = vdotq_laneq_s32(c30, b0, a3, g); c31 = vdotq_laneq_s32(c31, b1, a3, g); \
    c32 = vdotq_laneq_s32(c32, b2, a3, g); c33 = vdotq_laneq_s32(c33, b3, a3, g); \
  } while (0)

#define DOT_STEP(w)             \
  do {                          \
    DOT_GROUP((w), 0);          \
    DOT_GROUP((w) + 64, 1);     \
    DOT_GROUP((w) + 128, 2);    \
    DOT_GROUP((w) + 192, 3);    \
  } while (0)

EFFK_TARGET_DOTPROD
static inline void tile4x16(const int8_t *x0, const int8_t *x1, const int8_t *x2,
                            const int8_t *x3, int32_t k_len, const int8_t *w, int32x4_t out[16]) {
  int32x4_t c00 = vdupq_n_s32(0), c01 = c00, c02 = c00, c03 = c00;
  int32x4_t c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  int32x4_t c20 = c00, c21 = c00, c22 = c00, c23 = c00;
  int32x4_t c30 = c00, c31 = c00, c32 = c00, c33 = c00;
  int32_t k = 0;
  for (; k + 16 <= k_len; k += 16, w += 256) {
    const int8x16_t a0 = vld1q_s8(x0 + k), a1 = vld1q_s8(x1 + k);
    const int8x16_t a2 = vld1q_s8(x2 + k), a3 = vld1q_s8(x3 + k);
    DOT_STEP(w);
  }
  if (k < k_len) {  // weights are zero past k_len; read no input byte past it
    const int32_t n = k_len - k;
    const int8x16_t a0 = effk_neon_load_partial(x0 + k, n, k);
    const int8x16_t a1 = effk_neon_load_partial(x1 + k, n, k);
    const int8x16_t a2 = effk_neon_load_partial(x2 + k, n, k);
    const int8x16_t a3 = effk_neon_load_partial(x3 + k, n, k);
    DOT_STEP(w);
  }
  out[0] = c00; out[1] = c01; out[2] = c02; out[3] = c03;
  out[4] = c10; out[5] = c11; out[6] = c12; out[7] = c13;
  out[8] = c20; out[9] = c21; out[10] = c22; out[11] = c23;
  out[12] = c30; out[13] = c31; out[14] = c32; out[15] = c33;
}

EFFK_TARGET_DOTPROD
void effk_qs8_gemm_4x16c4__neondot(const int8_t *x, size_t x_stride, int32_t k_len, int32_t npix,
                                   const void *packed, int32_t out_c, const effk_neon_requant *rq,
                                   int8_t *out, size_t out_stride, int32_t oc_begin,
                                   int32_t oc_end) {
  if (npix <= 0 || out_c <= 0) return;
  const int32_t ocp = EFFK_ROUND_UP(out_c, NR);
  const int32_t kp = EFFK_ROUND_UP(k_len, 16);
  const int32_t *bias_fold = (const int32_t *)packed;
  const int8_t *wall = (const int8_t *)(bias_fold + ocp);
  const int32x4_t vzp = vdupq_n_s32(rq->output_zero_point);
  const int32x4_t vmin = vdupq_n_s32(rq->act_min), vmax = vdupq_n_s32(rq->act_max);
  // Pixels in chunks whose input rows stay in L1 while all channel blocks pass over them.
  int32_t chunk = (int32_t)(16384 / (x_stride ? x_stride : 1));
  chunk = chunk < MR ? MR : chunk - chunk % MR;

  for (int32_t p0 = 0; p0 < npix; p0 += chunk) {
    const int32_t p1 = p0 + chunk < npix ? p0 + chunk : npix;
    for (int32_t ob = oc_begin / NR; ob < (oc_end + NR - 1) / NR; ++ob) {
      const int8_t *w = wall + (size_t)ob * NR * kp;
      const int32_t oc0 = ob * NR, nc = out_c - oc0 < NR ? out_c - oc0 : NR;
      int32_t mult[NR] = {0}, shift[NR] = {0};
      memcpy(mult, rq->multiplier + oc0, (size_t)nc * sizeof(int32_t));
      memcpy(shift, rq->shift + oc0, (size_t)nc * sizeof(int32_t));
      effk_neon_quant q[4];
      int32x4_t vb[4];
      for (int32_t j = 0; j < 4; ++j) {
        q[j] = effk_neon_quant_load(mult + 4 * j, shift + 4 * j);
        vb[j] = vld1q_s32(bias_fold + oc0 + 4 * j);
      }
      for (int32_t i = p0; i < p1; i += MR) {
        const int32_t ni = p1 - i < MR ? p1 - i : MR;
        const int8_t *xr[MR];
        for (int32_t r = 0; r < MR; ++r) xr[r] = x + (size_t)(i + (r < ni ? r : ni - 1)) * x_stride;
        int32x4_t acc[16];
        tile4x16(xr[0], xr[1], xr[2], xr[3], k_len, w, acc);
        for (int32_t r = 0; r < ni; ++r) {
          int32x4_t v[4];
          for (int32_t j = 0; j < 4; ++j)
            v[j] = vaddq_s32(effk_neon_mbqm(vaddq_s32(acc[r * 4 + j], vb[j]), q[j]), vzp);
          const int8x16_t o = effk_neon_clamp_narrow(v[0], v[1], v[2], v[3], vmin, vmax);
          effk_neon_store_partial(out + (size_t)(i + r) * out_stride + oc0, o, nc);
        }
      }
    }
  }
}

#endif
