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

// Tuples at padded columns xs + T * t (t < nt): each column is loaded once, the last 4 - T
// columns of a tuple carried over to the next.
EFFK_INLINE512 void DW_NAME(build_row)(const DW_CONSTS *k, const effk_conv2d_params *p,
                              const int8_t *input_cb, int32_t iy, int32_t xs, int32_t T,
                              int32_t nt, uint8_t *dst) {
  if (iy < 0 || iy >= p->in_h) {
    for (int32_t t = 0; t < 4 * nt; ++t) DW_STORE(dst + DW_VB * (size_t)t, k->zpf);
    return;
  }
  const int32_t in_w = p->in_w, c = p->in_c;
  const int8_t *row = input_cb + (size_t)iy * in_w * c;
  const DW_V flip = DW_SET1_8((char)0x80);
  // Real input column of padded column x: x - pad_left.
  const int32_t ix = xs - p->pad_left;
#define EFFK_COL(ix_)                                                                       \
  ((ix_) >= 0 && (ix_) < in_w                                                               \
       ? DW_XOR(k->full ? DW_LOADU(row + (size_t)(ix_) * c)                              \
                        : DW_MASKZ_LOAD8(k->km, row + (size_t)(ix_) * c), flip)             \
       : k->zpf)
#define EFFK_PUT(t_, a_, b_, c_, d_)                                                   \
  do {                                                                                \
    DW_V q_[4];                                                                       \
    DW_INTERLEAVE(q_, a_, b_, c_, d_);                                                \
    for (int j_ = 0; j_ < 4; ++j_) DW_STORE(dst + 4 * DW_VB * (size_t)(t_) + DW_VB * j_, q_[j_]); \
  } while (0)
  if (T == 1) {
    DW_V a = EFFK_COL(ix), b = EFFK_COL(ix + 1), cc = EFFK_COL(ix + 2);
    for (int32_t t = 0; t < nt; ++t) {
      const DW_V d = EFFK_COL(ix + t + 3);
      EFFK_PUT(t, a, b, cc, d);
      a = b;
      b = cc;
      cc = d;
    }
  } else if (T == 2) {
    DW_V a = EFFK_COL(ix), b = EFFK_COL(ix + 1);
    for (int32_t t = 0; t < nt; ++t) {
      const DW_V cc = EFFK_COL(ix + 2 * t + 2), d = EFFK_COL(ix + 2 * t + 3);
      EFFK_PUT(t, a, b, cc, d);
      a = cc;
      b = d;
    }
  } else {
    for (int32_t t = 0; t < nt; ++t) {
      const int32_t x0 = ix + 4 * t;
      EFFK_PUT(t, EFFK_COL(x0), EFFK_COL(x0 + 1), EFFK_COL(x0 + 2), EFFK_COL(x0 + 3));
    }
  }
#undef EFFK_PUT
#undef EFFK_COL
}

// NP output pixels of one block, pixel i's tuple `col[i]` bytes into each ring row (filter
// group g `g_stride` further) and its weight set at wsel[i] (ring path: pixels need the set of
// their shift, so each loads its own weights).
EFFK_INLINE512 void DW_NAME(dw_pixels)(const int NP, const int32_t KH, const int32_t GW, const int GENERAL,
                              const int CLAMP, const DW_CONSTS *k, const uint8_t *const rows[],
                              const size_t col[], const uint8_t *const wsel[], size_t g_stride,
                              int8_t *out, int32_t c) {
  DW_V acc[4][4];
#pragma GCC unroll 4
  for (int i = 0; i < NP; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = k->bias[j];
  for (int32_t fy = 0; fy < KH; ++fy)
    for (int32_t g = 0; g < GW; ++g) {
      const size_t wo = (size_t)(fy * GW + g) * 256;
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
#pragma GCC unroll 4
        for (int i = 0; i < NP; ++i)
          acc[i][j] = DW_DPBUSD(acc[i][j], DW_LOAD(rows[fy] + col[i] + (size_t)g * g_stride + DW_VB * j),
                                DW_LOADU(wsel[i] + wo + 64 * j));
      }
    }
#pragma GCC unroll 4
  for (int i = 0; i < NP; ++i) DW_STORE_OUT(k, acc[i], out + (size_t)i * c, GENERAL, CLAMP);
}

