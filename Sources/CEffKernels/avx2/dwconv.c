// Depthwise conv (depth multiplier 1) with AVX2: 16 channels per step, two taps per vpmaddwd.
//
// Taps are numbered t = fy*KW + fx and taken in pairs (2g, 2g+1). Each tap's 16 channels are
// sign-extended to int16 and a pair is interleaved with vpunpck{l,h}wd, so each int32 lane of
// vpmaddwd gets x_a*w_a + x_b*w_b of one channel. The interleave orders channels as
// {0-3, 8-11} (low vector) and {4-7, 12-15} (high vector); vpackssdw undoes it. Out-of-image
// taps read the input zero point, contributing w * (zp - zp) = 0 after the bias folding
// bias' = bias - zp * sum(w).
//
// Packed layout, per block of 16 channels (the last one zero-padded), P = ceil(KH*KW/2):
//   int32 bias'[16]             low-vector channels 0-3, 8-11, then high 4-7, 12-15
//   int16 w[P][2 (low/high)][8][2] = filter[tap 2g + t][channel]   (0 past the taps or C)
#if defined(__x86_64__)
#include "common.h"

// Channel of element e of vector h (0 low, 1 high) in a block of 16.
static int32_t perm_ch(int32_t h, int32_t e) { return (e < 4 ? 0 : 4) + 4 * h + e; }

static size_t block_bytes(int32_t taps) { return 64 + (size_t)((taps + 1) / 2) * 64; }

size_t effk_qs8_dwconv_packed_size__avx2(int32_t kh, int32_t kw, int32_t c) {
  return (size_t)((c + 15) / 16) * block_bytes(kh * kw);
}

void effk_qs8_dwconv_pack__avx2(const int8_t *filter, const int32_t *bias, int32_t kh,
                                int32_t kw, int32_t c, int32_t input_zero_point, void *packed) {
  const int32_t taps = kh * kw, pairs = (taps + 1) / 2;
  uint8_t *dst = (uint8_t *)packed;
  for (int32_t cb = 0; cb < c; cb += 16) {
    for (int32_t h = 0; h < 2; ++h)
      for (int32_t e = 0; e < 8; ++e) {
        const int32_t ch = cb + perm_ch(h, e);
        int32_t v = 0;
        if (ch < c) {
          int32_t sum = 0;
          for (int32_t t = 0; t < taps; ++t) sum += filter[(size_t)t * c + ch];
          v = (int32_t)((uint32_t)(bias ? bias[ch] : 0) -
                        (uint32_t)input_zero_point * (uint32_t)sum);
        }
        memcpy(dst, &v, 4);
        dst += 4;
      }
    for (int32_t g = 0; g < pairs; ++g)
      for (int32_t h = 0; h < 2; ++h)
        for (int32_t e = 0; e < 8; ++e)
          for (int32_t t = 0; t < 2; ++t) {
            const int32_t ch = cb + perm_ch(h, e), tap = 2 * g + t;
            const int16_t w = (ch < c && tap < taps) ? filter[(size_t)tap * c + ch] : 0;
            memcpy(dst, &w, 2);
            dst += 2;
          }
  }
}

typedef struct {
  effk_rq256 rq[2];
  __m256i bias[2];
  __m256i ozp, lo, hi;
  const uint8_t *w;
  int32_t nc;
} dw_consts;

EFFK_INLINE256 __m256i load_tap(const int8_t *ptr, const int TAIL, int32_t nc, int8_t zp) {
  if (!TAIL) return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)ptr));
  int8_t tmp[16];
  memset(tmp, zp, 16);
  memcpy(tmp, ptr, (size_t)nc);
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)tmp));
}

// One block of 16 channels over output rows [oy_begin, oy_end). KH/KW are compile-time in the
// unrolled instances. TAIL: fewer than 16 channels (loads and stores go through a buffer).
EFFK_INLINE256 void dw_block(const int32_t KH, const int32_t KW, const int TAIL,
                             const int GENERAL, const effk_conv2d_params *p, const int8_t *input,
                             const dw_consts *k, int8_t *output, int32_t cb, int32_t oy_begin,
                             int32_t oy_end) {
  const int32_t taps = KH * KW;
  const int32_t in_h = p->in_h, in_w = p->in_w, c = p->in_c, out_w = p->out_w;
  const int8_t zp8 = (int8_t)p->input_zero_point;
  int8_t zpbuf[16];
  memset(zpbuf, zp8, 16);
  for (int32_t oy = oy_begin; oy < oy_end; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      __m256i acc0 = k->bias[0], acc1 = k->bias[1];
      const uint8_t *w = k->w;
      const int8_t *pend = zpbuf;  // pending first tap of a pair
      int32_t t = 0;
      for (int32_t fy = 0; fy < KH; ++fy) {
        const int32_t iy = iy0 + fy * p->dilation_h;
        const int vy = iy >= 0 && iy < in_h;
        const int8_t *row = input + cb + (size_t)(vy ? iy : 0) * in_w * c;
        for (int32_t fx = 0; fx < KW; ++fx, ++t) {
          const int32_t ix = ix0 + fx * p->dilation_w;
          const int8_t *ptr = (vy && ix >= 0 && ix < in_w) ? row + (size_t)ix * c : zpbuf;
          if ((t & 1) == 0) {
            pend = ptr;
            continue;
          }
          const __m256i ya = load_tap(pend, TAIL && pend != zpbuf, k->nc, zp8);
          const __m256i xb = load_tap(ptr, TAIL && ptr != zpbuf, k->nc, zp8);
          acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_unpacklo_epi16(ya, xb),
                                                          _mm256_loadu_si256((const __m256i *)w)));
          acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_unpackhi_epi16(ya, xb),
                                                          _mm256_loadu_si256((const __m256i *)(w + 32))));
          w += 64;
        }
      }
      if (taps & 1) {  // last tap alone (its pair partner has zero weights)
        const __m256i ya = load_tap(pend, TAIL && pend != zpbuf, k->nc, zp8);
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_unpacklo_epi16(ya, ya),
                                                        _mm256_loadu_si256((const __m256i *)w)));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_unpackhi_epi16(ya, ya),
                                                        _mm256_loadu_si256((const __m256i *)(w + 32))));
      }
      const __m256i r0 = effk_rq256_out_t(acc0, &k->rq[0], k->ozp, k->lo, k->hi, GENERAL, 1);
      const __m256i r1 = effk_rq256_out_t(acc1, &k->rq[1], k->ozp, k->lo, k->hi, GENERAL, 1);
      const __m256i t16 = _mm256_packs_epi32(r0, r1);  // channels 0-7 | 8-15
      const __m256i t8 = _mm256_permute4x64_epi64(_mm256_packs_epi16(t16, t16), 0x08);
      int8_t *out = output + ((size_t)oy * out_w + ox) * c + cb;
      if (!TAIL) {
        _mm_storeu_si128((__m128i *)out, _mm256_castsi256_si128(t8));
      } else {
        int8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, _mm256_castsi256_si128(t8));
        memcpy(out, tmp, (size_t)k->nc);
      }
    }
  }
}

