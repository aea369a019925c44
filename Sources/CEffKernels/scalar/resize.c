#include "effk_image.h"
#include "resize_internal.h"

#include <math.h>
#include <string.h>

// Pillow's fixed-point precision for 8-bit resampling.
#define PRECISION_BITS (32 - 8 - 2)

static double triangle(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

int32_t effk__resize_kernel_size(int32_t in_size, int32_t out_size) {
  double scale = (double)in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  return (int32_t)ceil(filterscale) * 2 + 1;  // triangle support is 1.0
}

size_t effk_rgb8_resize_scratch_size(int32_t cw, int32_t ch, int32_t out_w, int32_t out_h) {
  size_t kx = (size_t)effk__resize_kernel_size(cw, out_w), ky = (size_t)effk__resize_kernel_size(ch, out_h);
  size_t coeffs = ((size_t)out_w * kx + (size_t)out_h * ky) * sizeof(int32_t) +
                  ((size_t)out_w + (size_t)out_h) * 2 * sizeof(int32_t);
  return (size_t)out_w * (size_t)ch * 3 + coeffs + 16;
}

// Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output index, the first input
// index, the tap count and ksize fixed-point weights.
void effk__resize_coeffs(int32_t in_size, int32_t out_size, int32_t ksize, int32_t *bounds, int32_t *kk) {
  double scale = (double)in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 1.0 * filterscale;
  double ss = 1.0 / filterscale;
  for (int32_t xx = 0; xx < out_size; xx++) {
    double center = (xx + 0.5) * scale;
    int32_t xmin = (int32_t)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int32_t xmax = (int32_t)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double k[ksize];
    double ww = 0.0;
    int32_t x = 0;
    for (; x < xmax; x++) {
      double w = triangle((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (x = 0; x < xmax; x++) {
      if (ww != 0.0) k[x] /= ww;
    }
    for (; x < ksize; x++) k[x] = 0;
    for (x = 0; x < ksize; x++) {
      double v = k[x] * (1 << PRECISION_BITS);
      kk[xx * ksize + x] = (int32_t)(k[x] < 0 ? -0.5 + v : 0.5 + v);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
}

static inline uint8_t clip8(int32_t v) {
  if (v >= (1 << PRECISION_BITS << 8)) return 255;
  if (v <= 0) return 0;
  return (uint8_t)(v >> PRECISION_BITS);
}

void effk_rgb8_resize_bilinear__scalar(const uint8_t *in, int32_t stride, int32_t x0, int32_t y0,
                                       int32_t cw, int32_t ch, uint8_t *out, int32_t out_w,
                                       int32_t out_h, void *scratch) {
  int32_t kx = effk__resize_kernel_size(cw, out_w), ky = effk__resize_kernel_size(ch, out_h);
  uint8_t *tmp = (uint8_t *)scratch;  // out_w × ch × 3, the horizontal pass
  size_t tmp_bytes = ((size_t)out_w * (size_t)ch * 3 + 15) & ~(size_t)15;
  int32_t *kkx = (int32_t *)((uint8_t *)scratch + tmp_bytes);
  int32_t *kky = kkx + (size_t)out_w * kx;
  int32_t *bx = kky + (size_t)out_h * ky;
  int32_t *by = bx + (size_t)out_w * 2;
  effk__resize_coeffs(cw, out_w, kx, bx, kkx);
  effk__resize_coeffs(ch, out_h, ky, by, kky);

  // Pillow skips a pass whose size does not change; the result is then a plain copy.
  for (int32_t y = 0; y < ch; y++) {
    const uint8_t *row = in + (size_t)(y0 + y) * stride + (size_t)x0 * 3;
    uint8_t *dst = tmp + (size_t)y * out_w * 3;
    if (cw == out_w) {
      memcpy(dst, row, (size_t)cw * 3);
      continue;
    }
    for (int32_t xx = 0; xx < out_w; xx++) {
      int32_t xmin = bx[xx * 2], xmax = bx[xx * 2 + 1];
      const int32_t *k = kkx + (size_t)xx * kx;
      int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
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
  size_t row_bytes = (size_t)out_w * 3;
  for (int32_t yy = 0; yy < out_h; yy++) {
    uint8_t *dst = out + (size_t)yy * row_bytes;
    if (ch == out_h) {
      memcpy(dst, tmp + (size_t)yy * row_bytes, row_bytes);
      continue;
    }
    int32_t ymin = by[yy * 2], ymax = by[yy * 2 + 1];
    const int32_t *k = kky + (size_t)yy * ky;
    for (size_t i = 0; i < row_bytes; i++) {
      int32_t s = 1 << (PRECISION_BITS - 1);
      for (int32_t y = 0; y < ymax; y++) s += tmp[(size_t)(y + ymin) * row_bytes + i] * k[y];
      dst[i] = clip8(s);
    }
  }
}

void effk_qs8_input_table(float mean, float std, float scale, int32_t zero_point, int8_t table[256]) {
  for (int u = 0; u < 256; u++) {
    float normalized = ((float)u - mean) / std;
    float q = nearbyintf(normalized / scale) + (float)zero_point;
    if (q < -128.0f) q = -128.0f;
    if (q > 127.0f) q = 127.0f;
    table[u] = (int8_t)q;
  }
}

void effk_u8_lookup_qs8__scalar(const int8_t table[256], const uint8_t *in, int8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = table[in[i]];
}
