// The per-row steps of effk_frame_to_qs8 with NEON: colour conversion (frame_row_to_rgb8) and
// Pillow's horizontal resize pass (rgb8_resize_row_h, at the end of this file).
//
// Colour conversion (YUYV, UYVY, NV12, NV21, YU12, YV12 → RGB8) with NEON: the
// same int32 fixed-point arithmetic as scalar/frame.c, 8 pixels an iteration (as one lane of
// avx2/frame.c: 16 source bytes, TBL to zero-extended int32, VST3 to interleave). RGB24,
// BGR24 and GREY, an odd first pixel and the last < 8 pixels go through the scalar function.
// Loads cover only bytes the scalar function reads for the same pixels.
#if defined(__aarch64__)

#include "neon_internal.h"

// idx(p) = byte of pixel p (0..7) in the 16 source bytes; mask of pixels 4h .. 4h+3.
static inline uint8x16_t tbl_mask(const uint8_t idx[8], int h) {
  uint8_t m[16];
  memset(m, 0xFF, sizeof m);  // out of range: TBL gives 0
  for (int p = 0; p < 4; p++) m[4 * p] = idx[4 * h + p];
  return vld1q_u8(m);
}

typedef struct {
  int32x4_t yoff, cy, rv, gu, gv, bu, c128, half;
} yuv_nconsts;

static inline int32x4_t pick(uint8x16_t src, uint8x16_t mask) {
  return vreinterpretq_s32_u8(vqtbl1q_u8(src, mask));
}

// The scalar yuv_px on 4 int32 lanes, (x + 32768) >> 16 before clamping.
static inline void yuv4(const yuv_nconsts *k, int32x4_t y, int32x4_t u, int32x4_t v, int32x4_t *r,
                        int32x4_t *g, int32x4_t *b) {
  const int32x4_t yy = vmulq_s32(vsubq_s32(y, k->yoff), k->cy);
  u = vsubq_s32(u, k->c128);
  v = vsubq_s32(v, k->c128);
  *r = vshrq_n_s32(vaddq_s32(vmlaq_s32(yy, k->rv, v), k->half), 16);
  *g = vshrq_n_s32(vaddq_s32(vmlsq_s32(vmlsq_s32(yy, k->gu, u), k->gv, v), k->half), 16);
  *b = vshrq_n_s32(vaddq_s32(vmlaq_s32(yy, k->bu, u), k->half), 16);
}

static inline uint8x8_t narrow8(int32x4_t lo, int32x4_t hi) {
  // Values are within ±1000: the int16 narrowing never saturates; the unsigned one clamps
  // to [0, 255] as the scalar code does.
  return vqmovun_s16(vcombine_s16(vqmovn_s32(lo), vqmovn_s32(hi)));
}

void effk_frame_row_to_rgb8__neon(const effk_frame *f, int32_t x0, int32_t y, int32_t n,
                                  uint8_t *rgb) {
  const int32_t fmt = f->format;
  if (n < 9 || fmt < EFFK_PIX_YUYV || fmt > EFFK_PIX_YV12) {
    effk_frame_row_to_rgb8__scalar(f, x0, y, n, rgb);
    return;
  }
  int32_t i = 0;
  if (x0 & 1) {  // chroma pairs start at even pixels: align the blocks
    effk_frame_row_to_rgb8__scalar(f, x0, y, 1, rgb);
    i = 1;
  }
  const effk_yuv_coeffs c = effk__yuv_coeffs(f->matrix, f->full_range);
  yuv_nconsts k;
  k.yoff = vdupq_n_s32(c.y_off);
  k.cy = vdupq_n_s32(c.cy);
  k.rv = vdupq_n_s32(c.rv);
  k.gu = vdupq_n_s32(c.gu);
  k.gv = vdupq_n_s32(c.gv);
  k.bu = vdupq_n_s32(c.bu);
  k.c128 = vdupq_n_s32(128);
  k.half = vdupq_n_s32(32768);

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
      case EFFK_PIX_NV12: case EFFK_PIX_NV21: {  // Y[8], UV[8]
        const int uo = fmt == EFFK_PIX_NV12 ? 0 : 1;
        iy[p] = (uint8_t)p;
        iu[p] = (uint8_t)(8 + 2 * (p / 2) + uo);
        iv[p] = (uint8_t)(8 + 2 * (p / 2) + 1 - uo);
        break;
      }
      default:  // YU12, YV12: Y[8], U[4], V[4]
        iy[p] = (uint8_t)p;
        iu[p] = (uint8_t)(8 + p / 2);
        iv[p] = (uint8_t)(12 + p / 2);
    }
  }
  const uint8x16_t my0 = tbl_mask(iy, 0), my1 = tbl_mask(iy, 1), mu0 = tbl_mask(iu, 0),
                   mu1 = tbl_mask(iu, 1), mv0 = tbl_mask(iv, 0), mv1 = tbl_mask(iv, 1);

  const uint8_t *r0 = f->plane[0] + (size_t)y * (size_t)f->stride[0];
  const uint8_t *p1 = fmt >= EFFK_PIX_NV12 ? f->plane[1] + (size_t)(y / 2) * (size_t)f->stride[1] : NULL;
  const uint8_t *p2 = fmt >= EFFK_PIX_YU12 ? f->plane[2] + (size_t)(y / 2) * (size_t)f->stride[2] : NULL;
  for (; i + 8 <= n; i += 8) {
    const size_t x = (size_t)(x0 + i);  // even
    uint8x16_t src;
    if (fmt <= EFFK_PIX_UYVY) {
      src = vld1q_u8(r0 + x * 2);
    } else if (fmt <= EFFK_PIX_NV21) {
      src = vcombine_u8(vld1_u8(r0 + x), vld1_u8(p1 + x));  // Y of x .. x+7, their UV
    } else {
      uint32_t u4, v4;
      memcpy(&u4, p1 + x / 2, 4);
      memcpy(&v4, p2 + x / 2, 4);
      src = vcombine_u8(vld1_u8(r0 + x), vcreate_u8((uint64_t)u4 | ((uint64_t)v4 << 32)));
    }
    int32x4_t ra, ga, ba, rb, gb, bb;
    yuv4(&k, pick(src, my0), pick(src, mu0), pick(src, mv0), &ra, &ga, &ba);
    yuv4(&k, pick(src, my1), pick(src, mu1), pick(src, mv1), &rb, &gb, &bb);
    uint8x8x3_t o;
    o.val[0] = narrow8(ra, rb);
    o.val[1] = narrow8(ga, gb);
    o.val[2] = narrow8(ba, bb);
    vst3_u8(rgb + (size_t)i * 3, o);
  }
  if (i < n) effk_frame_row_to_rgb8__scalar(f, x0 + i, y, n - i, rgb + (size_t)i * 3);
}

