// DEPTHWISE_CONV_2D int8, as reference_integer_ops::DepthwiseConvPerChannel.
#include "effk.h"

void effk_qs8_dwconv2d__scalar(const effk_conv2d_params *p, const int8_t *input, const int8_t *filter,
                               const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                               int8_t *output, int32_t oy_begin, int32_t oy_end) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
  const int32_t out_w = p->out_w, out_c = p->out_c;
  const int32_t kh = p->kernel_h, kw = p->kernel_w;
  const int32_t dm = p->depth_multiplier > 0 ? p->depth_multiplier : 1;
  const int32_t input_offset = -p->input_zero_point;
  for (int32_t oy = oy_begin; oy < oy_end; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      int8_t *out = output + ((size_t)oy * out_w + ox) * out_c;
      for (int32_t ic = 0; ic < in_c; ++ic) {
        for (int32_t m = 0; m < dm; ++m) {
          const int32_t oc = ic * dm + m;
          int32_t acc = 0;
          for (int32_t fy = 0; fy < kh; ++fy) {
            const int32_t iy = iy0 + p->dilation_h * fy;
            if (iy < 0 || iy >= in_h) continue;
            for (int32_t fx = 0; fx < kw; ++fx) {
              const int32_t ix = ix0 + p->dilation_w * fx;
              if (ix < 0 || ix >= in_w) continue;
              const int32_t x = input[((size_t)iy * in_w + ix) * in_c + ic];
              const int32_t f = filter[((size_t)fy * kw + fx) * out_c + oc];
              acc += f * (x + input_offset);
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
}