#define EFFK_DW(KH, KW, TL, G)                                                                  \
  EFFK_T256 static void dw_##KH##x##KW##_##TL##G(const effk_conv2d_params *p,                   \
                                                 const int8_t *input, const dw_consts *k,       \
                                                 int8_t *output, int32_t cb, int32_t oy_begin,  \
                                                 int32_t oy_end) {                              \
    dw_block(KH, KW, TL, G, p, input, k, output, cb, oy_begin, oy_end);                         \
  }
EFFK_DW(3, 3, 0, 0)
EFFK_DW(3, 3, 0, 1)
EFFK_DW(5, 5, 0, 0)
EFFK_DW(5, 5, 0, 1)

EFFK_T256 static void dw_any(const int TAIL, const effk_conv2d_params *p, const int8_t *input,
                             const dw_consts *k, int8_t *output, int32_t cb, int32_t oy_begin,
                             int32_t oy_end) {
  if (TAIL)
    dw_block(p->kernel_h, p->kernel_w, 1, 1, p, input, k, output, cb, oy_begin, oy_end);
  else
    dw_block(p->kernel_h, p->kernel_w, 0, 1, p, input, k, output, cb, oy_begin, oy_end);
}

EFFK_T256 void effk_qs8_dwconv_channels_16c2__avx2(const effk_conv2d_params *p,
                                                   const int8_t *input, const void *packed,
                                                   const int32_t *mult, const int32_t *shift,
                                                   int8_t *output, int32_t oy_begin,
                                                   int32_t oy_end, int32_t c_begin,
                                                   int32_t c_end) {
  if (oy_end <= oy_begin || c_end <= c_begin) return;
  const int32_t kh = p->kernel_h, kw = p->kernel_w, c = p->in_c;
  const size_t bb = block_bytes(kh * kw);
  // Over every channel, not just this range: the path taken must not depend on the tiling.
  const int general = effk_rq_general256(mult, shift, c);
  const uint8_t *blk = (const uint8_t *)packed + (size_t)(c_begin / 16) * bb;
  if (c_end > c) c_end = c;
  for (int32_t cb = c_begin / 16 * 16; cb < c_end; cb += 16, blk += bb) {
    dw_consts k;
    k.nc = c - cb < 16 ? c - cb : 16;
    int32_t pm[16], ps[16];
    for (int32_t h = 0; h < 2; ++h)
      for (int32_t e = 0; e < 8; ++e) {
        const int32_t ch = perm_ch(h, e);
        pm[8 * h + e] = ch < k.nc ? mult[cb + ch] : 0;
        ps[8 * h + e] = ch < k.nc ? shift[cb + ch] : 0;
      }
    for (int h = 0; h < 2; ++h) {
      k.rq[h] = effk_rq256_load(pm + 8 * h, ps + 8 * h);
      k.bias[h] = _mm256_loadu_si256((const __m256i *)(blk + 32 * h));
    }
    k.ozp = _mm256_set1_epi32(p->output_zero_point);
    k.lo = _mm256_set1_epi32(p->act_min);
    k.hi = _mm256_set1_epi32(p->act_max);
    k.w = blk + 64;
    if (k.nc < 16)
      dw_any(1, p, input, &k, output, cb, oy_begin, oy_end);
    else if (kh == 3 && kw == 3)
      (general ? dw_3x3_01 : dw_3x3_00)(p, input, &k, output, cb, oy_begin, oy_end);
    else if (kh == 5 && kw == 5)
      (general ? dw_5x5_01 : dw_5x5_00)(p, input, &k, output, cb, oy_begin, oy_end);
    else
      dw_any(0, p, input, &k, output, cb, oy_begin, oy_end);
  }
}

EFFK_T256 void effk_qs8_dwconv_16c2__avx2(const effk_conv2d_params *p, const int8_t *input,
                                          const void *packed, const int32_t *mult,
                                          const int32_t *shift, int8_t *output, int32_t oy_begin,
                                          int32_t oy_end) {
  effk_qs8_dwconv_channels_16c2__avx2(p, input, packed, mult, shift, output, oy_begin, oy_end, 0,
                                      p->in_c);
}
#endif
