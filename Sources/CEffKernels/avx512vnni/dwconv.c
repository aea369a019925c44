// Depthwise conv (depth multiplier 1) with AVX-512 VNNI: 64 channels per step, four taps of a
// filter row per vpdpbusd.
//
// vpdpbusd sums four u8 x s8 products per int32 lane, so each lane must hold one channel's
// bytes of four taps. Input is made unsigned (x ^ 0x80 == x + 128; packing folds
// -(128 + zp) * sum(w) into the bias) and rearranged once per input row into "tuples": for
// padded column x, the bytes of columns x, x+1, x+2, x+3 interleaved per channel
// (vpunpck{l,h}bw + vpunpck{l,h}wd on 64 channels). A filter row of width KW then takes
// ceil(KW/4) vpdpbusd per vector, tuples at x, x+4, ... with zero weights past KW. Rows live
// in a small ring (one slot per filter row), built in chunks of output columns so the ring
// stays in L1; padded rows and columns hold the input zero point, which contributes
// w * (zp - zp) = 0, exactly as the reference skipping the tap.
//
// Tuples are built only every T columns (T = 4 for 5x5, 2 for 3x3): an output pixel whose
// window starts r columns into a tuple uses the weight set shifted by r (tap fx in slot
// fx + r), which still fits the same ceil(KW/4) groups as long as r + KW <= 4 ceil(KW/4). So
// 5x5 builds a quarter and 3x3 half of the tuples of a tuple per column, at no extra vpdpbusd.
//
// The interleave permutes channels within 128-bit lanes: vector j, lane L, element i holds
// channel 16L + 4j + i. vpackssdw + vpacksswb at the end undo exactly that, so bias,
// weights, multipliers and shifts simply use the permuted order.
//
// Packed layout, per block of 64 channels (the last one zero-padded), GW = ceil(KW/4),
// S = min(4, 4 GW - KW + 1) weight sets:
//   int32 bias'[64]                  position 16j + 4L + i holds channel 16L + 4j + i
//   int8  w[S r][KH][GW][4 j][4 L][4 i][4 t] = filter[fy][fx = 4g + t - r][channel 16L + 4j + i]
//                                    (0 outside [0, KW) or past C)
// Blocks of at most 32 channels (C = 32, tails of 16 or 32) run the same code on ymm (the low
// two 128-bit lanes of each packed vector). Output pixels go up to eight at a time, one vector
// of each at a time, so tuples and weights are loaded once for all of them. The ring lives on
// the stack (RING_BYTES = 40 KiB). Horizontal dilation != 1, or rows too wide for the ring
// even one column at a time, take a direct path (loads + interleave per output pixel) over
// the unshifted weights.
#if defined(__x86_64__)
#include "common.h"
#include "../avx2/common.h"  // effk_rq256_* (AVX2 requantization, reused on ymm)

#define RING_BYTES (40 * 1024)

// Weight sets packed per block: set r holds the filter shifted r taps right in its tuple
// groups (tap fx at slot 4g + t = fx + r), for every r with r + kw <= 4 * ceil(kw / 4), at
// most 4. A ring tuple then serves output pixels that start up to r columns into it.
static int32_t dw_shifts(int32_t kw) {
  const int32_t r = 4 * ((kw + 3) / 4) - kw + 1;
  return r < 4 ? r : 4;
}

// Column step T of the ring's tuples for filter width kw and stride sw: the largest of 4, 2, 1
// whose shifts (multiples of gcd(T, sw) below T) all have a weight set.
static int32_t dw_tuple_step(int32_t kw, int32_t sw) {
  for (int32_t t = 4; t > 1; t /= 2) {
    const int32_t g = sw % t == 0 ? t : sw % 2 == 0 ? 2 : 1;  // gcd(t, sw) for t in {2, 4}
    if (t - g <= dw_shifts(kw) - 1) return t;
  }
  return 1;
}

static size_t block_bytes(int32_t kh, int32_t kw) {
  return 256 + (size_t)dw_shifts(kw) * kh * ((kw + 3) / 4) * 256;
}

size_t effk_qs8_dwconv_packed_size__avx512vnni(int32_t kh, int32_t kw, int32_t c) {
  return (size_t)((c + 63) / 64) * block_bytes(kh, kw);
}

