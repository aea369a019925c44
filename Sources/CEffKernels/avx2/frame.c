// The per-row steps of effk_frame_to_qs8 with AVX2: colour conversion (frame_row_to_rgb8) and
// Pillow's horizontal resize pass (rgb8_resize_row_h, at the end of this file).
//
// Colour conversion (YUYV, UYVY, NV12, NV21, YU12, YV12 → RGB8): the same int32 fixed-point
// arithmetic as scalar/frame.c, 16 pixels an iteration. RGB24, BGR24
// and GREY, an odd first pixel and the last < 16 pixels go through the scalar function.
//
// Each 128-bit lane holds the source bytes of 8 pixels (packed formats: the 16 bytes
// themselves; planar: 8 Y bytes then the chroma bytes they use), so one in-lane vpshufb mask
// per component turns them into zero-extended int32 (pixels 0-3 and 4-7 of each lane). Loads
// cover only bytes the scalar function reads for the same pixels.
#if defined(__x86_64__)
#include "common.h"

typedef struct {
  __m256i y_lo, y_hi, u_lo, u_hi, v_lo, v_hi;  // vpshufb masks → int32 lanes
} yuv_masks;

// idx(p) = byte of pixel p (0..7) in its lane; builds the lo (p 0-3) and hi (p 4-7) masks.
EFFK_INLINE256 void make_mask(const uint8_t idx[8], __m256i *lo, __m256i *hi) {
  uint8_t m[2][32];
  memset(m, 0x80, sizeof m);
  for (int h = 0; h < 2; h++)
    for (int p = 0; p < 4; p++) m[h][4 * p] = m[h][16 + 4 * p] = idx[4 * h + p];
  *lo = _mm256_loadu_si256((const __m256i *)m[0]);
  *hi = _mm256_loadu_si256((const __m256i *)m[1]);
}

// 3 × 16 bytes R, G, B → 48 bytes RGBRGB...: output byte j is channel j % 3 of pixel j / 3.
static const uint8_t rgb48_masks[9][16] = {  // [3 * output block + channel]
    {0, 0x80, 0x80, 1, 0x80, 0x80, 2, 0x80, 0x80, 3, 0x80, 0x80, 4, 0x80, 0x80, 5},
    {0x80, 0, 0x80, 0x80, 1, 0x80, 0x80, 2, 0x80, 0x80, 3, 0x80, 0x80, 4, 0x80, 0x80},
    {0x80, 0x80, 0, 0x80, 0x80, 1, 0x80, 0x80, 2, 0x80, 0x80, 3, 0x80, 0x80, 4, 0x80},
    {0x80, 0x80, 6, 0x80, 0x80, 7, 0x80, 0x80, 8, 0x80, 0x80, 9, 0x80, 0x80, 10, 0x80},
    {5, 0x80, 0x80, 6, 0x80, 0x80, 7, 0x80, 0x80, 8, 0x80, 0x80, 9, 0x80, 0x80, 10},
    {0x80, 5, 0x80, 0x80, 6, 0x80, 0x80, 7, 0x80, 0x80, 8, 0x80, 0x80, 9, 0x80, 0x80},
    {0x80, 11, 0x80, 0x80, 12, 0x80, 0x80, 13, 0x80, 0x80, 14, 0x80, 0x80, 15, 0x80, 0x80},
    {0x80, 0x80, 11, 0x80, 0x80, 12, 0x80, 0x80, 13, 0x80, 0x80, 14, 0x80, 0x80, 15, 0x80},
    {10, 0x80, 0x80, 11, 0x80, 0x80, 12, 0x80, 0x80, 13, 0x80, 0x80, 14, 0x80, 0x80, 15},
};

EFFK_INLINE256 void store_rgb48(uint8_t *o, __m128i r, __m128i g, __m128i b) {
  const __m128i *mm = (const __m128i *)rgb48_masks;
  for (int k = 0; k < 3; k++) {
    __m128i v = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(r, _mm_loadu_si128(mm + 3 * k)),
                                          _mm_shuffle_epi8(g, _mm_loadu_si128(mm + 3 * k + 1))),
                             _mm_shuffle_epi8(b, _mm_loadu_si128(mm + 3 * k + 2)));
    _mm_storeu_si128((__m128i *)(o + 16 * k), v);
  }
}

