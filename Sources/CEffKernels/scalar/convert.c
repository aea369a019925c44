// QUANTIZE float -> int8 (reference_ops::AffineQuantize) and DEQUANTIZE int8 -> float
// (reference_integer_ops::Dequantize).
#include <math.h>

#include "effk.h"

void effk_quantize_f32_qs8__scalar(const float *in, int8_t *out, size_t n, float scale,
                                   int32_t zero_point) {
  for (size_t i = 0; i < n; ++i) {
    // TFLite: (int32_t)roundf(val / (float)scale) + zero_point, all in float.
    const float r = roundf(in[i] / scale);
    int64_t q;
    // Out-of-int32 range (and NaN) is UB in TFLite's cast; saturate instead.
    if (r >= 2147483648.0f) q = INT32_MAX;
    else if (r >= -2147483648.0f) q = (int32_t)r;
    else q = INT32_MIN;  // also NaN
    q += zero_point;
    if (q < -128) q = -128;
    if (q > 127) q = 127;
    out[i] = (int8_t)q;
  }
}

void effk_dequantize_qs8_f32__scalar(const int8_t *in, float *out, size_t n, float scale,
                                     int32_t zero_point) {
  const double s = (double)scale;
  for (size_t i = 0; i < n; ++i) out[i] = (float)(s * (double)((int32_t)in[i] - zero_point));
}
