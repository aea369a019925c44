// Unary int8 ops as 256-entry tables, indexed by the input byte as uint8_t
// (TFLite's LUT order: 0..127, -128..-1).
#include <math.h>

#include "effk.h"

// LOGISTIC int8 under BUILTIN_REF: activations.cc SigmoidPrepare<kReference> fills
// LUTPopulate<int8_t> (common.h detail::LUTPopulateInt8) with the float lambda
// 1/(1+std::exp(-x)); SigmoidEval then just looks it up. All arithmetic is float
// and the exp is libm's expf (LiteRT links glibc expf@GLIBC_2.27).
void effk_qs8_logistic_table(float input_scale, int32_t input_zero_point, int8_t table[256]) {
  const float output_scale = 1.0f / 256.0f;  // SigmoidPrepare requires this
  const int32_t output_zero_point = -128;
  const float inverse_scale = 1.0f / output_scale;
  for (int32_t val = -128; val <= 127; ++val) {
    const float dequantized = input_scale * (float)(val - input_zero_point);
    const float transformed = 1.0f / (1.0f + expf(-dequantized));
    const float rescaled = roundf(transformed * inverse_scale);
    int32_t q = (int32_t)(rescaled + (float)output_zero_point);
    if (q > 127) q = 127;
    if (q < -128) q = -128;
    table[(uint8_t)(int8_t)val] = (int8_t)q;
  }
}

// QUANTIZE int8 -> int8: quantize.cc Prepare (double in/out ratio -> QuantizeMultiplier)
// and reference_ops::Requantize.
void effk_qs8_requantize_table(float input_scale, int32_t input_zero_point, float output_scale,
                               int32_t output_zero_point, int8_t table[256]) {
  int32_t m, s;
  effk_quantize_multiplier((double)input_scale / (double)output_scale, &m, &s);
  for (int32_t val = -128; val <= 127; ++val) {
    int32_t q = effk_multiply_by_quantized_multiplier(val - input_zero_point, m, s) +
                output_zero_point;
    if (q > 127) q = 127;
    if (q < -128) q = -128;
    table[(uint8_t)(int8_t)val] = (int8_t)q;
  }
}

void effk_qs8_lookup__scalar(const int8_t table[256], const int8_t *in, int8_t *out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = table[(uint8_t)in[i]];
}
