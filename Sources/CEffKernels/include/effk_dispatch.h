// One table of kernels per instruction set, chosen once at run time.
//
// The engine packs weights once per model with the table's pack functions (the layout is
// the ISA's business) and then calls only through the table. Every table entry has a
// scalar twin in the "scalar" table, and every ISA must produce the same bytes as it.
#ifndef EFFK_DISPATCH_H
#define EFFK_DISPATCH_H

#include "effk.h"
#include "effk_convert.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct effk_isa_kernels {
  // "scalar", "avx2", "avx512vnni", "neon", "neondot".
  const char *name;

  // CONV_2D with a 1×1 filter, stride 1, no padding: a GEMM of [pixels][in_c] by
  // [out_c][in_c]. Packing folds the bias and the input zero point into per-channel
  // constants. Computes output pixels [pixel_begin, pixel_end) (pixel = y * out_w + x).
  size_t (*conv1x1_packed_size)(int32_t in_c, int32_t out_c);
  void (*conv1x1_pack)(const int8_t *filter, const int32_t *bias, int32_t in_c, int32_t out_c,
                       int32_t input_zero_point, void *packed);
  void (*conv1x1)(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                  const int32_t *multiplier, const int32_t *shift, int8_t *output,
                  int32_t pixel_begin, int32_t pixel_end);

  // CONV_2D, any other shape (EfficientNet's stem: 3×3 stride 2, 3 input channels).
  // Filter OHWI. Computes output rows [oy_begin, oy_end).
  size_t (*conv_packed_size)(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c);
  void (*conv_pack)(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                    int32_t in_c, int32_t out_c, int32_t input_zero_point, void *packed);
  void (*conv)(const effk_conv2d_params *p, const int8_t *input, const void *packed,
               const int32_t *multiplier, const int32_t *shift, int8_t *output,
               int32_t oy_begin, int32_t oy_end);

  // DEPTHWISE_CONV_2D, filter 1×KH×KW×C, depth multiplier 1 (the engine uses the scalar
  // kernel for other multipliers). Computes output rows [oy_begin, oy_end).
  size_t (*dwconv_packed_size)(int32_t kh, int32_t kw, int32_t c);
  void (*dwconv_pack)(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                      int32_t c, int32_t input_zero_point, void *packed);
  void (*dwconv)(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                 const int32_t *multiplier, const int32_t *shift, int8_t *output,
                 int32_t oy_begin, int32_t oy_end);
  // The same over output rows [oy_begin, oy_end) and channels [c_begin, c_end) only, c_begin a
  // multiple of dwconv_channel_block and c_end a multiple of it or C; same bytes as dwconv on
  // those outputs, nothing else written. Lets the engine split late layers (few rows, many
  // channels) by channels: a row tile rebuilds the filter's halo rows, a channel tile does
  // not. NULL (block 0) where the ISA has none; the engine then splits rows only.
  void (*dwconv_channels)(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                          const int32_t *multiplier, const int32_t *shift, int8_t *output,
                          int32_t oy_begin, int32_t oy_end, int32_t c_begin, int32_t c_end);
  int32_t dwconv_channel_block;

  // Elementwise ops over n elements (callers split n for threads).
  void (*add)(const effk_add_params *p, const int8_t *a, const int8_t *b, int8_t *out, size_t n);
  void (*mul)(const effk_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out, size_t n);
  // MUL of [pixels][c] by a per-channel [c] vector (squeeze-excitation), pixels
  // [pixel_begin, pixel_end).
  void (*mul_channel)(const effk_mul_params *p, const int8_t *a, const int8_t *channel, int8_t *out,
                      int32_t c, int32_t pixel_begin, int32_t pixel_end);
  void (*lookup)(const int8_t table[256], const int8_t *in, int8_t *out, size_t n);
  void (*mean_hw)(const effk_mean_params *p, const int8_t *input, int8_t *output);

  // FULLY_CONNECTED, filter [out_c][in_c] int8, per-output-channel double scale (see
  // effk_qs8_fc__scalar). Packing may fold bias and input zero point. Output channels
  // [oc_begin, oc_end) of every batch row (p->batches). bias may be NULL; scale has out_c
  // entries. p->input_zero_point and p->filter_zero_point must be the values given to fc_pack
  // (tables fold them); filter_zero_point != 0 is supported everywhere (folded, plus a per-row
  // input sum in the kernel). Byte-exact with effk_qs8_fc__scalar wherever round(acc * scale)
  // fits int32 (beyond that TFLite's cast is undefined; tables follow the CPU's conversion).
  size_t (*fc_packed_size)(int32_t in_c, int32_t out_c);
  void (*fc_pack)(const int8_t *filter, const int32_t *bias, int32_t in_c, int32_t out_c,
                  int32_t input_zero_point, int32_t filter_zero_point, void *packed);
  void (*fc)(const effk_fc_params *p, const int8_t *input, const void *packed, const double *scale,
             int8_t *output, int32_t oc_begin, int32_t oc_end);

  // Output pixels the conv1x1 micro-kernel computes at once: tiles that are a multiple
  // of it waste no micro-kernel rows when the engine splits a layer over threads.
  int32_t conv1x1_mr;
  // conv1x1 over output pixels [pixel_begin, pixel_end) and channels [c_begin, c_end) only,
  // c_begin a multiple of conv1x1_channel_block and c_end a multiple of it or out_c; same bytes
  // as conv1x1 on those outputs, nothing else written. A 7x7 layer is 7 micro-kernel rows: on
  // 2 lanes a pixel split leaves one lane 4/7 of it, a channel split halves it. NULL (block 0)
  // where the ISA has none; the engine then splits pixels only.
  void (*conv1x1_channels)(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                           const int32_t *multiplier, const int32_t *shift, int8_t *output,
                           int32_t pixel_begin, int32_t pixel_end, int32_t c_begin, int32_t c_end);
  int32_t conv1x1_channel_block;

  // Camera frames: pixels [x0, x0+n) of row y of `f` to packed RGB8 (3n bytes), byte for byte
  // effk_frame_row_to_rgb8__scalar (every format, matrix and range; reads no byte the scalar
  // function does not). effk_frame_to_qs8 converts each cropped source row with it.
  void (*frame_row_to_rgb8)(const effk_frame *f, int32_t x0, int32_t y, int32_t n, uint8_t *rgb);
  // Pillow's horizontal bilinear pass of one RGB8 row of in_w pixels to out_w (bounds, kk and
  // ksize as Pillow's precompute_coeffs gives them); effk_frame_to_qs8 runs it on each
  // converted row. Byte for byte the scalar pass; reads only the row's 3 * in_w bytes.
  void (*rgb8_resize_row_h)(const uint8_t *row, int32_t in_w, const int32_t *bounds,
                            const int32_t *kk, int32_t ksize, int32_t out_w, uint8_t *dst);

  // mean_hw over channels [c_begin, c_end) only (c_begin a multiple of mean_hw_channel_block,
  // c_end a multiple of it or C): the same bytes there, nothing else written. Lets the engine
  // split a MEAN by channels. NULL (block 0) where the ISA has none; MEAN then runs whole.
  void (*mean_hw_channels)(const effk_mean_params *p, const int8_t *input, int8_t *output,
                           int32_t c_begin, int32_t c_end);
  int32_t mean_hw_channel_block;
} effk_isa_kernels;

// The table for a named ISA, or NULL when this build or this CPU lacks it.
const effk_isa_kernels *effk_kernels_named(const char *name);
// The best table this CPU supports, unless the environment variable EFFNETD_ISA names
// another; *error is set (and NULL returned) when EFFNETD_ISA names one the CPU lacks.
const effk_isa_kernels *effk_kernels_select(const char **error);
// effk_frame_to_qs8 (effk_convert.h) with the given table's frame_row_to_rgb8 and
// rgb8_resize_row_h (k NULL: scalar). Byte-identical to effk_frame_to_qs8__scalar for every table.
void effk_frame_to_qs8_with(const effk_isa_kernels *k, const effk_frame *f, int32_t x0, int32_t y0,
                            int32_t cw, int32_t ch, const int8_t table[256], int8_t *out,
                            uint8_t *rgb_out, int32_t out_w, int32_t out_h, void *scratch);
// Comma-separated names of the tables this CPU supports, best last.
const char *effk_kernels_available(void);

#ifdef __cplusplus
}
#endif

#endif
