// The ring path of the avx512vnni depthwise kernel, written once for zmm (64-channel blocks)
// and ymm (blocks of at most 32 channels: C = 32, tails of 16 or 32), included by dwconv.c once
// for each. The includer defines DW_BITS (512 or 256) and DW_NAME(f) (f with the variant's
// suffix, which also names its dw_consts, interleave4 and dw_store); the intrinsics follow
// from DW_BITS (_mm512_xor_si512 / _mm256_xor_si256 ...). Weights are 64-byte vectors in both
// (ymm uses their low 32 bytes: channels 0-31); ring tuples are 4 * DW_VB bytes.
// No include guard: meant to be included more than once; it undefines its macros at the end.

#define DW_CAT4_(a, b, c, d) a##b##c##d
#define DW_CAT4(a, b, c, d) DW_CAT4_(a, b, c, d)
#define DW_OP(op) DW_CAT4(_mm, DW_BITS, _, op)                      // _mm512_op
#define DW_SI(op) DW_CAT4(DW_OP(op), _si, DW_BITS, )                // _mm512_op_si512
#define DW_V DW_CAT4(__m, DW_BITS, i, )
#define DW_VB (DW_BITS / 8)
#define DW_CONSTS DW_NAME(dw_consts)
#define DW_LOAD(ptr) DW_SI(load)((const DW_V *)(const void *)(ptr))
#define DW_LOADU(ptr) DW_SI(loadu)((const DW_V *)(const void *)(ptr))
#define DW_STORE(ptr, v) DW_SI(store)((DW_V *)(void *)(ptr), (v))
#define DW_MASKZ_LOAD8(k, ptr) DW_OP(maskz_loadu_epi8)((k), (ptr))
#define DW_XOR DW_SI(xor)
#define DW_SET1_8 DW_OP(set1_epi8)
#define DW_DPBUSD DW_OP(dpbusd_epi32)
#define DW_INTERLEAVE DW_NAME(interleave4)
#define DW_STORE_OUT DW_NAME(dw_store)

EFFK_INLINE512 void DW_NAME(build_row)(const DW_CONSTS *k, const effk_conv2d_params *p,
                              const int8_t *input_cb, int32_t iy, int32_t xs, int32_t step,
                              int32_t nt, uint8_t *dst) {
  if (iy < 0 || iy >= p->in_h) {
    for (int32_t t = 0; t < 4 * nt; ++t) DW_STORE(dst + DW_VB * (size_t)t, k->zpf);
    return;
  }
  const int32_t in_w = p->in_w, c = p->in_c;
  const int8_t *row = input_cb + (size_t)iy * in_w * c;
  const DW_V flip = DW_SET1_8((char)0x80);
  // Real input column of padded column x: x - pad_left.
  int32_t ix = xs - p->pad_left;
#define EFFK_COL(ix_)                                                                       \
  ((ix_) >= 0 && (ix_) < in_w                                                               \
       ? DW_XOR(DW_MASKZ_LOAD8(k->km, row + (size_t)(ix_) * c), flip)   \
       : k->zpf)
  if (step == 1) {
    DW_V a = EFFK_COL(ix), b = EFFK_COL(ix + 1), cc = EFFK_COL(ix + 2);
    for (int32_t t = 0; t < nt; ++t) {
      const DW_V d = EFFK_COL(ix + t + 3);
      DW_V q[4];
      DW_INTERLEAVE(q, a, b, cc, d);
      for (int j = 0; j < 4; ++j) DW_STORE(dst + 4 * DW_VB * (size_t)t + DW_VB * j, q[j]);
      a = b;
      b = cc;
      cc = d;
    }
  } else {
    for (int32_t t = 0; t < nt; ++t) {
      const int32_t x0 = ix + step * t;
      DW_V q[4];
      DW_INTERLEAVE(q, EFFK_COL(x0), EFFK_COL(x0 + 1), EFFK_COL(x0 + 2), EFFK_COL(x0 + 3));
      for (int j = 0; j < 4; ++j) DW_STORE(dst + 4 * DW_VB * (size_t)t + DW_VB * j, q[j]);
    }
  }
#undef EFFK_COL
}

