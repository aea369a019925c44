// effnetd int8 kernels: one C interface, one implementation per instruction set.
//
// The scalar set (scalar/) is the specification: it follows TensorFlow Lite's
// *reference* integer kernels bit for bit (int32 accumulation, per-channel
// fixed-point multiplier + shift, gemmlowp rounding, saturation). Every other ISA
// must produce the same bytes, and is tested against its scalar twin.
//
// Layouts are TFLite's: activations NHWC (batch 1 at the kernel level), conv
// filters OHWI, depthwise filters 1HW(C*M), fully-connected filters [out][in].
// Kernels that can be split over threads take a half-open range of output rows
// (or channels) so the engine can tile them.
#ifndef EFFK_H
#define EFFK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- fixed-point arithmetic (TFLite / gemmlowp semantics) -------------------

int32_t effk_saturating_rounding_doubling_high_mul(int32_t a, int32_t b);
int32_t effk_rounding_divide_by_pot(int32_t x, int32_t exponent);
// TFLite's MultiplyByQuantizedMultiplier (double rounding, the default build).
int32_t effk_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift);
// TFLite's QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31).
void effk_quantize_multiplier(double real, int32_t *multiplier, int32_t *shift);
// (double)input_scale * (double)filter_scale / (double)output_scale, in that order: the
// per-channel real multiplier of CONV_2D / DEPTHWISE_CONV_2D (PopulateConvolutionQuantization-
// Params, also for a per-tensor filter scale broadcast over channels) and FULLY_CONNECTED.
double effk_fc_effective_scale(float input_scale, float filter_scale, float output_scale);
// effk_quantize_multiplier(effk_fc_effective_scale(...)): one conv output channel's multiplier/shift.
void effk_conv_channel_multiplier(float input_scale, float filter_scale, float output_scale,
                                  int32_t *multiplier, int32_t *shift);

// Activation clamp of a fused activation, as TFLite's CalculateActivationRangeQuantized.
enum { EFFK_ACT_NONE = 0, EFFK_ACT_RELU = 1, EFFK_ACT_RELU_N1_TO_1 = 2, EFFK_ACT_RELU6 = 3 };
void effk_activation_range_qs8(int32_t activation, float output_scale, int32_t output_zero_point,
                               int32_t *act_min, int32_t *act_max);

// ---- convolutions ------------------------------------------------------------

typedef struct effk_conv2d_params {
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t kernel_h, kernel_w;
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_top, pad_left;      // TFLite's padding.height / padding.width
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t act_min, act_max;
  int32_t depth_multiplier;       // depthwise only (out_c == in_c * depth_multiplier)
} effk_conv2d_params;

// CONV_2D, filter OHWI, per-output-channel multiplier/shift, bias may be NULL.
// Computes output rows [oy_begin, oy_end).
void effk_qs8_conv2d__scalar(const effk_conv2d_params *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int8_t *output, int32_t oy_begin, int32_t oy_end);

// DEPTHWISE_CONV_2D, filter 1 x KH x KW x out_c.
void effk_qs8_dwconv2d__scalar(const effk_conv2d_params *p, const int8_t *input, const int8_t *filter,
                               const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                               int8_t *output, int32_t oy_begin, int32_t oy_end);

// ---- fully connected -----------------------------------------------------------

typedef struct effk_fc_params {
  int32_t batches, in_c, out_c;
  int32_t input_zero_point, filter_zero_point, output_zero_point;
  int32_t act_min, act_max;
} effk_fc_params;

// FULLY_CONNECTED, filter [out_c][in_c]. LiteRT's reference FC requantizes in double:
// out = round((double)acc * scale[oc]) + zp, scale[oc] = effk_fc_effective_scale(s_in,
// s_filter[oc], s_out) (the engine broadcasts a per-tensor filter scale; filter_zero_point
// is applied as TFLite's per-tensor path does, 0 for per-channel). Not a fixed-point
// multiplier: that gives different bytes. Computes output channels [oc_begin, oc_end).
void effk_qs8_fc__scalar(const effk_fc_params *p, const int8_t *input, const int8_t *filter,
                         const int32_t *bias, const double *scale, int8_t *output,
                         int32_t oc_begin, int32_t oc_end);

// ---- elementwise binary ops with 4-D broadcasting ------------------------------

// out[i0,i1,i2,i3] = op(a[i·a_stride], b[i·b_stride]); a stride of 0 broadcasts that dim.
typedef struct effk_broadcast4d {
  int32_t out_shape[4];
  int32_t a_stride[4];
  int32_t b_stride[4];
} effk_broadcast4d;

typedef struct effk_add_params {
  int32_t input1_offset, input2_offset, output_offset;  // -zp1, -zp2, +zp_out
  int32_t left_shift;
  int32_t input1_multiplier, input1_shift;
  int32_t input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
} effk_add_params;