typedef struct {
  __m256i yoff, cy, rv, gu, gv, bu, c128, half;
} yuv_vconsts;

// The scalar yuv_px on 8 int32 lanes, (x + 32768) >> 16 before clamping.
EFFK_INLINE256 void yuv8(const yuv_vconsts *k, __m256i y, __m256i u, __m256i v, __m256i *r,
                         __m256i *g, __m256i *b) {
  const __m256i yy = _mm256_mullo_epi32(_mm256_sub_epi32(y, k->yoff), k->cy);
  u = _mm256_sub_epi32(u, k->c128);
  v = _mm256_sub_epi32(v, k->c128);
  *r = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(yy, _mm256_mullo_epi32(k->rv, v)), k->half), 16);
  *g = _mm256_srai_epi32(
      _mm256_add_epi32(_mm256_sub_epi32(_mm256_sub_epi32(yy, _mm256_mullo_epi32(k->gu, u)),
                                        _mm256_mullo_epi32(k->gv, v)),
                       k->half),
      16);
  *b = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(yy, _mm256_mullo_epi32(k->bu, u)), k->half), 16);
}

// 16 pixels from `src` (lane = 8 pixels) to 48 RGB bytes.
EFFK_INLINE256 void convert16(const yuv_vconsts *k, const yuv_masks *m, __m256i src, uint8_t *o) {
  __m256i r0, g0, b0, r1, g1, b1;
  yuv8(k, _mm256_shuffle_epi8(src, m->y_lo), _mm256_shuffle_epi8(src, m->u_lo),
       _mm256_shuffle_epi8(src, m->v_lo), &r0, &g0, &b0);
  yuv8(k, _mm256_shuffle_epi8(src, m->y_hi), _mm256_shuffle_epi8(src, m->u_hi),
       _mm256_shuffle_epi8(src, m->v_hi), &r1, &g1, &b1);
  // packs: lane 0 = pixels 0-7, lane 1 = pixels 8-15 (values are within ±1000: no saturation);
  // packus clamps to [0, 255] as the scalar code does.
  const __m256i r16 = _mm256_packs_epi32(r0, r1), g16 = _mm256_packs_epi32(g0, g1),
                b16 = _mm256_packs_epi32(b0, b1);
  const __m256i rg = _mm256_permute4x64_epi64(_mm256_packus_epi16(r16, g16), 0xD8);  // R | G
  const __m256i bb = _mm256_permute4x64_epi64(_mm256_packus_epi16(b16, b16), 0xD8);  // B | B
  store_rgb48(o, _mm256_castsi256_si128(rg), _mm256_extracti128_si256(rg, 1), _mm256_castsi256_si128(bb));
}

