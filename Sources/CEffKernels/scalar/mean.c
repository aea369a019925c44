// MEAN int8 over axes 1,2: under BUILTIN_REF, reduce.cc EvalMean<kReference> always
// takes reference_ops::QuantizedMeanOrSum (reference/reduce.h) with an int32 sum;
// PrepareMeanOrSum gives QuantizeMultiplier(double(s_in)/double(s_out)), and the
// kernel folds 1/num_elements into that multiplier with an integer division.
#include "effk.h"

static int clz64(uint64_t x) {
  int n = 0;
  if (x == 0) return 64;
  while (!(x & (UINT64_C(1) << 63))) {
    x <<= 1;
    ++n;
  }
  return n;
}

void effk_qs8_mean_hw_params_init(effk_mean_params *p) {
  int32_t m, s;
  effk_quantize_multiplier((double)p->input_scale / (double)p->output_scale, &m, &s);
  const int64_t num = (int64_t)p->h * p->w;
  if (num <= 0) {
    p->multiplier = m;
    p->shift = s;
    return;
  }
  int shift = 63 - clz64((uint64_t)num);
  if (shift > 32) shift = 32;
  if (shift > 31 + s) shift = 31 + s;
  p->multiplier = (int32_t)((((int64_t)m) << shift) / num);
  p->shift = s - shift;
}

void effk_qs8_mean_hw__scalar(const effk_mean_params *p, const int8_t *input, int8_t *output) {
  const int32_t hw = p->h * p->w, c = p->c;
  for (int32_t ch = 0; ch < c; ++ch) {
    int32_t sum = 0;
    for (int32_t i = 0; i < hw; ++i) sum += input[(size_t)i * c + ch];
    // temp_sum - zp * num_elements (int64 in TFLite), narrowed to the int32 accumulator type.
    const int32_t shifted = (int32_t)((int64_t)sum - (int64_t)p->input_zero_point * hw);
    int32_t out = effk_multiply_by_quantized_multiplier(shifted, p->multiplier, p->shift) +
                  p->output_zero_point;
    if (out < -128) out = -128;
    if (out > 127) out = 127;
    output[ch] = (int8_t)out;
  }
}
