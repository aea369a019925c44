// conv1x1 (a GEMM) and general conv (im2col + the same GEMM) with AVX-512 VNNI.
//
// vpdpbusd multiplies unsigned by signed bytes, four at a time, into int32 lanes. Inputs are
// made unsigned by flipping the sign bit (x ^ 0x80 == x + 128) while they are copied into a
// small panel; packing folds the matching correction into the bias:
//   sum_k w[k] * (x[k] - zp) + bias = sum_k w[k] * (x[k] + 128) + (bias - (128 + zp) * sum_k w[k])
// All int32 arithmetic wraps (vpdpbusd does not saturate): the result is the reference's
// accumulator modulo 2^32, i.e. exactly its value whenever the reference does not overflow.
//
// Packed layout (K = kh*kw*in_c, Kp = K rounded up to 4, N = out_c):
//   output channels in blocks of NB = 64 (the last block: the remaining channels rounded up
//   to 16, i.e. nv = 1..4 vectors of 16); per block of nv vectors:
//     int32 bias'[nv*16]                         (folded bias, 0 past N)
//     int8  w[Kp/4][nv][16][4]                   (w[k4][v][j][t] = filter[c][4*k4 + t],
//                                                 c = block*64 + 16*v + j; 0 past K or N)
//   If Kp > EFFK512_KMAX, the original bias (N int32, 0 if NULL) and filter (N*K bytes) follow
//   and the kernels call the scalar reference (the panel would not fit on the stack).
// The packed buffer is best 64-byte aligned (the loads are unaligned-safe either way).
//
// Micro-kernel: MR = 7 pixels x 64 channels (28 zmm accumulators), inputs broadcast 4 bytes at a
// time from the panel (7 rows of Kp bytes on the stack, <= 28 KiB). Tails: the last channel
// block uses 1..4 vectors with masked stores; a last pixel group of < 7 rows computes all 7
// into a scratch tile; a last vector of at most 8 channels accumulates on ymm. Requantization
// gives TFLite's double-rounding MultiplyByQuantizedMultiplier exactly (common.h): in fp32 with
// an exactness test where the call's parameters allow (RQ_FP), else in integer SIMD specialized
// per call for "no positive shift, no INT32_MIN multiplier"; the full [-128, 127] activation
// range needs no clamp (saturating packs clamp).
#if defined(__x86_64__)
#include "common.h"

#ifndef MR
#define MR 7
#endif
#define NVMAX 4
#define EFFK512_KMAX 4096

static size_t kpad(int32_t k) { return ((size_t)k + 3) & ~(size_t)3; }

static size_t blocks_size(int32_t k, int32_t n) {
  const size_t n16 = ((size_t)n + 15) / 16;
  return n16 * 16 * (sizeof(int32_t) + kpad(k));
}

static void pack_blocks(const int8_t *filter, const int32_t *bias, int32_t k, int32_t n,
                        int32_t zp, void *packed) {
  const size_t kp = kpad(k);
  uint8_t *dst = (uint8_t *)packed;
  for (int32_t nb = 0; nb < n; nb += 16 * NVMAX) {
    const int32_t rem = n - nb;
    const int32_t nv = rem >= 16 * NVMAX ? NVMAX : (rem + 15) / 16;
    int32_t *b = (int32_t *)dst;  // dst is 4-byte aligned if packed is
    for (int32_t j = 0; j < nv * 16; ++j) {
      const int32_t c = nb + j;
      int32_t v = 0;
      if (c < n) {
        int32_t sum = 0;
        for (int32_t q = 0; q < k; ++q) sum += filter[(size_t)c * k + q];
        v = (int32_t)((uint32_t)(bias ? bias[c] : 0) - (uint32_t)(128 + zp) * (uint32_t)sum);
      }
      memcpy(&b[j], &v, sizeof v);
    }
    int8_t *w = (int8_t *)(dst + (size_t)nv * 16 * sizeof(int32_t));
    for (size_t k4 = 0; k4 < kp / 4; ++k4)
      for (int32_t v = 0; v < nv; ++v)
        for (int32_t j = 0; j < 16; ++j)
          for (int32_t t = 0; t < 4; ++t) {
            const int32_t c = nb + 16 * v + j;
            const size_t q = 4 * k4 + t;
            *w++ = (c < n && q < (size_t)k) ? filter[(size_t)c * k + q] : 0;
          }
    dst = (uint8_t *)w;
  }
}

