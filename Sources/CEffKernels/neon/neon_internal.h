// Private helpers shared by the AArch64 NEON (neon/) and NEON+dotprod (neondot/) kernels.
// Only included from files that are themselves inside #if defined(__aarch64__).
#ifndef EFFK_NEON_INTERNAL_H
#define EFFK_NEON_INTERNAL_H

#include <arm_neon.h>
#include <string.h>

#include "effk.h"
#include "effk_dispatch.h"
#include "../tables.h"

// Marks the functions that use SDOT: only they are compiled for ARMv8.2-A+dotprod, so the
// rest of the binary stays plain ARMv8-A and runs on any AArch64 board, and dispatch.c
// hands out the neondot table only where HWCAP_ASIMDDP is set. (GCC's arm_neon.h guards
// vdotq_* with arch=armv8.2-a+dotprod, so target("+dotprod") fails there; clang takes
// the feature name.) Nothing to do when the whole build already targets dotprod.
#if defined(__ARM_FEATURE_DOTPROD)
#define EFFK_TARGET_DOTPROD
#elif defined(__clang__)
#define EFFK_TARGET_DOTPROD __attribute__((target("dotprod")))
#else
#define EFFK_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

#define EFFK_ROUND_UP(x, m) ((((x) + (m) - 1) / (m)) * (m))

// ---- fixed point --------------------------------------------------------------------

// Per-lane shifts of TFLite's MultiplyByQuantizedMultiplier: left = max(shift, 0),
// right_neg = min(shift, 0) (the negated right shift, as vrshlq_s32 wants it).
typedef struct {
  int32x4_t mult, left, right_neg;
} effk_neon_quant;

static inline effk_neon_quant effk_neon_quant_load(const int32_t *multiplier,
                                                   const int32_t *shift) {
  effk_neon_quant q;
  const int32x4_t s = vld1q_s32(shift);
  q.mult = vld1q_s32(multiplier);
  q.left = vmaxq_s32(s, vdupq_n_s32(0));
  q.right_neg = vminq_s32(s, vdupq_n_s32(0));
  return q;
}

static inline effk_neon_quant effk_neon_quant_dup(int32_t multiplier, int32_t shift) {
  effk_neon_quant q;
  q.mult = vdupq_n_s32(multiplier);
  q.left = vdupq_n_s32(shift > 0 ? shift : 0);
  q.right_neg = vdupq_n_s32(shift > 0 ? 0 : shift);
  return q;
}

// TFLite's MultiplyByQuantizedMultiplier (double rounding), lane by lane, exactly:
//  - x * 2^left wraps (SSHL by a positive amount is a plain, non-saturating shift), as the
//    scalar spec's unsigned shift does;
//  - SQRDMULH is gemmlowp's SaturatingRoundingDoublingHighMul bit for bit, including the
//    INT32_MIN * INT32_MIN saturation (for a negative product, floor((2ab + 2^31) / 2^32)
//    equals gemmlowp's trunc((ab + 1 - 2^30) / 2^31));
//  - RoundingDivideByPOT is gemmlowp's NEON version: SRSHL rounds half up, so negative
//    values are first moved down by one (fixup = -1 where x < 0 and the shift is
//    non-zero) to round half away from zero. The saturating add only matters for
//    x = INT32_MIN, which is a multiple of 2^exponent, so rounding does not change it.
static inline int32x4_t effk_neon_mbqm(int32x4_t x, effk_neon_quant q) {
  x = vshlq_s32(x, q.left);
  x = vqrdmulhq_s32(x, q.mult);
  const int32x4_t fixup = vshrq_n_s32(vandq_s32(x, q.right_neg), 31);
  return vrshlq_s32(vqaddq_s32(x, fixup), q.right_neg);
}

// Clamp to [lo, hi] in int32, then narrow by truncation: the same bytes as the scalar
// kernels' (int8_t) cast, even for an activation range outside [-128, 127].
static inline int8x16_t effk_neon_clamp_narrow(int32x4_t a0, int32x4_t a1, int32x4_t a2,
                                               int32x4_t a3, int32x4_t lo, int32x4_t hi) {
  a0 = vminq_s32(vmaxq_s32(a0, lo), hi);
  a1 = vminq_s32(vmaxq_s32(a1, lo), hi);
  a2 = vminq_s32(vmaxq_s32(a2, lo), hi);
  a3 = vminq_s32(vmaxq_s32(a3, lo), hi);
  const int16x8_t h0 = vcombine_s16(vmovn_s32(a0), vmovn_s32(a1));
  const int16x8_t h1 = vcombine_s16(vmovn_s32(a2), vmovn_s32(a3));
  return vcombine_s8(vmovn_s16(h0), vmovn_s16(h1));
}

