// Plain AArch64 NEON int8 GEMM core behind CONV_2D 1x1 (and the im2col conv), and the
// conv1x1 table entries of the "neon" table.
//
// Without SDOT the widest exact int8 multiply is SMULL (8 products into int16 lanes) +
// SADALP (pairwise add into int32). The tile is 4 pixels x 4 output channels: 16 int32x4
// accumulators, each holding partial sums of one (pixel, channel) pair that are reduced
// with ADDP at the end. Two products may be summed in int16 (SMULL + SMLAL2, then one
// SADALP: a quarter fewer instructions) only when no weight is -128: |w * x| <= 127 * 128,
// so two fit in int16, while (-128) * (-128) * 2 does not. TFLite's int8 weights are
// symmetric ([-127, 127]), so that is the usual case; packing records which one applies.
//
// Packed layout (effk_qs8_gemm_4x4c16_pack__neon):
//   int32 header[4]                       [0]: 1 if no weight is -128
//   int32 bias_fold[round_up(out_c, 4)]   bias[oc] - input_zero_point * sum_k w[oc][k]
//   int8  w[out_c / 4][kpad / 16][4][16]  kpad = round_up(k_len, 16), zero padded
// The input zero point is folded in: sum w * (x - zp) == sum w * x - zp * sum w in int32
// (mod 2^32, as the scalar kernel's int32 accumulator).
#if defined(__aarch64__)

#include "neon_internal.h"

enum { NR = 4, MR = 4 };

size_t effk_qs8_gemm_4x4c16_packed_size__neon(int32_t k_len, int32_t out_c) {
  const size_t ocp = (size_t)EFFK_ROUND_UP(out_c, NR);
  const size_t kp = (size_t)EFFK_ROUND_UP(k_len, 16);
  return 4 * sizeof(int32_t) + ocp * sizeof(int32_t) + ocp * kp;
}

void effk_qs8_gemm_4x4c16_pack__neon(const int8_t *filter, const int32_t *bias, int32_t k_len,
                                     int32_t out_c, int32_t input_zero_point, void *packed) {
  const int32_t ocp = EFFK_ROUND_UP(out_c, NR);
  const int32_t kp = EFFK_ROUND_UP(k_len, 16);
  int32_t *hdr = (int32_t *)packed;
  int32_t *bias_fold = hdr + 4;
  int8_t *w = (int8_t *)(bias_fold + ocp);
  memset(w, 0, (size_t)ocp * (size_t)kp);
  int32_t no_min = 1;
  for (size_t i = 0; i < (size_t)out_c * (size_t)k_len; ++i) no_min &= filter[i] != INT8_MIN;
  hdr[0] = no_min;
  hdr[1] = hdr[2] = hdr[3] = 0;
  for (int32_t oc = 0; oc < ocp; ++oc) {
    uint32_t acc = 0;
    if (oc < out_c) {
      const int8_t *f = filter + (size_t)oc * k_len;
      uint32_t sum = 0;
      for (int32_t k = 0; k < k_len; ++k) {
        sum += (uint32_t)(int32_t)f[k];
        w[(((size_t)(oc / NR) * (kp / 16) + k / 16) * NR + oc % NR) * 16 + k % 16] = f[k];
      }
      acc = (bias ? (uint32_t)bias[oc] : 0u) - (uint32_t)input_zero_point * sum;
    }
    bias_fold[oc] = (int32_t)acc;
  }
}

// acc += the 16 products a * b, as 4 int32 partial sums.
#define MAC(acc, a, b)                                                                   \
  do {                                                                                   \
    if (pair_in_i16) {                                                                   \
      acc = vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(b)), a, b)); \
    } else {                                                                             \
      acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));                  \
      acc = vpadalq_s16(acc, vmull_high_s8(a, b));                                       \
    }                                                                                    \
  } while (0)