#define GEMM_ISA avx512vnni
#define GEMM_SHAPE 7x64c4
#define GEMM_ATTR EFFK_T512
#define GEMM_KPAD(k) kpad(k)
#define GEMM_KMAX EFFK512_KMAX
#include "../gemm_x86.h"

// One MR x (16*NV) tile: rows a + i*kp (i < MR), all MR rows stored (out_stride apart).
// rqf: the RQ_FP constants of the tile's first channel group. HALF: the last vector holds at
// most 8 channels (N = 24, 40, ...) and accumulates on ymm, half a zmm vpdpbusd.
EFFK_INLINE512 void tile(const int NV, const int HALF, const int RQ, const int CLAMP,
                         const uint8_t *a, size_t kp, const uint8_t *blk, const int32_t *mult,
                         const int32_t *shift, const float *rqf, int32_t nc, int8_t *out,
                         size_t out_stride, __m512i zp, __m512i lo, __m512i hi) {
  const int NF = HALF ? NV - 1 : NV;  // full (zmm) vectors
  const int FP = RQ >= RQ_FP, RELU = RQ == RQ_FPR;
  __m512i acc[MR][NVMAX];
  __m256i acc8[MR];
  const int32_t *bias = (const int32_t *)blk;
#pragma GCC unroll 4
  for (int j = 0; j < NF; ++j) {
    const __m512i b = _mm512_loadu_si512(bias + 16 * j);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) acc[i][j] = b;
  }
  if (HALF) {
    const __m256i b = _mm256_loadu_si256((const __m256i *)(bias + 16 * NF));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) acc8[i] = b;
  }
  const uint8_t *w = blk + (size_t)NV * 64;
  for (size_t k = 0; k < kp; k += 4) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      int32_t x4;
      memcpy(&x4, a + (size_t)i * kp + k, 4);
      const __m512i x = _mm512_set1_epi32(x4);
#pragma GCC unroll 4
      for (int j = 0; j < NF; ++j)
        acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], x, _mm512_loadu_si512(w + 64 * j));
      if (HALF)
        acc8[i] = _mm256_dpbusd_epi32(acc8[i], _mm512_castsi512_si256(x),
                                      _mm256_loadu_si256((const __m256i *)(w + 64 * NF)));
    }
    w += (size_t)NV * 64;
  }
  if (HALF) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) acc[i][NF] = _mm512_zextsi256_si512(acc8[i]);
  }
  effk_rq512 q[NVMAX];
  if (!FP) {
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      q[j] = effk_rq512_load(mult + 16 * j, shift + 16 * j, effk_mask16(nc - 16 * j));
  }
  // RQ_FP: the int32 result is not clamped; the bytes are, after the saturating narrowing.
#define RQ_OUT(i, j)                                                                          \
  (FP ? effk_rqf512_out_t(acc[i][j], rqf + 48 * (j), mult + 16 * (j), shift + 16 * (j), \
                                 effk_mask16(nc - 16 * (j)), zp, RELU)                        \
               : effk_rq512_out_t(acc[i][j], &q[j], zp, lo, hi, RQ, CLAMP))
  const int byte_clamp = FP && CLAMP;
  const __m512i lo8 = _mm512_set1_epi8((char)_mm_cvtsi128_si32(_mm512_castsi512_si128(lo)));
  const __m512i hi8 = _mm512_set1_epi8((char)_mm_cvtsi128_si32(_mm512_castsi512_si128(hi)));
  if (NV == NVMAX && nc == 16 * NVMAX) {
    // Four vectors -> one 64-byte row: vpackssdw/vpacksswb (saturating: they clamp when
    // CLAMP == 0) interleave 128-bit lanes; vpermd puts them back in order.
    const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m512i v0, v1, v2, v3;
      if (FP) {  // one test for the row's four vectors
        __mmask16 f0, f1, f2, f3;
        v0 = effk_rqf512_try_t(acc[i][0], rqf, &f0, RELU);
        v1 = effk_rqf512_try_t(acc[i][1], rqf + 48, &f1, RELU);
        v2 = effk_rqf512_try_t(acc[i][2], rqf + 96, &f2, RELU);
        v3 = effk_rqf512_try_t(acc[i][3], rqf + 144, &f3, RELU);
        if (__builtin_expect((f0 | f1 | f2 | f3) != 0, 0)) {
          v0 = RQ_OUT(i, 0);
          v1 = RQ_OUT(i, 1);
          v2 = RQ_OUT(i, 2);
          v3 = RQ_OUT(i, 3);
        }
      } else {
        v0 = RQ_OUT(i, 0), v1 = RQ_OUT(i, 1), v2 = RQ_OUT(i, 2), v3 = RQ_OUT(i, 3);
      }
      __m512i o = _mm512_packs_epi16(_mm512_packs_epi32(v0, v1), _mm512_packs_epi32(v2, v3));
      if (byte_clamp) o = _mm512_min_epi8(_mm512_max_epi8(o, lo8), hi8);
      _mm512_storeu_si512(out + (size_t)i * out_stride, _mm512_permutexvar_epi32(perm, o));
    }
    return;
  }
#pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) {
    const __mmask16 km = effk_mask16(nc - 16 * j);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m128i o = _mm512_cvtsepi32_epi8(RQ_OUT(i, j));
      if (byte_clamp)
        o = _mm_min_epi8(_mm_max_epi8(o, _mm512_castsi512_si128(lo8)), _mm512_castsi512_si128(hi8));
      _mm_mask_storeu_epi8(out + (size_t)i * out_stride + 16 * j, km, o);
    }
  }
#undef RQ_OUT
}

#define EFFK_TILE(NV, H, G, C)                                                                  \
  EFFK_T512 static void tile_##NV##H##_##G##C(const uint8_t *a, size_t kp, const uint8_t *blk,  \
                                              const int32_t *mult, const int32_t *shift,        \
                                              const float *rqf, int32_t nc, int8_t *out,        \
                                              size_t out_stride, __m512i zp, __m512i lo,        \
                                              __m512i hi) {                                     \
    tile(NV, H, G, C, a, kp, blk, mult, shift, rqf, nc, out, out_stride, zp, lo, hi);           \
  }
#define EFFK_TILES(H, G, C) \
  EFFK_TILE(1, H, G, C)     \
  EFFK_TILE(2, H, G, C)     \
  EFFK_TILE(3, H, G, C)     \
  EFFK_TILE(4, H, G, C)
EFFK_TILES(0, 0, 0)
EFFK_TILES(0, 0, 1)
EFFK_TILES(0, 1, 0)
EFFK_TILES(0, 1, 1)
EFFK_TILES(0, 2, 0)
EFFK_TILES(0, 2, 1)
EFFK_TILES(1, 2, 0)
EFFK_TILES(1, 2, 1)
EFFK_TILES(0, 3, 0)
EFFK_TILES(0, 3, 1)
EFFK_TILES(1, 3, 0)
EFFK_TILES(1, 3, 1)

typedef void (*tile_fn)(const uint8_t *, size_t, const uint8_t *, const int32_t *,
                        const int32_t *, const float *, int32_t, int8_t *, size_t, __m512i,
                        __m512i, __m512i);
// [requantization mode][clamp][nv]; half_tiles: RQ_FP or RQ_FPR with a last vector of <= 8
// channels.
static const tile_fn tiles[4][2][NVMAX + 1] = {
    {{0, tile_10_00, tile_20_00, tile_30_00, tile_40_00}, {0, tile_10_01, tile_20_01, tile_30_01, tile_40_01}},
    {{0, tile_10_10, tile_20_10, tile_30_10, tile_40_10}, {0, tile_10_11, tile_20_11, tile_30_11, tile_40_11}},
    {{0, tile_10_20, tile_20_20, tile_30_20, tile_40_20}, {0, tile_10_21, tile_20_21, tile_30_21, tile_40_21}},
    {{0, tile_10_30, tile_20_30, tile_30_30, tile_40_30}, {0, tile_10_31, tile_20_31, tile_30_31, tile_40_31}}};
