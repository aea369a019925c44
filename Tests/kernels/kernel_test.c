// Kernel-table test driver: every entry of every kernel table this CPU supports is compared,
// byte for byte, with the reference kernels of effk.h (scalar/*.c, themselves verified
// against LiteRT). Portable C (no intrinsics): the same file runs on x86-64 and aarch64
// (natively or under qemu).
//
//   kernel_test                 test every table effk_kernels_available() lists
//   kernel_test --isa NAME      test only that table (also: EFFNETD_ISA=NAME, which must then
//                               be what effk_kernels_select() returns)
//   kernel_test --quick         fewer random cases (emulators)
//   kernel_test --list          print effk_kernels_available() and exit
//   kernel_test --bench [--isa NAME] [--min-ms N]
//                               time conv1x1 / dwconv / conv / fc on EfficientNet-Lite0's shapes,
//                               GMAC/s per table side by side (single thread), then ms per
//                               1280x720 YUYV / NV12 camera frame -> 224x224 int8 per table
//
// Buffers are malloc'ed to the exact byte so that AddressSanitizer sees any out-of-bounds
// access. Prints one line per table/kernel and ends with "N passed, M failed"; exits 1 on
// any failure.
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "effk_dispatch.h"

// ---- deterministic random numbers ----------------------------------------------------

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static void rng_seed(uint64_t s) { rng_state = s ? s : 0x9E3779B97F4A7C15ull; }
static uint64_t rnd64(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  rng_state = x;
  return x * 0x2545F4914F6CDD1Dull;
}
static uint32_t rnd32(void) { return (uint32_t)(rnd64() >> 32); }
// Uniform in [lo, hi] (inclusive).
static int32_t rnd_range(int32_t lo, int32_t hi) {
  return lo + (int32_t)(rnd64() % (uint64_t)((int64_t)hi - lo + 1));
}
static int rnd_pick(int n) { return (int)(rnd64() % (uint64_t)n); }
static int8_t rnd_i8(void) { return (int8_t)(rnd32() >> 24); }

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of memory (%zu bytes)\n", n);
    exit(2);
  }
  return p;
}

static int8_t *rand_i8_buf(size_t n) {
  int8_t *b = (int8_t *)xmalloc(n);
  for (size_t i = 0; i < n; ++i) b[i] = rnd_i8();
  return b;
}

// ---- quantization parameters ------------------------------------------------------------

// Multipliers/shifts for n channels. mode 0: realistic (multiplier in [2^30, 2^31), shifts
// around base_shift). mode 1: extremes (multipliers at the ends of the range, 0, negative,
// INT32_MIN; shifts from -31 to +7). mode 2: mixed per channel.
static void gen_quant(int32_t *mult, int32_t *shift, int32_t n, int mode, int32_t base_shift) {
  for (int32_t i = 0; i < n; ++i) {
    const int m = mode == 2 ? rnd_pick(2) : mode;
    if (m == 0) {
      mult[i] = (int32_t)((1u << 30) + (rnd32() >> 2));
      int32_t s = base_shift + rnd_range(-2, 2);
      if (s < -31) s = -31;
      if (s > 7) s = 7;
      shift[i] = s;
    } else {
      static const int32_t pool[] = {1 << 30, INT32_MAX, (1 << 30) + 1, INT32_MAX - 1, 0,
                                     INT32_MIN, -(1 << 30), 1, 0x5A5A5A5A};
      const int k = rnd_pick(12);
      mult[i] = k < 9 ? pool[k] : (int32_t)rnd32();
      shift[i] = rnd_pick(3) ? rnd_range(-31, 7) : rnd_range(-14, 0);
    }
  }
}

static void gen_act(int32_t zp_out, int32_t *act_min, int32_t *act_max) {
  switch (rnd_pick(4)) {
    case 0:
    case 1:
      *act_min = -128;
      *act_max = 127;
      break;
    case 2:  // ReLU-like
      *act_min = zp_out < -128 ? -128 : zp_out;
      *act_max = 127;
      break;
    default: {  // narrow
      int32_t a = rnd_range(-128, 127), b = rnd_range(-128, 127);
      if (a > b) {
        int32_t t = a;
        a = b;
        b = t;
      }
      *act_min = a;
      *act_max = b;
    }
  }
}

static int32_t rnd_zp(void) {
  switch (rnd_pick(6)) {
    case 0:
      return -128;
    case 1:
      return 127;
    case 2:
      return 0;
    default:
      return rnd_range(-128, 127);
  }
}

static int32_t *rand_bias(int32_t n, int extreme) {
  int32_t *b = (int32_t *)xmalloc((size_t)n * sizeof(int32_t));
  for (int32_t i = 0; i < n; ++i) {
    if (extreme && rnd_pick(3) == 0) {
      static const int32_t pool[] = {INT32_MIN, INT32_MAX, -(1 << 24), 1 << 24, INT32_MIN + 1,
                                     INT32_MAX - 1};
      b[i] = pool[rnd_pick(6)];
    } else {
      b[i] = rnd_range(-60000, 60000);
    }
  }
  return b;
}

// log2 of the typical accumulator magnitude, to choose shifts that give unsaturated outputs.
static int32_t shift_for(int64_t terms) {
  int32_t l = 0;
  while ((INT64_C(1) << l) < terms) ++l;
  // acc ~ 2^13 * sqrt(terms); want acc * 2^(shift-1) ~ 2^6.
  return 6 + 1 - 13 - l / 2;
}

// ---- results --------------------------------------------------------------------------------

static int g_passed, g_failed;
static int g_quick;

typedef struct {
  const char *table, *kernel;
  int cases, failures;
  char first[512];
} test_result;

static void tr_begin(test_result *r, const char *table, const char *kernel) {
  memset(r, 0, sizeof *r);
  r->table = table;
  r->kernel = kernel;
}

static void tr_fail(test_result *r, const char *fmt, ...) {
  if (r->failures++ == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->first, sizeof r->first, fmt, ap);
    va_end(ap);
  }
}

static void tr_end(test_result *r) {
  if (r->failures == 0) {
    ++g_passed;
    printf("ok    %-11s %-12s %6d cases\n", r->table, r->kernel, r->cases);
  } else {
    ++g_failed;
    printf("FAIL  %-11s %-12s %6d of %d cases failed; first: %s\n", r->table, r->kernel,
           r->failures, r->cases, r->first);
  }
  fflush(stdout);
}

// Index of the first differing byte, or -1.
static long first_diff(const int8_t *a, const int8_t *b, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return (long)i;
  return -1;
}

#define SENTINEL ((int8_t)0x5A)

// Splits [begin, end) into random pieces (1 to 4 of them, some possibly empty).
static int split_range(int32_t begin, int32_t end, int32_t *cuts) {
  int n = 1 + rnd_pick(4);
  cuts[0] = begin;
  for (int i = 1; i < n; ++i) cuts[i] = rnd_range(begin, end);
  cuts[n] = end;
  // sort
  for (int i = 1; i < n; ++i)
    for (int j = i; j > 0 && cuts[j] < cuts[j - 1]; --j) {
      int32_t t = cuts[j];
      cuts[j] = cuts[j - 1];
      cuts[j - 1] = t;
    }
  return n;
}

// ---- conv1x1 ------------------------------------------------------------------------------

typedef struct {
  int32_t h, w, in_c, out_c;
  int quant_mode;      // gen_quant mode
  int zero_filter;     // all-zero filter: acc == bias exactly (saturation corners)
  int no_bias;
} conv1x1_case;

static void conv1x1_run(const effk_isa_kernels *k, test_result *r, const conv1x1_case *c) {
  const int32_t h = c->h, w = c->w, ic = c->in_c, oc = c->out_c, npix = h * w;
  effk_conv2d_params p;
  memset(&p, 0, sizeof p);
  p.in_h = p.out_h = h;
  p.in_w = p.out_w = w;
  p.in_c = ic;
  p.out_c = oc;
  p.kernel_h = p.kernel_w = 1;
  p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
  p.depth_multiplier = 1;
  p.input_zero_point = rnd_zp();
  p.output_zero_point = rnd_zp();
  gen_act(p.output_zero_point, &p.act_min, &p.act_max);

  int8_t *input = rand_i8_buf((size_t)npix * ic);
  int8_t *filter = rand_i8_buf((size_t)oc * ic);
  if (c->zero_filter) memset(filter, 0, (size_t)oc * ic);
  int32_t *bias = c->no_bias ? NULL : rand_bias(oc, c->quant_mode != 0);
  int32_t *mult = (int32_t *)xmalloc((size_t)oc * 4), *shift = (int32_t *)xmalloc((size_t)oc * 4);
  gen_quant(mult, shift, oc, c->quant_mode, shift_for(ic));
  if (c->zero_filter)
    for (int32_t i = 0; i < oc; ++i)
      if (rnd_pick(2)) {
        mult[i] = INT32_MIN;
        shift[i] = rnd_pick(2) ? 0 : -rnd_range(1, 3);
        if (bias) bias[i] = rnd_pick(2) ? INT32_MIN : -(1 << 24);
        if (bias && bias[i] == -(1 << 24)) shift[i] = 7;
      }

  const size_t out_n = (size_t)npix * oc;
  int8_t *ref = (int8_t *)xmalloc(out_n);
  effk_qs8_conv2d__scalar(&p, input, filter, bias, mult, shift, ref, 0, h);

  const size_t psize = k->conv1x1_packed_size(ic, oc);
  void *packed = xmalloc(psize);
  k->conv1x1_pack(filter, bias, ic, oc, p.input_zero_point, packed);

  int8_t *out = (int8_t *)xmalloc(out_n);
  memset(out, SENTINEL, out_n);
  int32_t cuts[6];
  const int pieces = split_range(0, npix, cuts);
  for (int i = 0; i < pieces; ++i)
    k->conv1x1(&p, input, packed, mult, shift, out, cuts[i], cuts[i + 1]);
  ++r->cases;
  long d = first_diff(ref, out, out_n);
  if (d >= 0) {
    tr_fail(r,
            "h=%d w=%d in_c=%d out_c=%d zp_in=%d zp_out=%d act=[%d,%d] qmode=%d zf=%d: byte %ld "
            "(pixel %ld ch %ld, mult %d shift %d) got %d want %d",
            h, w, ic, oc, p.input_zero_point, p.output_zero_point, p.act_min, p.act_max,
            c->quant_mode, c->zero_filter, d, d / oc, d % oc, mult[d % oc], shift[d % oc], out[d],
            ref[d]);
  }
  // A sub-range writes only its pixels.
  if (npix > 1) {
    memset(out, SENTINEL, out_n);
    const int32_t b = rnd_range(0, npix - 1), e = rnd_range(b, npix);
    k->conv1x1(&p, input, packed, mult, shift, out, b, e);
    ++r->cases;
    for (size_t i = 0; i < out_n; ++i) {
      const int32_t px = (int32_t)(i / oc);
      const int8_t want = (px >= b && px < e) ? ref[i] : SENTINEL;
      if (out[i] != want) {
        tr_fail(r, "sub-range [%d,%d) of %d pixels, in_c=%d out_c=%d: byte %zu got %d want %d", b,
                e, npix, ic, oc, i, out[i], want);
        break;
      }
    }
  }
  // conv1x1_channels: a random grid of pixel pieces x channel-block pieces gives ref; one random
  // tile alone writes its pixels x channels and nothing else.
  if (k->conv1x1_channels) {
    const int32_t cbk = k->conv1x1_channel_block, blocks = (oc + cbk - 1) / cbk;
    int32_t pcuts[6], bcuts[6];
    memset(out, SENTINEL, out_n);
    const int np = split_range(0, npix, pcuts), nb = split_range(0, blocks, bcuts);
    for (int i = 0; i < np; ++i)
      for (int j = 0; j < nb; ++j)
        k->conv1x1_channels(&p, input, packed, mult, shift, out, pcuts[i], pcuts[i + 1],
                            bcuts[j] * cbk, bcuts[j + 1] * cbk < oc ? bcuts[j + 1] * cbk : oc);
    ++r->cases;
    d = first_diff(ref, out, out_n);
    if (d >= 0)
      tr_fail(r, "conv1x1_channels grid, %d pixels in_c=%d out_c=%d: byte %ld (ch %ld) got %d want %d",
              npix, ic, oc, d, d % oc, out[d], ref[d]);
    memset(out, SENTINEL, out_n);
    const int32_t p0 = rnd_range(0, npix - 1), p1 = rnd_range(p0 + 1, npix);
    const int32_t b0 = rnd_range(0, blocks - 1), b1 = rnd_range(b0 + 1, blocks);
    const int32_t c0 = b0 * cbk, c1 = b1 * cbk < oc ? b1 * cbk : oc;
    k->conv1x1_channels(&p, input, packed, mult, shift, out, p0, p1, c0, c1);
    ++r->cases;
    for (size_t i = 0; i < out_n; ++i) {
      const int32_t px = (int32_t)(i / oc), ch = (int32_t)(i % oc);
      const int8_t want = (px >= p0 && px < p1 && ch >= c0 && ch < c1) ? ref[i] : SENTINEL;
      if (out[i] != want) {
        tr_fail(r, "conv1x1_channels tile pixels [%d,%d) channels [%d,%d), in_c=%d out_c=%d: byte %zu got %d want %d",
                p0, p1, c0, c1, ic, oc, i, out[i], want);
        break;
      }
    }
  }
  free(input);
  free(filter);
  free(bias);
  free(mult);
  free(shift);
  free(ref);
  free(packed);
  free(out);
}

