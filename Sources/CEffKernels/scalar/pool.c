// AVERAGE_POOL_2D int8, as reference_integer_ops::AveragePool: no rescaling
// (input and output share quantization), divide by the count of in-image taps,
// rounding half away from zero.
#include "effk.h"

void effk_qs8_avgpool2d__scalar(const effk_conv2d_params *p, const int8_t *input, int8_t *output,
                                int32_t oy_begin, int32_t oy_end) {
  const int32_t in_h = p->in_h, in_w = p->in_w, c = p->in_c, out_w = p->out_w;
  for (int32_t oy = oy_begin; oy < oy_end; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
    const int32_t fy1 = p->kernel_h < in_h - iy0 ? p->kernel_h : in_h - iy0;
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
      const int32_t fx1 = p->kernel_w < in_w - ix0 ? p->kernel_w : in_w - ix0;
      int8_t *out = output + ((size_t)oy * out_w + ox) * c;
      for (int32_t ch = 0; ch < c; ++ch) {
        int32_t acc = 0, count = 0;
        for (int32_t fy = fy0; fy < fy1; ++fy)
          for (int32_t fx = fx0; fx < fx1; ++fx) {
            acc += input[((size_t)(iy0 + fy) * in_w + (ix0 + fx)) * c + ch];
            ++count;
          }
        // TFLite fails the op when a window is empty; emit 0 (only reachable with bad params).
        if (count == 0) {
          out[ch] = 0;
          continue;
        }
        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        if (acc < p->act_min) acc = p->act_min;
        if (acc > p->act_max) acc = p->act_max;
        out[ch] = (int8_t)acc;
      }
    }
  }
}
