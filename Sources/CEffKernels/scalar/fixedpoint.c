// Fixed-point primitives, transcribed from gemmlowp fixedpoint.h and TFLite's
// common.cc / quantization_util.cc / kernel_util.cc (default build: double rounding,
// i.e. TFLITE_SINGLE_ROUNDING off; verified against LiteRT 2.3.0 BUILTIN_REF dumps).
#include <math.h>

#include "effk.h"

int32_t effk_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  const int64_t ab = (int64_t)a * (int64_t)b;
  const int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  // C and C++ both truncate toward zero here, as gemmlowp relies on.
  return (int32_t)((ab + nudge) / (INT64_C(1) << 31));
}

int32_t effk_rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)((INT64_C(1) << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t effk_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left_shift = shift > 0 ? shift : 0;
  const int32_t right_shift = shift > 0 ? 0 : -shift;
  // x * (1 << left_shift) in TFLite; done unsigned so an overflow wraps instead of being UB.
  const int32_t shifted = (int32_t)((uint32_t)x << left_shift);
  return effk_rounding_divide_by_pot(
      effk_saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift);
}

void effk_quantize_multiplier(double real, int32_t *multiplier, int32_t *shift) {
  if (real == 0.0) {
    *multiplier = 0;
    *shift = 0;
    return;
  }
  int e = 0;
  const double q = frexp(real, &e);
  int64_t q_fixed = (int64_t)round(q * (double)(INT64_C(1) << 31));
  if (q_fixed == (INT64_C(1) << 31)) {
    q_fixed /= 2;
    ++e;
  }
  if (e < -31) {  // flush tiny multipliers to zero, as TFLite does
    e = 0;
    q_fixed = 0;
  }
  *multiplier = (int32_t)q_fixed;
  *shift = e;
}

// kernel_util.cc Quantize(): float division and roundf, not double.
static int32_t quantize_act_bound(float scale, int32_t zero_point, float f) {
  const float tmp = roundf(f / scale);
  return zero_point + (int32_t)tmp;
}

void effk_activation_range_qs8(int32_t activation, float output_scale, int32_t output_zero_point,
                               int32_t *act_min, int32_t *act_max) {
  const int32_t qmin = -128, qmax = 127;
  int32_t lo = qmin, hi = qmax, t;
  switch (activation) {
    case EFFK_ACT_RELU:
      t = quantize_act_bound(output_scale, output_zero_point, 0.0f);
      lo = t > qmin ? t : qmin;
      break;
    case EFFK_ACT_RELU6:
      t = quantize_act_bound(output_scale, output_zero_point, 0.0f);
      lo = t > qmin ? t : qmin;
      t = quantize_act_bound(output_scale, output_zero_point, 6.0f);
      hi = t < qmax ? t : qmax;
      break;
    case EFFK_ACT_RELU_N1_TO_1:
      t = quantize_act_bound(output_scale, output_zero_point, -1.0f);
      lo = t > qmin ? t : qmin;
      t = quantize_act_bound(output_scale, output_zero_point, 1.0f);
      hi = t < qmax ? t : qmax;
      break;
    default:
      break;
  }
  *act_min = lo;
  *act_max = hi;
}

void effk_conv_channel_multiplier(float input_scale, float filter_scale, float output_scale,
                                  int32_t *multiplier, int32_t *shift) {
  // PopulateConvolutionQuantizationParams: double product, left to right.
  effk_quantize_multiplier(effk_fc_effective_scale(input_scale, filter_scale, output_scale),
                           multiplier, shift);
}

double effk_fc_effective_scale(float input_scale, float filter_scale, float output_scale) {
  return (double)input_scale * (double)filter_scale / (double)output_scale;
}