static void test_conv1x1(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "conv1x1");
  static const int32_t chans[] = {1,  2,  3,  4,  5,  7,  8,  9,  12, 15,  16,  17,  23,  24,
                                  25, 31, 32, 33, 40, 47, 48, 49, 63, 64,  65,  80,  95,  96,
                                  97, 112, 127, 128, 129, 144, 191, 192, 193, 240, 255, 256, 257};
  static const int32_t pix[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 27, 28, 29, 31,
                                32, 33, 49, 64, 65, 100};
  const int nchan = (int)(sizeof chans / sizeof chans[0]), npix = (int)(sizeof pix / sizeof pix[0]);
  conv1x1_case c;
  // Every output-channel count, every pixel count, every odd in_c up to 70.
  for (int i = 0; i < nchan; ++i) {
    memset(&c, 0, sizeof c);
    c.h = 1;
    c.w = pix[rnd_pick(npix)];
    c.in_c = rnd_range(1, 70);
    c.out_c = chans[i];
    c.quant_mode = i % 3 == 2 ? 2 : 0;
    conv1x1_run(k, &r, &c);
  }
  for (int i = 0; i < npix; ++i) {
    memset(&c, 0, sizeof c);
    c.h = 1;
    c.w = pix[i];
    c.in_c = chans[rnd_pick(nchan)];
    c.out_c = chans[rnd_pick(nchan)];
    conv1x1_run(k, &r, &c);
  }
  for (int32_t ic = 1; ic <= 70; ic += 2) {
    memset(&c, 0, sizeof c);
    c.h = rnd_range(1, 5);
    c.w = rnd_range(1, 9);
    c.in_c = ic;
    c.out_c = chans[rnd_pick(nchan)];
    c.quant_mode = ic % 5 == 0 ? 1 : 0;
    conv1x1_run(k, &r, &c);
  }
  const int nrand = g_quick ? 40 : 300;
  for (int i = 0; i < nrand; ++i) {
    memset(&c, 0, sizeof c);
    c.h = rnd_range(1, 12);
    c.w = rnd_range(1, 12);
    c.in_c = rnd_pick(4) ? rnd_range(1, 200) : chans[rnd_pick(nchan)];
    c.out_c = rnd_pick(4) ? rnd_range(1, 200) : chans[rnd_pick(nchan)];
    c.quant_mode = rnd_pick(3);
    c.no_bias = rnd_pick(8) == 0;
    c.zero_filter = rnd_pick(12) == 0;
    conv1x1_run(k, &r, &c);
  }
  // EfficientNet-like shapes (smaller spatial extent).
  static const int32_t shapes[][2] = {{16, 96}, {24, 144}, {144, 24}, {40, 240}, {240, 40},
                                      {80, 480}, {480, 112}, {112, 672}, {672, 192}, {1152, 320},
                                      {320, 1280}, {32, 16}};
  for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); ++i) {
    memset(&c, 0, sizeof c);
    c.h = rnd_range(3, 9);
    c.w = rnd_range(3, 9);
    c.in_c = shapes[i][0];
    c.out_c = shapes[i][1];
    conv1x1_run(k, &r, &c);
  }
  // Huge in_c (tables may fall back to another path above some K).
  int32_t bigk[] = {4095, 4096, 4097, 5003, 9000};
  for (int i = 0; i < 5; ++i) {
    memset(&c, 0, sizeof c);
    c.h = 1;
    c.w = rnd_range(1, 11);
    c.in_c = bigk[i];
    c.out_c = i % 2 ? rnd_range(1, 40) : rnd_range(65, 150);  // several channel blocks there too
    conv1x1_run(k, &r, &c);
  }
  tr_end(&r);
}

// ---- requantization at and next to rounding ties ---------------------------------------------
// Random accumulators rarely land on the reference's rounding ties, where a requantization
// that is not TFLite's (fp32 without its exactness test, one rounding instead of two) gives
// other bytes. Here every accumulator of a contiguous range is produced: a 1x1 conv (and a 3x3
// depthwise conv with only the centre tap) with weight 1, input zero point 0, the 256 input
// values in 256 pixels and per-channel biases 256 apart, so channel c sees acc = bias0 +
// 256 c + x. Multipliers 2^30 (exact ties: acc / 2^(e+1)), 2^30 + 1 (just past them),
// 3 * 2^29, 2^31 - 1 and random ones, shifts from -1 to -20, several output zero points and
// activation ranges, and acc ranges that cover the unsaturated outputs.
static void test_requant_ties(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "requant_ties");
  enum { NPIX = 256, OC = 80 };  // one 64-channel block and a 16-channel tail
  static const int32_t shifts[] = {-1, -2, -3, -4, -5, -7, -8, -10, -12, -14, -17, -20};
  static const int32_t zps[] = {-128, -3, 0, 5, 127};
  int8_t *input = (int8_t *)xmalloc(NPIX);
  for (int32_t i = 0; i < NPIX; ++i) input[i] = (int8_t)(i - 128);
  int8_t filter1[OC];
  for (int32_t c = 0; c < OC; ++c) filter1[c] = 1;
  int32_t bias[OC], mult[OC], shift[OC];
  int8_t ref[NPIX * OC], out[NPIX * OC];
  void *packed1 = xmalloc(k->conv1x1_packed_size(1, OC));
  void *packed9 = xmalloc(k->dwconv_packed_size(3, 3, OC));
  for (int si = 0; si < (int)(sizeof shifts / sizeof shifts[0]); ++si)
    for (int mi = 0; mi < 5; ++mi) {
      const int32_t e = -shifts[si];
      const int32_t m = mi == 0 ? (1 << 30) : mi == 1 ? (1 << 30) + 1 : mi == 2 ? 3 << 29
                        : mi == 3 ? INT32_MAX : (int32_t)((1u << 30) + (rnd32() >> 2));
      for (int32_t c = 0; c < OC; ++c) {
        mult[c] = m;
        shift[c] = shifts[si];
      }
      // Unsaturated outputs need |acc| below about 2^(e+9): cover that from its low end up.
      const int64_t reach = INT64_C(1) << (e + 9 < 30 ? e + 9 : 30);
      const int32_t pieces = e + 9 <= 14 ? 1 : 3;
      for (int32_t piece = 0; piece < pieces; ++piece) {
        int64_t bias0 = piece == 0 ? -(int64_t)OC * 128 : piece == 1 ? -reach : reach - (int64_t)OC * 256;
        if (e + 9 > 14 && piece == 0) bias0 = -reach / 3;
        for (int32_t c = 0; c < OC; ++c) bias[c] = (int32_t)(bias0 + 256 * c);
        effk_conv2d_params p;
        memset(&p, 0, sizeof p);
        p.in_h = p.out_h = 16;
        p.in_w = p.out_w = 16;
        p.in_c = 1;
        p.out_c = OC;
        p.kernel_h = p.kernel_w = 1;
        p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
        p.depth_multiplier = 1;
        p.output_zero_point = zps[rnd_pick(5)];
        gen_act(p.output_zero_point, &p.act_min, &p.act_max);
        effk_qs8_conv2d__scalar(&p, input, filter1, bias, mult, shift, ref, 0, 16);
        k->conv1x1_pack(filter1, bias, 1, OC, 0, packed1);
        memset(out, SENTINEL, sizeof out);
        k->conv1x1(&p, input, packed1, mult, shift, out, 0, NPIX);
        ++r.cases;
        long d = first_diff(ref, out, sizeof out);
        if (d >= 0)
          tr_fail(&r, "conv1x1 mult %d shift %d zp %d act [%d,%d]: pixel %ld ch %ld (acc %d) got %d want %d",
                  m, shifts[si], p.output_zero_point, p.act_min, p.act_max, d / OC, d % OC,
                  bias[d % OC] + (int32_t)(d / OC) - 128, out[d], ref[d]);
        // The same accumulators through a depthwise 3x3 (centre tap only), OC and 32 channels.
        for (int32_t cc = 0; cc < 2; ++cc) {
          const int32_t ch = cc ? 32 : OC;
          effk_conv2d_params q = p;
          q.in_c = q.out_c = ch;
          q.kernel_h = q.kernel_w = 3;
          q.pad_top = q.pad_left = 1;
          int8_t *in_dw = (int8_t *)xmalloc((size_t)NPIX * ch);
          for (int32_t i = 0; i < NPIX; ++i)
            for (int32_t c = 0; c < ch; ++c) in_dw[(size_t)i * ch + c] = input[i];
          int8_t f9[9 * OC];
          memset(f9, 0, sizeof f9);
          for (int32_t c = 0; c < ch; ++c) f9[4 * ch + c] = 1;
          effk_qs8_dwconv2d__scalar(&q, in_dw, f9, bias, mult, shift, ref, 0, 16);
          k->dwconv_pack(f9, bias, 3, 3, ch, 0, packed9);
          memset(out, SENTINEL, sizeof out);
          k->dwconv(&q, in_dw, packed9, mult, shift, out, 0, 16);
          ++r.cases;
          d = first_diff(ref, out, (size_t)NPIX * ch);
          if (d >= 0)
            tr_fail(&r, "dwconv 3x3 C=%d mult %d shift %d zp %d act [%d,%d]: pixel %ld ch %ld got %d want %d",
                    ch, m, shifts[si], q.output_zero_point, q.act_min, q.act_max, d / ch, d % ch,
                    out[d], ref[d]);
          free(in_dw);
        }
      }
    }
  free(input);
  free(packed1);
  free(packed9);
  tr_end(&r);
}

// ---- conv (general) --------------------------------------------------------------------------

typedef struct {
  int32_t in_h, in_w, in_c, out_c, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  int quant_mode, no_bias;
} conv_case;

static int32_t out_extent(int32_t in, int32_t k, int32_t s, int32_t d, int32_t pa, int32_t pb) {
  const int32_t eff = (k - 1) * d + 1;
  const int32_t span = in + pa + pb - eff;
  return span < 0 ? 0 : span / s + 1;
}