// Loads the n (0 < n < 16) bytes at p, zeroes the rest, reading nothing outside [p, p + n)
// unless `avail_before` >= 16 - n bytes before p are readable too (then one load + TBL).
static inline int8x16_t effk_neon_load_partial(const int8_t *p, int32_t n, int32_t avail_before) {
  if (avail_before >= 16 - n) {
    static const uint8_t iota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    // lanes i < n take byte (16 - n + i) of the load ending at p + n; lanes >= n get
    // an index >= 16, which TBL turns into 0.
    const uint8x16_t i = vld1q_u8(iota);
    const uint8x16_t idx = vorrq_u8(vaddq_u8(i, vdupq_n_u8((uint8_t)(16 - n))),
                                    vcgeq_u8(i, vdupq_n_u8((uint8_t)n)));
    return vqtbl1q_s8(vld1q_s8(p + n - 16), idx);
  }
  int8_t tmp[16] = {0};
  memcpy(tmp, p, (size_t)n);
  return vld1q_s8(tmp);
}

static inline void effk_neon_store_partial(int8_t *p, int8x16_t v, int32_t n) {
  if (n >= 16) {
    vst1q_s8(p, v);
    return;
  }
  int8_t tmp[16];
  vst1q_s8(tmp, v);
  memcpy(p, tmp, (size_t)n);
}

// ---- GEMM cores (conv1x1, and conv via im2col) ---------------------------------------

// Requantization arguments shared by the GEMM cores.
typedef struct {
  const int32_t *multiplier, *shift;  // [out_c]
  int32_t output_zero_point, act_min, act_max;
} effk_neon_requant;

// out[i * out_stride + oc] = requant(sum_k x[i * x_stride + k] * w[oc][k] + bias_fold[oc])
// for i in [0, npix), oc in [oc_begin, oc_end) (oc_begin a multiple of the core's channel
// block, oc_end <= out_c); k runs over [0, k_len). `packed` is the layout of the matching
// *_pack below.
typedef void (*effk_neon_gemm_fn)(const int8_t *x, size_t x_stride, int32_t k_len, int32_t npix,
                                  const void *packed, int32_t out_c, const effk_neon_requant *rq,
                                  int8_t *out, size_t out_stride, int32_t oc_begin,
                                  int32_t oc_end);

// Plain NEON: 4 pixels x 4 channels, SMULL (+ SMLAL2) + SADALP, K in steps of 16.
size_t effk_qs8_gemm_4x4c16_packed_size__neon(int32_t k_len, int32_t out_c);
void effk_qs8_gemm_4x4c16_pack__neon(const int8_t *filter, const int32_t *bias, int32_t k_len,
                                     int32_t out_c, int32_t input_zero_point, void *packed);
void effk_qs8_gemm_4x4c16__neon(const int8_t *x, size_t x_stride, int32_t k_len, int32_t npix,
                                const void *packed, int32_t out_c, const effk_neon_requant *rq,
                                int8_t *out, size_t out_stride, int32_t oc_begin,
                                int32_t oc_end);

// NEON dotprod: 4 pixels x 16 channels, SDOT (by element), K in steps of 16.
size_t effk_qs8_gemm_4x16c4_packed_size__neondot(int32_t k_len, int32_t out_c);
void effk_qs8_gemm_4x16c4_pack__neondot(const int8_t *filter, const int32_t *bias, int32_t k_len,
                                        int32_t out_c, int32_t input_zero_point, void *packed);
void effk_qs8_gemm_4x16c4__neondot(const int8_t *x, size_t x_stride, int32_t k_len,
                                   int32_t npix, const void *packed, int32_t out_c,
                                   const effk_neon_requant *rq, int8_t *out, size_t out_stride,
                                   int32_t oc_begin, int32_t oc_end);

// conv1x1 over output pixels [pixel_begin, pixel_end) and channels [c_begin, c_end) through a
// GEMM core (the table entries of both tables).
void effk_neon_conv1x1_with(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                            const int32_t *multiplier, const int32_t *shift, int8_t *output,
                            int32_t pixel_begin, int32_t pixel_end, int32_t c_begin,
                            int32_t c_end, effk_neon_gemm_fn gemm);

