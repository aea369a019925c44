// CONV_2D int8, as reference_integer_ops::ConvPerChannel (groups == 1).
#include "effk.h"

#include <string.h>

#include "../tables.h"

void effk_qs8_conv2d__scalar(const effk_conv2d_params *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *output, int32_t oy_begin, int32_t oy_end) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
  const int32_t out_w = p->out_w, out_c = p->out_c;
  const int32_t kh = p->kernel_h, kw = p->kernel_w;
  const int32_t input_offset = -p->input_zero_point;
  for (int32_t oy = oy_begin; oy < oy_end; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      int8_t *out = output + ((size_t)oy * out_w + ox) * out_c;
      for (int32_t oc = 0; oc < out_c; ++oc) {
        int32_t acc = 0;
        for (int32_t fy = 0; fy < kh; ++fy) {
          const int32_t iy = iy0 + p->dilation_h * fy;
          if (iy < 0 || iy >= in_h) continue;  // zero padding = skipped taps
          for (int32_t fx = 0; fx < kw; ++fx) {
            const int32_t ix = ix0 + p->dilation_w * fx;
            if (ix < 0 || ix >= in_w) continue;
            const int8_t *x = input + ((size_t)iy * in_w + ix) * in_c;
            const int8_t *f = filter + (((size_t)oc * kh + fy) * kw + fx) * in_c;
            for (int32_t ic = 0; ic < in_c; ++ic)
              acc += (int32_t)f[ic] * ((int32_t)x[ic] + input_offset);
          }
        }
        if (bias) acc += bias[oc];
        acc = effk_multiply_by_quantized_multiplier(acc, multiplier[oc], shift[oc]);
        acc += p->output_zero_point;
        if (acc < p->act_min) acc = p->act_min;
        if (acc > p->act_max) acc = p->act_max;
        out[oc] = (int8_t)acc;
      }
    }
  }
}

void effk__conv1x1_range__scalar(const effk_conv2d_params *p, const int8_t *input,
                                 const int8_t *filter, const int32_t *bias, const int32_t *mult,
                                 const int32_t *shift, int8_t *output, int32_t pixel_begin,
                                 int32_t pixel_end, int32_t c_begin, int32_t c_end) {
  const int32_t k = p->in_c, n = p->out_c;
  // One pixel and at most 64 channels per call, through a small buffer: the reference writes
  // whole pixels of its out_c.
  effk_conv2d_params q = *p;
  q.in_h = q.out_h = q.in_w = q.out_w = 1;
  q.kernel_h = q.kernel_w = q.stride_h = q.stride_w = q.dilation_h = q.dilation_w = 1;
  q.pad_top = q.pad_left = 0;
  int8_t one[64];
  for (int32_t px = pixel_begin; px < pixel_end; ++px)
    for (int32_t cb = c_begin; cb < c_end; cb += 64) {
      q.out_c = c_end - cb < 64 ? c_end - cb : 64;
      effk_qs8_conv2d__scalar(&q, input + (size_t)px * k, filter + (size_t)cb * k,
                              bias ? bias + cb : NULL, mult + cb, shift + cb, one, 0, 1);
      memcpy(output + (size_t)px * n + cb, one, (size_t)q.out_c);
    }
}
