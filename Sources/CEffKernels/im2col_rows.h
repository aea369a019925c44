// The im2col gather of the x86 GEMM convolutions (avx2/gemm.c, avx512vnni/gemm.c), written once.
// The includer defines:
//   IM2COL_ATTR              the function's attributes (its ISA's static inline + target)
//   IM2COL_T                 the panel element (int16_t on AVX2, uint8_t on AVX-512 VNNI)
//   IM2COL_COPY(d, s, n)     n input bytes at s, all inside the image, to panel elements at d
//   IM2COL_PAD(d, n)         n padded taps at d: the input zero point, which contributes
//                            w * (zp - zp) = 0, exactly as the reference skipping the tap
//   IM2COL_PIXEL_END(d, row) after a pixel's K elements (d just past them, row its start)
// and gets im2col_rows(): panel rows 0..m-1 (kp elements apart) for the output pixels
// [px, px + m) of a KH x KW conv in OHWI order (filter row, column, channel).
// No include guard: meant to be included once per ISA file.

IM2COL_ATTR void im2col_rows(const effk_conv2d_params *p, const int8_t *input, IM2COL_T *panel,
                             size_t kp, int32_t px, int32_t m) {
  const int32_t kh = p->kernel_h, kw = p->kernel_w, ic = p->in_c;
  const int32_t out_w = p->out_w, in_h = p->in_h, in_w = p->in_w;
  const int8_t *in_end = input + (size_t)in_h * in_w * ic;
  (void)in_end;  // for IM2COL_COPY
  int32_t oy = px / out_w, ox = px % out_w;
  for (int32_t i = 0; i < m; ++i, ++ox) {
    if (ox == out_w) {
      ox = 0;
      ++oy;
    }
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    IM2COL_T *const row_start = panel + (size_t)i * kp;
    IM2COL_T *dst = row_start;
    // A filter row whose taps are all inside the image (dilation 1) is kw*ic contiguous
    // input bytes.
    const int row_inside = p->dilation_w == 1 && ix0 >= 0 && ix0 + kw <= in_w;
    for (int32_t fy = 0; fy < kh; ++fy, dst += (size_t)kw * ic) {
      const int32_t iy = iy0 + fy * p->dilation_h;
      if (iy < 0 || iy >= in_h) {
        IM2COL_PAD(dst, kw * ic);
        continue;
      }
      const int8_t *row = input + (size_t)iy * in_w * ic;
      if (row_inside) {
        IM2COL_COPY(dst, row + (size_t)ix0 * ic, kw * ic);
        continue;
      }
      for (int32_t fx = 0; fx < kw; ++fx) {
        const int32_t ix = ix0 + fx * p->dilation_w;
        if (ix < 0 || ix >= in_w)
          IM2COL_PAD(dst + (size_t)fx * ic, ic);
        else
          IM2COL_COPY(dst + (size_t)fx * ic, row + (size_t)ix * ic, ic);
      }
    }
    IM2COL_PIXEL_END(dst, row_start);
  }
}