void effk_qs8_dwconv_pack__avx512vnni(const int8_t *filter, const int32_t *bias, int32_t kh,
                                      int32_t kw, int32_t c, int32_t input_zero_point,
                                      void *packed) {
  const int32_t gw = (kw + 3) / 4;
  uint8_t *dst = (uint8_t *)packed;
  for (int32_t cb = 0; cb < c; cb += 64) {
    for (int32_t j = 0; j < 4; ++j)
      for (int32_t l = 0; l < 4; ++l)
        for (int32_t i = 0; i < 4; ++i) {
          const int32_t ch = cb + 16 * l + 4 * j + i;
          int32_t v = 0;
          if (ch < c) {
            int32_t sum = 0;
            for (int32_t t = 0; t < kh * kw; ++t) sum += filter[(size_t)t * c + ch];
            v = (int32_t)((uint32_t)(bias ? bias[ch] : 0) -
                          (uint32_t)(128 + input_zero_point) * (uint32_t)sum);
          }
          memcpy(dst + 4 * (16 * j + 4 * l + i), &v, 4);
        }
    dst += 256;
    for (int32_t r = 0; r < dw_shifts(kw); ++r)
      for (int32_t fy = 0; fy < kh; ++fy)
        for (int32_t g = 0; g < gw; ++g)
          for (int32_t j = 0; j < 4; ++j)
            for (int32_t l = 0; l < 4; ++l)
              for (int32_t i = 0; i < 4; ++i)
                for (int32_t t = 0; t < 4; ++t) {
                  const int32_t ch = cb + 16 * l + 4 * j + i, fx = 4 * g + t - r;
                  *dst++ = (uint8_t)((ch < c && fx >= 0 && fx < kw)
                                         ? filter[((size_t)fy * kw + fx) * c + ch] : 0);
                }
  }
}

// GENERAL of the ring instances below is the requantization mode (RQ_*, common.h).

// Per-block constants.
typedef struct {
  effk_rq512 rq[4];
  float rqf[4 * 48];  // RQ_FP constants, vector j at 48 j
  __m512i bias[4];
  __m512i ozp, lo, hi, zpf;  // zpf: the input zero point, sign-flipped, in every byte
  __m512i lo8, hi8;           // the activation range in every byte (RQ_FP)
  __mmask64 km;               // channels of this block
  int full;                   // all 64 (plain loads: masked ones split across cache lines cost more)
  const uint8_t *w;           // weights of this block
} dw_consts_64;

// Multipliers and shifts of channels [cb, cb + 64) in the interleaved order (0 past C).
static void permuted_quant(const effk_conv2d_params *p, const int32_t *mult, const int32_t *shift,
                           int32_t cb, int32_t pm[64], int32_t ps[64]) {
  const int32_t nc = p->in_c - cb < 64 ? p->in_c - cb : 64;
  for (int32_t j = 0; j < 4; ++j)
    for (int32_t l = 0; l < 4; ++l)
      for (int32_t i = 0; i < 4; ++i) {
        const int32_t ch = 16 * l + 4 * j + i;
        pm[16 * j + 4 * l + i] = ch < nc ? mult[cb + ch] : 0;
        ps[16 * j + 4 * l + i] = ch < nc ? shift[cb + ch] : 0;
      }
}

EFFK_INLINE512 void dw_consts_init_64(dw_consts_64 *k, const effk_conv2d_params *p, const uint8_t *blk,
                                   const int32_t *pm, const int32_t *ps, int32_t nc, int fp) {
  if (fp) effk_rqf512_prepare(pm, ps, 64, p->output_zero_point, k->rqf);
  for (int j = 0; j < 4; ++j) {
    k->rq[j] = effk_rq512_make(_mm512_loadu_si512(pm + 16 * j), _mm512_loadu_si512(ps + 16 * j));
    k->bias[j] = _mm512_loadu_si512(blk + 64 * j);
  }
  k->ozp = _mm512_set1_epi32(p->output_zero_point);
  k->lo = _mm512_set1_epi32(p->act_min);
  k->hi = _mm512_set1_epi32(p->act_max);
  k->lo8 = _mm512_set1_epi8((char)p->act_min);
  k->hi8 = _mm512_set1_epi8((char)p->act_max);
  k->zpf = _mm512_set1_epi8((char)(p->input_zero_point ^ 0x80));
  k->km = effk_mask64(nc);
  k->full = nc == 64;
  k->w = blk + 256;
}