static const tile_fn half_tiles[2][2][NVMAX + 1] = {
    {{0, tile_11_20, tile_21_20, tile_31_20, tile_41_20}, {0, tile_11_21, tile_21_21, tile_31_21, tile_41_21}},
    {{0, tile_11_30, tile_21_30, tile_31_30, tile_41_30}, {0, tile_11_31, tile_21_31, tile_31_31, tile_41_31}}};

// The requantization mode of a call (common.h), and for the fp32 modes its constants for
// channels [c_begin, c_end) in rqf (EFFK_RQF_MAXN channels' worth).
EFFK_INLINE512 int rq_mode(const effk_conv2d_params *p, const int32_t *mult, const int32_t *shift,
                           int32_t c_begin, int32_t c_end, float *rqf) {
  const int rq = effk_rq_mode(mult, shift, p->out_c, p->output_zero_point, p->act_min, p->act_max);
  if (rq >= RQ_FP)
    effk_rqf512_prepare(mult + c_begin, shift + c_begin, c_end - c_begin, p->output_zero_point, rqf);
  return rq;
}

// Output channels [c_begin, c_end) (c_begin a multiple of 64) for the MR panel rows; m < MR
// rows go through a scratch tile.
EFFK_T512 static void gemm_panel(const uint8_t *a, size_t kp, const uint8_t *packed, int32_t n,
                                 int32_t c_begin, int32_t c_end,
                                 const int32_t *mult, const int32_t *shift, const float *rqf,
                                 int8_t *out, int32_t m, int rq, int clamp, __m512i zp, __m512i lo,
                                 __m512i hi) {
  // Every block before c_begin is full (NV vectors).
  const uint8_t *blk = packed + (size_t)(c_begin / (16 * NVMAX)) * (size_t)NVMAX * 64 * (1 + kp / 4);
  int8_t scratch[MR * 64];
  for (int32_t nb = c_begin; nb < c_end; nb += 16 * NVMAX) {
    const int32_t nc = n - nb < 16 * NVMAX ? n - nb : 16 * NVMAX;
    const int nv = (nc + 15) / 16;
    const int half = rq >= RQ_FP && (nc & 15) != 0 && (nc & 15) <= 8;
    const tile_fn *tf = half ? half_tiles[rq - RQ_FP][clamp ? 1 : 0] : tiles[rq][clamp ? 1 : 0];
    const float *rqf_nb = rqf + (size_t)(nb - c_begin) / 16 * 48;
    if (m == MR) {
      tf[nv](a, kp, blk, mult + nb, shift + nb, rqf_nb, nc, out + nb, (size_t)n, zp, lo, hi);
    } else {
      tf[nv](a, kp, blk, mult + nb, shift + nb, rqf_nb, nc, scratch, 64, zp, lo, hi);
      for (int32_t i = 0; i < m; ++i) memcpy(out + (size_t)i * n + nb, scratch + 64 * i, (size_t)nc);
    }
    blk += (size_t)nv * 64 * (1 + kp / 4);
  }
}

