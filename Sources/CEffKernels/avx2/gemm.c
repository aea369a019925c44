// conv1x1 (a GEMM) and general conv (im2col + the same GEMM) with AVX2.
//
// AVX2 has no exact u8 x s8 dot product (vpmaddubsw saturates to int16), so inputs are
// sign-extended to int16 while they are copied into a small panel, and vpmaddwd multiplies
// pairs of int16 into int32 (exact: |x*w| <= 2^14, a pair <= 2^15). The input zero point is
// folded into the bias at packing: sum_k w[k] * (x[k] - zp) + bias = sum_k w[k] * x[k] +
// (bias - zp * sum_k w[k]). Int32 arithmetic wraps, as in the avx512vnni kernels.
//
// Packed layout (K = kh*kw*in_c, K2 = K rounded up to 2, N = out_c): output channels in
// blocks of 16 (the last block: the remaining channels rounded up to 8, i.e. nv = 1 or 2
// vectors of 8); per block of nv vectors:
//   int32 bias'[nv*8]                          (folded bias, 0 past N)
//   int16 w[K2/2][nv][8][2]                    (w[k2][v][j][t] = filter[c][2*k2 + t],
//                                               c = block*16 + 8*v + j; 0 past K or N)
//   If K2 > EFFK256_KMAX, the original bias (N int32) and filter (N*K bytes) follow and the
//   kernels call the scalar reference.
//
// Micro-kernel: MR = 6 pixels x 16 channels (12 ymm accumulators), two int16 inputs broadcast
// per step from the panel (6 rows of K2 int16 on the stack, <= 48 KiB). Partial tiles (rows or
// channels) go through a scratch tile. Requantization: avx2/common.h, exact, with the same
// per-call specializations as avx512vnni.
#if defined(__x86_64__)
#include "common.h"

#define MR 6
#define EFFK256_KMAX 4096

static size_t kpad2(int32_t k) { return ((size_t)k + 1) & ~(size_t)1; }

static size_t blocks_size(int32_t k, int32_t n) {
  const size_t n8 = ((size_t)n + 7) / 8;
  return n8 * 8 * (sizeof(int32_t) + 2 * kpad2(k));
}

static void pack_blocks(const int8_t *filter, const int32_t *bias, int32_t k, int32_t n,
                        int32_t zp, void *packed) {
  const size_t k2 = kpad2(k);
  uint8_t *dst = (uint8_t *)packed;
  for (int32_t nb = 0; nb < n; nb += 16) {
    const int32_t nv = n - nb >= 9 ? 2 : 1;  // vectors of 8 for min(16, n - nb) channels
    for (int32_t j = 0; j < nv * 8; ++j) {
      const int32_t c = nb + j;
      int32_t v = 0;
      if (c < n) {
        int32_t sum = 0;
        for (int32_t q = 0; q < k; ++q) sum += filter[(size_t)c * k + q];
        v = (int32_t)((uint32_t)(bias ? bias[c] : 0) - (uint32_t)zp * (uint32_t)sum);
      }
      memcpy(dst, &v, 4);
      dst += 4;
    }
    for (size_t kk = 0; kk < k2 / 2; ++kk)
      for (int32_t v = 0; v < nv; ++v)
        for (int32_t j = 0; j < 8; ++j)
          for (int32_t t = 0; t < 2; ++t) {
            const int32_t c = nb + 8 * v + j;
            const size_t q = 2 * kk + t;
            const int16_t w = (c < n && q < (size_t)k) ? filter[(size_t)c * k + q] : 0;
            memcpy(dst, &w, 2);
            dst += 2;
          }
  }
}

#define GEMM_ISA avx2
#define GEMM_SHAPE 6x16c2
#define GEMM_ATTR EFFK_T256
#define GEMM_KPAD(k) kpad2(k)
#define GEMM_KMAX EFFK256_KMAX
#include "../gemm_x86.h"

// One MR x (8*NV) tile over the int16 panel rows a + i*k2; all MR rows stored (16 or 8 bytes).
EFFK_INLINE256 void tile(const int NV, const int GENERAL, const int CLAMP, const int16_t *a,
                         size_t k2, const uint8_t *blk, const int32_t *mult, const int32_t *shift,
                         int8_t *out, size_t out_stride, __m256i zp, __m256i lo, __m256i hi) {
  __m256i acc[MR][2];
  const int32_t *bias = (const int32_t *)(const void *)blk;
#pragma GCC unroll 2
  for (int j = 0; j < NV; ++j) {
    const __m256i b = _mm256_loadu_si256((const __m256i *)(bias + 8 * j));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) acc[i][j] = b;
  }
  const uint8_t *w = blk + (size_t)NV * 32;
  for (size_t k = 0; k < k2; k += 2) {
    __m256i wv[2];
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) wv[j] = _mm256_loadu_si256((const __m256i *)(w + 32 * j));
    w += (size_t)NV * 32;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      int32_t x2;
      memcpy(&x2, a + (size_t)i * k2 + k, 4);
      const __m256i x = _mm256_set1_epi32(x2);
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j)
        acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(x, wv[j]));
    }
  }
  effk_rq256 q[2];