// NP <= 8 adjacent output pixels of one block, the first at a tuple boundary (its column a
// multiple of T from the chunk's start): pixel i starts SW * i columns in, i.e. in tuple
// SW * i / T at shift SW * i % T, and uses the weight set of that shift. One vector j at a
// time, so each ring row's tuples (U of them) and each weight set are loaded once for all the
// pixels: eight pixels of 5x5 stride 1 take 3 tuple and 8 weight loads per 16 vpdpbusd, of 3x3
// stride 1 4 and 2 per 8. The j and fy loops must stay rolled: unrolled, the compiler keeps
// every j's accumulators live and spills (twice as slow).
EFFK_INLINE512 void DW_NAME(dw_strip)(const int NP, const int32_t KH, const int32_t GW, const int32_t T,
                              const int32_t SW, const int GENERAL, const int CLAMP, const DW_CONSTS *k,
                              const uint8_t *const rows[], size_t col, size_t wset_bytes,
                              int8_t *out, int32_t c) {
  const int32_t PG = 4 / T;                                   // tuples per filter group
  const int32_t U = ((NP - 1) * SW) / T + (GW - 1) * PG + 1;  // tuples the pixels read
  const int32_t RS = SW % T == 0 ? T : SW % 2 == 0 ? 2 : 1;   // gcd(SW, T): the shifts' spacing
  const int32_t RN = ((NP - 1) * SW) % T;                     // the largest shift in use
  const int32_t R = (NP - 1) * SW >= T ? T / RS : RN / RS + 1;  // shifts in use: r * RS, r < R
  DW_V acc_all[8][4];
#pragma GCC unroll 1
  for (int j = 0; j < 4; ++j) {
    DW_V acc[8];
#pragma GCC unroll 8
    for (int i = 0; i < NP; ++i) acc[i] = k->bias[j];
#pragma GCC unroll 1
    for (int32_t fy = 0; fy < KH; ++fy) {
      const uint8_t *tp = rows[fy] + col + (size_t)DW_VB * j;
      DW_V t[12], w[4][2];
#pragma GCC unroll 12
      for (int u = 0; u < U; ++u) t[u] = DW_LOAD(tp + (size_t)u * (4 * DW_VB));
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
        for (int g = 0; g < GW; ++g)
          w[r][g] = DW_LOADU(k->w + (size_t)(r * RS) * wset_bytes + (size_t)(fy * GW + g) * 256 + 64 * j);
#pragma GCC unroll 8
      for (int i = 0; i < NP; ++i) {
        const int u = (i * SW) / T, r = ((i * SW) % T) / RS;
#pragma GCC unroll 2
        for (int g = 0; g < GW; ++g) acc[i] = DW_DPBUSD(acc[i], t[u + g * PG], w[r][g]);
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < NP; ++i) acc_all[i][j] = acc[i];
  }
#pragma GCC unroll 8
  for (int i = 0; i < NP; ++i) DW_STORE_OUT(k, acc_all[i], out + (size_t)i * c, GENERAL, CLAMP);
}

// One block of channels (64 on zmm, at most 32 on ymm) over output rows [oy_begin, oy_end),
// output columns in chunks. KH/KW are compile-time constants in the unrolled instances.
EFFK_INLINE512 void DW_NAME(dw_ring)(const int32_t KH, const int32_t KW, const int GENERAL,
                            const int CLAMP, const effk_conv2d_params *p, const int8_t *input, const DW_CONSTS *k,
                            int8_t *output, int32_t cb, int32_t oy_begin, int32_t oy_end,
                            int32_t chunk, uint8_t *ring) {
  const int32_t GW = (KW + 3) / 4;
  const int32_t sh = p->stride_h, sw = p->stride_w, dh = p->dilation_h;
  const int32_t c = p->in_c, out_w = p->out_w;
  const int32_t T = dw_tuple_step(KW, sw), PG = 4 / T;  // tuple columns T apart
  const size_t wset_bytes = (size_t)KH * GW * 256;     // one shift's weights
  const int32_t span = (KH - 1) * dh + 1;              // ring slots
  const int8_t *input_cb = input + cb;
  for (int32_t ox0 = 0; ox0 < out_w; ox0 += chunk) {
    const int32_t ox1 = ox0 + chunk < out_w ? ox0 + chunk : out_w;
    const int32_t nt = ((ox1 - 1 - ox0) * sw) / T + (GW - 1) * PG + 1;
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
          DW_NAME(build_row)(k, p, input_cb, iy, ox0 * sw, T, nt, slot);
          tag[s] = iy;
        }
        rows[fy] = slot;
      }
      int8_t *out = output + ((size_t)oy * out_w + ox0) * c + cb;
      int32_t ox = ox0;
      // EfficientNet's shapes (compile-time T and SW): eight pixels at a time, then four, then
      // the last one to three, each group starting at a tuple boundary.
#define EFFK_STRIP(NP_, T_, SW_)                                                                 \
  DW_NAME(dw_strip)((NP_), KH, GW, (T_), (SW_), GENERAL, CLAMP, k, rows,                         \
                    (size_t)(((ox - ox0) * (SW_)) / (T_)) * (4 * DW_VB), wset_bytes, out, c)
#define EFFK_STRIPS(T_, SW_)                                                                     \
  do {                                                                                          \
    for (; ox + 8 <= ox1; ox += 8, out += 8 * (size_t)c) EFFK_STRIP(8, T_, SW_);                \
    if (ox + 4 <= ox1) {                                                                        \
      EFFK_STRIP(4, T_, SW_);                                                                   \
      ox += 4;                                                                                  \
      out += 4 * (size_t)c;                                                                     \
    }                                                                                           \
    const int32_t n_ = ox1 - ox;                                                                \
    if (n_ == 3) EFFK_STRIP(3, T_, SW_);                                                        \
    else if (n_ == 2) EFFK_STRIP(2, T_, SW_);                                                   \
    else if (n_ == 1) EFFK_STRIP(1, T_, SW_);                                                   \
    ox = ox1;                                                                                   \
  } while (0)
      if (KW == 3 && T == 2 && sw == 1) EFFK_STRIPS(2, 1);
      else if (KW == 3 && T == 2 && sw == 2) EFFK_STRIPS(2, 2);
      else if (KW == 5 && T == 4 && sw == 1) EFFK_STRIPS(4, 1);
      else if (KW == 5 && T == 4 && sw == 2) EFFK_STRIPS(4, 2);
#undef EFFK_STRIPS
#undef EFFK_STRIP
      // The rest (and other shapes) two or one pixels at a time, each with its shift's weights.
      for (; ox < ox1;) {
        const int np = ox + 2 <= ox1 ? 2 : 1;
        size_t col[2];
        const uint8_t *wsel[2];
        for (int i = 0; i < np; ++i) {
          const int32_t x = (ox + i - ox0) * sw;
          col[i] = (size_t)(x / T) * (4 * DW_VB);
          wsel[i] = k->w + (size_t)(x % T) * wset_bytes;
        }
        if (np == 2)
          DW_NAME(dw_pixels)(2, KH, GW, GENERAL, CLAMP, k, rows, col, wsel, (size_t)PG * (4 * DW_VB), out, c);
        else
          DW_NAME(dw_pixels)(1, KH, GW, GENERAL, CLAMP, k, rows, col, wsel, (size_t)PG * (4 * DW_VB), out, c);
        ox += np;
        out += (size_t)np * c;
      }
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