// TFLite SAME padding: (out, pad_before) for an input extent.
static void same_pad(int32_t in, int32_t k, int32_t s, int32_t d, int32_t *pa, int32_t *pb) {
  const int32_t out = (in + s - 1) / s, eff = (k - 1) * d + 1;
  int32_t total = (out - 1) * s + eff - in;
  if (total < 0) total = 0;
  *pa = total / 2;
  *pb = total - total / 2;
}

static void fill_conv_params(effk_conv2d_params *p, const conv_case *c, int32_t out_c) {
  memset(p, 0, sizeof *p);
  p->in_h = c->in_h;
  p->in_w = c->in_w;
  p->in_c = c->in_c;
  p->out_c = out_c;
  p->kernel_h = c->kh;
  p->kernel_w = c->kw;
  p->stride_h = c->sh;
  p->stride_w = c->sw;
  p->dilation_h = c->dh;
  p->dilation_w = c->dw;
  p->pad_top = c->pt;
  p->pad_left = c->pl;
  p->out_h = out_extent(c->in_h, c->kh, c->sh, c->dh, c->pt, c->pb);
  p->out_w = out_extent(c->in_w, c->kw, c->sw, c->dw, c->pl, c->pr);
  p->depth_multiplier = 1;
  p->input_zero_point = rnd_zp();
  p->output_zero_point = rnd_zp();
  gen_act(p->output_zero_point, &p->act_min, &p->act_max);
}

typedef void (*row_kernel)(const effk_isa_kernels *k, const effk_conv2d_params *p,
                           const int8_t *input, const void *packed, const int32_t *mult,
                           const int32_t *shift, int8_t *out, int32_t oy0, int32_t oy1);

static void call_conv(const effk_isa_kernels *k, const effk_conv2d_params *p, const int8_t *input,
                      const void *packed, const int32_t *mult, const int32_t *shift, int8_t *out,
                      int32_t oy0, int32_t oy1) {
  k->conv(p, input, packed, mult, shift, out, oy0, oy1);
}
static void call_dwconv(const effk_isa_kernels *k, const effk_conv2d_params *p,
                        const int8_t *input, const void *packed, const int32_t *mult,
                        const int32_t *shift, int8_t *out, int32_t oy0, int32_t oy1) {
  k->dwconv(p, input, packed, mult, shift, out, oy0, oy1);
}

// Runs a row kernel over random row pieces and a sub-range; compares with ref.
static void check_rows(const effk_isa_kernels *k, test_result *r, row_kernel fn,
                       const effk_conv2d_params *p, const int8_t *input, const void *packed,
                       const int32_t *mult, const int32_t *shift, const int8_t *ref,
                       const char *what) {
  const size_t out_n = (size_t)p->out_h * p->out_w * p->out_c;
  const size_t row = (size_t)p->out_w * p->out_c;
  int8_t *out = (int8_t *)xmalloc(out_n);
  memset(out, SENTINEL, out_n);
  int32_t cuts[6];
  const int pieces = split_range(0, p->out_h, cuts);
  for (int i = 0; i < pieces; ++i) fn(k, p, input, packed, mult, shift, out, cuts[i], cuts[i + 1]);
  ++r->cases;
  const long d = first_diff(ref, out, out_n);
  if (d >= 0) {
    const long px = d / p->out_c, ch = d % p->out_c;
    tr_fail(r,
            "%s in %dx%dx%d out %dx%dx%d k %dx%d s %d,%d d %d,%d pad %d,%d zp_in %d zp_out %d "
            "act [%d,%d]: byte %ld (y %ld x %ld ch %ld, mult %d shift %d) got %d want %d",
            what, p->in_h, p->in_w, p->in_c, p->out_h, p->out_w, p->out_c, p->kernel_h,
            p->kernel_w, p->stride_h, p->stride_w, p->dilation_h, p->dilation_w, p->pad_top,
            p->pad_left, p->input_zero_point, p->output_zero_point, p->act_min, p->act_max, d,
            px / p->out_w, px % p->out_w, ch, mult[ch], shift[ch], out[d], ref[d]);
  }
  if (p->out_h > 1) {
    memset(out, SENTINEL, out_n);
    const int32_t b = rnd_range(0, p->out_h - 1), e = rnd_range(b, p->out_h);
    fn(k, p, input, packed, mult, shift, out, b, e);
    ++r->cases;
    for (size_t i = 0; i < out_n; ++i) {
      const int32_t y = (int32_t)(i / row);
      const int8_t want = (y >= b && y < e) ? ref[i] : SENTINEL;
      if (out[i] != want) {
        tr_fail(r, "%s sub-range rows [%d,%d) of %d: byte %zu got %d want %d", what, b, e,
                p->out_h, i, out[i], want);
        break;
      }
    }
  }
  free(out);
}

static void conv_run(const effk_isa_kernels *k, test_result *r, const conv_case *c) {
  effk_conv2d_params p;
  fill_conv_params(&p, c, c->out_c);
  if (p.out_h <= 0 || p.out_w <= 0) return;
  const int32_t kk = c->kh * c->kw * c->in_c;
  int8_t *input = rand_i8_buf((size_t)c->in_h * c->in_w * c->in_c);
  int8_t *filter = rand_i8_buf((size_t)c->out_c * kk);
  int32_t *bias = c->no_bias ? NULL : rand_bias(c->out_c, c->quant_mode != 0);
  int32_t *mult = (int32_t *)xmalloc((size_t)c->out_c * 4);
  int32_t *shift = (int32_t *)xmalloc((size_t)c->out_c * 4);
  gen_quant(mult, shift, c->out_c, c->quant_mode, shift_for(kk));
  const size_t out_n = (size_t)p.out_h * p.out_w * p.out_c;
  int8_t *ref = (int8_t *)xmalloc(out_n);
  effk_qs8_conv2d__scalar(&p, input, filter, bias, mult, shift, ref, 0, p.out_h);
  void *packed = xmalloc(k->conv_packed_size(c->kh, c->kw, c->in_c, c->out_c));
  k->conv_pack(filter, bias, c->kh, c->kw, c->in_c, c->out_c, p.input_zero_point, packed);
  check_rows(k, r, call_conv, &p, input, packed, mult, shift, ref, "conv");
  free(input);
  free(filter);
  free(bias);
  free(mult);
  free(shift);
  free(ref);
  free(packed);
}

static void test_conv(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "conv");
  conv_case c;
  // The stem: 3x3 s2 SAME, 3 input channels, 32 outputs (smaller image).
  static const int32_t stem_sizes[] = {224, 17, 16, 9, 8, 5, 2, 1};
  for (int i = 0; i < (int)(sizeof stem_sizes / sizeof stem_sizes[0]); ++i) {
    memset(&c, 0, sizeof c);
    c.in_h = stem_sizes[i];
    c.in_w = i == 0 ? 24 : stem_sizes[i];
    c.in_c = 3;
    c.out_c = 32;
    c.kh = c.kw = 3;
    c.sh = c.sw = 2;
    c.dh = c.dw = 1;
    same_pad(c.in_h, 3, 2, 1, &c.pt, &c.pb);
    same_pad(c.in_w, 3, 2, 1, &c.pl, &c.pr);
    c.quant_mode = i == 3 ? 2 : 0;
    conv_run(k, &r, &c);
  }
  const int nrand = g_quick ? 60 : 400;
  for (int i = 0; i < nrand; ++i) {
    memset(&c, 0, sizeof c);
    static const int32_t ks[] = {1, 2, 3, 3, 3, 5, 7};
    c.kh = ks[rnd_pick(7)];
    c.kw = rnd_pick(3) ? c.kh : ks[rnd_pick(7)];
    c.sh = rnd_range(1, 3);
    c.sw = rnd_pick(3) ? c.sh : rnd_range(1, 3);
    c.dh = rnd_pick(5) ? 1 : 2;
    c.dw = rnd_pick(5) ? 1 : 2;
    c.in_h = rnd_range(1, 13);
    c.in_w = rnd_range(1, 13);
    c.in_c = rnd_pick(3) ? rnd_range(1, 9) : rnd_range(1, 70);
    c.out_c = rnd_pick(3) ? rnd_range(1, 70) : 16 * rnd_range(1, 6);
    if (rnd_pick(2)) {
      same_pad(c.in_h, c.kh, c.sh, c.dh, &c.pt, &c.pb);
      same_pad(c.in_w, c.kw, c.sw, c.dw, &c.pl, &c.pr);
    } else {
      c.pt = rnd_range(0, (c.kh - 1) * c.dh);
      c.pb = rnd_range(0, (c.kh - 1) * c.dh);
      c.pl = rnd_range(0, (c.kw - 1) * c.dw);
      c.pr = rnd_range(0, (c.kw - 1) * c.dw);
    }
    c.quant_mode = rnd_pick(3);
    c.no_bias = rnd_pick(8) == 0;
    conv_run(k, &r, &c);
  }
  // Large K (kh*kw*in_c): tables may take another path above some size.
  static const int32_t bigc[][3] = {{3, 455}, {3, 456}, {3, 700}, {1, 4100}, {5, 200}};
  for (int i = 0; i < 5; ++i) {
    memset(&c, 0, sizeof c);
    c.kh = c.kw = bigc[i][0];
    c.sh = c.sw = c.dh = c.dw = 1;
    c.in_h = c.in_w = rnd_range(1, 5);
    c.in_c = bigc[i][1];
    c.out_c = rnd_range(1, 33);
    same_pad(c.in_h, c.kh, 1, 1, &c.pt, &c.pb);
    same_pad(c.in_w, c.kw, 1, 1, &c.pl, &c.pr);
    conv_run(k, &r, &c);
  }
  tr_end(&r);
}

// ---- dwconv -----------------------------------------------------------------------------------

// dwconv_channels: every output from a random grid of row pieces x channel-block pieces must
// equal ref; then one random tile alone must write its rows x channels and nothing else.
static void check_channel_tiles(const effk_isa_kernels *k, test_result *r,
                                const effk_conv2d_params *p, const int8_t *input,
                                const void *packed, const int32_t *mult, const int32_t *shift,
                                const int8_t *ref) {
  const int32_t c = p->out_c, cbk = k->dwconv_channel_block;
  const int32_t blocks = (c + cbk - 1) / cbk;
  const size_t out_n = (size_t)p->out_h * p->out_w * c;
  int8_t *out = (int8_t *)xmalloc(out_n);
  memset(out, SENTINEL, out_n);
  int32_t ycuts[6], bcuts[6];
  const int ny = split_range(0, p->out_h, ycuts), nb = split_range(0, blocks, bcuts);
  for (int i = 0; i < ny; ++i)
    for (int j = 0; j < nb; ++j) {
      const int32_t c1 = bcuts[j + 1] * cbk < c ? bcuts[j + 1] * cbk : c;
      k->dwconv_channels(p, input, packed, mult, shift, out, ycuts[i], ycuts[i + 1],
                         bcuts[j] * cbk, c1);
    }
  ++r->cases;
  const long d = first_diff(ref, out, out_n);
  if (d >= 0)
    tr_fail(r, "dwconv_channels grid, in %dx%dx%d k %dx%d s %d: byte %ld (ch %ld) got %d want %d",
            p->in_h, p->in_w, c, p->kernel_h, p->kernel_w, p->stride_h, d, d % c, out[d], ref[d]);
  memset(out, SENTINEL, out_n);
  const int32_t y0 = rnd_range(0, p->out_h - 1), y1 = rnd_range(y0 + 1, p->out_h);
  const int32_t b0 = rnd_range(0, blocks - 1), b1 = rnd_range(b0 + 1, blocks);
  const int32_t c0 = b0 * cbk, c1 = b1 * cbk < c ? b1 * cbk : c;
  k->dwconv_channels(p, input, packed, mult, shift, out, y0, y1, c0, c1);
  ++r->cases;
  for (size_t i = 0; i < out_n; ++i) {
    const int32_t y = (int32_t)(i / ((size_t)p->out_w * c)), ch = (int32_t)(i % c);
    const int8_t want = (y >= y0 && y < y1 && ch >= c0 && ch < c1) ? ref[i] : SENTINEL;
    if (out[i] != want) {
      tr_fail(r, "dwconv_channels tile rows [%d,%d) channels [%d,%d) of %dx%d: byte %zu got %d want %d",
              y0, y1, c0, c1, p->out_h, c, i, out[i], want);
      break;
    }
  }
  free(out);
}

