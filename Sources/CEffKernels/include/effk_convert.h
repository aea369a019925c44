// Camera frames (YUYV, UYVY, NV12, NV21, YU12, YV12, GREY, RGB24, BGR24) → the model's int8
// input in one pass: colour conversion, centre crop, Pillow-exact bilinear resize and
// quantization through a 256-entry table (effk_qs8_input_table).
//
// The result is, byte for byte, what effk_rgb8_resize_bilinear__scalar + the table give on
// the frame converted to RGB8 by effk_frame_row_to_rgb8__scalar: a camera frame and the
// same picture read from a file go through the same arithmetic (see Preprocessor).
#ifndef EFFK_CONVERT_H
#define EFFK_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum effk_pixfmt {
  EFFK_PIX_RGB24 = 0,  // R G B, 3 bytes a pixel
  EFFK_PIX_BGR24 = 1,  // B G R
  EFFK_PIX_GREY = 2,   // Y only, copied to R = G = B (no range expansion)
  EFFK_PIX_YUYV = 3,   // 4:2:2 packed Y0 U Y1 V
  EFFK_PIX_UYVY = 4,   // 4:2:2 packed U Y0 V Y1
  EFFK_PIX_NV12 = 5,   // 4:2:0, Y plane + interleaved UV plane
  EFFK_PIX_NV21 = 6,   // 4:2:0, Y plane + interleaved VU plane
  EFFK_PIX_YU12 = 7,   // 4:2:0, Y, U, V planes (I420)
  EFFK_PIX_YV12 = 8,   // 4:2:0, Y, V, U planes
} effk_pixfmt;

typedef enum effk_yuv_matrix {
  EFFK_YUV_BT601 = 0,
  EFFK_YUV_BT709 = 1,
} effk_yuv_matrix;

// A borrowed frame. Planes: packed formats use plane[0] only; NV12/NV21 plane[0] (Y) and
// plane[1] (UV); YU12/YV12 plane[0] (Y), plane[1] (U), plane[2] (V), whatever their order in
// memory. Strides in bytes. Chroma is sampled at the even pixel/row it belongs to (no
// interpolation). full_range = 0: Y in [16, 235], Cb/Cr in [16, 240].
typedef struct effk_frame {
  int32_t format;  // effk_pixfmt
  int32_t width, height;
  const uint8_t *plane[3];
  int32_t stride[3];
  int32_t matrix;      // effk_yuv_matrix (YUV formats only)
  int32_t full_range;  // 0 or 1 (YUV formats only)
} effk_frame;

// Number of bytes a frame of this format and size needs in each plane, given strides; 0 for
// an unknown format. Used to check a driver's buffer before reading it.
size_t effk_frame_plane_bytes(const effk_frame *f, int32_t plane);

// Converts pixels [x0, x0+n) of row y to packed RGB8 (3n bytes). The colour conversion is
// fixed point with 16 fractional bits, rounded half up, clamped to [0, 255].
void effk_frame_row_to_rgb8__scalar(const effk_frame *f, int32_t x0, int32_t y, int32_t n, uint8_t *rgb);

// Scratch bytes effk_frame_to_qs8 needs for a crop of cw × ch resized to out_w × out_h.
size_t effk_frame_to_qs8_scratch_size(int32_t cw, int32_t ch, int32_t out_w, int32_t out_h);

// Crop [x0, x0+cw) × [y0, y0+ch) of `f`, resize to out_w × out_h (Pillow's bilinear), map
// each byte through `table` into out (out_w × out_h × 3, HWC, RGB). rgb_out (may be NULL)
// receives the resized RGB8 image itself.
void effk_frame_to_qs8__scalar(const effk_frame *f, int32_t x0, int32_t y0, int32_t cw, int32_t ch,
                               const int8_t table[256], int8_t *out, uint8_t *rgb_out,
                               int32_t out_w, int32_t out_h, void *scratch);

// The entry point callers use: the kernel table effk_kernels_select() gives (the best this
// CPU has, or EFFNETD_ISA's) converts the colours of each cropped row (frame_row_to_rgb8,
// AVX2/NEON where available); the resize passes and the table are the scalar code. Byte
// for byte effk_frame_to_qs8__scalar.
void effk_frame_to_qs8(const effk_frame *f, int32_t x0, int32_t y0, int32_t cw, int32_t ch,
                       const int8_t table[256], int8_t *out, uint8_t *rgb_out,
                       int32_t out_w, int32_t out_h, void *scratch);

#ifdef __cplusplus
}
#endif

#endif