EFFK_T256 void effk_frame_row_to_rgb8__avx2(const effk_frame *f, int32_t x0, int32_t y, int32_t n,
                                            uint8_t *rgb) {
  const int32_t fmt = f->format;
  if (n < 17 || fmt < EFFK_PIX_YUYV || fmt > EFFK_PIX_YV12) {
    effk_frame_row_to_rgb8__scalar(f, x0, y, n, rgb);
    return;
  }
  int32_t i = 0;
  if (x0 & 1) {  // chroma pairs start at even pixels: align the blocks
    effk_frame_row_to_rgb8__scalar(f, x0, y, 1, rgb);
    i = 1;
  }
  const effk_yuv_coeffs c = effk__yuv_coeffs(f->matrix, f->full_range);
  yuv_vconsts k;
  k.yoff = _mm256_set1_epi32(c.y_off);
  k.cy = _mm256_set1_epi32(c.cy);
  k.rv = _mm256_set1_epi32(c.rv);
  k.gu = _mm256_set1_epi32(c.gu);
  k.gv = _mm256_set1_epi32(c.gv);
  k.bu = _mm256_set1_epi32(c.bu);
  k.c128 = _mm256_set1_epi32(128);
  k.half = _mm256_set1_epi32(32768);

  // Byte of pixel p's Y, U and V in its lane.
  uint8_t iy[8], iu[8], iv[8];
  for (int p = 0; p < 8; p++) {
    switch (fmt) {
      case EFFK_PIX_YUYV: case EFFK_PIX_UYVY: {
        const int yo = fmt == EFFK_PIX_YUYV ? 0 : 1, co = 1 - yo;
        iy[p] = (uint8_t)(2 * p + yo);
        iu[p] = (uint8_t)(4 * (p / 2) + co);
        iv[p] = (uint8_t)(4 * (p / 2) + co + 2);
        break;
      }
      case EFFK_PIX_NV12: case EFFK_PIX_NV21: {  // lane: Y[8], UV[8]
        const int uo = fmt == EFFK_PIX_NV12 ? 0 : 1;
        iy[p] = (uint8_t)p;
        iu[p] = (uint8_t)(8 + 2 * (p / 2) + uo);
        iv[p] = (uint8_t)(8 + 2 * (p / 2) + 1 - uo);
        break;
      }
      default:  // YU12, YV12; lane: Y[8], U[4], V[4]
        iy[p] = (uint8_t)p;
        iu[p] = (uint8_t)(8 + p / 2);
        iv[p] = (uint8_t)(12 + p / 2);
    }
  }
  yuv_masks m;
  make_mask(iy, &m.y_lo, &m.y_hi);
  make_mask(iu, &m.u_lo, &m.u_hi);
  make_mask(iv, &m.v_lo, &m.v_hi);

  const uint8_t *r0 = f->plane[0] + (size_t)y * (size_t)f->stride[0];
  const uint8_t *p1 = fmt >= EFFK_PIX_NV12 ? f->plane[1] + (size_t)(y / 2) * (size_t)f->stride[1] : NULL;
  const uint8_t *p2 = fmt >= EFFK_PIX_YU12 ? f->plane[2] + (size_t)(y / 2) * (size_t)f->stride[2] : NULL;
  for (; i + 16 <= n; i += 16) {
    const size_t x = (size_t)(x0 + i);  // even
    __m256i src;
    if (fmt <= EFFK_PIX_UYVY) {
      src = _mm256_loadu_si256((const __m256i *)(r0 + x * 2));
    } else {
      const __m128i yv = _mm_loadu_si128((const __m128i *)(r0 + x));
      __m128i ch;
      if (fmt <= EFFK_PIX_NV21)
        ch = _mm_loadu_si128((const __m128i *)(p1 + x));  // UV of pixels x .. x+15
      else
        ch = _mm_unpacklo_epi32(_mm_loadl_epi64((const __m128i *)(p1 + x / 2)),
                                _mm_loadl_epi64((const __m128i *)(p2 + x / 2)));  // U0-3 V0-3 U4-7 V4-7
      src = _mm256_set_m128i(_mm_unpackhi_epi64(yv, ch), _mm_unpacklo_epi64(yv, ch));
    }
    convert16(&k, &m, src, rgb + (size_t)i * 3);
  }
  if (i < n) effk_frame_row_to_rgb8__scalar(f, x0 + i, y, n - i, rgb + (size_t)i * 3);
}
// ---- Pillow's horizontal bilinear pass of one RGB8 row (see effk__rgb8_resize_row_h__scalar) --------
//
// Per output pixel, 8 taps at a time: 24 contiguous bytes deinterleaved by vpshufb into R, G,
// B int32 lanes, multiplied by the tap weights (lanes past the tap count masked to 0) and
// summed; the three horizontal sums then get the rounding half, >> 22 and the clamp. The
// weights are >= 0 and every sum fits int32, so the order of the additions does not matter.

