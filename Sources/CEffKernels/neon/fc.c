// FULLY_CONNECTED (a GEMV per batch row), plain AArch64 NEON. Layout and epilogue in
// neon_internal.h. int8 x int8 products are exact in int16 (SMULL), but two of them may not
// be (2 * 128 * 128 = 2^15), so each is widened straight into int32 pairs by SADALP.
#if defined(__aarch64__)

#include "neon_internal.h"
#include "../tables.h"

enum { NR = EFFK_NEON_FC_NR, KR = EFFK_NEON_FC_KR };

size_t effk_qs8_fc_packed_size__neon(int32_t in_c, int32_t out_c) {
  return effk__fc_blocked_packed_size(in_c, out_c, NR, KR);
}

void effk_qs8_fc_pack__neon(const int8_t *filter, const int32_t *bias, int32_t in_c, int32_t out_c,
                            int32_t input_zero_point, int32_t filter_zero_point, void *packed) {
  effk__fc_blocked_pack(filter, bias, in_c, out_c, input_zero_point, filter_zero_point, 0, NR, KR,
                        packed);
}

static inline __attribute__((always_inline)) int32x4_t mac16(int32x4_t acc, int8x16_t w,
                                                             int8x16_t x) {
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w), vget_low_s8(x)));
  return vpadalq_s16(acc, vmull_high_s8(w, x));
}

#define FC_TILE_ATTR
#include "fc_tile.h"

#define FC_NR NR
#define FC_NBMAX 2
#define FC_ATTR
#define FC_NAME effk_qs8_fc__neon
#include "../fc_driver.h"

#endif
