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
    .fc = effk_qs8_fc__neon,
    EFFK_NEON_SHARED_ENTRIES
};

#endif
