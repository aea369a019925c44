// Fused camera-frame conversion: colour → RGB8 row by row, Pillow's horizontal bilinear pass
// per converted row, then the vertical pass and the int8 table. See effk_convert.h.
#include <math.h>
#include <string.h>

#include "effk_convert.h"
#include "resize_internal.h"
#include "../tables.h"

#define PB EFFK_RESIZE_PRECISION_BITS

typedef effk_yuv_coeffs yuv_coeffs;

effk_yuv_coeffs effk__yuv_coeffs(int32_t matrix, int32_t full_range) {
  double kr = matrix == EFFK_YUV_BT709 ? 0.2126 : 0.299;
  double kb = matrix == EFFK_YUV_BT709 ? 0.0722 : 0.114;
  double kg = 1.0 - kr - kb;
  double ys = full_range ? 1.0 : 255.0 / 219.0;
  double cs = full_range ? 1.0 : 255.0 / 224.0;
  yuv_coeffs c;
  c.y_off = full_range ? 0 : 16;
  c.cy = (int32_t)lrint(ys * 65536.0);
  c.rv = (int32_t)lrint(2.0 * (1.0 - kr) * cs * 65536.0);
  c.gu = (int32_t)lrint(2.0 * kb * (1.0 - kb) / kg * cs * 65536.0);
  c.gv = (int32_t)lrint(2.0 * kr * (1.0 - kr) / kg * cs * 65536.0);
  c.bu = (int32_t)lrint(2.0 * (1.0 - kb) * cs * 65536.0);
  return c;
}

