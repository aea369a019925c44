// The parts of the x86 CONV_2D GEMM kernels (avx2/gemm.c, avx512vnni/gemm.c) that do not
// depend on the ISA, written once: the packed size, the raw filter and bias that packing keeps
// after the blocks for a K too large for the stack panel (the kernels then call the scalar
// reference), the pack and size entry points of conv1x1 and conv, and conv1x1 as the channel
// range [0, out_c) of conv1x1_channels.
//
// The includer defines
//   GEMM_ISA            its table's name (avx2, avx512vnni), GEMM_SHAPE its micro-kernel as
//                       entry points name it (6x16c2, 7x64c4), GEMM_ATTR their target attribute
//   GEMM_KPAD(k)        K as its packed layout pads it, GEMM_KMAX the largest padded K its
//                       stack panel holds
// and, before including,
//   size_t blocks_size(int32_t k, int32_t n)          bytes of its packed blocks
//   void pack_blocks(filter, bias, k, n, zp, packed)   writes them
// and declares effk_qs8_conv1x1_channels_<GEMM_SHAPE>__<GEMM_ISA>.
// No include guard: included once by each; it undefines its macros at the end.

#define GEMM_CAT_(a, b, c) a##b##c
#define GEMM_CAT(a, b, c) GEMM_CAT_(a, b, c)
#define GEMM_ENTRY(stem) GEMM_CAT(stem, __, GEMM_ISA)
#define GEMM_SHAPED(stem) GEMM_ENTRY(GEMM_CAT(stem, _, GEMM_SHAPE))

static size_t packed_size_k(int32_t k, int32_t n) {
  size_t s = blocks_size(k, n);
  if (GEMM_KPAD(k) > GEMM_KMAX) s += (size_t)n * k + (size_t)n * sizeof(int32_t);
  return s;
}

static void pack_k(const int8_t *filter, const int32_t *bias, int32_t k, int32_t n, int32_t zp,
                   void *packed) {
  pack_blocks(filter, bias, k, n, zp, packed);
  if (GEMM_KPAD(k) > GEMM_KMAX) {  // raw bias (4-byte aligned here) and filter for the fallback
    uint8_t *dst = (uint8_t *)packed + blocks_size(k, n);
    if (bias)
      memcpy(dst, bias, (size_t)n * sizeof(int32_t));
    else
      memset(dst, 0, (size_t)n * sizeof(int32_t));
    memcpy(dst + (size_t)n * sizeof(int32_t), filter, (size_t)n * k);
  }
}

static const int32_t *fallback_bias(const void *packed, int32_t k, int32_t n) {
  return (const int32_t *)(const void *)((const uint8_t *)packed + blocks_size(k, n));
}
static const int8_t *fallback_filter(const void *packed, int32_t k, int32_t n) {
  return (const int8_t *)(fallback_bias(packed, k, n) + n);
}

static void fallback_conv(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                          int32_t k, const int32_t *mult, const int32_t *shift, int8_t *output,
                          int32_t oy_begin, int32_t oy_end) {
  effk_qs8_conv2d__scalar(p, input, fallback_filter(packed, k, p->out_c),
                          fallback_bias(packed, k, p->out_c), mult, shift, output, oy_begin,
                          oy_end);
}

size_t GEMM_ENTRY(effk_qs8_conv1x1_packed_size)(int32_t in_c, int32_t out_c) {
  return packed_size_k(in_c, out_c);
}

void GEMM_ENTRY(effk_qs8_conv1x1_pack)(const int8_t *filter, const int32_t *bias, int32_t in_c,
                                       int32_t out_c, int32_t input_zero_point, void *packed) {
  pack_k(filter, bias, in_c, out_c, input_zero_point, packed);
}

size_t GEMM_ENTRY(effk_qs8_conv_packed_size)(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c) {
  return packed_size_k(kh * kw * in_c, out_c);
}

void GEMM_ENTRY(effk_qs8_conv_pack)(const int8_t *filter, const int32_t *bias, int32_t kh,
                                    int32_t kw, int32_t in_c, int32_t out_c,
                                    int32_t input_zero_point, void *packed) {
  pack_k(filter, bias, kh * kw * in_c, out_c, input_zero_point, packed);
}

GEMM_ATTR void GEMM_SHAPED(effk_qs8_conv1x1)(const effk_conv2d_params *p, const int8_t *input,
                                             const void *packed, const int32_t *mult,
                                             const int32_t *shift, int8_t *output,
                                             int32_t pixel_begin, int32_t pixel_end) {
  GEMM_SHAPED(effk_qs8_conv1x1_channels)(p, input, packed, mult, shift, output, pixel_begin,
                                         pixel_end, 0, p->out_c);
}

#undef GEMM_CAT_
#undef GEMM_CAT
#undef GEMM_ENTRY
#undef GEMM_SHAPED
#undef GEMM_ISA
#undef GEMM_SHAPE
#undef GEMM_ATTR
#undef GEMM_KPAD
#undef GEMM_KMAX