EFFK_T512 void effk_qs8_conv1x1_channels_7x64c4__avx512vnni(const effk_conv2d_params *p, const int8_t *input,
    const void *packed, const int32_t *mult, const int32_t *shift, int8_t *output,
    int32_t pixel_begin, int32_t pixel_end, int32_t c_begin, int32_t c_end) {
  if (pixel_end <= pixel_begin || c_end <= c_begin) return;
  const int32_t k = p->in_c, n = p->out_c;
  if (c_end > n) c_end = n;
  const size_t kp = kpad(k);
  if (kp > EFFK512_KMAX) {  // the panel would not fit on the stack
    effk__conv1x1_range__scalar(p, input, fallback_filter(packed, k, n), fallback_bias(packed, k, n),
                                mult, shift, output, pixel_begin, pixel_end, c_begin, c_end);
    return;
  }
  // Panel rows are kp apart; a 64-byte store may run 60 bytes past the last row.
  _Alignas(64) uint8_t panel[MR * EFFK512_KMAX + 64];
  const __m512i zp = _mm512_set1_epi32(p->output_zero_point);
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  float rqf[EFFK_RQF_MAXN / 16 * 48];
  const int rq = rq_mode(p, mult, shift, c_begin, c_end, rqf);
  const int clamp = p->act_min != -128 || p->act_max != 127;
  for (int32_t px = pixel_begin; px < pixel_end; px += MR) {
    const int32_t m = pixel_end - px < MR ? pixel_end - px : MR;
    if (kp == (size_t)k) {
      // Panel rows are the input's pixels back to back: one flat copy, whole vectors. Per row,
      // small K (16, 24, 40) would take a line-splitting masked load and store each.
      const int8_t *src = input + (size_t)px * k;
      const size_t bytes = (size_t)m * kp;
      size_t q = 0;
      for (; q + 64 <= bytes; q += 64)
        _mm512_storeu_si512(panel + q, _mm512_xor_si512(_mm512_loadu_si512(src + q), flip));
      if (q < bytes)
        _mm512_storeu_si512(panel + q, _mm512_xor_si512(_mm512_maskz_loadu_epi8(effk_mask64((int32_t)(bytes - q)), src + q), flip));
    } else {
      for (int32_t i = 0; i < m; ++i) {
        const int8_t *src = input + (size_t)(px + i) * k;
        uint8_t *dst = panel + (size_t)i * kp;
        int32_t q = 0;
        for (; q + 64 <= k; q += 64)
          _mm512_storeu_si512(dst + q, _mm512_xor_si512(_mm512_loadu_si512(src + q), flip));
        if (q < k)  // the K tail; bytes up to kp meet zero weights, any value will do
          _mm512_storeu_si512(dst + q, _mm512_xor_si512(_mm512_maskz_loadu_epi8(effk_mask64(k - q), src + q), flip));
      }
    }
    if (m < MR) memset(panel + (size_t)m * kp, 0x80, (size_t)(MR - m) * kp);
    gemm_panel(panel, kp, (const uint8_t *)packed, n, c_begin, c_end, mult, shift, rqf,
               output + (size_t)px * n, m, rq, clamp, zp, lo, hi);
  }
}

// dst[0..n) = src[0..n) ^ 0x80, or the flipped zero point when src is NULL. May write up to 63
// bytes past dst + n (the caller's panel has room, and later writes fix what they overwrite);
// reads past src + n only below src_end. Plain (unmasked) loads and stores where possible:
// the GEMM reads the panel right away, and masked stores do not forward to loads.
EFFK_INLINE512 void copy_flip(uint8_t *dst, const int8_t *src, int32_t n, __m512i zpv,
                              const int8_t *src_end) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  if (!src) {
    for (int32_t q = 0; q < n; q += 64) _mm512_storeu_si512(dst + q, zpv);
    return;
  }
  if (n <= 16 && src + 16 <= src_end) {
    _mm_storeu_si128((__m128i *)dst, _mm_xor_si128(_mm_loadu_si128((const __m128i *)src),
                                                   _mm512_castsi512_si128(flip)));
    return;
  }
  for (int32_t q = 0; q < n; q += 64) {
    const __m512i v = src + q + 64 <= src_end ? _mm512_loadu_si512(src + q)
                                              : _mm512_maskz_loadu_epi8(effk_mask64(n - q), src + q);
    _mm512_storeu_si512(dst + q, _mm512_xor_si512(v, flip));
  }
}

// The im2col gather (../im2col_rows.h): padded taps are the flipped input zero point.
#define IM2COL_ATTR EFFK_INLINE512
#define IM2COL_T uint8_t
#define IM2COL_COPY(d, s, n) copy_flip((d), (s), (n), _mm512_setzero_si512(), in_end)
#define IM2COL_PAD(d, n) copy_flip((d), NULL, (n), _mm512_set1_epi8((char)(p->input_zero_point ^ 0x80)), in_end)
#define IM2COL_PIXEL_END(d, row) ((void)(d), (void)(row))  // bytes up to kp meet zero weights
#include "../im2col_rows.h"

// Three-row filters whose taps fit 32 bytes (3 * kw * ic <= 32 and kp <= 32: the RGB stem,
// 3x3x3): a pixel whose taps all lie inside the image takes three 32-byte loads (each filter
// row's kw * ic bytes moved to its place by loading that much earlier), two byte blends and one
// 32-byte store; the overlapping short copies of im2col_rows cost about three times as much.
// The store runs up to 32 - kp bytes into the next panel row, which is written after it (the
// last row has the panel's slack). Other pixels go through im2col_rows.
static int small3_fits(const effk_conv2d_params *p, size_t kp) {
  return p->kernel_h == 3 && p->dilation_h == 1 && p->dilation_w == 1 &&
         3 * p->kernel_w * p->in_c <= 32 && kp <= 32;
}