static void dwconv_run(const effk_isa_kernels *k, test_result *r, const conv_case *c) {
  effk_conv2d_params p;
  fill_conv_params(&p, c, c->in_c);
  if (p.out_h <= 0 || p.out_w <= 0) return;
  const int32_t ch = c->in_c;
  int8_t *input = rand_i8_buf((size_t)c->in_h * c->in_w * ch);
  int8_t *filter = rand_i8_buf((size_t)c->kh * c->kw * ch);
  int32_t *bias = c->no_bias ? NULL : rand_bias(ch, c->quant_mode != 0);
  int32_t *mult = (int32_t *)xmalloc((size_t)ch * 4);
  int32_t *shift = (int32_t *)xmalloc((size_t)ch * 4);
  gen_quant(mult, shift, ch, c->quant_mode, shift_for(c->kh * c->kw));
  const size_t out_n = (size_t)p.out_h * p.out_w * ch;
  int8_t *ref = (int8_t *)xmalloc(out_n);
  effk_qs8_dwconv2d__scalar(&p, input, filter, bias, mult, shift, ref, 0, p.out_h);
  void *packed = xmalloc(k->dwconv_packed_size(c->kh, c->kw, ch));
  k->dwconv_pack(filter, bias, c->kh, c->kw, ch, p.input_zero_point, packed);
  check_rows(k, r, call_dwconv, &p, input, packed, mult, shift, ref, "dwconv");
  if (k->dwconv_channels) check_channel_tiles(k, r, &p, input, packed, mult, shift, ref);
  free(input);
  free(filter);
  free(bias);
  free(mult);
  free(shift);
  free(ref);
  free(packed);
}

static void test_dwconv(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "dwconv");
  static const int32_t chans[] = {1,  2,  3,  7,  8,  15, 16, 17, 31,  32,  33,  47,  48, 63,
                                  64, 65, 80, 95, 96, 97, 127, 128, 129, 144, 191, 192, 240, 255};
  const int nchan = (int)(sizeof chans / sizeof chans[0]);
  conv_case c;
  // EfficientNet's four shapes at every channel count (SAME padding, odd and even sizes).
  for (int ksz = 3; ksz <= 5; ksz += 2)
    for (int s = 1; s <= 2; ++s)
      for (int i = 0; i < nchan; ++i) {
        memset(&c, 0, sizeof c);
        c.kh = c.kw = ksz;
        c.sh = c.sw = s;
        c.dh = c.dw = 1;
        c.in_h = rnd_range(1, 12);
        c.in_w = rnd_range(1, 12);
        c.in_c = chans[i];
        same_pad(c.in_h, ksz, s, 1, &c.pt, &c.pb);
        same_pad(c.in_w, ksz, s, 1, &c.pl, &c.pr);
        c.quant_mode = i % 4 == 3 ? 2 : 0;
        c.no_bias = i % 9 == 8;
        dwconv_run(k, &r, &c);
      }
  // Larger images (interior fast paths), EfficientNet channel counts.
  // {k, stride, h, w, channels}: larger images, wide rows (kernels may split rows in chunks).
  static const int32_t big[][5] = {{3, 1, 28, 28, 32},  {3, 2, 29, 29, 96},  {5, 1, 14, 14, 144},
                                   {5, 2, 15, 15, 240}, {3, 1, 7, 7, 672},   {5, 1, 9, 9, 1152},
                                   {3, 2, 56, 56, 16},  {3, 1, 4, 131, 70},  {5, 1, 5, 97, 33},
                                   {5, 2, 6, 150, 65},  {3, 2, 3, 257, 17},  {7, 1, 8, 90, 40},
                                   {3, 1, 3, 300, 200}};
  for (int i = 0; i < (int)(sizeof big / sizeof big[0]); ++i) {
    memset(&c, 0, sizeof c);
    c.kh = c.kw = big[i][0];
    c.sh = c.sw = big[i][1];
    c.dh = c.dw = 1;
    c.in_h = big[i][2];
    c.in_w = big[i][3];
    c.in_c = big[i][4];
    same_pad(c.in_h, c.kh, c.sh, 1, &c.pt, &c.pb);
    same_pad(c.in_w, c.kw, c.sw, 1, &c.pl, &c.pr);
    c.quant_mode = i % 3 == 2 ? 2 : 0;
    dwconv_run(k, &r, &c);
  }
  // Random kernel sizes, strides, dilations, paddings, quantization extremes.
  const int nrand = g_quick ? 60 : 400;
  for (int i = 0; i < nrand; ++i) {
    memset(&c, 0, sizeof c);
    static const int32_t ks[] = {1, 2, 3, 3, 3, 4, 5, 5, 7};
    c.kh = ks[rnd_pick(9)];
    c.kw = rnd_pick(3) ? c.kh : ks[rnd_pick(9)];
    c.sh = rnd_range(1, 4);
    c.sw = rnd_pick(3) ? c.sh : rnd_range(1, 4);
    c.dh = rnd_pick(5) ? 1 : 2;
    c.dw = rnd_pick(5) ? 1 : 2;
    c.in_h = rnd_range(1, 14);
    c.in_w = rnd_range(1, 14);
    c.in_c = rnd_pick(2) ? chans[rnd_pick(nchan)] : rnd_range(1, 150);
    if (rnd_pick(2)) {
      same_pad(c.in_h, c.kh, c.sh, c.dh, &c.pt, &c.pb);
      same_pad(c.in_w, c.kw, c.sw, c.dw, &c.pl, &c.pr);
    } else {
      c.pt = rnd_range(0, (c.kh - 1) * c.dh);
      c.pb = rnd_range(0, (c.kh - 1) * c.dh);
      c.pl = rnd_range(0, (c.kw - 1) * c.dw);
      c.pr = rnd_range(0, (c.kw - 1) * c.dw);
    }
    c.quant_mode = rnd_pick(3);
    c.no_bias = rnd_pick(8) == 0;
    dwconv_run(k, &r, &c);
  }
  tr_end(&r);
}

// ---- elementwise ------------------------------------------------------------------------------

static const size_t elem_sizes[] = {0,  1,  2,  3,  7,   8,   15,  16,  17,  31,  32,   33,  47,
                                    48, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4099};
#define N_ELEM_SIZES (sizeof elem_sizes / sizeof elem_sizes[0])

static float rnd_scale(void) {
  // 2^-12 .. 2^2, log-uniform-ish
  const float base = (float)(rnd32() % 10000) / 10000.0f + 1.0f;
  const int e = rnd_range(-12, 2);
  float s = base;
  for (int i = 0; i < (e < 0 ? -e : e); ++i) s = e < 0 ? s * 0.5f : s * 2.0f;
  return s;
}

// Every pair of int8 inputs, a[i] = i & 255 and b[i] = i >> 8 (65536 elements), with result
// buffers: for elementwise kernels whose exactness turns on particular input pairs.
typedef struct {
  int8_t *a, *b, *ref, *out;
  size_t n;
} all_pairs;

static all_pairs all_pairs_new(void) {
  all_pairs p;
  p.n = 65536;
  p.a = (int8_t *)xmalloc(p.n);
  p.b = (int8_t *)xmalloc(p.n);
  p.ref = (int8_t *)xmalloc(p.n);
  p.out = (int8_t *)xmalloc(p.n);
  for (size_t i = 0; i < p.n; ++i) {
    p.a[i] = (int8_t)(i & 255);
    p.b[i] = (int8_t)(i >> 8);
  }
  return p;
}

static void all_pairs_free(all_pairs *p) {
  free(p->a);
  free(p->b);
  free(p->ref);
  free(p->out);
}

static void add_params_rand(effk_add_params *ap, int extreme) {
  int32_t amin, amax;
  const int32_t zo = rnd_zp();
  gen_act(zo, &amin, &amax);
  effk_qs8_add_params_init(ap, rnd_scale(), rnd_zp(), rnd_scale(), rnd_zp(), rnd_scale(), zo, amin,
                           amax);
  if (extreme) {
    int32_t m[3], s[3];
    gen_quant(m, s, 3, 1, 0);
    ap->input1_multiplier = m[0];
    ap->input2_multiplier = m[1];
    ap->output_multiplier = m[2];
    // Input shifts are <= 0 in TFLite (MultiplyByQuantizedMultiplierSmallerThanOneExp).
    ap->input1_shift = s[0] > 0 ? -s[0] : s[0];
    ap->input2_shift = s[1] > 0 ? -s[1] : s[1];
    ap->output_shift = s[2];
  }
}

static void test_add(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "add");
  const int rounds = g_quick ? 2 : 8;
  for (int round = 0; round < rounds; ++round)
    for (size_t si = 0; si < N_ELEM_SIZES; ++si) {
      const size_t n = elem_sizes[si];
      effk_add_params ap;
      add_params_rand(&ap, round % 2);
      int8_t *a = rand_i8_buf(n), *b = rand_i8_buf(n);
      int8_t *ref = (int8_t *)xmalloc(n), *out = (int8_t *)xmalloc(n);
      effk_qs8_add__scalar(&ap, a, b, ref, n);
      memset(out, SENTINEL, n);
      k->add(&ap, a, b, out, n);
      ++r.cases;
      long d = first_diff(ref, out, n);
      if (d >= 0)
        tr_fail(&r, "n=%zu extreme=%d: byte %ld (a %d b %d) got %d want %d", n, round % 2, d, a[d],
                b[d], out[d], ref[d]);
      // In place (out == a), as the engine may do.
      memcpy(out, a, n);
      k->add(&ap, out, b, out, n);
      ++r.cases;
      d = first_diff(ref, out, n);
      if (d >= 0) tr_fail(&r, "in place n=%zu: byte %ld got %d want %d", n, d, out[d], ref[d]);
      // In place on the second operand (out == b): the engine's residual ADD epilogue.
      memcpy(out, b, n);
      k->add(&ap, a, out, out, n);
      ++r.cases;
      d = first_diff(ref, out, n);
      if (d >= 0) tr_fail(&r, "in place (b) n=%zu: byte %ld got %d want %d", n, d, out[d], ref[d]);
      free(a);
      free(b);
      free(ref);
      free(out);
    }
  // Every pair of inputs (65536) under scales in simple ratios, which put many sums exactly on
  // the output's rounding ties, in ratios just off them, and random ones; the last also with
  // output scales small and large against the inputs'.
  {
    all_pairs pairs = all_pairs_new();
    static const float ratios[][3] = {{0.05f, 0.07f, 0.08f}, {0.05f, 0.05f, 0.1f},  {0.02f, 0.04f, 0.04f},
                                      {0.1f, 0.1f, 0.1f},    {0.05f, 0.07f, 0.080001f}, {0.03f, 0.09f, 0.0125f},
                                      {0.5f, 0.25f, 0.003f}, {0.01f, 0.02f, 0.5f}};
    const int nsets = (int)(sizeof ratios / sizeof ratios[0]) + (g_quick ? 8 : 24);
    for (int set = 0; set < nsets; ++set) {
      const int fixed = set < (int)(sizeof ratios / sizeof ratios[0]);
      const float s1 = fixed ? ratios[set][0] : rnd_scale(), s2 = fixed ? ratios[set][1] : rnd_scale();
      const float so = fixed ? ratios[set][2] : rnd_scale() * (set % 3 == 0 ? 4.0f : set % 3 == 1 ? 0.25f : 1.0f);
      const int32_t zo = rnd_zp();
      int32_t amin, amax;
      gen_act(zo, &amin, &amax);
      effk_add_params ap;
      effk_qs8_add_params_init(&ap, s1, rnd_zp(), s2, rnd_zp(), so, zo, amin, amax);
      effk_qs8_add__scalar(&ap, pairs.a, pairs.b, pairs.ref, pairs.n);
      memset(pairs.out, SENTINEL, pairs.n);
      k->add(&ap, pairs.a, pairs.b, pairs.out, pairs.n);
      ++r.cases;
      const long d = first_diff(pairs.ref, pairs.out, pairs.n);
      if (d >= 0)
        tr_fail(&r, "all pairs, scales %g %g -> %g zp %d/%d/%d act [%d,%d]: a %d b %d got %d want %d",
                (double)s1, (double)s2, (double)so, ap.input1_offset, ap.input2_offset, ap.output_offset,
                ap.act_min, ap.act_max, pairs.a[d], pairs.b[d], pairs.out[d], pairs.ref[d]);
    }
    all_pairs_free(&pairs);
  }
  tr_end(&r);
}

