// FULLY_CONNECTED packing shared by the SIMD tables (layout in tables.h).
#include <string.h>

#include "tables.h"

static int32_t round_up(int32_t x, int32_t m) { return (x + m - 1) / m * m; }

size_t effk__fc_blocked_packed_size(int32_t in_c, int32_t out_c, int32_t nr, int32_t kr) {
  const size_t ocp = (size_t)round_up(out_c, nr), kp = (size_t)round_up(in_c, kr);
  return ocp * sizeof(int32_t) + ocp * kp;
}

void effk__fc_blocked_pack(const int8_t *filter, const int32_t *bias, int32_t in_c, int32_t out_c,
                           int32_t input_zero_point, int32_t filter_zero_point, int32_t x_offset,
                           int32_t nr, int32_t kr, void *packed) {
  const int32_t ocp = round_up(out_c, nr), kp = round_up(in_c, kr), groups = kp / kr;
  int32_t *bias_fold = (int32_t *)packed;
  int8_t *w = (int8_t *)(bias_fold + ocp);
  // fzp * izp * in_c, mod 2^32.
  const uint32_t zz = (uint32_t)filter_zero_point * (uint32_t)input_zero_point * (uint32_t)in_c;
  for (int32_t oc = 0; oc < ocp; ++oc) {
    if (oc >= out_c) {
      bias_fold[oc] = 0;
      continue;
    }
    const int8_t *f = filter + (size_t)oc * in_c;
    uint32_t sum = 0;
    for (int32_t k = 0; k < in_c; ++k) sum += (uint32_t)(int32_t)f[k];
    const uint32_t b = bias ? (uint32_t)bias[oc] : 0u;
    bias_fold[oc] = (int32_t)(b - (uint32_t)(input_zero_point + x_offset) * sum + zz);
  }
  memset(w, 0, (size_t)ocp * kp);
  for (int32_t oc = 0; oc < out_c; ++oc) {
    const int8_t *f = filter + (size_t)oc * in_c;
    const int32_t blk = oc / nr, j = oc % nr;
    int8_t *wb = w + (size_t)blk * groups * nr * kr + (size_t)j * kr;
    for (int32_t k = 0; k < in_c; ++k)
      wb[(size_t)(k / kr) * nr * kr + k % kr] = f[k];
  }
}

int32_t effk__fc_row_correction(const effk_fc_params *p, const int8_t *x) {
  if (p->filter_zero_point == 0) return 0;
  uint32_t sum = 0;
  for (int32_t k = 0; k < p->in_c; ++k) sum += (uint32_t)(int32_t)x[k];
  return (int32_t)(0u - (uint32_t)p->filter_zero_point * sum);
}