EFFK_INLINE512 void dw_store_64(const dw_consts_64 *k, const __m512i acc[4], int8_t *out,
                             const int GENERAL, const int CLAMP) {
  __m512i r[4];
  if (GENERAL >= RQ_FP) {
    __mmask16 failed[4];
    for (int j = 0; j < 4; ++j)
      r[j] = effk_rqf512_try_t(acc[j], k->rqf + 48 * j, &failed[j], GENERAL == RQ_FPR);
    if (__builtin_expect((failed[0] | failed[1] | failed[2] | failed[3]) != 0, 0))
      for (int j = 0; j < 4; ++j)
        if (failed[j]) r[j] = effk_rq512_out_t(acc[j], &k->rq[j], k->ozp, k->lo, k->hi, 0, 0);
  } else {
    for (int j = 0; j < 4; ++j)
      r[j] = effk_rq512_out_t(acc[j], &k->rq[j], k->ozp, k->lo, k->hi, GENERAL, CLAMP);
  }
  __m512i o = _mm512_packs_epi16(_mm512_packs_epi32(r[0], r[1]), _mm512_packs_epi32(r[2], r[3]));
  if (GENERAL >= RQ_FP && CLAMP) o = _mm512_min_epi8(_mm512_max_epi8(o, k->lo8), k->hi8);
  _mm512_mask_storeu_epi8(out, k->km, o);
}

// Interleave four tap vectors (64 channels each) into four tuple vectors.
EFFK_INLINE512 void interleave4_64(__m512i q[4], __m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
  const __m512i cd_lo = _mm512_unpacklo_epi8(c, d), cd_hi = _mm512_unpackhi_epi8(c, d);
  q[0] = _mm512_unpacklo_epi16(ab_lo, cd_lo);
  q[1] = _mm512_unpackhi_epi16(ab_lo, cd_lo);
  q[2] = _mm512_unpacklo_epi16(ab_hi, cd_hi);
  q[3] = _mm512_unpackhi_epi16(ab_hi, cd_hi);
}

// ---- ring path (dilation_w == 1) -------------------------------------------------------------

// The ring path for 64-channel blocks (dwconv_ring.h).
#define DW_BITS 512
#define DW_NAME(f) f##_64
#include "dwconv_ring.h"

// ---- direct path (any dilation) ----------------------------------------------------------------

EFFK_T512 static void dw_direct(const effk_conv2d_params *p, const int8_t *input,
                                const dw_consts_64 *k, int8_t *output, int32_t cb, int32_t oy_begin,
                                int32_t oy_end) {
  const int32_t KH = p->kernel_h, KW = p->kernel_w, GW = (KW + 3) / 4;
  const int32_t in_h = p->in_h, in_w = p->in_w, c = p->in_c, out_w = p->out_w;
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  for (int32_t oy = oy_begin; oy < oy_end; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      __m512i acc[4] = {k->bias[0], k->bias[1], k->bias[2], k->bias[3]};
      const uint8_t *w = k->w;
      for (int32_t fy = 0; fy < KH; ++fy) {
        const int32_t iy = iy0 + fy * p->dilation_h;
        const int vy = iy >= 0 && iy < in_h;
        const int8_t *row = input + cb + (size_t)(vy ? iy : 0) * in_w * c;
        for (int32_t g = 0; g < GW; ++g, w += 256) {
          __m512i tv[4];
          for (int32_t t = 0; t < 4; ++t) {
            const int32_t fx = 4 * g + t, ix = ix0 + fx * p->dilation_w;
            const int v = vy && fx < KW && ix >= 0 && ix < in_w;
            tv[t] = v ? _mm512_xor_si512(_mm512_maskz_loadu_epi8(k->km, row + (size_t)ix * c), flip)
                      : k->zpf;
          }
          __m512i q[4];
          interleave4_64(q, tv[0], tv[1], tv[2], tv[3]);
          for (int j = 0; j < 4; ++j)
            acc[j] = _mm512_dpbusd_epi32(acc[j], q[j], _mm512_loadu_si512(w + 64 * j));
        }
      }
      dw_store_64(k, acc, output + ((size_t)oy * out_w + ox) * c + cb, 1, 1);
    }
  }
}