// General CONV_2D through im2col + a GEMM core (shared by both tables).
typedef size_t (*effk_neon_gemm_size_fn)(int32_t k_len, int32_t out_c);
typedef void (*effk_neon_gemm_pack_fn)(const int8_t *filter, const int32_t *bias, int32_t k_len,
                                       int32_t out_c, int32_t input_zero_point, void *packed);
size_t effk_neon_conv_packed_size_with(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c,
                                       effk_neon_gemm_size_fn gemm_size);
void effk_neon_conv_pack_with(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                              int32_t in_c, int32_t out_c, int32_t input_zero_point, void *packed,
                              effk_neon_gemm_pack_fn gemm_pack);
void effk_neon_conv_with(const effk_conv2d_params *p, const int8_t *input, const void *packed,
                         const int32_t *multiplier, const int32_t *shift, int8_t *output,
                         int32_t oy_begin, int32_t oy_end, effk_neon_gemm_fn gemm);

// Table entries (the neondot table shares all but conv1x1 and conv with the neon table).
void effk_qs8_dwconv_channels_16c__neon(const effk_conv2d_params *p, const int8_t *input,
                                        const void *packed, const int32_t *multiplier,
                                        const int32_t *shift, int8_t *output, int32_t oy_begin,
                                        int32_t oy_end, int32_t c_begin, int32_t c_end);
void effk_qs8_conv1x1_channels_4x4c16__neon(const effk_conv2d_params *p, const int8_t *input,
    const void *packed, const int32_t *multiplier, const int32_t *shift, int8_t *output,
    int32_t pixel_begin, int32_t pixel_end, int32_t c_begin, int32_t c_end);
void effk_qs8_conv1x1_4x4c16__neon(const effk_conv2d_params *p, const int8_t *input,
                                   const void *packed, const int32_t *multiplier,
                                   const int32_t *shift, int8_t *output, int32_t pixel_begin,
                                   int32_t pixel_end);
size_t effk_qs8_conv_packed_size__neon(int32_t kh, int32_t kw, int32_t in_c, int32_t out_c);
void effk_qs8_conv_pack__neon(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                              int32_t in_c, int32_t out_c, int32_t input_zero_point, void *packed);
void effk_qs8_conv_im2col_4x4c16__neon(const effk_conv2d_params *p, const int8_t *input,
                                       const void *packed, const int32_t *multiplier,
                                       const int32_t *shift, int8_t *output, int32_t oy_begin,
                                       int32_t oy_end);
size_t effk_qs8_dwconv_packed_size__neon(int32_t kh, int32_t kw, int32_t c);
void effk_qs8_dwconv_pack__neon(const int8_t *filter, const int32_t *bias, int32_t kh, int32_t kw,
                                int32_t c, int32_t input_zero_point, void *packed);
void effk_qs8_dwconv_16c__neon(const effk_conv2d_params *p, const int8_t *input,
                               const void *packed, const int32_t *multiplier,
                               const int32_t *shift, int8_t *output, int32_t oy_begin,
                               int32_t oy_end);
void effk_qs8_add__neon(const effk_add_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                        size_t n);
void effk_qs8_mul__neon(const effk_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out,
                        size_t n);
void effk_qs8_mul_channel__neon(const effk_mul_params *p, const int8_t *a, const int8_t *channel,
                                int8_t *out, int32_t c, int32_t pixel_begin, int32_t pixel_end);
void effk_qs8_lookup__neon(const int8_t table[256], const int8_t *in, int8_t *out, size_t n);
void effk_qs8_mean_hw__neon(const effk_mean_params *p, const int8_t *input, int8_t *output);
void effk_qs8_mean_hw_channels__neon(const effk_mean_params *p, const int8_t *input,
                                     int8_t *output, int32_t c_begin, int32_t c_end);