EFFK_INLINE512 void im2col_rows_small3(const effk_conv2d_params *p, const int8_t *input,
                                       uint8_t *panel, size_t kp, int32_t px, int32_t m) {
  const int32_t kw = p->kernel_w, ic = p->in_c, out_w = p->out_w, in_h = p->in_h, in_w = p->in_w;
  const size_t w = (size_t)kw * ic, rs = (size_t)in_w * ic;
  const int8_t *in_end = input + (size_t)in_h * rs;
  const __mmask32 m1 = (__mmask32)(((1u << w) - 1) << w), m2 = (__mmask32)(((1u << w) - 1) << (2 * w));
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  int32_t oy = px / out_w, ox = px % out_w;
  for (int32_t i = 0; i < m; ++i, ++ox) {
    if (ox == out_w) {
      ox = 0;
      ++oy;
    }
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int inside = iy0 >= 0 && iy0 + 3 <= in_h && ix0 >= 0 && ix0 + kw <= in_w;
    // The window's first byte, formed only for a window inside the image.
    const int8_t *s0 = inside ? input + (size_t)iy0 * rs + (size_t)ix0 * ic : in_end;
    if (inside && s0 + 2 * rs - 2 * w + 32 <= in_end) {
      const __m256i a = _mm256_loadu_si256((const __m256i *)s0);
      const __m256i b = _mm256_loadu_si256((const __m256i *)(s0 + rs - w));
      const __m256i c = _mm256_loadu_si256((const __m256i *)(s0 + 2 * rs - 2 * w));
      const __m256i v = _mm256_mask_blend_epi8(m2, _mm256_mask_blend_epi8(m1, a, b), c);
      _mm256_storeu_si256((__m256i *)(panel + (size_t)i * kp), _mm256_xor_si256(v, flip));
    } else {
      im2col_rows(p, input, panel + (size_t)i * kp, kp, px + i, 1);
    }
  }
}

EFFK_T512 void effk_qs8_conv_im2col_7x64c4__avx512vnni(const effk_conv2d_params *p,
                                                       const int8_t *input, const void *packed,
                                                       const int32_t *mult, const int32_t *shift,
                                                       int8_t *output, int32_t oy_begin,
                                                       int32_t oy_end) {
  const int32_t kh = p->kernel_h, kw = p->kernel_w, ic = p->in_c, n = p->out_c;
  const int32_t k = kh * kw * ic;
  const size_t kp = kpad(k);
  if (oy_end <= oy_begin) return;
  if (kp > EFFK512_KMAX) {
    fallback_conv(p, input, packed, k, mult, shift, output, oy_begin, oy_end);
    return;
  }
  _Alignas(64) uint8_t panel[MR * EFFK512_KMAX + 64];  // + room for copy_flip's overrun
  const __m512i zp = _mm512_set1_epi32(p->output_zero_point);
  const __m512i lo = _mm512_set1_epi32(p->act_min), hi = _mm512_set1_epi32(p->act_max);
  float rqf[EFFK_RQF_MAXN / 16 * 48];
  const int rq = rq_mode(p, mult, shift, 0, n, rqf);
  const int clamp = p->act_min != -128 || p->act_max != 127;
  const int32_t pix_begin = oy_begin * p->out_w, pix_end = oy_end * p->out_w;
  const int small3 = small3_fits(p, kp);
  for (int32_t px = pix_begin; px < pix_end; px += MR) {
    const int32_t m = pix_end - px < MR ? pix_end - px : MR;
    if (small3)
      im2col_rows_small3(p, input, panel, kp, px, m);
    else
      im2col_rows(p, input, panel, kp, px, m);
    if (m < MR) memset(panel + (size_t)m * kp, 0x80, (size_t)(MR - m) * kp);
    gemm_panel(panel, kp, (const uint8_t *)packed, n, 0, n, mult, shift, rqf,
               output + (size_t)px * n, m, rq, clamp, zp, lo, hi);
  }
}

#endif