// NP adjacent output pixels of one block: tuples of pixel i start `col + i * px_stride` into
// each ring row, filter group g `g * g_stride` further.
EFFK_INLINE512 void DW_NAME(dw_pixels)(const int NP, const int32_t KH, const int32_t GW, const int GENERAL,
                              const int CLAMP, const DW_CONSTS *k, const uint8_t *const rows[],
                              size_t col, size_t px_stride, size_t g_stride, int8_t *out, int32_t c) {
  DW_V acc[4][4];
#pragma GCC unroll 4
  for (int i = 0; i < NP; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = k->bias[j];
  const uint8_t *w = k->w;
  for (int32_t fy = 0; fy < KH; ++fy)
    for (int32_t g = 0; g < GW; ++g, w += 256) {
      const uint8_t *tp = rows[fy] + (size_t)g * g_stride + col;
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const DW_V wv = DW_LOADU(w + 64 * j);
#pragma GCC unroll 4
        for (int i = 0; i < NP; ++i)
          acc[i][j] = DW_DPBUSD(acc[i][j], DW_LOAD(tp + i * px_stride + DW_VB * j), wv);
      }
    }
#pragma GCC unroll 4
  for (int i = 0; i < NP; ++i) DW_STORE_OUT(k, acc[i], out + (size_t)i * c, GENERAL, CLAMP);
}

// Eight adjacent output pixels of one block for 5x5 filters (GW = 2) when the pixels are one
// tuple apart (per_ox == 1: stride 1 or 2). One vector j at a time, so a ring row's tuples are
// loaded once for both filter groups (pixel i, group g reads tuple i + PG * g, PG = per_g):
// 12 (stride 1) or 10 (stride 2) tuple loads and 2 weight loads per 16 vpdpbusd, against 20 and 4
// for dw_pixels with four pixels. The j and fy loops must stay rolled: unrolled, the compiler
// keeps every j's accumulators live and spills (twice as slow).
EFFK_INLINE512 void DW_NAME(dw_pixels8)(const int32_t KH, const int PG, const int GENERAL,
                              const int CLAMP, const DW_CONSTS *k, const uint8_t *const rows[],
                              size_t col, int8_t *out, int32_t c) {
  DW_V acc_all[8][4];
#pragma GCC unroll 1
  for (int j = 0; j < 4; ++j) {
    DW_V acc[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) acc[i] = k->bias[j];
#pragma GCC unroll 1
    for (int32_t fy = 0; fy < KH; ++fy) {
      const uint8_t *tp = rows[fy] + col + (size_t)DW_VB * j;
      DW_V t[12];
#pragma GCC unroll 12
      for (int u = 0; u < 8 + PG; ++u) t[u] = DW_LOAD(tp + (size_t)u * (4 * DW_VB));
      const DW_V w0 = DW_LOADU(k->w + (size_t)(2 * fy) * 256 + 64 * j);
      const DW_V w1 = DW_LOADU(k->w + (size_t)(2 * fy + 1) * 256 + 64 * j);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) acc[i] = DW_DPBUSD(DW_DPBUSD(acc[i], t[i], w0), t[i + PG], w1);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) acc_all[i][j] = acc[i];
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) DW_STORE_OUT(k, acc_all[i], out + (size_t)i * c, GENERAL, CLAMP);
}