// ---- the tables (neon/table.c, neondot/table.c) ---------------------------------------------
// Their entries for the kernels both tables share (neondot has no SDOT variant of these).
#define EFFK_NEON_SHARED_ENTRIES                                     \
  .dwconv_packed_size = effk_qs8_dwconv_packed_size__neon,           \
  .dwconv_pack = effk_qs8_dwconv_pack__neon,                         \
  .dwconv = effk_qs8_dwconv_16c__neon,                               \
  .dwconv_channels = effk_qs8_dwconv_channels_16c__neon,             \
  .dwconv_channel_block = 16,                                        \
  .add = effk_qs8_add__neon,                                         \
  .mul = effk_qs8_mul__neon,                                         \
  .mul_channel = effk_qs8_mul_channel__neon,                         \
  .lookup = effk_qs8_lookup__neon,                                   \
  .mean_hw = effk_qs8_mean_hw__neon,                                 \
  .mean_hw_channels = effk_qs8_mean_hw_channels__neon,               \
  .mean_hw_channel_block = 16,                                       \
  .fc_packed_size = effk_qs8_fc_packed_size__neon,                   \
  .fc_pack = effk_qs8_fc_pack__neon,                                 \
  .frame_row_to_rgb8 = effk_frame_row_to_rgb8__neon,                 \
  .rgb8_resize_row_h = effk__rgb8_resize_row_h__neon,

// ---- FULLY_CONNECTED (neon/fc.c, neondot/fc.c) ---------------------------------------------
// Both tables pack alike (tables.h's blocked layout, nr = 4, kr = 16, x_offset 0): per block of 4
// output channels, 16 input channels of each of the 4 rows in turn. Each row accumulates in an
// int32x4 (neon: SMULL + SADALP; neondot: SDOT), reduced across lanes at the end.
enum { EFFK_NEON_FC_NR = 4, EFFK_NEON_FC_KR = 16 };
size_t effk_qs8_fc_packed_size__neon(int32_t in_c, int32_t out_c);
void effk_qs8_fc_pack__neon(const int8_t *filter, const int32_t *bias, int32_t in_c, int32_t out_c,
                            int32_t input_zero_point, int32_t filter_zero_point, void *packed);
void effk_qs8_fc__neon(const effk_fc_params *p, const int8_t *input, const void *packed,
                       const double *scale, int8_t *output, int32_t oc_begin, int32_t oc_end);
void effk_qs8_fc__neondot(const effk_fc_params *p, const int8_t *input, const void *packed,
                          const double *scale, int8_t *output, int32_t oc_begin, int32_t oc_end);

// Sums the lanes of 4 row accumulators: {sum a0, sum a1, sum a2, sum a3}.
static inline int32x4_t effk_neon_fc_reduce4(int32x4_t a0, int32x4_t a1, int32x4_t a2,
                                             int32x4_t a3) {
  return vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3));
}

// The reference's round(acc * scale) on 2 lanes: exact int32 -> double, one IEEE multiply,
// FRINTA (round half away from zero, as C's round), FCVTZS to int64 and a saturating narrow:
// the same int32 as the scalar FCVTZS (which saturates) for every double.
static inline int32x2_t effk_neon_fc_round2(int32x2_t acc, const double *scale) {
  const float64x2_t v = vmulq_f64(vcvtq_f64_s64(vmovl_s32(acc)), vld1q_f64(scale));
  return vqmovn_s64(vcvtq_s64_f64(vrndaq_f64(v)));
}

// Requantizes the 4 channels [oc0, oc0 + 4) of one block and stores lanes [lo, hi) of them
// (scale and out point at channel oc0). Partial blocks go lane by lane (scale may have no
// entries past the range's end).
static inline void effk_neon_fc_store4(int32x4_t acc, const double *scale, const effk_fc_params *p,
                                       int8_t *out, int32_t lo, int32_t hi) {
  if (lo == 0 && hi == 4) {
    int32x4_t v = vcombine_s32(effk_neon_fc_round2(vget_low_s32(acc), scale),
                               effk_neon_fc_round2(vget_high_s32(acc), scale + 2));
    v = vaddq_s32(v, vdupq_n_s32(p->output_zero_point));
    v = vmaxq_s32(v, vdupq_n_s32(p->act_min));
    v = vminq_s32(v, vdupq_n_s32(p->act_max));
    const int8x8_t b = vmovn_s16(vcombine_s16(vmovn_s32(v), vmovn_s32(v)));
    vst1_lane_s32((int32_t *)(void *)out, vreinterpret_s32_s8(b), 0);
  } else {
    int32_t a[4];
    vst1q_s32(a, acc);
    for (int32_t i = lo; i < hi; ++i)
      out[i] = effk__fc_requantize(a[i], scale[i], p->output_zero_point, p->act_min, p->act_max);
  }
}

#endif