static inline uint8_t clamp_shift16(int32_t v) {
  v = (v + 32768) >> 16;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static inline void yuv_px(const yuv_coeffs *c, int32_t y, int32_t u, int32_t v, uint8_t *o) {
  int32_t yy = (y - c->y_off) * c->cy;
  u -= 128;
  v -= 128;
  o[0] = clamp_shift16(yy + c->rv * v);
  o[1] = clamp_shift16(yy - c->gu * u - c->gv * v);
  o[2] = clamp_shift16(yy + c->bu * u);
}

size_t effk_frame_plane_bytes(const effk_frame *f, int32_t plane) {
  size_t h = (size_t)f->height, ch = (size_t)(f->height + 1) / 2;
  switch (f->format) {
    case EFFK_PIX_RGB24: case EFFK_PIX_BGR24: case EFFK_PIX_GREY: case EFFK_PIX_YUYV: case EFFK_PIX_UYVY:
      return plane == 0 ? (size_t)f->stride[0] * h : 0;
    case EFFK_PIX_NV12: case EFFK_PIX_NV21:
      return plane == 0 ? (size_t)f->stride[0] * h : plane == 1 ? (size_t)f->stride[1] * ch : 0;
    case EFFK_PIX_YU12: case EFFK_PIX_YV12:
      return plane == 0 ? (size_t)f->stride[0] * h : plane <= 2 ? (size_t)f->stride[plane] * ch : 0;
    default:
      return 0;
  }
}

static void row_rgb8(const effk_frame *f, const yuv_coeffs *c, int32_t x0, int32_t y, int32_t n, uint8_t *o) {
  const uint8_t *r0 = f->plane[0] + (size_t)y * (size_t)f->stride[0];
  switch (f->format) {
    case EFFK_PIX_RGB24:
      memcpy(o, r0 + (size_t)x0 * 3, (size_t)n * 3);
      return;
    case EFFK_PIX_BGR24:
      for (int32_t i = 0; i < n; i++) {
        const uint8_t *p = r0 + (size_t)(x0 + i) * 3;
        o[3 * i] = p[2]; o[3 * i + 1] = p[1]; o[3 * i + 2] = p[0];
      }
      return;
    case EFFK_PIX_GREY:
      for (int32_t i = 0; i < n; i++) o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = r0[x0 + i];
      return;
    case EFFK_PIX_YUYV: case EFFK_PIX_UYVY: {
      int32_t yo = f->format == EFFK_PIX_YUYV ? 0 : 1, co = 1 - yo;
      for (int32_t i = 0; i < n; i++) {
        int32_t x = x0 + i;
        const uint8_t *pair = r0 + (size_t)(x & ~1) * 2;
        yuv_px(c, r0[(size_t)x * 2 + yo], pair[co], pair[co + 2], o + 3 * i);
      }
      return;
    }
    case EFFK_PIX_NV12: case EFFK_PIX_NV21: {
      const uint8_t *uv = f->plane[1] + (size_t)(y / 2) * (size_t)f->stride[1];
      int32_t uo = f->format == EFFK_PIX_NV12 ? 0 : 1;
      for (int32_t i = 0; i < n; i++) {
        int32_t x = x0 + i;
        const uint8_t *p = uv + (size_t)(x & ~1);
        yuv_px(c, r0[x], p[uo], p[1 - uo], o + 3 * i);
      }
      return;
    }
    case EFFK_PIX_YU12: case EFFK_PIX_YV12: {
      // plane[1] is U and plane[2] is V for both; the caller points them at the right bytes.
      const uint8_t *u = f->plane[1] + (size_t)(y / 2) * (size_t)f->stride[1];
      const uint8_t *v = f->plane[2] + (size_t)(y / 2) * (size_t)f->stride[2];
      for (int32_t i = 0; i < n; i++) {
        int32_t x = x0 + i;
        yuv_px(c, r0[x], u[x / 2], v[x / 2], o + 3 * i);
      }
      return;
    }
    default:
      memset(o, 0, (size_t)n * 3);
  }
}

void effk_frame_row_to_rgb8__scalar(const effk_frame *f, int32_t x0, int32_t y, int32_t n, uint8_t *rgb) {
  yuv_coeffs c = effk__yuv_coeffs(f->matrix, f->full_range);
  row_rgb8(f, &c, x0, y, n, rgb);
}

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

size_t effk_frame_to_qs8_scratch_size(int32_t cw, int32_t ch, int32_t out_w, int32_t out_h) {
  size_t kx = (size_t)effk__resize_kernel_size(cw, out_w), ky = (size_t)effk__resize_kernel_size(ch, out_h);
  return align16((size_t)cw * 3) + align16((size_t)out_w * (size_t)ch * 3) + align16((size_t)out_w * 3) +
         ((size_t)out_w * kx + (size_t)out_h * ky + ((size_t)out_w + (size_t)out_h) * 2) * sizeof(int32_t) + 16;
}

static inline uint8_t clip8(int32_t v) {
  if (v >= (1 << PB << 8)) return 255;
  if (v <= 0) return 0;
  return (uint8_t)(v >> PB);
}

_Static_assert(EFFK_FRAME_PB == PB, "tables.h and resize_internal.h disagree");

void effk__rgb8_resize_row_h__scalar(const uint8_t *row, int32_t in_w, const int32_t *bounds,
                                     const int32_t *kk, int32_t ksize, int32_t out_w, uint8_t *dst) {
  (void)in_w;
  for (int32_t xx = 0; xx < out_w; xx++) {
    int32_t xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
    const int32_t *k = kk + (size_t)xx * ksize;
    int32_t s0 = 1 << (PB - 1), s1 = s0, s2 = s0;
    for (int32_t x = 0; x < xmax; x++) {
      const uint8_t *p = row + (size_t)(x + xmin) * 3;
      s0 += p[0] * k[x];
      s1 += p[1] * k[x];
      s2 += p[2] * k[x];
    }
    dst[xx * 3] = clip8(s0);
    dst[xx * 3 + 1] = clip8(s1);
    dst[xx * 3 + 2] = clip8(s2);
  }
}

// k: the table whose frame_row_to_rgb8 and rgb8_resize_row_h convert and resize each source
// row, or NULL for the scalar code.
static void frame_to_qs8(const effk_isa_kernels *k, const effk_frame *f, int32_t x0, int32_t y0,
                         int32_t cw, int32_t ch, const int8_t table[256], int8_t *out,
                         uint8_t *rgb_out, int32_t out_w, int32_t out_h, void *scratch) {
  yuv_coeffs c = effk__yuv_coeffs(f->matrix, f->full_range);
  int32_t kx = effk__resize_kernel_size(cw, out_w), ky = effk__resize_kernel_size(ch, out_h);
  uint8_t *row = (uint8_t *)scratch;                      // cw × 3: one converted source row
  uint8_t *tmp = row + align16((size_t)cw * 3);           // out_w × ch × 3: horizontal pass
  uint8_t *line = tmp + align16((size_t)out_w * ch * 3);  // out_w × 3: one output row
  int32_t *kkx = (int32_t *)(line + align16((size_t)out_w * 3));
  int32_t *kky = kkx + (size_t)out_w * kx;
  int32_t *bx = kky + (size_t)out_h * ky;
  int32_t *by = bx + (size_t)out_w * 2;
  effk__resize_coeffs(cw, out_w, kx, bx, kkx);
  effk__resize_coeffs(ch, out_h, ky, by, kky);

  size_t tmp_row = (size_t)out_w * 3;
  for (int32_t y = 0; y < ch; y++) {
    uint8_t *dst = tmp + (size_t)y * tmp_row;
    uint8_t *src = cw == out_w ? dst : row;  // Pillow skips a pass whose size does not change
    if (k)
      k->frame_row_to_rgb8(f, x0, y0 + y, cw, src);
    else
      row_rgb8(f, &c, x0, y0 + y, cw, src);
    if (cw == out_w) continue;
    if (k)
      k->rgb8_resize_row_h(row, cw, bx, kkx, kx, out_w, dst);
    else
      effk__rgb8_resize_row_h__scalar(row, cw, bx, kkx, kx, out_w, dst);
  }
  for (int32_t yy = 0; yy < out_h; yy++) {
    uint8_t *o8 = rgb_out ? rgb_out + (size_t)yy * tmp_row : line;
    int8_t *oq = out + (size_t)yy * tmp_row;
    if (ch == out_h) {
      memcpy(o8, tmp + (size_t)yy * tmp_row, tmp_row);
    } else {
      int32_t ymin = by[yy * 2], ymax = by[yy * 2 + 1];
      const int32_t *k = kky + (size_t)yy * ky;
      for (size_t i = 0; i < tmp_row; i++) {
        int32_t s = 1 << (PB - 1);
        for (int32_t y = 0; y < ymax; y++) s += tmp[(size_t)(y + ymin) * tmp_row + i] * k[y];
        o8[i] = clip8(s);
      }
    }
    for (size_t i = 0; i < tmp_row; i++) oq[i] = table[o8[i]];
  }
}

void effk_frame_to_qs8__scalar(const effk_frame *f, int32_t x0, int32_t y0, int32_t cw, int32_t ch,
                               const int8_t table[256], int8_t *out, uint8_t *rgb_out,
                               int32_t out_w, int32_t out_h, void *scratch) {
  frame_to_qs8(NULL, f, x0, y0, cw, ch, table, out, rgb_out, out_w, out_h, scratch);
}

void effk_frame_to_qs8_with(const effk_isa_kernels *k, const effk_frame *f, int32_t x0, int32_t y0,
                            int32_t cw, int32_t ch, const int8_t table[256], int8_t *out,
                            uint8_t *rgb_out, int32_t out_w, int32_t out_h, void *scratch) {
  frame_to_qs8(k, f, x0, y0, cw, ch, table, out, rgb_out, out_w, out_h, scratch);
}

void effk_frame_to_qs8(const effk_frame *f, int32_t x0, int32_t y0, int32_t cw, int32_t ch,
                       const int8_t table[256], int8_t *out, uint8_t *rgb_out,
                       int32_t out_w, int32_t out_h, void *scratch) {
  // The table effk_kernels_select() picks (EFFNETD_ISA honoured); scalar when it names none.
  effk_frame_to_qs8_with(effk_kernels_select(NULL), f, x0, y0, cw, ch, table, out, rgb_out, out_w,
                         out_h, scratch);
}