static void mul_params_rand(effk_mul_params *mp, int extreme) {
  int32_t amin, amax;
  const int32_t zo = rnd_zp();
  gen_act(zo, &amin, &amax);
  effk_qs8_mul_params_init(mp, rnd_scale(), rnd_zp(), rnd_scale(), rnd_zp(), rnd_scale(), zo, amin,
                           amax);
  if (extreme) {
    int32_t m, s;
    gen_quant(&m, &s, 1, 1, 0);
    mp->output_multiplier = m;
    mp->output_shift = s;
  }
}

static void test_mul(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "mul");
  const int rounds = g_quick ? 2 : 8;
  for (int round = 0; round < rounds; ++round)
    for (size_t si = 0; si < N_ELEM_SIZES; ++si) {
      const size_t n = elem_sizes[si];
      effk_mul_params mp;
      mul_params_rand(&mp, round % 2);
      int8_t *a = rand_i8_buf(n), *b = rand_i8_buf(n);
      int8_t *ref = (int8_t *)xmalloc(n), *out = (int8_t *)xmalloc(n);
      effk_qs8_mul__scalar(&mp, a, b, ref, n);
      memset(out, SENTINEL, n);
      k->mul(&mp, a, b, out, n);
      ++r.cases;
      long d = first_diff(ref, out, n);
      if (d >= 0)
        tr_fail(&r, "n=%zu extreme=%d mult %d shift %d: byte %ld (a %d b %d) got %d want %d", n,
                round % 2, mp.output_multiplier, mp.output_shift, d, a[d], b[d], out[d], ref[d]);
      memcpy(out, b, n);
      k->mul(&mp, a, out, out, n);
      ++r.cases;
      d = first_diff(ref, out, n);
      if (d >= 0) tr_fail(&r, "in place n=%zu: byte %ld got %d want %d", n, d, out[d], ref[d]);
      free(a);
      free(b);
      free(ref);
      free(out);
    }
  // Every pair of inputs (65536 products) under multipliers that put many of them on rounding
  // ties (2^30, 3 * 2^29) or next to them (2^30 + 1), and random ones; shifts -1 to -16.
  {
    all_pairs pairs = all_pairs_new();
    static const int32_t shifts[] = {-1, -2, -4, -6, -8, -11, -13, -16};
    for (int si = 0; si < 8; ++si)
      for (int mi = 0; mi < 4; ++mi) {
        effk_mul_params mp;
        mul_params_rand(&mp, 0);
        mp.output_multiplier = mi == 0 ? (1 << 30) : mi == 1 ? (1 << 30) + 1 : mi == 2 ? 3 << 29
                               : (int32_t)((1u << 30) + (rnd32() >> 2));
        mp.output_shift = shifts[si];
        effk_qs8_mul__scalar(&mp, pairs.a, pairs.b, pairs.ref, pairs.n);
        memset(pairs.out, SENTINEL, pairs.n);
        k->mul(&mp, pairs.a, pairs.b, pairs.out, pairs.n);
        ++r.cases;
        const long d = first_diff(pairs.ref, pairs.out, pairs.n);
        if (d >= 0)
          tr_fail(&r, "all pairs, mult %d shift %d zp %d/%d/%d act [%d,%d]: a %d b %d got %d want %d",
                  mp.output_multiplier, mp.output_shift, mp.input1_offset, mp.input2_offset,
                  mp.output_offset, mp.act_min, mp.act_max, pairs.a[d], pairs.b[d], pairs.out[d], pairs.ref[d]);
      }
    all_pairs_free(&pairs);
  }
  tr_end(&r);
}

static void test_mul_channel(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "mul_channel");
  static const int32_t chans[] = {1,   2,   15,  16,  17,  31,   32,   33,  63,
                                  64,  65,  96,  144, 240, 255, 672, 1152, 4096, 4097};
  const int rounds = g_quick ? 1 : 4;
  for (int round = 0; round < rounds; ++round)
    for (int ci = 0; ci < (int)(sizeof chans / sizeof chans[0]); ++ci) {
      const int32_t c = chans[ci], npix = rnd_range(1, 20);
      const size_t n = (size_t)c * npix;
      effk_mul_params mp;
      mul_params_rand(&mp, round % 2);
      int8_t *a = rand_i8_buf(n), *ch = rand_i8_buf((size_t)c);
      int8_t *ref = (int8_t *)xmalloc(n), *out = (int8_t *)xmalloc(n);
      for (int32_t px = 0; px < npix; ++px)
        effk_qs8_mul__scalar(&mp, a + (size_t)px * c, ch, ref + (size_t)px * c, (size_t)c);
      memset(out, SENTINEL, n);
      int32_t cuts[6];
      const int pieces = split_range(0, npix, cuts);
      for (int i = 0; i < pieces; ++i) k->mul_channel(&mp, a, ch, out, c, cuts[i], cuts[i + 1]);
      ++r.cases;
      long d = first_diff(ref, out, n);
      if (d >= 0)
        tr_fail(&r, "c=%d pixels=%d: byte %ld got %d want %d", c, npix, d, out[d], ref[d]);
      memset(out, SENTINEL, n);
      const int32_t b = rnd_range(0, npix - 1), e = rnd_range(b, npix);
      k->mul_channel(&mp, a, ch, out, c, b, e);
      ++r.cases;
      for (size_t i = 0; i < n; ++i) {
        const int32_t px = (int32_t)(i / c);
        const int8_t want = (px >= b && px < e) ? ref[i] : SENTINEL;
        if (out[i] != want) {
          tr_fail(&r, "sub-range [%d,%d) c=%d: byte %zu got %d want %d", b, e, c, i, out[i], want);
          break;
        }
      }
      free(a);
      free(ch);
      free(ref);
      free(out);
    }
  tr_end(&r);
}

static void test_lookup(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "lookup");
  const int rounds = g_quick ? 1 : 4;
  for (int round = 0; round < rounds; ++round)
    for (size_t si = 0; si < N_ELEM_SIZES; ++si) {
      const size_t n = elem_sizes[si];
      int8_t table[256];
      if (round == 0) {
        effk_qs8_logistic_table(rnd_scale(), rnd_zp(), table);
      } else {
        for (int i = 0; i < 256; ++i) table[i] = rnd_i8();
      }
      int8_t *in = rand_i8_buf(n), *ref = (int8_t *)xmalloc(n), *out = (int8_t *)xmalloc(n);
      effk_qs8_lookup__scalar(table, in, ref, n);
      memset(out, SENTINEL, n);
      k->lookup(table, in, out, n);
      ++r.cases;
      long d = first_diff(ref, out, n);
      if (d >= 0)
        tr_fail(&r, "n=%zu: byte %ld (in %d) got %d want %d", n, d, in[d], out[d], ref[d]);
      memcpy(out, in, n);
      k->lookup(table, out, out, n);
      ++r.cases;
      d = first_diff(ref, out, n);
      if (d >= 0) tr_fail(&r, "in place n=%zu: byte %ld got %d want %d", n, d, out[d], ref[d]);
      free(in);
      free(ref);
      free(out);
    }
  // Every byte value.
  {
    int8_t table[256], in[256], ref[256], out[256];
    for (int i = 0; i < 256; ++i) {
      table[i] = rnd_i8();
      in[i] = (int8_t)i;
    }
    effk_qs8_lookup__scalar(table, in, ref, 256);
    k->lookup(table, in, out, 256);
    ++r.cases;
    long d = first_diff(ref, out, 256);
    if (d >= 0) tr_fail(&r, "all bytes: byte %ld got %d want %d", d, out[d], ref[d]);
  }
  tr_end(&r);
}

static void test_mean(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "mean_hw");
  static const int32_t hw[][2] = {{1, 1}, {7, 7}, {1, 5}, {3, 2}, {14, 14}, {4, 4}, {112, 112}, {16, 16}, {17, 16}, {56, 56},
                                  {2, 9}, {10, 1}};
  static const int32_t chans[] = {1, 3, 15, 16, 17, 32, 63, 64, 65, 100, 1280};
  for (int i = 0; i < (int)(sizeof hw / sizeof hw[0]); ++i)
    for (int j = 0; j < (int)(sizeof chans / sizeof chans[0]); ++j) {
      if (hw[i][0] * hw[i][1] * chans[j] > 2000000) continue;
      effk_mean_params mp;
      memset(&mp, 0, sizeof mp);
      mp.h = hw[i][0];
      mp.w = hw[i][1];
      mp.c = chans[j];
      mp.input_zero_point = rnd_zp();
      mp.output_zero_point = rnd_zp();
      mp.input_scale = rnd_scale();
      mp.output_scale = rnd_pick(2) ? mp.input_scale : rnd_scale();
      effk_qs8_mean_hw_params_init(&mp);
      const size_t n = (size_t)mp.h * mp.w * mp.c;
      int8_t *in = rand_i8_buf(n);
      if (rnd_pick(4) == 0) memset(in, rnd_pick(2) ? 127 : -128, n);
      int8_t *ref = (int8_t *)xmalloc((size_t)mp.c), *out = (int8_t *)xmalloc((size_t)mp.c);
      effk_qs8_mean_hw__scalar(&mp, in, ref);
      memset(out, SENTINEL, (size_t)mp.c);
      k->mean_hw(&mp, in, out);
      ++r.cases;
      long d = first_diff(ref, out, (size_t)mp.c);
      if (d >= 0)
        tr_fail(&r, "%dx%dx%d zp %d/%d mult %d shift %d: channel %ld got %d want %d", mp.h, mp.w,
                mp.c, mp.input_zero_point, mp.output_zero_point, mp.multiplier, mp.shift, d,
                out[d], ref[d]);
      if (k->mean_hw_channels) {
        // Channel ranges: the pieces of a random cut at block boundaries give every channel,
        // and one piece writes only its own channels.
        const int32_t blk = k->mean_hw_channel_block, nb = (mp.c + blk - 1) / blk;
        memset(out, SENTINEL, (size_t)mp.c);
        for (int32_t b0 = 0; b0 < nb;) {
          const int32_t b1 = b0 + 1 + rnd_pick(3) > nb ? nb : b0 + 1 + rnd_pick(3);
          k->mean_hw_channels(&mp, in, out, b0 * blk, b1 * blk < mp.c ? b1 * blk : mp.c);
          b0 = b1;
        }
        ++r.cases;
        d = first_diff(ref, out, (size_t)mp.c);
        if (d >= 0)
          tr_fail(&r, "mean_hw_channels pieces %dx%dx%d: channel %ld got %d want %d", mp.h, mp.w,
                  mp.c, d, out[d], ref[d]);
        const int32_t b = rnd_pick(nb), c0 = b * blk, c1 = (b + 1) * blk < mp.c ? (b + 1) * blk : mp.c;
        memset(out, SENTINEL, (size_t)mp.c);
        k->mean_hw_channels(&mp, in, out, c0, c1);
        ++r.cases;
        for (int32_t ch = 0; ch < mp.c; ++ch) {
          const int in_range = ch >= c0 && ch < c1;
          if (in_range ? out[ch] != ref[ch] : out[ch] != (int8_t)SENTINEL) {
            tr_fail(&r, "mean_hw_channels [%d,%d) of %dx%dx%d: channel %d got %d want %d", c0, c1,
                    mp.h, mp.w, mp.c, ch, out[ch], in_range ? ref[ch] : (int8_t)SENTINEL);
            break;
          }
        }
      }
      free(in);
      free(ref);
      free(out);
    }
  tr_end(&r);
}

