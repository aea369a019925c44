// The avx512vnni kernel table (x86-64 CPUs with AVX-512 F/BW/VL/DQ and AVX512_VNNI).
#if defined(__x86_64__)
#include "common.h"

const effk_isa_kernels effk_kernels__avx512vnni = {
    .name = "avx512vnni",
    .conv1x1_packed_size = effk_qs8_conv1x1_packed_size__avx512vnni,
    .conv1x1_pack = effk_qs8_conv1x1_pack__avx512vnni,
    .conv1x1 = effk_qs8_conv1x1_7x64c4__avx512vnni,
    .conv1x1_mr = 7,
    .conv1x1_channels = effk_qs8_conv1x1_channels_7x64c4__avx512vnni,
    .conv1x1_channel_block = 64,
    .conv_packed_size = effk_qs8_conv_packed_size__avx512vnni,
    .conv_pack = effk_qs8_conv_pack__avx512vnni,
    .conv = effk_qs8_conv_im2col_7x64c4__avx512vnni,
    .dwconv_packed_size = effk_qs8_dwconv_packed_size__avx512vnni,
    .dwconv_pack = effk_qs8_dwconv_pack__avx512vnni,
    .dwconv = effk_qs8_dwconv_64c4__avx512vnni,
    .dwconv_channels = effk_qs8_dwconv_channels_64c4__avx512vnni,
    .dwconv_channel_block = 64,
    .add = effk_qs8_add__avx512vnni,
    .mul = effk_qs8_mul__avx512vnni,
    .mul_channel = effk_qs8_mul_channel__avx512vnni,
    .lookup = effk_qs8_lookup__avx512vnni,
    .mean_hw = effk_qs8_mean_hw__avx512vnni,
    .fc_packed_size = effk_qs8_fc_packed_size__avx512vnni,
    .fc_pack = effk_qs8_fc_pack__avx512vnni,
    .fc = effk_qs8_fc__avx512vnni,
    .frame_row_to_rgb8 = effk_frame_row_to_rgb8__avx2,
    .rgb8_resize_row_h = effk__rgb8_resize_row_h__avx2,
    .mean_hw_channels = effk_qs8_mean_hw_channels__avx512vnni,
    .mean_hw_channel_block = 64,
};
#endif