// One 4x4 tile: pixels x[0..3] (rows may repeat for a pixel tail), channels ob*4..ob*4+3.
// pair_in_i16 is a constant at each call site (see the header comment).
static inline __attribute__((always_inline)) void tile4x4(
    const int8_t *x0, const int8_t *x1, const int8_t *x2, const int8_t *x3, int32_t k_len,
    const int8_t *w, int32x4_t out[4], const int pair_in_i16) {
  int32x4_t c00 = vdupq_n_s32(0), c01 = c00, c02 = c00, c03 = c00;
  int32x4_t c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  int32x4_t c20 = c00, c21 = c00, c22 = c00, c23 = c00;
  int32x4_t c30 = c00, c31 = c00, c32 = c00, c33 = c00;
  int32_t k = 0;
  for (; k + 16 <= k_len; k += 16, w += 64) {
    const int8x16_t a0 = vld1q_s8(x0 + k), a1 = vld1q_s8(x1 + k);
    const int8x16_t a2 = vld1q_s8(x2 + k), a3 = vld1q_s8(x3 + k);
    const int8x16_t b0 = vld1q_s8(w), b1 = vld1q_s8(w + 16);
    const int8x16_t b2 = vld1q_s8(w + 32), b3 = vld1q_s8(w + 48);
    MAC(c00, a0, b0); MAC(c01, a0, b1); MAC(c02, a0, b2); MAC(c03, a0, b3);
    MAC(c10, a1, b0); MAC(c11, a1, b1); MAC(c12, a1, b2); MAC(c13, a1, b3);
    MAC(c20, a2, b0); MAC(c21, a2, b1); MAC(c22, a2, b2); MAC(c23, a2, b3);
    MAC(c30, a3, b0); MAC(c31, a3, b1); MAC(c32, a3, b2); MAC(c33, a3, b3);
  }
  if (k < k_len) {  // weights are zero past k_len; read no input byte past it
    const int32_t n = k_len - k;
    const int8x16_t a0 = effk_neon_load_partial(x0 + k, n, k);
    const int8x16_t a1 = effk_neon_load_partial(x1 + k, n, k);
    const int8x16_t a2 = effk_neon_load_partial(x2 + k, n, k);
    const int8x16_t a3 = effk_neon_load_partial(x3 + k, n, k);
    const int8x16_t b0 = vld1q_s8(w), b1 = vld1q_s8(w + 16);
    const int8x16_t b2 = vld1q_s8(w + 32), b3 = vld1q_s8(w + 48);
    MAC(c00, a0, b0); MAC(c01, a0, b1); MAC(c02, a0, b2); MAC(c03, a0, b3);
    MAC(c10, a1, b0); MAC(c11, a1, b1); MAC(c12, a1, b2); MAC(c13, a1, b3);
    MAC(c20, a2, b0); MAC(c21, a2, b1); MAC(c22, a2, b2); MAC(c23, a2, b3);
    MAC(c30, a3, b0); MAC(c31, a3, b1); MAC(c32, a3, b2); MAC(c33, a3, b3);
  }
  out[0] = vpaddq_s32(vpaddq_s32(c00, c01), vpaddq_s32(c02, c03));
  out[1] = vpaddq_s32(vpaddq_s32(c10, c11), vpaddq_s32(c12, c13));
  out[2] = vpaddq_s32(vpaddq_s32(c20, c21), vpaddq_s32(c22, c23));
  out[3] = vpaddq_s32(vpaddq_s32(c30, c31), vpaddq_s32(c32, c33));
}

void effk_qs8_gemm_4x4c16__neon(const int8_t *x, size_t x_stride, int32_t k_len, int32_t npix,
                                const void *packed, int32_t out_c, const effk_neon_requant *rq,
                                int8_t *out, size_t out_stride, int32_t oc_begin,
                                int32_t oc_end) {
  if (npix <= 0 || out_c <= 0) return;
  const int32_t ocp = EFFK_ROUND_UP(out_c, NR);
  const int32_t kp = EFFK_ROUND_UP(k_len, 16);
  const int32_t *hdr = (const int32_t *)packed;
  const int pair_in_i16 = hdr[0] != 0;
  const int32_t *bias_fold = hdr + 4;
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
      const effk_neon_quant q = effk_neon_quant_load(mult, shift);
      const int32x4_t vb = vld1q_s32(bias_fold + oc0);
      for (int32_t i = p0; i < p1; i += MR) {
        const int32_t ni = p1 - i < MR ? p1 - i : MR;
        const int8_t *xr[MR];
        for (int32_t r = 0; r < MR; ++r) xr[r] = x + (size_t)(i + (r < ni ? r : ni - 1)) * x_stride;
        int32x4_t acc[MR];
        if (pair_in_i16)
          tile4x4(xr[0], xr[1], xr[2], xr[3], k_len, w, acc, 1);
        else
          tile4x4(xr[0], xr[1], xr[2], xr[3], k_len, w, acc, 0);
        for (int32_t r = 0; r < MR; ++r)
          acc[r] = vaddq_s32(effk_neon_mbqm(vaddq_s32(acc[r], vb), q), vzp);
        const int8x16_t o = effk_neon_clamp_narrow(acc[0], acc[1], acc[2], acc[3], vmin, vmax);
        int8_t tmp[16];
        vst1q_s8(tmp, o);
        for (int32_t r = 0; r < ni; ++r) {
          int8_t *dst = out + (size_t)(i + r) * out_stride + oc0;
          if (nc == NR)
            memcpy(dst, tmp + r * 4, 4);
          else
            memcpy(dst, tmp + r * 4, (size_t)nc);
        }
      }
    }
  }
}

#endif