// ---- fully connected ----------------------------------------------------------------------------

typedef struct {
  int32_t batches, in_c, out_c;
  int scale_mode;   // 0 realistic, 1 ties (powers of 2), 2 extremes, 3 mixed per channel
  int zero_filter;  // all-zero filter: acc == bias (+ zero-point terms)
  int no_bias;
  int fzp;          // nonzero filter zero point
  int small;        // inputs and weights within a few steps of their zero points, small biases:
                    // small accumulators, so every accumulator error shows in the output
} fc_case;

// One channel's scale, always in [0, 1] so that round(acc * scale) fits int32 (beyond that the
// reference's cast is undefined). Modes 0 and 1 aim at unsaturated outputs for accumulators of
// typical magnitude acc_mag.
static double fc_scale(int mode, double acc_mag) {
  switch (mode) {
    case 0: {  // a real model's s_in * s_f / s_out, outputs of magnitude ~10..100
      const double s =
          40.0 / acc_mag * ldexp(1.0 + (double)(rnd32() % 1000) / 1000.0, rnd_range(-3, 1));
      return s > 1.0 ? 1.0 : s;
    }
    case 1: {  // powers of 2: exact ties (x.5) for many accumulators, both signs
      int32_t e = 0;
      while (ldexp(1.0, e) < acc_mag / 40.0) ++e;
      e += rnd_range(-1, 1);
      return ldexp(1.0, e > 0 ? -e : 0);
    }
    case 2: {
      static const double pool[] = {1.0, 0.9999999999999999, 0.5000000000000001,
                                    0.49999999999999994, 0.5, 0.25, 1e-12, 5e-324,
                                    2.2250738585072014e-308, 0.0, 1.0 / 3.0, 0.75, 1.5e-9,
                                    3.0517578125e-05};
      return pool[rnd_pick((int)(sizeof pool / sizeof pool[0]))];
    }
    default:
      return fc_scale(rnd_pick(3), acc_mag);
  }
}

static int8_t clamp_i8(int32_t v) { return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); }

static void fc_run(const effk_isa_kernels *k, test_result *r, const fc_case *c) {
  const int32_t nb = c->batches, ic = c->in_c, oc = c->out_c;
  effk_fc_params p;
  memset(&p, 0, sizeof p);
  p.batches = nb;
  p.in_c = ic;
  p.out_c = oc;
  p.input_zero_point = rnd_zp();
  p.filter_zero_point = c->fzp ? rnd_zp() : 0;
  p.output_zero_point = rnd_zp();
  gen_act(p.output_zero_point, &p.act_min, &p.act_max);

  int8_t *input = rand_i8_buf((size_t)nb * ic);
  int8_t *filter = rand_i8_buf((size_t)oc * ic);
  int32_t *bias = c->no_bias ? NULL : rand_bias(oc, c->scale_mode >= 2 && !c->small);
  double acc_mag = 5461.0 * sqrt((double)ic);  // ~ (128 / sqrt 3)^2 * sqrt(in_c)
  if (c->small) {
    for (size_t i = 0; i < (size_t)nb * ic; ++i)
      input[i] = clamp_i8(p.input_zero_point + rnd_range(-3, 3));
    for (size_t i = 0; i < (size_t)oc * ic; ++i)
      filter[i] = clamp_i8(p.filter_zero_point + rnd_range(-2, 2));
    if (bias)
      for (int32_t i = 0; i < oc; ++i) bias[i] = rnd_range(-40, 40);
    acc_mag = 3.0 * sqrt((double)ic) + 20.0;
  } else if (rnd_pick(8) == 0) {
    memset(input, rnd_pick(2) ? 127 : -128, (size_t)nb * ic);
  }
  if (c->zero_filter) memset(filter, 0, (size_t)oc * ic);
  double *scale = (double *)xmalloc((size_t)oc * sizeof(double));
  const double uniform = fc_scale(c->scale_mode, acc_mag);
  for (int32_t i = 0; i < oc; ++i)
    scale[i] = c->scale_mode == 3 ? fc_scale(3, acc_mag) : uniform;
  if (c->small && c->scale_mode != 2)  // scales that keep small accumulators visible
    for (int32_t i = 0; i < oc; ++i) {
      static const double pool[] = {1.0, 0.5, 0.25, 0.75, 1.0 / 3.0, 0.5000000000000001,
                                    0.49999999999999994, 0.125};
      if (rnd_pick(2)) scale[i] = pool[rnd_pick((int)(sizeof pool / sizeof pool[0]))];
    }

  const size_t out_n = (size_t)nb * oc;
  int8_t *ref = (int8_t *)xmalloc(out_n);
  effk_qs8_fc__scalar(&p, input, filter, bias, scale, ref, 0, oc);

  const size_t psize = k->fc_packed_size(ic, oc);
  void *packed = xmalloc(psize);
  k->fc_pack(filter, bias, ic, oc, p.input_zero_point, p.filter_zero_point, packed);

  int8_t *out = (int8_t *)xmalloc(out_n);
  memset(out, SENTINEL, out_n);
  int32_t cuts[6];
  const int pieces = split_range(0, oc, cuts);
  for (int i = 0; i < pieces; ++i) k->fc(&p, input, packed, scale, out, cuts[i], cuts[i + 1]);
  ++r->cases;
  long d = first_diff(ref, out, out_n);
  if (d >= 0)
    tr_fail(r,
            "batches=%d in_c=%d out_c=%d zp in/f/out=%d/%d/%d act=[%d,%d] smode=%d zf=%d small=%d: "
            "byte %ld (batch %ld ch %ld, scale %.17g bias %d) got %d want %d",
            nb, ic, oc, p.input_zero_point, p.filter_zero_point, p.output_zero_point, p.act_min,
            p.act_max, c->scale_mode, c->zero_filter, c->small, d, d / oc, d % oc, scale[d % oc],
            bias ? bias[d % oc] : 0, out[d], ref[d]);
  // A sub-range writes only its channels, in every batch row.
  if (oc > 1) {
    memset(out, SENTINEL, out_n);
    const int32_t b = rnd_range(0, oc - 1), e = rnd_range(b, oc);
    k->fc(&p, input, packed, scale, out, b, e);
    ++r->cases;
    for (size_t i = 0; i < out_n; ++i) {
      const int32_t ch = (int32_t)(i % oc);
      const int8_t want = (ch >= b && ch < e) ? ref[i] : SENTINEL;
      if (out[i] != want) {
        tr_fail(r, "sub-range [%d,%d) of %d channels, in_c=%d batches=%d: byte %zu got %d want %d",
                b, e, oc, ic, nb, i, out[i], want);
        break;
      }
    }
  }
  free(input);
  free(filter);
  free(bias);
  free(scale);
  free(ref);
  free(packed);
  free(out);
}

static void test_fc(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "fc");
  fc_case c;
  // Every in_c and every out_c from 1 to 70.
  for (int32_t n = 1; n <= 70; ++n) {
    memset(&c, 0, sizeof c);
    c.batches = rnd_range(1, 3);
    c.in_c = n;
    c.out_c = rnd_range(1, 70);
    c.scale_mode = n % 4;
    c.fzp = n % 3 == 0;
    c.small = n % 2 == 0;
    fc_run(k, &r, &c);
    memset(&c, 0, sizeof c);
    c.batches = rnd_range(1, 3);
    c.in_c = rnd_range(1, 70);
    c.out_c = n;
    c.scale_mode = (n / 4) % 4;
    c.no_bias = n % 11 == 0;
    c.zero_filter = n % 13 == 0;
    c.fzp = n % 5 == 0;
    c.small = n % 3 != 0;
    fc_run(k, &r, &c);
  }
  // Lite0's classifier and relatives.
  static const int32_t shapes[][2] = {{1280, 1000}, {1280, 1001}, {1280, 999}, {1280, 1},
                                      {1279, 1000}, {1281, 17},   {1, 1000},   {70, 1000},
                                      {1280, 64},   {1280, 63},   {1280, 65},  {4097, 33}};
  for (int i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); ++i)
    for (int32_t nb = 1; nb <= 3; ++nb) {
      if (g_quick && nb == 2) continue;
      memset(&c, 0, sizeof c);
      c.batches = nb;
      c.in_c = shapes[i][0];
      c.out_c = shapes[i][1];
      c.scale_mode = (i + nb) % 4;
      c.fzp = (i + nb) % 5 == 0;
      c.small = (i + nb) % 2 == 0;
      fc_run(k, &r, &c);
    }
  const int nrand = g_quick ? 60 : 400;
  for (int i = 0; i < nrand; ++i) {
    memset(&c, 0, sizeof c);
    c.batches = rnd_range(1, 3);
    c.in_c = rnd_pick(3) ? rnd_range(1, 300) : rnd_range(1, 2000);
    c.out_c = rnd_pick(3) ? rnd_range(1, 300) : rnd_range(1, 1100);
    c.scale_mode = rnd_pick(4);
    c.no_bias = rnd_pick(8) == 0;
    c.zero_filter = rnd_pick(12) == 0;
    c.fzp = rnd_pick(3) == 0;
    c.small = rnd_pick(2);
    fc_run(k, &r, &c);
  }
  tr_end(&r);
}

// ---- camera frames ------------------------------------------------------------------------------

// A random frame of `format`, every plane malloc'ed to the byte effk_frame_plane_bytes gives
// (strides as small as the scalar reader allows, sometimes padded).
static void frame_rand(effk_frame *f, int32_t format, int32_t w, int32_t h) {
  memset(f, 0, sizeof *f);
  f->format = format;
  f->width = w;
  f->height = h;
  f->matrix = rnd_pick(2) ? EFFK_YUV_BT709 : EFFK_YUV_BT601;
  f->full_range = rnd_pick(2);
  const int32_t w2 = (w + 1) & ~1, pad = rnd_pick(3) == 0 ? rnd_range(1, 9) : 0;
  switch (format) {
    case EFFK_PIX_RGB24: case EFFK_PIX_BGR24: f->stride[0] = 3 * w + pad; break;
    case EFFK_PIX_GREY: f->stride[0] = w + pad; break;
    case EFFK_PIX_YUYV: case EFFK_PIX_UYVY: f->stride[0] = 2 * w2 + pad; break;
    case EFFK_PIX_NV12: case EFFK_PIX_NV21:
      f->stride[0] = w + pad;
      f->stride[1] = w2 + (rnd_pick(3) == 0 ? rnd_range(1, 9) : 0);
      break;
    default:
      f->stride[0] = w + pad;
      f->stride[1] = w2 / 2 + (rnd_pick(3) == 0 ? rnd_range(1, 9) : 0);
      f->stride[2] = w2 / 2 + (rnd_pick(3) == 0 ? rnd_range(1, 9) : 0);
  }
  for (int pl = 0; pl < 3; ++pl) {
    const size_t nb = effk_frame_plane_bytes(f, pl);
    if (!nb) continue;
    uint8_t *b = (uint8_t *)xmalloc(nb);
    const int mode = rnd_pick(4);  // 0: extremes only, else uniform
    for (size_t i = 0; i < nb; ++i) b[i] = mode == 0 ? (uint8_t)(rnd_pick(2) ? 255 - rnd_pick(20) : rnd_pick(20)) : (uint8_t)rnd32();
    f->plane[pl] = b;
  }
}

