// PAD / PADV2 int8 on 4-D tensors (reference_ops::Pad): copy with a constant border.
#include <string.h>

#include "effk.h"

void effk_pad4d_qs8(const int8_t *in, const int32_t in_shape[4], const int32_t before[4],
                    const int32_t after[4], int8_t value, int8_t *out) {
  int32_t os[4];
  for (int k = 0; k < 4; ++k) os[k] = before[k] + in_shape[k] + after[k];
  for (int32_t i0 = 0; i0 < os[0]; ++i0) {
    const int32_t j0 = i0 - before[0];
    for (int32_t i1 = 0; i1 < os[1]; ++i1) {
      const int32_t j1 = i1 - before[1];
      for (int32_t i2 = 0; i2 < os[2]; ++i2) {
        const int32_t j2 = i2 - before[2];
        int8_t *o = out + (((size_t)i0 * os[1] + i1) * os[2] + i2) * os[3];
        if (j0 < 0 || j0 >= in_shape[0] || j1 < 0 || j1 >= in_shape[1] || j2 < 0 ||
            j2 >= in_shape[2]) {
          memset(o, (uint8_t)value, (size_t)os[3]);
          continue;
        }
        const int8_t *src = in + (((size_t)j0 * in_shape[1] + j1) * in_shape[2] + j2) * in_shape[3];
        memset(o, (uint8_t)value, (size_t)before[3]);
        memcpy(o + before[3], src, (size_t)in_shape[3]);
        memset(o + before[3] + in_shape[3], (uint8_t)value, (size_t)after[3]);
      }
    }
  }
}
