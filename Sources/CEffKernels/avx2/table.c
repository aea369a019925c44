// The avx2 kernel table (x86-64 CPUs with AVX2).
#if defined(__x86_64__)
#include "common.h"

const effk_isa_kernels effk_kernels__avx2 = {
    .name = "avx2",
    .conv1x1_packed_size = effk_qs8_conv1x1_packed_size__avx2,
    .conv1x1_pack = effk_qs8_conv1x1_pack__avx2,
    .conv1x1 = effk_qs8_conv1x1_6x16c2__avx2,
    .conv1x1_mr = 6,
    .conv1x1_channels = effk_qs8_conv1x1_channels_6x16c2__avx2,
    .conv1x1_channel_block = 16,
    .conv_packed_size = effk_qs8_conv_packed_size__avx2,
    .conv_pack = effk_qs8_conv_pack__avx2,
    .conv = effk_qs8_conv_im2col_6x16c2__avx2,
    .dwconv_packed_size = effk_qs8_dwconv_packed_size__avx2,
    .dwconv_pack = effk_qs8_dwconv_pack__avx2,
    .dwconv = effk_qs8_dwconv_16c2__avx2,
    .dwconv_channels = effk_qs8_dwconv_channels_16c2__avx2,
    .dwconv_channel_block = 16,
    .add = effk_qs8_add__avx2,
    .mul = effk_qs8_mul__avx2,
    .mul_channel = effk_qs8_mul_channel__avx2,
    .lookup = effk_qs8_lookup__avx2,
    .mean_hw = effk_qs8_mean_hw__avx2,
    .mean_hw_channels = effk_qs8_mean_hw_channels__avx2,
    .mean_hw_channel_block = 32,
    .fc_packed_size = effk_qs8_fc_packed_size__avx2,
    .fc_pack = effk_qs8_fc_pack__avx2,
    .fc = effk_qs8_fc__avx2,
    .frame_row_to_rgb8 = effk_frame_row_to_rgb8__avx2,
    .rgb8_resize_row_h = effk__rgb8_resize_row_h__avx2,
};
#endif