static void frame_free(effk_frame *f) {
  for (int pl = 0; pl < 3; ++pl) free((void *)f->plane[pl]);
}

// CEffKernels internals (scalar/resize.c, scalar/frame.c): Pillow's coefficients and the
// scalar twin of rgb8_resize_row_h.
int32_t effk__resize_kernel_size(int32_t in_size, int32_t out_size);
void effk__resize_coeffs(int32_t in_size, int32_t out_size, int32_t ksize, int32_t *bounds, int32_t *kk);
void effk__rgb8_resize_row_h__scalar(const uint8_t *row, int32_t in_w, const int32_t *bounds,
                                     const int32_t *kk, int32_t ksize, int32_t out_w, uint8_t *dst);

// rgb8_resize_row_h vs the scalar pass: downscales and upscales, rows of every kind of content
// (random, all 255, all 0, extremes), every buffer exact.
static void test_resize_row_h(const effk_isa_kernels *k) {
  test_result r;
  tr_begin(&r, k->name, "resize_row_h");
  const int cases = g_quick ? 150 : 600;
  for (int i = 0; i < cases; ++i) {
    const int32_t in_w = i < 20 ? 1 + i : rnd_range(1, 300);
    const int32_t out_w = rnd_pick(5) == 0 ? rnd_range(1, 8) : rnd_range(1, 120);
    if (out_w == in_w) continue;
    const int32_t ks = effk__resize_kernel_size(in_w, out_w);
    int32_t *bounds = (int32_t *)xmalloc((size_t)out_w * 2 * sizeof(int32_t));
    int32_t *kk = (int32_t *)xmalloc((size_t)out_w * ks * sizeof(int32_t));
    effk__resize_coeffs(in_w, out_w, ks, bounds, kk);
    uint8_t *row = (uint8_t *)xmalloc((size_t)in_w * 3);
    const int mode = rnd_pick(4);
    for (int32_t j = 0; j < in_w * 3; ++j)
      row[j] = mode == 0 ? 255 : mode == 1 ? (uint8_t)(rnd_pick(2) ? 255 : 0) : (uint8_t)rnd32();
    uint8_t *ref = (uint8_t *)xmalloc((size_t)out_w * 3), *out = (uint8_t *)xmalloc((size_t)out_w * 3);
    effk__rgb8_resize_row_h__scalar(row, in_w, bounds, kk, ks, out_w, ref);
    memset(out, SENTINEL, (size_t)out_w * 3);
    k->rgb8_resize_row_h(row, in_w, bounds, kk, ks, out_w, out);
    ++r.cases;
    const long d = first_diff((const int8_t *)ref, (const int8_t *)out, (size_t)out_w * 3);
    if (d >= 0)
      tr_fail(&r, "%d -> %d (ksize %d, mode %d): byte %ld got %d want %d", in_w, out_w, ks, mode, d,
              out[d], ref[d]);
    free(bounds);
    free(kk);
    free(row);
    free(ref);
    free(out);
  }
  tr_end(&r);
}

static const char *const pix_names[] = {"RGB24", "BGR24", "GREY", "YUYV", "UYVY",
                                        "NV12",  "NV21",  "YU12", "YV12"};

// frame_row_to_rgb8 and effk_frame_to_qs8_with(k) vs their scalar twins, byte for byte.
static void test_frame(const effk_isa_kernels *k) {
  test_result r, q;
  tr_begin(&r, k->name, "frame_row");
  tr_begin(&q, k->name, "frame_qs8");
  static const int32_t dims[][2] = {{1, 1}, {2, 2}, {3, 5}, {16, 2}, {17, 3}, {33, 9}, {48, 7},
                                    {63, 11}, {64, 4}, {97, 13}, {130, 21}, {161, 17}};
  const int nd = (int)(sizeof dims / sizeof dims[0]);
  const int rounds = g_quick ? 1 : 3;
  for (int round = 0; round < rounds; ++round)
    for (int32_t fmt = EFFK_PIX_RGB24; fmt <= EFFK_PIX_YV12; ++fmt)
      for (int di = 0; di < nd; ++di)
        for (int rep = 0; rep < 2; ++rep) {
          effk_frame f;
          const int32_t w = dims[di][0] + (round > 0 ? rnd_pick(3) : 0);
          const int32_t h = dims[di][1] + (round > 0 ? rnd_pick(3) : 0);
          frame_rand(&f, fmt, w, h);
          // Rows: whole rows and random pieces (odd starts included).
          for (int t = 0; t < 6; ++t) {
            const int32_t y = rnd_range(0, h - 1);
            int32_t x0 = 0, n = w;
            if (t > 0) {
              x0 = rnd_range(0, w - 1);
              n = rnd_range(1, w - x0);
            }
            uint8_t *ref = (uint8_t *)xmalloc((size_t)n * 3), *out = (uint8_t *)xmalloc((size_t)n * 3);
            effk_frame_row_to_rgb8__scalar(&f, x0, y, n, ref);
            memset(out, SENTINEL, (size_t)n * 3);
            k->frame_row_to_rgb8(&f, x0, y, n, out);
            ++r.cases;
            const long d = first_diff((const int8_t *)ref, (const int8_t *)out, (size_t)n * 3);
            if (d >= 0)
              tr_fail(&r, "%s %dx%d m%d fr%d row %d x0 %d n %d: byte %ld got %d want %d",
                      pix_names[fmt], w, h, f.matrix, f.full_range, y, x0, n, d, out[d], ref[d]);
            free(ref);
            free(out);
          }
          // The fused conversion on a random crop to a random size (sometimes the crop's own).
          const int32_t cw = rnd_range(1, w), ch = rnd_range(1, h);
          const int32_t cx = rnd_range(0, w - cw), cy = rnd_range(0, h - ch);
          const int32_t ow = rnd_pick(4) == 0 ? cw : rnd_range(1, 40);
          const int32_t oh = rnd_pick(4) == 0 ? ch : rnd_range(1, 40);
          int8_t table[256];
          for (int i = 0; i < 256; ++i) table[i] = rnd_i8();
          const size_t on = (size_t)ow * oh * 3, sn = effk_frame_to_qs8_scratch_size(cw, ch, ow, oh);
          int8_t *ref = (int8_t *)xmalloc(on), *out = (int8_t *)xmalloc(on);
          uint8_t *ref8 = (uint8_t *)xmalloc(on), *out8 = (uint8_t *)xmalloc(on);
          void *scratch = xmalloc(sn);
          effk_frame_to_qs8__scalar(&f, cx, cy, cw, ch, table, ref, ref8, ow, oh, scratch);
          memset(out, SENTINEL, on);
          memset(out8, SENTINEL, on);
          memset(scratch, SENTINEL, sn);
          effk_frame_to_qs8_with(k, &f, cx, cy, cw, ch, table, out, rep ? out8 : NULL, ow, oh, scratch);
          ++q.cases;
          long d = first_diff(ref, out, on);
          if (d >= 0)
            tr_fail(&q, "%s %dx%d m%d fr%d crop %d,%d %dx%d -> %dx%d: byte %ld got %d want %d",
                    pix_names[fmt], w, h, f.matrix, f.full_range, cx, cy, cw, ch, ow, oh, d, out[d],
                    ref[d]);
          if (rep) {
            ++q.cases;
            d = first_diff((const int8_t *)ref8, (const int8_t *)out8, on);
            if (d >= 0)
              tr_fail(&q, "%s rgb_out crop %d,%d %dx%d -> %dx%d: byte %ld got %d want %d",
                      pix_names[fmt], cx, cy, cw, ch, ow, oh, d, out8[d], ref8[d]);
          }
          free(ref);
          free(out);
          free(ref8);
          free(out8);
          free(scratch);
          frame_free(&f);
        }
  // A camera-sized frame (the SIMD loops' long runs), both matrices and ranges.
  for (int32_t fmt = EFFK_PIX_YUYV; fmt <= EFFK_PIX_YV12; ++fmt)
    for (int mr = 0; mr < 4; ++mr) {
      effk_frame f;
      frame_rand(&f, fmt, 321, 181);
      f.matrix = mr & 1;
      f.full_range = mr >> 1;
      const int32_t cw = 181 + (mr & 1), ch = 181, ow = 56, oh = 56;
      const int32_t cx = (321 - cw) / 2 + (mr >> 1);
      const size_t on = (size_t)ow * oh * 3, sn = effk_frame_to_qs8_scratch_size(cw, ch, ow, oh);
      int8_t *ref = (int8_t *)xmalloc(on), *out = (int8_t *)xmalloc(on);
      void *scratch = xmalloc(sn);
      int8_t table[256];
      for (int i = 0; i < 256; ++i) table[i] = (int8_t)(i - 128);
      effk_frame_to_qs8__scalar(&f, cx, 0, cw, ch, table, ref, NULL, ow, oh, scratch);
      effk_frame_to_qs8_with(k, &f, cx, 0, cw, ch, table, out, NULL, ow, oh, scratch);
      ++q.cases;
      const long d = first_diff(ref, out, on);
      if (d >= 0)
        tr_fail(&q, "%s 321x181 m%d fr%d crop %d: byte %ld got %d want %d", pix_names[fmt],
                f.matrix, f.full_range, cx, d, out[d], ref[d]);
      // The public entry point (the table effk_kernels_select() gives) as well.
      memset(out, SENTINEL, on);
      effk_frame_to_qs8(&f, cx, 0, cw, ch, table, out, NULL, ow, oh, scratch);
      ++q.cases;
      const long e = first_diff(ref, out, on);
      if (e >= 0)
        tr_fail(&q, "effk_frame_to_qs8 %s m%d fr%d: byte %ld got %d want %d", pix_names[fmt],
                f.matrix, f.full_range, e, out[e], ref[e]);
      free(ref);
      free(out);
      free(scratch);
      frame_free(&f);
    }
  tr_end(&r);
  tr_end(&q);
}

// ---- table-level checks -----------------------------------------------------------------------

static void test_table(const effk_isa_kernels *k) {
  // Same seed per table: every table sees the same cases.
  rng_seed(0x1234567ull);
  test_conv1x1(k);
  test_requant_ties(k);
  test_conv(k);
  test_dwconv(k);
  test_add(k);
  test_mul(k);
  test_mul_channel(k);
  test_lookup(k);
  test_mean(k);
  test_fc(k);
  test_resize_row_h(k);
  test_frame(k);
}