// ---- Pillow's horizontal bilinear pass of one RGB8 row (see effk__rgb8_resize_row_h__scalar) --------
// Per output pixel, 8 taps at a time: VLD3 deinterleaves 24 bytes into R, G, B, widened to
// int32 and multiplied by the weights (taps past the count get weight 0); ADDV sums. The
// weights are >= 0 and every sum fits int32, so the order of the additions does not matter.
void effk__rgb8_resize_row_h__neon(const uint8_t *row, int32_t in_w, const int32_t *bounds,
                                   const int32_t *kk, int32_t ksize, int32_t out_w, uint8_t *dst) {
  for (int32_t xx = 0; xx < out_w; xx++) {
    const int32_t xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
    const int32_t *k = kk + (size_t)xx * ksize;
    const uint8_t *p = row + (size_t)xmin * 3;
    int32x4_t ar = vdupq_n_s32(0), ag = ar, ab = ar;
    for (int32_t x = 0; x < xmax; x += 8) {
      const int32_t m = xmax - x < 8 ? xmax - x : 8;
      uint8x8x3_t px;
      int32x4_t w0, w1;
      if (xmin + x + 8 <= in_w) {  // 24 bytes inside the row; bytes past the taps get weight 0
        px = vld3_u8(p + (size_t)x * 3);
      } else {
        uint8_t buf[24] = {0};
        memcpy(buf, p + (size_t)x * 3, (size_t)m * 3);
        px = vld3_u8(buf);
      }
      if (m == 8) {
        w0 = vld1q_s32(k + x);
        w1 = vld1q_s32(k + x + 4);
      } else {
        int32_t wb[8] = {0};
        memcpy(wb, k + x, (size_t)m * sizeof(int32_t));
        w0 = vld1q_s32(wb);
        w1 = vld1q_s32(wb + 4);
      }
      const uint16x8_t r = vmovl_u8(px.val[0]), g = vmovl_u8(px.val[1]), b = vmovl_u8(px.val[2]);
      ar = vmlaq_s32(ar, vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(r))), w0);
      ar = vmlaq_s32(ar, vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(r))), w1);
      ag = vmlaq_s32(ag, vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(g))), w0);
      ag = vmlaq_s32(ag, vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(g))), w1);
      ab = vmlaq_s32(ab, vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(b))), w0);
      ab = vmlaq_s32(ab, vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(b))), w1);
    }
    // sum >= half > 0: the scalar clip8 is min(sum >> PB, 255).
    const int32_t half = 1 << (EFFK_FRAME_PB - 1);
    const int32_t s0 = (vaddvq_s32(ar) + half) >> EFFK_FRAME_PB, s1 = (vaddvq_s32(ag) + half) >> EFFK_FRAME_PB,
                  s2 = (vaddvq_s32(ab) + half) >> EFFK_FRAME_PB;
    dst[xx * 3] = (uint8_t)(s0 > 255 ? 255 : s0);
    dst[xx * 3 + 1] = (uint8_t)(s1 > 255 ? 255 : s1);
    dst[xx * 3 + 2] = (uint8_t)(s2 > 255 ? 255 : s2);
  }
}

#endif
