// SOFTMAX int8 -> int8 under BUILTIN_REF: activations.cc SoftmaxPrepare<kReference>
// (PreprocessSoftmaxScaling, CalculateInputRadius with 5 integer bits) and
// reference/softmax.h Softmax<int8_t,int8_t>: gemmlowp Q5.26 exp_on_negative_values,
// Q12.19 sum, GetReciprocal (one_over_one_plus_x_for_x_in_0_1). Output scale 1/256, zp -128.
#include <math.h>

#include "effk.h"

#define SRDHM effk_saturating_rounding_doubling_high_mul
#define RDBPOT effk_rounding_divide_by_pot

// gemmlowp FixedPoint '+'/'-' do not saturate; wrap instead of C++ UB.
static inline int32_t wadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t wsub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

// SaturatingRoundingMultiplyByPOT<e> for e > 0.
static inline int32_t sat_shl(int32_t x, int e) {
  const int32_t threshold = (int32_t)((INT64_C(1) << (31 - e)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << e);
}

// exp(x) for x in [-1/4, 0), Q0.31 in and out.
static int32_t exp_on_interval_m025_0(int32_t a) {
  const int32_t constant_term = 1895147668;    // exp(-1/8)
  const int32_t constant_1_over_3 = 715827883;
  const int32_t x = wadd(a, 1 << 28);          // a + 1/8
  const int32_t x2 = SRDHM(x, x);
  const int32_t x3 = SRDHM(x2, x);
  const int32_t x4 = SRDHM(x2, x2);
  const int32_t x4_over_4 = RDBPOT(x4, 2);
  const int32_t t = RDBPOT(wadd(SRDHM(wadd(x4_over_4, x3), constant_1_over_3), x2), 1);
  return wadd(constant_term, SRDHM(constant_term, wadd(x, t)));
}

// exp(a) for a <= 0, a in Q(ib).(31-ib), result Q0.31.
static int32_t exp_on_negative_values(int32_t a, int ib) {
  const int fb = 31 - ib;
  const int32_t one_quarter = (int32_t)1 << (fb - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_one_quarter = wsub(a & mask, one_quarter);
  int32_t result = exp_on_interval_m025_0(sat_shl(a_mod_quarter_minus_one_quarter, ib));
  const int32_t remainder = wsub(a_mod_quarter_minus_one_quarter, a);
  static const int32_t mult[7] = {1672461947, 1302514674, 790015084, 290630308,
                                  39332535, 720401, 242};  // exp(-2^k), k = -2..4
  for (int k = -2; k <= 4; ++k) {
    if (ib > k) {
      const int shift = fb + k;
      if (remainder & ((int32_t)1 << shift)) result = SRDHM(result, mult[k + 2]);
    }
  }
  if (ib > 5) {
    const int32_t clamp = -((int32_t)1 << (36 - ib));  // -32.0
    if (a < clamp) result = 0;
  }
  if (a == 0) result = INT32_MAX;
  return result;
}

static int32_t rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + (int64_t)b;
  const int64_t sign = sum >= 0 ? 1 : -1;
  return (int32_t)((sum + sign) / 2);
}

// 1/(1+a) for a in [0,1), Q0.31 in and out (Newton-Raphson, 3 steps).
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
  const int32_t c48_over_17 = 1515870810;       // Q2.29
  const int32_t cneg32_over_17 = -1010580540;   // Q2.29
  int32_t x = wadd(c48_over_17, SRDHM(half_denominator, cneg32_over_17));
  for (int i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = SRDHM(half_denominator, x);
    const int32_t one_minus = wsub((int32_t)1 << 29, half_denominator_times_x);
    x = wadd(x, sat_shl(SRDHM(x, one_minus), 2));
  }
  return sat_shl(x, 1);
}

static int clz32(uint32_t x) {
  int n = 0;
  if (x == 0) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
}

void effk_qs8_softmax_params_init(effk_softmax_params *p, float beta, float input_scale) {
  const int kScaledDiffIntegerBits = 5;
  const double max_real_multiplier = (double)((INT64_C(1) << 31) - 1);
  double real = (double)beta * (double)input_scale * (double)(1 << (31 - kScaledDiffIntegerBits));
  if (real > max_real_multiplier) real = max_real_multiplier;
  int32_t m, s;
  effk_quantize_multiplier(real, &m, &s);
  p->input_multiplier = m;
  p->input_left_shift = s;
  // CalculateInputRadius(5, s, 31), in double then floor.
  const double max_input_rescaled = 1.0 * ((1 << kScaledDiffIntegerBits) - 1) *
                                    (double)(INT64_C(1) << (31 - kScaledDiffIntegerBits)) /
                                    (double)(INT64_C(1) << s);
  p->diff_min = -(int32_t)floor(max_input_rescaled);
}

void effk_qs8_softmax__scalar(const effk_softmax_params *p, const int8_t *in, int8_t *out,
                              int32_t rows, int32_t depth) {
  const int kAccumulationIntegerBits = 12;
  for (int32_t r = 0; r < rows; ++r) {
    const int8_t *x = in + (size_t)r * depth;
    int8_t *y = out + (size_t)r * depth;
    int32_t max_in_row = -128;
    for (int32_t c = 0; c < depth; ++c)
      if (x[c] > max_in_row) max_in_row = x[c];

    int32_t sum_of_exps = 0;  // Q12.19
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t diff = (int32_t)x[c] - max_in_row;
      if (diff >= p->diff_min) {
        const int32_t rescaled =
            SRDHM((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
        sum_of_exps = wadd(sum_of_exps, RDBPOT(exp_on_negative_values(rescaled, 5),
                                               kAccumulationIntegerBits));
      }
    }

    // GetReciprocal(sum_of_exps, 12, &num_bits_over_unit).
    const int headroom_plus_one = clz32((uint32_t)sum_of_exps);
    const int num_bits_over_unit = kAccumulationIntegerBits - headroom_plus_one;
    const int32_t shifted_sum_minus_one =
        (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (UINT32_C(1) << 31));
    const int32_t shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
    // TFLite TFLITE_CHECKs 0 <= exponent <= 31 (it aborts once the sum of exps reaches
    // 2^9); past 31 every quotient rounds to 0, so emit that instead of shifting by >= 32.
    const int exponent = num_bits_over_unit + 31 - 8;

    for (int32_t c = 0; c < depth; ++c) {
      const int32_t diff = (int32_t)x[c] - max_in_row;
      if (diff >= p->diff_min) {
        const int32_t rescaled =
            SRDHM((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
        const int32_t exp_in_0 = exp_on_negative_values(rescaled, 5);
        const int32_t prod = SRDHM(shifted_scale, exp_in_0);
        int32_t v = (exponent > 31 ? 0 : RDBPOT(prod, exponent)) - 128;
        if (v < -128) v = -128;
        if (v > 127) v = 127;
        y[c] = (int8_t)v;
      } else {
        y[c] = -128;
      }
    }
  }
}