// Every entry is set, the name round-trips, and selection follows EFFNETD_ISA.
static void test_dispatch(const char *only) {
  test_result r;
  tr_begin(&r, "dispatch", "select");
  const char *avail = effk_kernels_available();
  ++r.cases;
  if (!avail || strncmp(avail, "scalar", 6) != 0) tr_fail(&r, "available list '%s'", avail);
  const char *err = NULL;
  const effk_isa_kernels *sel = effk_kernels_select(&err);
  ++r.cases;
  const char *env = getenv("EFFNETD_ISA");
  if (env && *env) {
    if (!sel || strcmp(sel->name, env) != 0)
      tr_fail(&r, "EFFNETD_ISA=%s but select gave %s (%s)", env, sel ? sel->name : "NULL",
              err ? err : "");
  } else {
    const char *last = strrchr(avail, ',');
    last = last ? last + 1 : avail;
    if (!sel || strcmp(sel->name, last) != 0)
      tr_fail(&r, "select gave %s, best available is %s", sel ? sel->name : "NULL", last);
  }
  ++r.cases;
  if (effk_kernels_named("no-such-isa") != NULL) tr_fail(&r, "unknown name gave a table");
  if (only && !effk_kernels_named(only)) tr_fail(&r, "--isa %s not available (%s)", only, avail);
  // Every entry of every table is filled.
  char buf[128];
  snprintf(buf, sizeof buf, "%s", avail);
  for (char *name = strtok(buf, ","); name; name = strtok(NULL, ",")) {
    const effk_isa_kernels *k = effk_kernels_named(name);
    ++r.cases;
    if (!k || strcmp(k->name, name) != 0) {
      tr_fail(&r, "table %s missing or misnamed", name);
      continue;
    }
    if (!k->conv1x1_packed_size || !k->conv1x1_pack || !k->conv1x1 || !k->conv_packed_size ||
        !k->conv_pack || !k->conv || !k->dwconv_packed_size || !k->dwconv_pack || !k->dwconv ||
        !k->add || !k->mul || !k->mul_channel || !k->lookup || !k->mean_hw ||
        !k->fc_packed_size || !k->fc_pack || !k->fc || k->conv1x1_mr < 1 ||
        !k->frame_row_to_rgb8 || !k->rgb8_resize_row_h ||
        (k->mean_hw_channels != NULL) != (k->mean_hw_channel_block > 0))
      tr_fail(&r, "table %s has an empty entry", name);
  }
  tr_end(&r);
}

// ---- benchmark ----------------------------------------------------------------------------------

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#include "lite0_shapes.h"

// Best time in seconds of one call over the whole output.
static double bench_one(const effk_isa_kernels *k, const bench_shape *b, double min_s) {
  effk_conv2d_params p;
  bench_shape_params(b, &p);
  rng_seed(42);
  const size_t in_n = (size_t)p.in_h * p.in_w * p.in_c;
  const size_t out_n = (size_t)p.out_h * p.out_w * p.out_c;
  const int32_t kk = b->kind == 1 ? b->k * b->k : b->k * b->k * b->in_c;
  int8_t *input = rand_i8_buf(in_n), *out = (int8_t *)xmalloc(out_n);
  int8_t *filter = rand_i8_buf((size_t)p.out_c * (b->kind == 1 ? b->k * b->k : kk));
  int32_t *bias = rand_bias(p.out_c, 0);
  int32_t *mult = (int32_t *)xmalloc((size_t)p.out_c * 4), *shift = (int32_t *)xmalloc((size_t)p.out_c * 4);
  gen_quant(mult, shift, p.out_c, 0, shift_for(kk));
  void *packed;
  if (b->kind == 3) {
    packed = xmalloc(k->fc_packed_size(p.in_c, p.out_c));
    k->fc_pack(filter, bias, p.in_c, p.out_c, p.input_zero_point, 0, packed);
  } else if (b->kind == 0) {
    packed = xmalloc(k->conv1x1_packed_size(p.in_c, p.out_c));
    k->conv1x1_pack(filter, bias, p.in_c, p.out_c, p.input_zero_point, packed);
  } else if (b->kind == 1) {
    packed = xmalloc(k->dwconv_packed_size(b->k, b->k, p.in_c));
    k->dwconv_pack(filter, bias, b->k, b->k, p.in_c, p.input_zero_point, packed);
  } else {
    packed = xmalloc(k->conv_packed_size(b->k, b->k, p.in_c, p.out_c));
    k->conv_pack(filter, bias, b->k, b->k, p.in_c, p.out_c, p.input_zero_point, packed);
  }
  effk_fc_params fp;
  double *fscale = NULL;
  if (b->kind == 3) {
    memset(&fp, 0, sizeof fp);
    fp.batches = 1;
    fp.in_c = p.in_c;
    fp.out_c = p.out_c;
    fp.input_zero_point = p.input_zero_point;
    fp.output_zero_point = p.output_zero_point;
    fp.act_min = -128;
    fp.act_max = 127;
    fscale = (double *)xmalloc((size_t)p.out_c * sizeof(double));
    for (int32_t i = 0; i < p.out_c; ++i) fscale[i] = 1.0 / 4096.0 * (1.0 + (double)(i % 7) / 7.0);
  }
  double best = 1e30, total = 0;
  int iters = 0;
  while (total < min_s || iters < 3) {
    const double t0 = now_s();
    if (b->kind == 3)
      k->fc(&fp, input, packed, fscale, out, 0, p.out_c);
    else if (b->kind == 0)
      k->conv1x1(&p, input, packed, mult, shift, out, 0, p.out_h * p.out_w);
    else if (b->kind == 1)
      k->dwconv(&p, input, packed, mult, shift, out, 0, p.out_h);
    else
      k->conv(&p, input, packed, mult, shift, out, 0, p.out_h);
    const double dt = now_s() - t0;
    total += dt;
    if (dt < best) best = dt;
    ++iters;
  }
  free(input);
  free(out);
  free(filter);
  free(bias);
  free(mult);
  free(shift);
  free(packed);
  free(fscale);
  return best;
}

// ms per camera frame: 1280x720 → centre 720x720 crop → 224x224 int8 (effk_frame_to_qs8_with),
// best of >= min_s seconds.
static double bench_frame(const effk_isa_kernels *k, int32_t format, double min_s) {
  const int32_t w = 1280, h = 720, cw = 720, ch = 720, ow = 224, oh = 224;
  rng_seed(7);
  effk_frame f;
  memset(&f, 0, sizeof f);
  f.format = format;
  f.width = w;
  f.height = h;
  f.matrix = EFFK_YUV_BT601;
  f.full_range = 0;
  if (format == EFFK_PIX_YUYV) {
    f.stride[0] = 2 * w;
  } else {  // NV12
    f.stride[0] = w;
    f.stride[1] = w;
  }
  for (int pl = 0; pl < 2; ++pl) {
    const size_t nb = effk_frame_plane_bytes(&f, pl);
    if (!nb) continue;
    uint8_t *b = (uint8_t *)xmalloc(nb);
    for (size_t i = 0; i < nb; ++i) b[i] = (uint8_t)rnd32();
    f.plane[pl] = b;
  }
  int8_t table[256];
  for (int i = 0; i < 256; ++i) table[i] = (int8_t)(i - 128);
  int8_t *out = (int8_t *)xmalloc((size_t)ow * oh * 3);
  void *scratch = xmalloc(effk_frame_to_qs8_scratch_size(cw, ch, ow, oh));
  double best = 1e30, total = 0;
  int iters = 0;
  while (total < min_s || iters < 3) {
    const double t0 = now_s();
    effk_frame_to_qs8_with(k, &f, (w - cw) / 2, 0, cw, ch, table, out, NULL, ow, oh, scratch);
    const double dt = now_s() - t0;
    total += dt;
    if (dt < best) best = dt;
    ++iters;
  }
  free(out);
  free(scratch);
  frame_free(&f);
  return best * 1e3;
}

static int run_bench(const char *only, double min_ms) {
  const effk_isa_kernels *tables[8];
  int nt = 0;
  char buf[128];
  snprintf(buf, sizeof buf, "%s", effk_kernels_available());
  for (char *name = strtok(buf, ","); name && nt < 8; name = strtok(NULL, ","))
    if (!only || strcmp(only, name) == 0) tables[nt++] = effk_kernels_named(name);
  printf("GMAC/s, single thread, best of >= %.0f ms per cell; x = occurrences in Lite0\n", min_ms);
  printf("%-28s %2s %7s", "shape", "x", "MMAC");
  for (int t = 0; t < nt; ++t) printf(" %11s", tables[t]->name);
  printf("\n");
  double sum_t[8][4] = {{0}};
  double sum_mac[4] = {0};
  for (size_t i = 0; i < sizeof bench_shapes / sizeof bench_shapes[0]; ++i) {
    const bench_shape *b = &bench_shapes[i];
    const double macs = (double)b->h * b->w *
                        (b->kind == 1 ? (double)b->in_c * b->k * b->k
                                      : (double)b->out_c * b->in_c * b->k * b->k);  // fc: 1x1
    sum_mac[b->kind] += macs * b->count;
    printf("%-28s %2d %7.2f", b->label, b->count, macs / 1e6);
    fflush(stdout);
    for (int t = 0; t < nt; ++t) {
      const double s = bench_one(tables[t], b, min_ms / 1e3);
      sum_t[t][b->kind] += s * b->count;
      printf(" %11.1f", macs / s / 1e9);
      fflush(stdout);
    }
    printf("\n");
  }
  static const char *kinds[3] = {"Lite0 conv1x1 total (ms)", "Lite0 dwconv total (ms)",
                                 "Lite0 stem (ms)"};
  for (int kd = 0; kd < 3; ++kd) {
    printf("%-28s %2s %7.2f", kinds[kd], "", sum_mac[kd] / 1e6);
    for (int t = 0; t < nt; ++t) printf(" %11.3f", sum_t[t][kd] * 1e3);
    printf("\n");
  }
  printf("%-28s %2s %7.2f", "Lite0 all convs (ms)", "", (sum_mac[0] + sum_mac[1] + sum_mac[2]) / 1e6);
  for (int t = 0; t < nt; ++t) printf(" %11.3f", (sum_t[t][0] + sum_t[t][1] + sum_t[t][2]) * 1e3);
  printf("\n");
  printf("%-28s %2s %7.2f", "Lite0 fc 1280->1000 (us)", "", sum_mac[3] / 1e6);
  for (int t = 0; t < nt; ++t) printf(" %11.1f", sum_t[t][3] * 1e6);
  printf("\n");
  static const int32_t frame_fmts[2] = {EFFK_PIX_YUYV, EFFK_PIX_NV12};
  static const char *frame_labels[2] = {"frame YUYV 1280x720->224 ms", "frame NV12 1280x720->224 ms"};
  for (int i = 0; i < 2; ++i) {
    printf("%-28s %2s %7s", frame_labels[i], "", "");
    fflush(stdout);
    for (int t = 0; t < nt; ++t) {
      printf(" %11.3f", bench_frame(tables[t], frame_fmts[i], min_ms / 1e3));
      fflush(stdout);
    }
    printf("\n");
  }
  return 0;
}

// ---- main -------------------------------------------------------------------------------------

int main(int argc, char **argv) {
  const char *only = NULL;
  int bench = 0;
  double min_ms = 200;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc)
      only = argv[++i];
    else if (strcmp(argv[i], "--quick") == 0)
      g_quick = 1;
    else if (strcmp(argv[i], "--bench") == 0)
      bench = 1;
    else if (strcmp(argv[i], "--list") == 0) {
      printf("%s\n", effk_kernels_available());
      return 0;
    }
    else if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc)
      min_ms = atof(argv[++i]);
    else {
      fprintf(stderr, "usage: %s [--isa NAME] [--quick] [--list] [--bench [--min-ms N]]\n",
              argv[0]);
      return 2;
    }
  }
  const char *env = getenv("EFFNETD_ISA");
  if (!only && env && *env) only = env;
  if (bench) return run_bench(only, min_ms);

  printf("available: %s%s%s\n", effk_kernels_available(), only ? "; testing " : "",
         only ? only : "");
  test_dispatch(only);
  char buf[128];
  snprintf(buf, sizeof buf, "%s", effk_kernels_available());
  const effk_isa_kernels *tables[8];
  int nt = 0;
  for (char *name = strtok(buf, ","); name && nt < 8; name = strtok(NULL, ","))
    if (!only || strcmp(only, name) == 0) tables[nt++] = effk_kernels_named(name);
  for (int t = 0; t < nt; ++t) test_table(tables[t]);
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