// ---- 32-channel ring path (blocks with at most 32 channels: C = 32, tails of 16 or 32) ----------
// The same packed block, only 128-bit lanes 0 and 1 (channels 0-31): the low 32 bytes of each
// 64-byte bias/weight vector. ymm vpdpbusd (AVX512VL) does half the work of the zmm path.

typedef struct {
  effk_rq256 rq[4];
  float rqf[2 * 48];  // RQ_FP constants of vectors 2h and 2h + 1 side by side, at 48 h
  __m256i bias[4];
  __m256i ozp, lo, hi, zpf, lo8, hi8;
  __mmask32 km;
  int full;  // all 32
  const uint8_t *w;
} dw_consts_32;

EFFK_INLINE512 void dw_consts32_init(dw_consts_32 *k, const effk_conv2d_params *p,
                                     const uint8_t *blk, const int32_t *pm, const int32_t *ps,
                                     int32_t nc, int fp) {
  if (fp) {  // vector j is lanes 16j .. 16j + 7 of the 64-channel order; pairs go in one zmm
    int32_t m32[32], s32[32];
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 8; ++i) {
        m32[8 * j + i] = pm[16 * j + i];
        s32[8 * j + i] = ps[16 * j + i];
      }
    effk_rqf512_prepare(m32, s32, 32, p->output_zero_point, k->rqf);
  }
  for (int j = 0; j < 4; ++j) {
    k->rq[j] = effk_rq256_make(_mm256_loadu_si256((const __m256i *)(pm + 16 * j)),
                               _mm256_loadu_si256((const __m256i *)(ps + 16 * j)));
    k->bias[j] = _mm256_loadu_si256((const __m256i *)(blk + 64 * j));
  }
  k->ozp = _mm256_set1_epi32(p->output_zero_point);
  k->lo = _mm256_set1_epi32(p->act_min);
  k->hi = _mm256_set1_epi32(p->act_max);
  k->lo8 = _mm256_set1_epi8((char)p->act_min);
  k->hi8 = _mm256_set1_epi8((char)p->act_max);
  k->zpf = _mm256_set1_epi8((char)(p->input_zero_point ^ 0x80));
  k->km = nc >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << nc) - 1);
  k->full = nc >= 32;
  k->w = blk + 256;
}

EFFK_INLINE512 void interleave4_32(__m256i q[4], __m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab_lo = _mm256_unpacklo_epi8(a, b), ab_hi = _mm256_unpackhi_epi8(a, b);
  const __m256i cd_lo = _mm256_unpacklo_epi8(c, d), cd_hi = _mm256_unpackhi_epi8(c, d);
  q[0] = _mm256_unpacklo_epi16(ab_lo, cd_lo);
  q[1] = _mm256_unpackhi_epi16(ab_lo, cd_lo);
  q[2] = _mm256_unpacklo_epi16(ab_hi, cd_hi);
  q[3] = _mm256_unpackhi_epi16(ab_hi, cd_hi);
}

EFFK_INLINE512 void dw_store_32(const dw_consts_32 *k, const __m256i acc[4], int8_t *out,
                               const int GENERAL, const int CLAMP) {
  __m256i r[4];
  if (GENERAL >= RQ_FP) {
    for (int h = 0; h < 2; ++h) {
      __mmask16 failed;
      const __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(acc[2 * h]), acc[2 * h + 1], 1);
      const __m512i v = effk_rqf512_try_t(x, k->rqf + 48 * h, &failed, GENERAL == RQ_FPR);
      if (__builtin_expect(failed, 0)) {
        r[2 * h] = effk_rq256_out_t(acc[2 * h], &k->rq[2 * h], k->ozp, k->lo, k->hi, 0, 0);
        r[2 * h + 1] = effk_rq256_out_t(acc[2 * h + 1], &k->rq[2 * h + 1], k->ozp, k->lo, k->hi, 0, 0);
      } else {
        r[2 * h] = _mm512_castsi512_si256(v);
        r[2 * h + 1] = _mm512_extracti64x4_epi64(v, 1);
      }
    }
  } else {
    for (int j = 0; j < 4; ++j)
      r[j] = effk_rq256_out_t(acc[j], &k->rq[j], k->ozp, k->lo, k->hi, GENERAL, CLAMP);
  }
  __m256i o = _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3]));
  if (GENERAL >= RQ_FP && CLAMP) o = _mm256_min_epi8(_mm256_max_epi8(o, k->lo8), k->hi8);
  _mm256_mask_storeu_epi8(out, k->km, o);
}

