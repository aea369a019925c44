// The "neondot" table: AArch64 with the dot product extension (ARMv8.2-A SDOT; selected
// where getauxval(AT_HWCAP) has HWCAP_ASIMDDP). conv1x1 and conv use the SDOT GEMM core
// (gemm.c); the depthwise and elementwise kernels are the plain NEON ones, which SDOT
// does not help (depthwise has no reduction over channels).
#if defined(__aarch64__)

#include "../neon/neon_internal.h"
#include "../tables.h"

static size_t effk_qs8_conv_packed_size__neondot(int32_t kh, int32_t kw, int32_t in_c,
                                                 int32_t out_c) {
  return effk_neon_conv_packed_size_with(kh, kw, in_c, out_c,
                                         effk_qs8_gemm_4x16c4_packed_size__neondot);
}

static void effk_qs8_conv_pack__neondot(const int8_t *filter, const int32_t *bias, int32_t kh,
                                        int32_t kw, int32_t in_c, int32_t out_c,
                                        int32_t input_zero_point, void *packed) {
  effk_neon_conv_pack_with(filter, bias, kh, kw, in_c, out_c, input_zero_point, packed,
                           effk_qs8_gemm_4x16c4_pack__neondot);
}

static void effk_qs8_conv1x1_channels_4x16c4__neondot(
    const effk_conv2d_params *p, const int8_t *input, const void *packed,
    const int32_t *multiplier, const int32_t *shift, int8_t *output, int32_t pixel_begin,
    int32_t pixel_end, int32_t c_begin, int32_t c_end) {
  effk_neon_conv1x1_with(p, input, packed, multiplier, shift, output, pixel_begin, pixel_end,
                         c_begin, c_end, effk_qs8_gemm_4x16c4__neondot);
}

static void effk_qs8_conv1x1_4x16c4__neondot(const effk_conv2d_params *p, const int8_t *input,
                                             const void *packed, const int32_t *multiplier,
                                             const int32_t *shift, int8_t *output,
                                             int32_t pixel_begin, int32_t pixel_end) {
  effk_neon_conv1x1_with(p, input, packed, multiplier, shift, output, pixel_begin, pixel_end, 0,
                         p->out_c, effk_qs8_gemm_4x16c4__neondot);
}

static void effk_qs8_conv_im2col_4x16c4__neondot(const effk_conv2d_params *p,
                                                 const int8_t *input, const void *packed,
                                                 const int32_t *multiplier, const int32_t *shift,
                                                 int8_t *output, int32_t oy_begin,
                                                 int32_t oy_end) {
  effk_neon_conv_with(p, input, packed, multiplier, shift, output, oy_begin, oy_end,
                      effk_qs8_gemm_4x16c4__neondot);
}

const effk_isa_kernels effk_kernels__neondot = {
    .name = "neondot",
    .conv1x1_packed_size = effk_qs8_gemm_4x16c4_packed_size__neondot,
    .conv1x1_pack = effk_qs8_gemm_4x16c4_pack__neondot,
    .conv1x1 = effk_qs8_conv1x1_4x16c4__neondot,
    .conv1x1_mr = 4,
    // 16, not the micro-kernel's own channel count: wider groups, fewer shared cache lines.
    .conv1x1_channels = effk_qs8_conv1x1_channels_4x16c4__neondot,
    .conv1x1_channel_block = 16,
    .conv_packed_size = effk_qs8_conv_packed_size__neondot,
    .conv_pack = effk_qs8_conv_pack__neondot,
    .conv = effk_qs8_conv_im2col_4x16c4__neondot,
    .fc = effk_qs8_fc__neondot,
    EFFK_NEON_SHARED_ENTRIES
};

#endif
