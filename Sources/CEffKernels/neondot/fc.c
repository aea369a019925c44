// FULLY_CONNECTED (a GEMV per batch row), AArch64 NEON + dotprod (SDOT).
// Same packed layout as the neon table (its pack functions are used), layout and epilogue in
// neon_internal.h. Only the functions marked EFFK_TARGET_DOTPROD use SDOT.
#if defined(__aarch64__)

#include "../neon/neon_internal.h"
#include "../tables.h"

enum { NR = EFFK_NEON_FC_NR, KR = EFFK_NEON_FC_KR };

static inline __attribute__((always_inline)) EFFK_TARGET_DOTPROD int32x4_t mac16(int32x4_t acc,
                                                                                 int8x16_t w,
                                                                                 int8x16_t x) {
  return vdotq_s32(acc, w, x);
}

#define FC_TILE_ATTR EFFK_TARGET_DOTPROD
#include "../neon/fc_tile.h"

#define FC_NR NR
#define FC_NBMAX 2
#define FC_ATTR EFFK_TARGET_DOTPROD
#define FC_NAME effk_qs8_fc__neondot
#include "../fc_driver.h"

#endif
