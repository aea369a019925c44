// FULLY_CONNECTED int8, as reference_integer_ops::FullyConnected / FullyConnectedPerChannel
// of LiteRT's tflite tree: since 2025 the *reference* FC requantizes in double,
// round(acc * in_scale*filter_scale/out_scale), not with a fixed-point multiplier.
#include <math.h>

#include "effk.h"

void effk_qs8_fc__scalar(const effk_fc_params *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, const double *scale, int8_t *output,
                         int32_t oc_begin, int32_t oc_end) {
  const int32_t in_c = p->in_c, out_c = p->out_c;
  const int32_t input_offset = -p->input_zero_point;
  const int32_t filter_offset = -p->filter_zero_point;
  for (int32_t b = 0; b < p->batches; ++b) {
    const int8_t *x = input + (size_t)b * in_c;
    for (int32_t oc = oc_begin; oc < oc_end; ++oc) {
      const int8_t *f = filter + (size_t)oc * in_c;
      int32_t acc = 0;
      for (int32_t d = 0; d < in_c; ++d)
        acc += ((int32_t)f[d] + filter_offset) * ((int32_t)x[d] + input_offset);
      if (bias) acc += bias[oc];
      int32_t v = (int32_t)round((double)acc * scale[oc]);
      v += p->output_zero_point;
      if (v < p->act_min) v = p->act_min;
      if (v > p->act_max) v = p->act_max;
      output[(size_t)b * out_c + oc] = (int8_t)v;
    }
  }
}