#pragma GCC unroll 2
  for (int j = 0; j < NV; ++j) q[j] = effk_rq256_load(mult + 8 * j, shift + 8 * j);
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    const __m256i v0 = effk_rq256_out_t(acc[i][0], &q[0], zp, lo, hi, GENERAL, CLAMP);
    if (NV == 2) {
      const __m256i v1 = effk_rq256_out_t(acc[i][1], &q[1], zp, lo, hi, GENERAL, CLAMP);
      _mm_storeu_si128((__m128i *)(out + (size_t)i * out_stride), effk_pack16_256(v0, v1));
    } else {
      _mm_storel_epi64((__m128i *)(out + (size_t)i * out_stride), effk_pack8_256(v0));
    }
  }
}

#define EFFK_TILE(NV, G, C)                                                                      \
  EFFK_T256 static void tile_##NV##_##G##C(const int16_t *a, size_t k2, const uint8_t *blk,      \
                                           const int32_t *mult, const int32_t *shift,            \
                                           int8_t *out, size_t out_stride, __m256i zp,           \
                                           __m256i lo, __m256i hi) {                             \
    tile(NV, G, C, a, k2, blk, mult, shift, out, out_stride, zp, lo, hi);                        \
  }
EFFK_TILE(1, 0, 0)
EFFK_TILE(2, 0, 0)
EFFK_TILE(1, 0, 1)
EFFK_TILE(2, 0, 1)
EFFK_TILE(1, 1, 0)
EFFK_TILE(2, 1, 0)
EFFK_TILE(1, 1, 1)
EFFK_TILE(2, 1, 1)

typedef void (*tile_fn)(const int16_t *, size_t, const uint8_t *, const int32_t *,
                        const int32_t *, int8_t *, size_t, __m256i, __m256i, __m256i);
// [general][clamp][nv]
static const tile_fn tiles[2][2][3] = {{{0, tile_1_00, tile_2_00}, {0, tile_1_01, tile_2_01}},
                                       {{0, tile_1_10, tile_2_10}, {0, tile_1_11, tile_2_11}}};

// Output channels [c_begin, c_end) (c_begin a multiple of 16) for the MR panel rows (m of
// them valid). Partial tiles (rows or
// channels) go through a scratch tile; multipliers/shifts of a partial block are copied so
// that the kernels never read past out_c.
EFFK_T256 static void gemm_panel(const int16_t *a, size_t k2, const uint8_t *packed, int32_t n,
                                 int32_t c_begin, int32_t c_end,
                                 const int32_t *mult, const int32_t *shift, int8_t *out,
                                 int32_t m, int general, int clamp, __m256i zp, __m256i lo,
                                 __m256i hi) {
  // Every block before c_begin is full (NV vectors).
  const uint8_t *blk = packed + (size_t)(c_begin / 16) * (size_t)2 * 32 * (1 + k2 / 2);
  const tile_fn *tf = tiles[general ? 1 : 0][clamp ? 1 : 0];
  int8_t scratch[MR * 16];
  for (int32_t nb = c_begin; nb < c_end; nb += 16) {
    const int32_t nc = n - nb < 16 ? n - nb : 16;
    const int nv = (nc + 7) / 8;
    const int32_t *mb = mult + nb, *sb = shift + nb;
    int32_t mt[16], st[16];
    if (nc != 8 * nv) {
      memset(mt, 0, sizeof mt);
      memset(st, 0, sizeof st);
      memcpy(mt, mb, (size_t)nc * 4);
      memcpy(st, sb, (size_t)nc * 4);
      mb = mt;
      sb = st;
    }
    if (m == MR && nc == 8 * nv) {
      tf[nv](a, k2, blk, mb, sb, out + nb, (size_t)n, zp, lo, hi);
    } else {
      tf[nv](a, k2, blk, mb, sb, scratch, 16, zp, lo, hi);
      for (int32_t i = 0; i < m; ++i) memcpy(out + (size_t)i * n + nb, scratch + 16 * i, (size_t)nc);
    }
    blk += (size_t)nv * 32 * (1 + k2 / 2);
  }
}

// Sign-extends n bytes to int16.
EFFK_INLINE256 void widen_row(int16_t *dst, const int8_t *src, int32_t n) {
  int32_t q = 0;
  for (; q + 16 <= n; q += 16)
    _mm256_storeu_si256((__m256i *)(dst + q),
                        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + q))));
  for (; q < n; ++q) dst[q] = src[q];
}