// The ring path for blocks of at most 32 channels (dwconv_ring.h).
#define DW_BITS 256
#define DW_NAME(f) f##_32
#include "dwconv_ring.h"

// ---- entry --------------------------------------------------------------------------------------

typedef void (*ring_fn)(const effk_conv2d_params *, const int8_t *, const void *, int8_t *,
                        int32_t, int32_t, int32_t, int32_t, uint8_t *);

// Instances: [3x3, 5x5, any] x [requantization mode] x [clamp], for 64- and 32-channel blocks.
#define EFFK_RING(NAME, FN, CONSTS, KH, KW, G, C)                                             \
  EFFK_T512 static void NAME(const effk_conv2d_params *p, const int8_t *input, const void *k, \
                             int8_t *output, int32_t cb, int32_t oy_begin, int32_t oy_end,    \
                             int32_t chunk, uint8_t *ring) {                                  \
    FN(KH, KW, G, C, p, input, (const CONSTS *)k, output, cb, oy_begin, oy_end, chunk, ring);  \
  }
#define EFFK_RINGS(SUFFIX, FN, CONSTS)                                                          \
  EFFK_RING(r3_00##SUFFIX, FN, CONSTS, 3, 3, 0, 0)                                              \
  EFFK_RING(r3_01##SUFFIX, FN, CONSTS, 3, 3, 0, 1)                                              \
  EFFK_RING(r3_10##SUFFIX, FN, CONSTS, 3, 3, 1, 0)                                              \
  EFFK_RING(r3_11##SUFFIX, FN, CONSTS, 3, 3, 1, 1)                                              \
  EFFK_RING(r5_00##SUFFIX, FN, CONSTS, 5, 5, 0, 0)                                              \
  EFFK_RING(r5_01##SUFFIX, FN, CONSTS, 5, 5, 0, 1)                                              \
  EFFK_RING(r5_10##SUFFIX, FN, CONSTS, 5, 5, 1, 0)                                              \
  EFFK_RING(r5_11##SUFFIX, FN, CONSTS, 5, 5, 1, 1)                                              \
  EFFK_RING(r3_20##SUFFIX, FN, CONSTS, 3, 3, RQ_FP, 0)                                          \
  EFFK_RING(r3_21##SUFFIX, FN, CONSTS, 3, 3, RQ_FP, 1)                                          \
  EFFK_RING(r5_20##SUFFIX, FN, CONSTS, 5, 5, RQ_FP, 0)                                          \
  EFFK_RING(r5_21##SUFFIX, FN, CONSTS, 5, 5, RQ_FP, 1)                                          \
  EFFK_RING(rx_11##SUFFIX, FN, CONSTS, p->kernel_h, p->kernel_w, 1, 1)                          \
  EFFK_RING(rx_21##SUFFIX, FN, CONSTS, p->kernel_h, p->kernel_w, RQ_FP, 1)                      \
  EFFK_RING(r3_30##SUFFIX, FN, CONSTS, 3, 3, RQ_FPR, 0)                                         \
  EFFK_RING(r3_31##SUFFIX, FN, CONSTS, 3, 3, RQ_FPR, 1)                                         \
  EFFK_RING(r5_30##SUFFIX, FN, CONSTS, 5, 5, RQ_FPR, 0)                                         \
  EFFK_RING(r5_31##SUFFIX, FN, CONSTS, 5, 5, RQ_FPR, 1)                                         \
  EFFK_RING(rx_31##SUFFIX, FN, CONSTS, p->kernel_h, p->kernel_w, RQ_FPR, 1)                     \
  static const ring_fn rings##SUFFIX[3][4][2] = {                                              \
      {{r3_00##SUFFIX, r3_01##SUFFIX}, {r3_10##SUFFIX, r3_11##SUFFIX}, {r3_20##SUFFIX, r3_21##SUFFIX}, \
       {r3_30##SUFFIX, r3_31##SUFFIX}},                                                          \
      {{r5_00##SUFFIX, r5_01##SUFFIX}, {r5_10##SUFFIX, r5_11##SUFFIX}, {r5_20##SUFFIX, r5_21##SUFFIX}, \
       {r5_30##SUFFIX, r5_31##SUFFIX}},                                                          \
      {{rx_11##SUFFIX, rx_11##SUFFIX}, {rx_11##SUFFIX, rx_11##SUFFIX}, {rx_21##SUFFIX, rx_21##SUFFIX}, \
       {rx_31##SUFFIX, rx_31##SUFFIX}}};
EFFK_RINGS(_64, dw_ring_64, dw_consts_64)
EFFK_RINGS(_32, dw_ring_32, dw_consts_32)

// Largest chunk of output columns whose ring (span rows of nt tuples of tuple_bytes) fits
// RING_BYTES; 0 when even one column does not fit.
static int32_t ring_chunk(const effk_conv2d_params *p, size_t tuple_bytes) {
  const int32_t kh = p->kernel_h, kw = p->kernel_w, sw = p->stride_w;
  const int32_t t = dw_tuple_step(kw, sw), gw = (kw + 3) / 4;
  const int32_t span = (kh - 1) * p->dilation_h + 1;
  if (p->dilation_w != 1 || kh > 16 || span > 64) return 0;
  const int32_t max_nt = (int32_t)(RING_BYTES / tuple_bytes / (size_t)span);
  const int32_t fixed = (gw - 1) * (4 / t) + 1;  // nt = (chunk - 1) * sw / t + fixed
  if (max_nt < fixed) return 0;
  int32_t chunk = (max_nt - fixed) * t / sw + 1;
  if (chunk >= p->out_w) return p->out_w;
  // Even chunks: a narrow last chunk rebuilds as many overlap columns as a wide one.
  const int32_t n = (p->out_w + chunk - 1) / chunk;
  return (p->out_w + n - 1) / n;
}

EFFK_T512 void effk_qs8_dwconv_channels_64c4__avx512vnni(
    const effk_conv2d_params *p, const int8_t *input, const void *packed, const int32_t *mult,
    const int32_t *shift, int8_t *output, int32_t oy_begin, int32_t oy_end, int32_t c_begin,
    int32_t c_end) {
  if (oy_end <= oy_begin || c_end <= c_begin) return;
  const int32_t kh = p->kernel_h, kw = p->kernel_w, c = p->in_c;
  const size_t bb = block_bytes(kh, kw);
  // Over every channel, not just this range: the path taken must not depend on the tiling.
  const int rq = effk_rq_mode(mult, shift, c, p->output_zero_point, p->act_min, p->act_max);
  const int fp = rq >= RQ_FP;
  const int clamp = p->act_min != -128 || p->act_max != 127;
  const int shape = kh == 3 && kw == 3 ? 0 : kh == 5 && kw == 5 ? 1 : 2;
  const int32_t chunk64 = ring_chunk(p, 256), chunk32 = ring_chunk(p, 128);
  _Alignas(64) uint8_t ring[RING_BYTES];
  const uint8_t *blk = (const uint8_t *)packed + (size_t)(c_begin / 64) * bb;
  if (c_end > c) c_end = c;
  for (int32_t cb = c_begin / 64 * 64; cb < c_end; cb += 64, blk += bb) {
    const int32_t nc = c - cb < 64 ? c - cb : 64;
    _Alignas(64) int32_t pm[64], ps[64];
    permuted_quant(p, mult, shift, cb, pm, ps);
    if (nc <= 32 && chunk32 > 0) {
      dw_consts_32 k;
      dw_consts32_init(&k, p, blk, pm, ps, nc, fp);
      rings_32[shape][rq][clamp](p, input, &k, output, cb, oy_begin, oy_end, chunk32, ring);
      continue;
    }
    dw_consts_64 k;
    dw_consts_init_64(&k, p, blk, pm, ps, nc, fp);
    if (chunk64 > 0)
      rings_64[shape][rq][clamp](p, input, &k, output, cb, oy_begin, oy_end, chunk64, ring);
    else
      dw_direct(p, input, &k, output, cb, oy_begin, oy_end);
  }
}

EFFK_T512 void effk_qs8_dwconv_64c4__avx512vnni(const effk_conv2d_params *p,
                                                const int8_t *input, const void *packed,
                                                const int32_t *mult, const int32_t *shift,
                                                int8_t *output, int32_t oy_begin,
                                                int32_t oy_end) {
  effk_qs8_dwconv_channels_64c4__avx512vnni(p, input, packed, mult, shift, output, oy_begin,
                                            oy_end, 0, p->in_c);
}
#endif
