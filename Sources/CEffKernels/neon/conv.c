// General CONV_2D (EfficientNet's stem: 3x3 stride 2, 3 input channels) for the AArch64
// tables: im2col rows of kh*kw*in_c bytes, then one of the GEMM cores.
// conv1x1 (effk_neon_conv1x1_with) is the GEMM core straight on the input pixels.
//
// Padding taps are filled with the input zero point, so with the zero point folded into
// the packed bias they contribute w * (zp - zp) = 0, exactly as the scalar kernel's
// skipped taps. That needs the zero point to be an int8 value, which TFLite guarantees
// for int8 tensors; for any other value the kernel falls back to the scalar kernel on
// the original filter, which the packed buffer keeps (it is small: this path is for
// stems, not the bulk of a model).
//
// Packed layout:
//   int32 header[8]        kh, kw, in_c, out_c, input_zero_point, k_len, 0, 0
//   int8  filter[round_up(out_c * k_len, 16)]   OHWI, as given
//   int32 bias[round_up(out_c, 4)]              zero where bias == NULL
//   ...   GEMM core packing of filter as [out_c][k_len]
#if defined(__aarch64__)

#include <stdlib.h>

#include "neon_internal.h"

enum { HDR = 8 * sizeof(int32_t) };

static size_t filter_bytes(int32_t k_len, int32_t out_c) {
  return (size_t)EFFK_ROUND_UP((size_t)out_c * (size_t)k_len, 16);
}

static size_t bias_bytes(int32_t out_c) {
  return (size_t)EFFK_ROUND_UP(out_c, 4) * sizeof(int32_t);
}

size_t effk_neon_conv_packed_size_with(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c,
                                       effk_neon_gemm_size_fn gemm_size) {
  const int32_t k_len = kh * kw * in_c;
  return HDR + filter_bytes(k_len, out_c) + bias_bytes(out_c) + gemm_size(k_len, out_c);
}

void effk_neon_conv_pack_with(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                              int32_t in_c, int32_t out_c, int32_t input_zero_point, void *packed,
                              effk_neon_gemm_pack_fn gemm_pack) {
  const int32_t k_len = kh * kw * in_c;
  int32_t *hdr = (int32_t *)packed;
  hdr[0] = kh;
  hdr[1] = kw;
  hdr[2] = in_c;
  hdr[3] = out_c;
  hdr[4] = input_zero_point;
  hdr[5] = k_len;
  hdr[6] = hdr[7] = 0;
  int8_t *f = (int8_t *)packed + HDR;
  memset(f, 0, filter_bytes(k_len, out_c));
  memcpy(f, filter, (size_t)out_c * (size_t)k_len);
  int32_t *b = (int32_t *)(f + filter_bytes(k_len, out_c));
  memset(b, 0, bias_bytes(out_c));
  if (bias) memcpy(b, bias, (size_t)out_c * sizeof(int32_t));
  gemm_pack(filter, bias, k_len, out_c, input_zero_point, (int8_t *)b + bias_bytes(out_c));
}

