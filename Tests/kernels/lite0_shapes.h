// EfficientNet-Lite0's convolutions and its FC (batch 1), the shapes the kernel benchmarks
// time (kernel_test --bench, kernel_ab). Included once per program.
#include <stdint.h>
#include <string.h>

#include "effk.h"

typedef struct {
  const char *label;
  int kind;  // 0 conv1x1, 1 dwconv, 2 conv, 3 fully connected (batch 1)
  int32_t h, w, in_c, out_c, k, s;  // h, w: output size
  int count;                        // occurrences in EfficientNet-Lite0
} bench_shape;

// Every conv of EfficientNet-Lite0 at 224x224 (output sizes), with its number of occurrences.
static const bench_shape bench_shapes[] = {
    {"stem 3x3s2 224->112 3->32", 2, 112, 112, 3, 32, 3, 2, 1},
    {"1x1 112x112 32->16", 0, 112, 112, 32, 16, 1, 1, 1},
    {"1x1 112x112 16->96", 0, 112, 112, 16, 96, 1, 1, 1},
    {"1x1 56x56 96->24", 0, 56, 56, 96, 24, 1, 1, 1},
    {"1x1 56x56 24->144", 0, 56, 56, 24, 144, 1, 1, 2},
    {"1x1 56x56 144->24", 0, 56, 56, 144, 24, 1, 1, 1},
    {"1x1 28x28 144->40", 0, 28, 28, 144, 40, 1, 1, 1},
    {"1x1 28x28 40->240", 0, 28, 28, 40, 240, 1, 1, 2},
    {"1x1 28x28 240->40", 0, 28, 28, 240, 40, 1, 1, 1},
    {"1x1 14x14 240->80", 0, 14, 14, 240, 80, 1, 1, 1},
    {"1x1 14x14 80->480", 0, 14, 14, 80, 480, 1, 1, 3},
    {"1x1 14x14 480->80", 0, 14, 14, 480, 80, 1, 1, 2},
    {"1x1 14x14 480->112", 0, 14, 14, 480, 112, 1, 1, 1},
    {"1x1 14x14 112->672", 0, 14, 14, 112, 672, 1, 1, 3},
    {"1x1 14x14 672->112", 0, 14, 14, 672, 112, 1, 1, 2},
    {"1x1 7x7 672->192", 0, 7, 7, 672, 192, 1, 1, 1},
    {"1x1 7x7 192->1152", 0, 7, 7, 192, 1152, 1, 1, 4},
    {"1x1 7x7 1152->192", 0, 7, 7, 1152, 192, 1, 1, 3},
    {"1x1 7x7 1152->320", 0, 7, 7, 1152, 320, 1, 1, 1},
    {"1x1 7x7 320->1280", 0, 7, 7, 320, 1280, 1, 1, 1},
    {"dw3x3s1 112x112x32", 1, 112, 112, 32, 32, 3, 1, 1},
    {"dw3x3s2 112->56 x96", 1, 56, 56, 96, 96, 3, 2, 1},
    {"dw3x3s1 56x56x144", 1, 56, 56, 144, 144, 3, 1, 1},
    {"dw5x5s2 56->28 x144", 1, 28, 28, 144, 144, 5, 2, 1},
    {"dw5x5s1 28x28x240", 1, 28, 28, 240, 240, 5, 1, 1},
    {"dw3x3s2 28->14 x240", 1, 14, 14, 240, 240, 3, 2, 1},
    {"dw3x3s1 14x14x480", 1, 14, 14, 480, 480, 3, 1, 2},
    {"dw5x5s1 14x14x480", 1, 14, 14, 480, 480, 5, 1, 1},
    {"dw5x5s1 14x14x672", 1, 14, 14, 672, 672, 5, 1, 2},
    {"dw5x5s2 14->7 x672", 1, 7, 7, 672, 672, 5, 2, 1},
    {"dw5x5s1 7x7x1152", 1, 7, 7, 1152, 1152, 5, 1, 3},
    {"dw3x3s1 7x7x1152", 1, 7, 7, 1152, 1152, 3, 1, 1},
    {"fc 1280->1000", 3, 1, 1, 1280, 1000, 1, 1, 1},
};

// The conv parameters of shape b: SAME padding, and Lite0's activations: ReLU6 after the stem,
// the depthwise and the expanding 1x1 convs, quantized to [0, 6] (zero point -128, full int8
// range); none after the projecting ones.
static void bench_shape_params(const bench_shape *b, effk_conv2d_params *p) {
  memset(p, 0, sizeof *p);
  p->out_h = b->h;
  p->out_w = b->w;
  p->in_c = b->in_c;
  p->out_c = b->kind == 1 ? b->in_c : b->out_c;
  p->kernel_h = p->kernel_w = b->k;
  p->stride_h = p->stride_w = b->s;
  p->dilation_h = p->dilation_w = 1;
  p->in_h = b->h * b->s;
  p->in_w = b->w * b->s;
  p->depth_multiplier = 1;
  const int32_t pad = (b->h - 1) * b->s + b->k - p->in_h;  // SAME (square input and filter)
  p->pad_top = p->pad_left = pad > 0 ? pad / 2 : 0;
  const int relu6 = b->kind == 1 || b->kind == 2 || (b->kind == 0 && b->out_c > b->in_c);
  p->input_zero_point = -3;
  p->output_zero_point = relu6 ? -128 : 5;
  p->act_min = -128;
  p->act_max = 127;
}