// As widen_row, but may write up to 15 int16 past dst + n (later writes fix them; the panel
// has room) and reads 16 bytes at a time while that stays below src_end.
EFFK_INLINE256 void widen_fast(int16_t *dst, const int8_t *src, int32_t n, const int8_t *src_end) {
  int32_t q = 0;
  for (; q < n && src + q + 16 <= src_end; q += 16)
    _mm256_storeu_si256((__m256i *)(dst + q),
                        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + q))));
  for (; q < n; ++q) dst[q] = src[q];
}

EFFK_T256 void effk_qs8_conv1x1_channels_6x16c2__avx2(const effk_conv2d_params *p, const int8_t *input,
    const void *packed, const int32_t *mult, const int32_t *shift, int8_t *output,
    int32_t pixel_begin, int32_t pixel_end, int32_t c_begin, int32_t c_end) {
  if (pixel_end <= pixel_begin || c_end <= c_begin) return;
  const int32_t k = p->in_c, n = p->out_c;
  if (c_end > n) c_end = n;
  const size_t k2 = kpad2(k);
  if (k2 > EFFK256_KMAX) {  // the panel would not fit on the stack
    effk__conv1x1_range__scalar(p, input, fallback_filter(packed, k, n), fallback_bias(packed, k, n),
                                mult, shift, output, pixel_begin, pixel_end, c_begin, c_end);
    return;
  }
  _Alignas(32) int16_t panel[MR * EFFK256_KMAX];
  const __m256i zp = _mm256_set1_epi32(p->output_zero_point);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  const int general = effk_rq_general256(mult, shift, n);
  const int clamp = p->act_min != -128 || p->act_max != 127;
  for (int32_t px = pixel_begin; px < pixel_end; px += MR) {
    const int32_t m = pixel_end - px < MR ? pixel_end - px : MR;
    for (int32_t i = 0; i < m; ++i) {
      widen_row(panel + (size_t)i * k2, input + (size_t)(px + i) * k, k);
      if (k2 != (size_t)k) panel[(size_t)i * k2 + k] = 0;
    }
    if (m < MR) memset(panel + (size_t)m * k2, 0, (size_t)(MR - m) * k2 * 2);
    gemm_panel(panel, k2, (const uint8_t *)packed, n, c_begin, c_end, mult, shift, output + (size_t)px * n, m,
               general, clamp, zp, lo, hi);
  }
}

// The im2col gather (../im2col_rows.h): int16 panel elements, padded taps the input zero
// point; the odd K's last element is zeroed (it meets zero weights).
#define IM2COL_ATTR EFFK_INLINE256
#define IM2COL_T int16_t
#define IM2COL_COPY(d, s, n) widen_fast((d), (s), (n), in_end)
#define IM2COL_PAD(d, n)                                                        \
  do {                                                                         \
    int16_t *d_ = (d);                                                         \
    for (int32_t t_ = 0; t_ < (n); ++t_) d_[t_] = (int16_t)p->input_zero_point; \
  } while (0)
#define IM2COL_PIXEL_END(d, row) \
  do {                           \
    if ((d) != (row) + kp) *(d) = 0; \
  } while (0)
#include "../im2col_rows.h"

EFFK_T256 void effk_qs8_conv_im2col_6x16c2__avx2(const effk_conv2d_params *p,
                                                 const int8_t *input, const void *packed,
                                                 const int32_t *mult, const int32_t *shift,
                                                 int8_t *output, int32_t oy_begin,
                                                 int32_t oy_end) {
  const int32_t kh = p->kernel_h, kw = p->kernel_w, ic = p->in_c, n = p->out_c;
  const int32_t k = kh * kw * ic;
  const size_t k2 = kpad2(k);
  if (oy_end <= oy_begin) return;
  if (k2 > EFFK256_KMAX) {
    fallback_conv(p, input, packed, k, mult, shift, output, oy_begin, oy_end);
    return;
  }
  _Alignas(32) int16_t panel[MR * EFFK256_KMAX + 16];  // + room for widen_fast's overrun
  const __m256i zp = _mm256_set1_epi32(p->output_zero_point);
  const __m256i lo = _mm256_set1_epi32(p->act_min), hi = _mm256_set1_epi32(p->act_max);
  const int general = effk_rq_general256(mult, shift, n);
  const int clamp = p->act_min != -128 || p->act_max != 127;
  const int32_t pix_begin = oy_begin * p->out_w, pix_end = oy_end * p->out_w;
  for (int32_t px = pix_begin; px < pix_end; px += MR) {
    const int32_t m = pix_end - px < MR ? pix_end - px : MR;
    im2col_rows(p, input, panel, k2, px, m);
    if (m < MR) memset(panel + (size_t)m * k2, 0, (size_t)(MR - m) * k2 * 2);
    gemm_panel(panel, k2, (const uint8_t *)packed, n, 0, n, mult, shift, output + (size_t)px * n, m,
               general, clamp, zp, lo, hi);
  }
}
#endif