// Byte i of the channel c vector: byte 3i + c of the 24 (a = bytes 0-15, b = bytes 16-23).
static const uint8_t deint_a[3][16] = {
    {0, 3, 6, 9, 12, 15, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
    {1, 4, 7, 10, 13, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
    {2, 5, 8, 11, 14, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
};
static const uint8_t deint_b[3][16] = {
    {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 2, 5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
    {0x80, 0x80, 0x80, 0x80, 0x80, 0, 3, 6, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
    {0x80, 0x80, 0x80, 0x80, 0x80, 1, 4, 7, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
};

EFFK_T256 void effk__rgb8_resize_row_h__avx2(const uint8_t *row, int32_t in_w, const int32_t *bounds,
                                             const int32_t *kk, int32_t ksize, int32_t out_w,
                                             uint8_t *dst) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m128i da0 = _mm_loadu_si128((const __m128i *)deint_a[0]),
                da1 = _mm_loadu_si128((const __m128i *)deint_a[1]),
                da2 = _mm_loadu_si128((const __m128i *)deint_a[2]),
                db0 = _mm_loadu_si128((const __m128i *)deint_b[0]),
                db1 = _mm_loadu_si128((const __m128i *)deint_b[1]),
                db2 = _mm_loadu_si128((const __m128i *)deint_b[2]);
  const __m128i half = _mm_set1_epi32(1 << (EFFK_FRAME_PB - 1)), max8 = _mm_set1_epi32(255);
  for (int32_t xx = 0; xx < out_w; xx++) {
    const int32_t xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
    const int32_t *k = kk + (size_t)xx * ksize;
    const uint8_t *p = row + (size_t)xmin * 3;
    __m256i ar = _mm256_setzero_si256(), ag = ar, ab = ar;
    for (int32_t x = 0; x < xmax; x += 8) {
      const int32_t m = xmax - x < 8 ? xmax - x : 8;
      __m128i a, b;
      if (xmin + x + 8 <= in_w) {  // 24 bytes inside the row; bytes past the taps get weight 0
        a = _mm_loadu_si128((const __m128i *)(p + (size_t)x * 3));
        b = _mm_loadl_epi64((const __m128i *)(p + (size_t)x * 3 + 16));
      } else {
        uint8_t buf[24] = {0};
        memcpy(buf, p + (size_t)x * 3, (size_t)m * 3);
        a = _mm_loadu_si128((const __m128i *)buf);
        b = _mm_loadl_epi64((const __m128i *)(buf + 16));
      }
      const __m256i w = _mm256_maskload_epi32(k + x, _mm256_cmpgt_epi32(_mm256_set1_epi32(m), lane));
      const __m256i r = _mm256_cvtepu8_epi32(_mm_or_si128(_mm_shuffle_epi8(a, da0), _mm_shuffle_epi8(b, db0)));
      const __m256i g = _mm256_cvtepu8_epi32(_mm_or_si128(_mm_shuffle_epi8(a, da1), _mm_shuffle_epi8(b, db1)));
      const __m256i bl = _mm256_cvtepu8_epi32(_mm_or_si128(_mm_shuffle_epi8(a, da2), _mm_shuffle_epi8(b, db2)));
      ar = _mm256_add_epi32(ar, _mm256_mullo_epi32(r, w));
      ag = _mm256_add_epi32(ag, _mm256_mullo_epi32(g, w));
      ab = _mm256_add_epi32(ab, _mm256_mullo_epi32(bl, w));
    }
    const __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(ar, ag), _mm256_hadd_epi32(ab, ab));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));  // r g b b
    // s >= half > 0: the scalar clip8 is min(s >> PB, 255).
    s = _mm_min_epi32(_mm_srai_epi32(_mm_add_epi32(s, half), EFFK_FRAME_PB), max8);
    dst[xx * 3] = (uint8_t)_mm_cvtsi128_si32(s);
    dst[xx * 3 + 1] = (uint8_t)_mm_extract_epi32(s, 1);
    dst[xx * 3 + 2] = (uint8_t)_mm_extract_epi32(s, 2);
  }
}
#endif
