// The "neon" table: plain ARMv8-A Advanced SIMD (every AArch64 CPU; HWCAP_ASIMD).
#if defined(__aarch64__)

#include "neon_internal.h"
#include "../tables.h"

const effk_isa_kernels effk_kernels__neon = {
    .name = "neon",
    .conv1x1_packed_size = effk_qs8_gemm_4x4c16_packed_size__neon,
    .conv1x1_pack = effk_qs8_gemm_4x4c16_pack__neon,
    .conv1x1 = effk_qs8_conv1x1_4x4c16__neon,
    .conv1x1_mr = 4,
    // 16, not the micro-kernel's own channel count: wider groups, fewer shared cache lines.
    .conv1x1_channels = effk_qs8_conv1x1_channels_4x4c16__neon,
    .conv1x1_channel_block = 16,
    .conv_packed_size = effk_qs8_conv_packed_size__neon,
    .conv_pack = effk_qs8_conv_pack__neon,
    .conv = effk_qs8_conv_im2col_4x4c16__neon,
    .dwconv_packed_size = effk_qs8_dwconv_packed_size__neon,
    .dwconv_pack = effk_qs8_dwconv_pack__neon,
    .dwconv = effk_qs8_dwconv_16c__neon,
    .dwconv_channels = effk_qs8_dwconv_channels_16c__neon,
    .dwconv_channel_block = 16,
    .add = effk_qs8_add__neon,
    .mul = effk_qs8_mul__neon,
    .mul_channel = effk_qs8_mul_channel__neon,
    .lookup = effk_qs8_lookup__neon,
    .mean_hw = effk_qs8_mean_hw__neon,
    .mean_hw_channels = effk_qs8_mean_hw_channels__neon,
    .mean_hw_channel_block = 16,
    .fc_packed_size = effk_qs8_fc_packed_size__neon,
    .fc_pack = effk_qs8_fc_pack__neon,
    .fc = effk_qs8_fc__neon,
    .frame_row_to_rgb8 = effk_frame_row_to_rgb8__neon,
    .rgb8_resize_row_h = effk__rgb8_resize_row_h__neon,
};

#endif
