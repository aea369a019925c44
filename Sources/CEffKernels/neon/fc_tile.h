// fc_tile of the neon and neondot FULLY_CONNECTED kernels, written once (fc.c of each table
// includes it): the includer defines FC_TILE_ATTR (its target attributes, may be empty) and,
// before including, NR and KR (EFFK_NEON_FC_NR and _KR) and mac16(acc, w, x): acc plus the 16
// products w * x as 4 int32 partial sums.
// Layout and epilogue in neon_internal.h. No include guard; undefines FC_TILE_ATTR at the end.

// NB (1 or 2) blocks of 4 channels from block blk, one batch row.
static inline __attribute__((always_inline)) FC_TILE_ATTR void fc_tile(
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

#undef FC_TILE_ATTR