// As TFLite's ADD Prepare for int8 (left_shift 20, multipliers from scales).
void effk_qs8_add_params_init(effk_add_params *p, float s1, int32_t zp1, float s2, int32_t zp2,
                              float s_out, int32_t zp_out, int32_t act_min, int32_t act_max);
void effk_qs8_add__scalar(const effk_add_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                          size_t n);
void effk_qs8_add_broadcast__scalar(const effk_add_params *p, const effk_broadcast4d *bc,
                                    const int8_t *a, const int8_t *b, int8_t *out);

typedef struct effk_mul_params {
  int32_t input1_offset, input2_offset, output_offset;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
} effk_mul_params;

void effk_qs8_mul_params_init(effk_mul_params *p, float s1, int32_t zp1, float s2, int32_t zp2,
                              float s_out, int32_t zp_out, int32_t act_min, int32_t act_max);
void effk_qs8_mul__scalar(const effk_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                          size_t n);
void effk_qs8_mul_broadcast__scalar(const effk_mul_params *p, const effk_broadcast4d *bc,
                                    const int8_t *a, const int8_t *b, int8_t *out);

// ---- unary int8 -> int8 ops as 256-entry tables ----------------------------------
// The table is filled once per op by running TFLite's reference arithmetic on every
// possible input byte, so a lookup is exact by construction. Tables are indexed by the
// input byte reinterpreted as uint8_t (TFLite's LUT order): table[(uint8_t)x].

// LOGISTIC: output scale 1/256, zero point -128 (TFLite requires it). Uses libm expf, as
// LiteRT's reference LUT does.
void effk_qs8_logistic_table(float input_scale, int32_t input_zero_point, int8_t table[256]);
// int8 -> int8 QUANTIZE (requantize) as TFLite's reference Requantize.
void effk_qs8_requantize_table(float input_scale, int32_t input_zero_point, float output_scale,
                               int32_t output_zero_point, int8_t table[256]);
void effk_qs8_lookup__scalar(const int8_t table[256], const int8_t *in, int8_t *out, size_t n);

// ---- reductions and pooling -------------------------------------------------------

// MEAN over H and W of an [H, W, C] tensor (axes 1,2 of NHWC), TFLite reference semantics.
typedef struct effk_mean_params {
  int32_t h, w, c;
  int32_t input_zero_point, output_zero_point;
  float input_scale, output_scale;
  int32_t multiplier, shift;      // filled by init: Prepare's s_in/s_out multiplier with
                                  // QuantizedMeanOrSum's 1/(h*w) folded in
} effk_mean_params;
void effk_qs8_mean_hw_params_init(effk_mean_params *p);
void effk_qs8_mean_hw__scalar(const effk_mean_params *p, const int8_t *input, int8_t *output);

// AVERAGE_POOL_2D (uses the conv params: kernel, stride, padding, act range; in_c == out_c).
void effk_qs8_avgpool2d__scalar(const effk_conv2d_params *p, const int8_t *input, int8_t *output,
                                int32_t oy_begin, int32_t oy_end);

// SOFTMAX int8 -> int8 over rows of `depth` (TFLite reference, gemmlowp fixed point); output
// scale 1/256, zero point -128. Where TFLite aborts (a row's sum of exps >= 2^9, e.g. a wide
// flat row with a tiny beta*scale) this writes -128 instead.
typedef struct effk_softmax_params {
  int32_t input_multiplier, input_left_shift, diff_min;
} effk_softmax_params;
void effk_qs8_softmax_params_init(effk_softmax_params *p, float beta, float input_scale);
void effk_qs8_softmax__scalar(const effk_softmax_params *p, const int8_t *in, int8_t *out,
                              int32_t rows, int32_t depth);

// ---- conversions ----------------------------------------------------------------

// QUANTIZE float -> int8 and DEQUANTIZE int8 -> float, TFLite reference semantics
// (quantize: roundf(x / scale) in float, + zero point, clamp). |x / scale| >= 2^31 and NaN
// are UB in TFLite's cast (x86: +huge -> -128); here +huge -> 127, -huge and NaN -> -128.
void effk_quantize_f32_qs8__scalar(const float *in, int8_t *out, size_t n, float scale,
                                   int32_t zero_point);
void effk_dequantize_qs8_f32__scalar(const int8_t *in, float *out, size_t n, float scale,
                                     int32_t zero_point);

// PAD / PADV2 on a 4-D int8 tensor; `before`/`after` per dim, filled with `value`.
void effk_pad4d_qs8(const int8_t *in, const int32_t in_shape[4], const int32_t before[4],
                    const int32_t after[4], int8_t value, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif
