// The scalar kernel table: thin wrappers over the reference kernels of effk.h. It is the
// specification every other table is tested against, and the fallback on any CPU.
//
// Packed layouts (scalar only; other tables pack differently):
//   conv1x1 / conv: int32 bias[out_c] (zeros when bias is NULL), then the filter as given
//                   (OHWI, out_c * kh * kw * in_c bytes).
//   dwconv:         int32 bias[c], then the filter as given (1 x KH x KW x C bytes).
//   fc:             int32 bias[out_c] (zeros when bias is NULL), then the filter as given
//                   ([out_c][in_c] bytes); neither zero point is folded.
// The input zero point is not folded: the kernels read p->input_zero_point, which must be
// the value given to the pack function (true for every table).
#include <string.h>

#include "../tables.h"

static size_t conv_packed_size(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c) {
  return (size_t)out_c * sizeof(int32_t) + (size_t)out_c * kh * kw * in_c;
}

static void conv_pack(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                      int32_t in_c, int32_t out_c, int32_t input_zero_point, void *packed) {
  (void)input_zero_point;
  uint8_t *dst = (uint8_t *)packed;
  if (bias)
    memcpy(dst, bias, (size_t)out_c * sizeof(int32_t));
  else
    memset(dst, 0, (size_t)out_c * sizeof(int32_t));
  memcpy(dst + (size_t)out_c * sizeof(int32_t), filter, (size_t)out_c * kh * kw * in_c);
}

static void conv(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                 const int32_t *multiplier, const int32_t *shift, int8_t *output, int32_t oy_begin,
                 int32_t oy_end) {
  const int32_t *bias = (const int32_t *)packed;
  const int8_t *filter = (const int8_t *)packed + (size_t)p->out_c * sizeof(int32_t);
  effk_qs8_conv2d__scalar(p, input, filter, bias, multiplier, shift, output, oy_begin, oy_end);
}

static size_t conv1x1_packed_size(int32_t in_c, int32_t out_c) {
  return conv_packed_size(1, 1, in_c, out_c);
}

static void conv1x1_pack(const int8_t *filter, const int32_t *bias, int32_t in_c, int32_t out_c,
                         int32_t input_zero_point, void *packed) {
  conv_pack(filter, bias, 1, 1, in_c, out_c, input_zero_point, packed);
}

static void conv1x1(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                    const int32_t *multiplier, const int32_t *shift, int8_t *output,
                    int32_t pixel_begin, int32_t pixel_end) {
  if (pixel_end <= pixel_begin) return;
  // The pixel range as a 1 x n image.
  effk_conv2d_params q = *p;
  q.in_h = q.out_h = 1;
  q.in_w = q.out_w = pixel_end - pixel_begin;
  q.kernel_h = q.kernel_w = 1;
  q.stride_h = q.stride_w = 1;
  q.dilation_h = q.dilation_w = 1;
  q.pad_top = q.pad_left = 0;
  const int32_t *bias = (const int32_t *)packed;
  const int8_t *filter = (const int8_t *)packed + (size_t)p->out_c * sizeof(int32_t);
  effk_qs8_conv2d__scalar(&q, input + (size_t)pixel_begin * p->in_c, filter, bias, multiplier,
                          shift, output + (size_t)pixel_begin * p->out_c, 0, 1);
}

static size_t dwconv_packed_size(int32_t kh, int32_t kw, int32_t c) {
  return (size_t)c * sizeof(int32_t) + (size_t)kh * kw * c;
}

static void dwconv_pack(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                        int32_t c, int32_t input_zero_point, void *packed) {
  (void)input_zero_point;
  uint8_t *dst = (uint8_t *)packed;
  if (bias)
    memcpy(dst, bias, (size_t)c * sizeof(int32_t));
  else
    memset(dst, 0, (size_t)c * sizeof(int32_t));
  memcpy(dst + (size_t)c * sizeof(int32_t), filter, (size_t)kh * kw * c);
}

static void dwconv(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                   const int32_t *multiplier, const int32_t *shift, int8_t *output,
                   int32_t oy_begin, int32_t oy_end) {
  const int32_t *bias = (const int32_t *)packed;
  const int8_t *filter = (const int8_t *)packed + (size_t)p->out_c * sizeof(int32_t);
  effk_qs8_dwconv2d__scalar(p, input, filter, bias, multiplier, shift, output, oy_begin, oy_end);
}

static void mul_channel(const effk_mul_params *p, const int8_t *a, const int8_t *channel,
                        int8_t *out, int32_t c, int32_t pixel_begin, int32_t pixel_end) {
  for (int32_t px = pixel_begin; px < pixel_end; ++px)
    effk_qs8_mul__scalar(p, a + (size_t)px * c, channel, out + (size_t)px * c, (size_t)c);
}

static size_t fc_packed_size(int32_t in_c, int32_t out_c) {
  return (size_t)out_c * sizeof(int32_t) + (size_t)out_c * in_c;
}

static void fc_pack(const int8_t *filter, const int32_t *bias, int32_t in_c, int32_t out_c,
                    int32_t input_zero_point, int32_t filter_zero_point, void *packed) {
  (void)input_zero_point;
  (void)filter_zero_point;
  uint8_t *dst = (uint8_t *)packed;
  if (bias)
    memcpy(dst, bias, (size_t)out_c * sizeof(int32_t));
  else
    memset(dst, 0, (size_t)out_c * sizeof(int32_t));
  memcpy(dst + (size_t)out_c * sizeof(int32_t), filter, (size_t)out_c * in_c);
}

static void fc(const effk_fc_params *p, const int8_t *input, const void *packed,
               const double *scale, int8_t *output, int32_t oc_begin, int32_t oc_end) {
  const int32_t *bias = (const int32_t *)packed;
  const int8_t *filter = (const int8_t *)packed + (size_t)p->out_c * sizeof(int32_t);
  effk_qs8_fc__scalar(p, input, filter, bias, scale, output, oc_begin, oc_end);
}

const effk_isa_kernels effk_kernels__scalar = {
    .name = "scalar",
    .conv1x1_packed_size = conv1x1_packed_size,
    .conv1x1_pack = conv1x1_pack,
    .conv1x1 = conv1x1,
    .conv1x1_mr = 1,
    .conv_packed_size = conv_packed_size,
    .conv_pack = conv_pack,
    .conv = conv,
    .dwconv_packed_size = dwconv_packed_size,
    .dwconv_pack = dwconv_pack,
    .dwconv = dwconv,
    .add = effk_qs8_add__scalar,
    .mul = effk_qs8_mul__scalar,
    .mul_channel = mul_channel,
    .lookup = effk_qs8_lookup__scalar,
    .mean_hw = effk_qs8_mean_hw__scalar,
    .fc_packed_size = fc_packed_size,
    .fc_pack = fc_pack,
    .fc = fc,
    .frame_row_to_rgb8 = effk_frame_row_to_rgb8__scalar,
    .rgb8_resize_row_h = effk__rgb8_resize_row_h__scalar,
};
