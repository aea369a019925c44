// ADD / MUL int8, as reference_integer_ops AddFunc / MulElementwise and the
// Prepare() arithmetic of kernels/add.cc and kernels/mul.cc.
#include "effk.h"

static int32_t imax(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t imin(int32_t a, int32_t b) { return a < b ? a : b; }

void effk_qs8_add_params_init(effk_add_params *p, float s1, int32_t zp1, float s2, int32_t zp2,
                              float s_out, int32_t zp_out, int32_t act_min, int32_t act_max) {
  p->input1_offset = -zp1;
  p->input2_offset = -zp2;
  p->output_offset = zp_out;
  p->left_shift = 20;
  // add.cc: 2 * max(float, float) is a float; the divisions are double.
  const double twice_max_input_scale = (double)(2 * (s1 > s2 ? s1 : s2));
  const double real1 = (double)s1 / twice_max_input_scale;
  const double real2 = (double)s2 / twice_max_input_scale;
  const double real_out = twice_max_input_scale / (double)((float)(1 << p->left_shift) * s_out);
  effk_quantize_multiplier(real1, &p->input1_multiplier, &p->input1_shift);
  effk_quantize_multiplier(real2, &p->input2_multiplier, &p->input2_shift);
  effk_quantize_multiplier(real_out, &p->output_multiplier, &p->output_shift);
  p->act_min = act_min;
  p->act_max = act_max;
}

static inline int8_t add_one(const effk_add_params *p, int8_t a, int8_t b) {
  const int32_t x1 = (int32_t)((uint32_t)(p->input1_offset + a) << p->left_shift);
  const int32_t x2 = (int32_t)((uint32_t)(p->input2_offset + b) << p->left_shift);
  // MultiplyByQuantizedMultiplierSmallerThanOneExp == MBQM for shift <= 0.
  const int32_t s1 = effk_multiply_by_quantized_multiplier(x1, p->input1_multiplier, p->input1_shift);
  const int32_t s2 = effk_multiply_by_quantized_multiplier(x2, p->input2_multiplier, p->input2_shift);
  const int32_t raw = effk_multiply_by_quantized_multiplier(s1 + s2, p->output_multiplier,
                                                            p->output_shift) + p->output_offset;
  return (int8_t)imin(p->act_max, imax(p->act_min, raw));
}

void effk_qs8_add__scalar(const effk_add_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                          size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = add_one(p, a[i], b[i]);
}

void effk_qs8_add_broadcast__scalar(const effk_add_params *p, const effk_broadcast4d *bc,
                                    const int8_t *a, const int8_t *b, int8_t *out) {
  const int32_t *s = bc->out_shape, *as = bc->a_stride, *bs = bc->b_stride;
  for (int32_t i0 = 0; i0 < s[0]; ++i0)
    for (int32_t i1 = 0; i1 < s[1]; ++i1)
      for (int32_t i2 = 0; i2 < s[2]; ++i2) {
        const int8_t *pa = a + (ptrdiff_t)i0 * as[0] + (ptrdiff_t)i1 * as[1] + (ptrdiff_t)i2 * as[2];
        const int8_t *pb = b + (ptrdiff_t)i0 * bs[0] + (ptrdiff_t)i1 * bs[1] + (ptrdiff_t)i2 * bs[2];
        for (int32_t i3 = 0; i3 < s[3]; ++i3)
          *out++ = add_one(p, pa[(ptrdiff_t)i3 * as[3]], pb[(ptrdiff_t)i3 * bs[3]]);
      }
}

void effk_qs8_mul_params_init(effk_mul_params *p, float s1, int32_t zp1, float s2, int32_t zp2,
                              float s_out, int32_t zp_out, int32_t act_min, int32_t act_max) {
  p->input1_offset = -zp1;
  p->input2_offset = -zp2;
  p->output_offset = zp_out;
  // mul.cc computes the real multiplier in *float* before widening to double.
  const float real = s1 * s2 / s_out;
  effk_quantize_multiplier((double)real, &p->output_multiplier, &p->output_shift);
  p->act_min = act_min;
  p->act_max = act_max;
}

static inline int8_t mul_one(const effk_mul_params *p, int8_t a, int8_t b) {
  const int32_t x1 = p->input1_offset + a;
  const int32_t x2 = p->input2_offset + b;
  const int32_t raw = p->output_offset +
      effk_multiply_by_quantized_multiplier(x1 * x2, p->output_multiplier, p->output_shift);
  return (int8_t)imin(p->act_max, imax(p->act_min, raw));
}

void effk_qs8_mul__scalar(const effk_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                          size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = mul_one(p, a[i], b[i]);
}

void effk_qs8_mul_broadcast__scalar(const effk_mul_params *p, const effk_broadcast4d *bc,
                                    const int8_t *a, const int8_t *b, int8_t *out) {
  const int32_t *s = bc->out_shape, *as = bc->a_stride, *bs = bc->b_stride;
  for (int32_t i0 = 0; i0 < s[0]; ++i0)
    for (int32_t i1 = 0; i1 < s[1]; ++i1)
      for (int32_t i2 = 0; i2 < s[2]; ++i2) {
        const int8_t *pa = a + (ptrdiff_t)i0 * as[0] + (ptrdiff_t)i1 * as[1] + (ptrdiff_t)i2 * as[2];
        const int8_t *pb = b + (ptrdiff_t)i0 * bs[0] + (ptrdiff_t)i1 * bs[1] + (ptrdiff_t)i2 * bs[2];
        for (int32_t i3 = 0; i3 < s[3]; ++i3)
          *out++ = mul_one(p, pa[(ptrdiff_t)i3 * as[3]], pb[(ptrdiff_t)i3 * bs[3]]);
      }
}