// One block of channels (64 on zmm, at most 32 on ymm) over output rows [oy_begin, oy_end), output columns in chunks.
// KH/KW are compile-time constants in the unrolled instances.
EFFK_INLINE512 void DW_NAME(dw_ring)(const int32_t KH, const int32_t KW, const int GENERAL,
                            const int CLAMP, const effk_conv2d_params *p, const int8_t *input, const DW_CONSTS *k,
                            int8_t *output, int32_t cb, int32_t oy_begin, int32_t oy_end,
                            int32_t chunk, uint8_t *ring) {
  const int32_t GW = (KW + 3) / 4;
  const int32_t sh = p->stride_h, sw = p->stride_w, dh = p->dilation_h;
  const int32_t c = p->in_c, out_w = p->out_w;
  // Tuples are needed at padded columns ox*sw + 4g: every sw-th column when 4 % sw == 0.
  const int32_t step = (4 % sw == 0) ? sw : 1;
  const int32_t per_ox = sw / step, per_g = 4 / step;  // tuple index strides
  const int32_t span = (KH - 1) * dh + 1;              // ring slots
  const int8_t *input_cb = input + cb;
  for (int32_t ox0 = 0; ox0 < out_w; ox0 += chunk) {
    const int32_t ox1 = ox0 + chunk < out_w ? ox0 + chunk : out_w;
    const int32_t nt = (ox1 - 1 - ox0) * per_ox + (GW - 1) * per_g + 1;
    const size_t slot_bytes = (size_t)nt * (4 * DW_VB);
    int32_t tag[64];  // input row held by each slot (span <= 64 is checked by the caller)
    for (int32_t s = 0; s < span; ++s) tag[s] = INT32_MIN;
    for (int32_t oy = oy_begin; oy < oy_end; ++oy) {
      const int32_t iy0 = oy * sh - p->pad_top;
      const uint8_t *rows[16];
      for (int32_t fy = 0; fy < KH; ++fy) {
        const int32_t iy = iy0 + fy * dh;
        int32_t s = iy % span;
        if (s < 0) s += span;
        uint8_t *slot = ring + (size_t)s * slot_bytes;
        if (tag[s] != iy) {
          DW_NAME(build_row)(k, p, input_cb, iy, ox0 * sw, step, nt, slot);
          tag[s] = iy;
        }
        rows[fy] = slot;
      }
      int8_t *out = output + ((size_t)oy * out_w + ox0) * c + cb;
      int32_t ox = ox0;
      if (per_ox == 1 && KW == 5 && (per_g == 4 || per_g == 2)) {
        if (per_g == 4)
          for (; ox + 8 <= ox1; ox += 8, out += 8 * (size_t)c)
            DW_NAME(dw_pixels8)(KH, 4, GENERAL, CLAMP, k, rows, (size_t)(ox - ox0) * (4 * DW_VB), out, c);
        else
          for (; ox + 8 <= ox1; ox += 8, out += 8 * (size_t)c)
            DW_NAME(dw_pixels8)(KH, 2, GENERAL, CLAMP, k, rows, (size_t)(ox - ox0) * (4 * DW_VB), out, c);
      }
      // Four (5x5 and wider) or two output pixels at a time: each weight vector is loaded once
      // for all, and the independent accumulator chains hide vpdpbusd's latency.
      if (KW >= 5)
        for (; ox + 4 <= ox1; ox += 4, out += 4 * (size_t)c)
          DW_NAME(dw_pixels)(4, KH, GW, GENERAL, CLAMP, k, rows, (size_t)(ox - ox0) * per_ox * (4 * DW_VB),
                    (size_t)per_ox * (4 * DW_VB), (size_t)per_g * (4 * DW_VB), out, c);
      for (; ox + 2 <= ox1; ox += 2, out += 2 * (size_t)c)
        DW_NAME(dw_pixels)(2, KH, GW, GENERAL, CLAMP, k, rows, (size_t)(ox - ox0) * per_ox * (4 * DW_VB),
                  (size_t)per_ox * (4 * DW_VB), (size_t)per_g * (4 * DW_VB), out, c);
      if (ox < ox1)
        DW_NAME(dw_pixels)(1, KH, GW, GENERAL, CLAMP, k, rows, (size_t)(ox - ox0) * per_ox * (4 * DW_VB),
                  (size_t)per_ox * (4 * DW_VB), (size_t)per_g * (4 * DW_VB), out, c);
    }
  }
}

#undef DW_CAT4_
#undef DW_CAT4
#undef DW_OP
#undef DW_SI
#undef DW_V
#undef DW_VB
#undef DW_CONSTS
#undef DW_LOAD
#undef DW_LOADU
#undef DW_STORE
#undef DW_MASKZ_LOAD8
#undef DW_XOR
#undef DW_SET1_8
#undef DW_DPBUSD
#undef DW_INTERLEAVE
#undef DW_STORE_OUT
#undef DW_BITS
#undef DW_NAME