void effk_neon_conv_with(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                         const int32_t *multiplier, const int32_t *shift, int8_t *output,
                         int32_t oy_begin, int32_t oy_end, effk_neon_gemm_fn gemm) {
  if (oy_end <= oy_begin || p->out_w <= 0 || p->out_c <= 0) return;
  const int32_t *hdr = (const int32_t *)packed;
  const int32_t kh = hdr[0], kw = hdr[1], in_c = hdr[2], out_c = hdr[3], zp = hdr[4];
  const int32_t k_len = hdr[5];
  const int8_t *filter = (const int8_t *)packed + HDR;
  const int32_t *bias = (const int32_t *)(filter + filter_bytes(k_len, out_c));
  const void *gemm_packed = (const int8_t *)bias + bias_bytes(out_c);

  if (zp < -128 || zp > 127 || p->input_zero_point != zp) {
    effk_qs8_conv2d__scalar(p, input, filter, bias, multiplier, shift, output, oy_begin, oy_end);
    return;
  }

  const int32_t in_h = p->in_h, in_w = p->in_w, out_w = p->out_w;
  // im2col rows padded to 16 bytes with zeros (the packed weights are zero there too).
  const int32_t kp = EFFK_ROUND_UP(k_len, 16);
  int8_t stack_buf[16384];
  int32_t chunk = (int32_t)(sizeof stack_buf / (size_t)kp);
  int8_t *buf = stack_buf;
  if (chunk < 4) {
    chunk = 4;
    buf = (int8_t *)malloc((size_t)chunk * (size_t)kp);
    if (!buf) {  // no memory for the rows: still produce the right bytes
      effk_qs8_conv2d__scalar(p, input, filter, bias, multiplier, shift, output, oy_begin, oy_end);
      return;
    }
  }
  const effk_neon_requant rq = {multiplier, shift, p->output_zero_point, p->act_min, p->act_max};
  const int64_t pix_begin = (int64_t)oy_begin * out_w, pix_end = (int64_t)oy_end * out_w;
  for (int64_t c0 = pix_begin; c0 < pix_end; c0 += chunk) {
    const int32_t n = (int32_t)(pix_end - c0 < chunk ? pix_end - c0 : chunk);
    for (int32_t i = 0; i < n; ++i) {
      const int32_t oy = (int32_t)((c0 + i) / out_w), ox = (int32_t)((c0 + i) % out_w);
      const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
      int8_t *row = buf + (size_t)i * kp;
      for (int32_t fy = 0; fy < kh; ++fy) {
        const int32_t iy = iy0 + p->dilation_h * fy;
        for (int32_t fx = 0; fx < kw; ++fx) {
          const int32_t ix = ix0 + p->dilation_w * fx;
          int8_t *dst = row + ((size_t)fy * kw + fx) * in_c;
          if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w)
            memset(dst, (int8_t)zp, (size_t)in_c);
          else
            memcpy(dst, input + ((size_t)iy * in_w + ix) * in_c, (size_t)in_c);
        }
      }
      memset(row + k_len, 0, (size_t)(kp - k_len));
    }
    gemm(buf, (size_t)kp, kp, n, gemm_packed, out_c, &rq, output + (size_t)c0 * out_c,
         (size_t)out_c, 0, out_c);
  }
  if (buf != stack_buf) free(buf);
}

void effk_neon_conv1x1_with(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                            const int32_t *multiplier, const int32_t *shift, int8_t *output,
                            int32_t pixel_begin, int32_t pixel_end, int32_t c_begin,
                            int32_t c_end, effk_neon_gemm_fn gemm) {
  if (c_end > p->out_c) c_end = p->out_c;
  if (pixel_end <= pixel_begin || c_end <= c_begin) return;
  const effk_neon_requant rq = {multiplier, shift, p->output_zero_point, p->act_min, p->act_max};
  gemm(input + (size_t)pixel_begin * p->in_c, (size_t)p->in_c, p->in_c, pixel_end - pixel_begin,
       packed, p->out_c, &rq, output + (size_t)pixel_begin * p->out_c, (size_t)p->out_c, c_begin,
       c_end);
}

// ---- "neon" table entries ---------------------------------------------------------------

void effk_qs8_conv1x1_channels_4x4c16__neon(const effk_conv2d_params *p, const int8_t *input,
    const void *packed, const int32_t *multiplier, const int32_t *shift, int8_t *output,
    int32_t pixel_begin, int32_t pixel_end, int32_t c_begin, int32_t c_end) {
  effk_neon_conv1x1_with(p, input, packed, multiplier, shift, output, pixel_begin, pixel_end,
                         c_begin, c_end, effk_qs8_gemm_4x4c16__neon);
}

void effk_qs8_conv1x1_4x4c16__neon(const effk_conv2d_params *p, const int8_t *input,
                                   const void *packed, const int32_t *multiplier,
                                   const int32_t *shift, int8_t *output, int32_t pixel_begin,
                                   int32_t pixel_end) {
  effk_neon_conv1x1_with(p, input, packed, multiplier, shift, output, pixel_begin, pixel_end, 0,
                         p->out_c, effk_qs8_gemm_4x4c16__neon);
}

size_t effk_qs8_conv_packed_size__neon(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c) {
  return effk_neon_conv_packed_size_with(kh, kw, in_c, out_c,
                                         effk_qs8_gemm_4x4c16_packed_size__neon);
}

void effk_qs8_conv_pack__neon(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                              int32_t in_c, int32_t out_c, int32_t input_zero_point, void *packed) {
  effk_neon_conv_pack_with(filter, bias, kh, kw, in_c, out_c, input_zero_point, packed,
                           effk_qs8_gemm_4x4c16_pack__neon);
}

void effk_qs8_conv_im2col_4x4c16__neon(const effk_conv2d_params *p, const int8_t *input,
                                       const void *packed, const int32_t *multiplier,
                                       const int32_t *shift, int8_t *output, int32_t oy_begin,
                                       int32_t oy_end) {
  effk_neon_conv_with(p, input, packed, multiplier, shift, output, oy_begin, oy_end,
                      effk_qs8_gemm_4x4c16__neon);
}

#endif
