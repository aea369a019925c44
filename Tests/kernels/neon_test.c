// AArch64-only companion of kernel_test.c, built and run by scripts/test-kernels-aarch64:
//
//  1. effk_neon_mbqm (the NEON MultiplyByQuantizedMultiplier every neon/neondot kernel
//     requantizes with: SSHL, SQRDMULH, gemmlowp's fixed-up SRSHL) against the scalar
//     effk_multiply_by_quantized_multiplier, on every shift in [-31, 31], edge multipliers
//     (0, 2^30, INT32_MAX, INT32_MIN, ...) and edge / random / rounding-tie inputs.
//  2. Every entry of the neon and neondot tables against the scalar table on random shapes,
//     with each input, filter and packed buffer ending exactly at an unmapped page, so a
//     kernel that reads one byte past its input (the partial-vector loads at channel and
//     K tails) faults instead of passing. Outputs carry a guard zone that must stay intact.
//
// Prints "N passed, M failed"; exits 1 on any failure.
#if !defined(__aarch64__)
#error "neon_test.c is for aarch64 (scripts/test-kernels-aarch64)"
#endif
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../Sources/CEffKernels/neon/neon_internal.h"
#include "../../Sources/CEffKernels/tables.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}
// Uniform in [lo, hi].
static int32_t rr(int32_t lo, int32_t hi) {
  return (int32_t)((int64_t)lo + (int64_t)(rnd() % (uint32_t)((int64_t)hi - lo + 1)));
}
static int passes, fails;

// ---- page-guarded buffers ---------------------------------------------------------------

enum { PAGE = 65536 };  // covers 4K, 16K and 64K pages

// n bytes whose last byte is followed by an inaccessible page.
static void *gmalloc(size_t n) {
  const size_t sz = (n + PAGE - 1) / PAGE * PAGE;
  uint8_t *b = mmap(NULL, sz + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (b == MAP_FAILED || mprotect(b + sz, PAGE, PROT_NONE) != 0) {
    perror("mmap");
    exit(2);
  }
  return b + (sz - n);
}

static void gfree(void *p, size_t n) {
  const size_t sz = (n + PAGE - 1) / PAGE * PAGE;
  munmap((uint8_t *)p - (sz - n), sz + PAGE);
}

// ---- random parameters --------------------------------------------------------------------

static void fill8(int8_t *p, size_t n) {
  const int mode = (int)(rnd() % 4);  // 1 in 4: only the extreme values -128 / 127
  for (size_t i = 0; i < n; ++i) p[i] = mode ? (int8_t)rnd() : (rnd() % 2 ? -128 : 127);
}

// Filters: half the time TFLite's symmetric range [-127, 127] (the kernels' paired int16
// paths), -127 / 127 extremes included.
static void fill_filter(int8_t *p, size_t n) {
  fill8(p, n);
  if (rnd() % 2)
    for (size_t i = 0; i < n; ++i)
      if (p[i] == -128) p[i] = -127;
}

static int32_t zp_pick(void) {
  switch (rnd() % 6) {
    case 0: return -128;
    case 1: return 127;
    case 2: return 0;
    default: return rr(-128, 127);
  }
}

static void quant_pick(int32_t *m, int32_t *s, int32_t n) {
  const int mode = (int)(rnd() % 4);
  for (int32_t i = 0; i < n; ++i) {
    m[i] = rr(1 << 30, INT32_MAX);
    switch (mode) {
      case 0: s[i] = rr(-31, 0); break;
      case 1: s[i] = rr(-31, 6); break;
      case 2: {
        static const int32_t pool[] = {0, INT32_MAX, 1 << 30, INT32_MIN, 1};
        if (rnd() % 2) m[i] = pool[rnd() % 5];
        s[i] = rnd() % 2 ? -31 : rr(-31, 20);
        break;
      }
      default: s[i] = rr(-12, -4); break;
    }
  }
}

static void act_pick(int32_t *lo, int32_t *hi) {
  if (rnd() % 2) {
    *lo = -128;
    *hi = 127;
    return;
  }
  const int32_t a = rr(-128, 127), b = rr(-128, 127);
  *lo = a < b ? a : b;
  *hi = a < b ? b : a;
}

static int32_t *bias_pick(int32_t n) {
  if (rnd() % 5 == 0) return NULL;
  int32_t *b = malloc((size_t)n * sizeof *b);
  for (int32_t i = 0; i < n; ++i) b[i] = rnd() % 3 ? rr(-100000, 100000) : (int32_t)(rnd() * 2u);
  return b;
}

static void check(const char *what, const char *isa, const int8_t *want, const int8_t *got,
                  size_t n, int iter) {
  if (memcmp(want, got, n) == 0) {
    ++passes;
    return;
  }
  size_t i = 0;
  while (want[i] == got[i]) ++i;
  if (fails < 20)
    printf("FAIL %-11s %-7s case %d, byte %zu: want %d, got %d\n", what, isa, iter, i, want[i],
           got[i]);
  ++fails;
}

enum { GUARD = 64 };

static int8_t *out_alloc(size_t n) {
  int8_t *o = malloc(n + GUARD);
  memset(o, 0x55, n + GUARD);
  return o;
}

// ---- fixed point ------------------------------------------------------------------------

static void test_fixedpoint(int iters) {
  static const int32_t xs[] = {0, 1, -1, 2, -2, 3, -3, 0x3fffffff, -0x40000000, 0x40000000,
                               INT32_MAX, -INT32_MAX, INT32_MIN, 12345, -12345, 1 << 15,
                               -(1 << 15), (1 << 15) + 1, -(1 << 15) - 1, 255, -255};
  static const int32_t ms[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX, INT32_MAX - 1,
                               INT32_MIN, -1, 1518500250, 1073741825};
  const int nx = (int)(sizeof xs / sizeof xs[0]);
  long n = 0;
  int bad = 0;
  for (int32_t sh = -31; sh <= 31; ++sh)
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; ++mi)
      for (int r = 0; r < iters + nx; ++r) {
        int32_t x[4], got[4];
        for (int l = 0; l < 4; ++l) {
          const int j = r * 4 + l;
          if (j < nx)
            x[l] = xs[j];
          else if (rnd() % 3 == 0)
            x[l] = (int32_t)(((rnd() % 4096) << (rnd() % 20)) * (rnd() % 2 ? 1u : ~0u));
          else
            x[l] = (int32_t)(rnd() ^ (rnd() << 21));
          // Rounding ties of the final shift: with m = INT32_MIN the high mul is -x.
          if (rnd() % 8 == 0 && sh < 0) x[l] = (int32_t)((uint32_t)x[l] & ~((1u << (-sh - 1)) - 1u));
        }
        const int32_t m[4] = {ms[mi], ms[mi], ms[mi], ms[mi]}, s[4] = {sh, sh, sh, sh};
        vst1q_s32(got, effk_neon_mbqm(vld1q_s32(x), effk_neon_quant_load(m, s)));
        for (int l = 0; l < 4; ++l, ++n) {
          const int32_t want = effk_multiply_by_quantized_multiplier(x[l], ms[mi], sh);
          if (got[l] != want) {
            if (bad < 10)
              printf("FAIL mbqm x=%d m=%d shift=%d: want %d, got %d\n", x[l], ms[mi], sh, want,
                     got[l]);
            ++bad;
          }
        }
      }
  if (bad)
    ++fails;
  else
    ++passes;
  printf("%-4s  fixedpoint  %ld cases, %d mismatches\n", bad ? "FAIL" : "ok", n, bad);
}

// ---- convolutions -------------------------------------------------------------------------

static void conv_out_size(effk_conv2d_params *p) {
  const int32_t eh = (p->kernel_h - 1) * p->dilation_h + 1, ew = (p->kernel_w - 1) * p->dilation_w + 1;
  p->out_h = (p->in_h + 2 * p->pad_top - eh) / p->stride_h + 1;
  p->out_w = (p->in_w + 2 * p->pad_left - ew) / p->stride_w + 1;
  if (p->out_h < 1) p->out_h = 1;
  if (p->out_w < 1) p->out_w = 1;
}

static void conv_shape(effk_conv2d_params *p, int32_t max_hw) {
  p->kernel_h = rr(1, 5);
  p->kernel_w = rr(1, 5);
  p->stride_h = rr(1, 3);
  p->stride_w = rr(1, 3);
  p->dilation_h = rr(1, 2);
  p->dilation_w = rr(1, 2);
  p->in_h = rr(1, max_hw);
  p->in_w = rr(1, max_hw);
  p->pad_top = rr(0, p->kernel_h);
  p->pad_left = rr(0, p->kernel_w);
}

// kind 0: conv1x1, 1: conv, 2: dwconv.
static void test_conv(const effk_isa_kernels *k, int iter, int kind) {
  const effk_isa_kernels *sc = &effk_kernels__scalar;
  effk_conv2d_params p;
  memset(&p, 0, sizeof p);
  if (kind == 0) {
    p.kernel_h = p.kernel_w = p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
    p.in_c = rnd() % 4 == 0 ? rr(1, 300) : rr(1, 70);
    p.out_c = rnd() % 4 == 0 ? rr(1, 200) : rr(1, 50);
    p.in_h = p.out_h = rr(1, 6);
    p.in_w = p.out_w = rr(1, 9);
    if (rnd() % 8 == 0) {  // deep inputs: several pixel chunks in the GEMM
      p.in_c = rr(500, 1200);
      p.out_c = rr(1, 80);
      p.in_h = p.out_h = rr(3, 7);
      p.in_w = p.out_w = rr(3, 7);
    }
  } else if (kind == 1) {
    conv_shape(&p, 12);
    p.in_c = rr(1, 9);
    p.out_c = rr(1, 40);
    conv_out_size(&p);
  } else {
    conv_shape(&p, 14);
    if (rnd() % 2) p.kernel_h = p.kernel_w = rnd() % 2 ? 3 : 5;  // the unrolled fast paths
    if (rnd() % 2) p.dilation_h = p.dilation_w = 1;
    p.in_c = p.out_c = rnd() % 3 ? 16 * rr(1, 5) : rr(1, 70);
    if (rnd() % 10 == 0) {
      p.in_c = p.out_c = 16 * rr(10, 20) + (rnd() % 2 ? 0 : rr(1, 15));
      p.in_h = rr(5, 16);
      p.in_w = rr(5, 16);
    }
    p.depth_multiplier = 1;
    conv_out_size(&p);
  }
  // 1 in 20 (conv, dwconv): a zero point outside int8, for the kernels' general paths.
  p.input_zero_point = kind != 0 && rnd() % 20 == 0 ? rr(-100000, 100000) : zp_pick();
  p.output_zero_point = rnd() % 10 == 0 ? rr(-300, 300) : zp_pick();
  act_pick(&p.act_min, &p.act_max);

  const size_t in_n = (size_t)p.in_h * p.in_w * p.in_c;
  const size_t f_n = kind == 2 ? (size_t)p.kernel_h * p.kernel_w * p.out_c
                               : (size_t)p.out_c * p.kernel_h * p.kernel_w * p.in_c;
  const size_t out_n = (size_t)p.out_h * p.out_w * p.out_c;
  int8_t *in = gmalloc(in_n), *f = gmalloc(f_n);
  fill8(in, in_n);
  fill_filter(f, f_n);
  int32_t *bias = bias_pick(p.out_c);
  int32_t *m = malloc((size_t)p.out_c * sizeof *m), *s = malloc((size_t)p.out_c * sizeof *s);
  quant_pick(m, s, p.out_c);
  int8_t *want = out_alloc(out_n), *got = out_alloc(out_n);

  const int32_t n_rows = kind == 0 ? p.out_h * p.out_w : p.out_h;
  int32_t b = rr(0, n_rows), e = rr(b, n_rows);
  if (rnd() % 2) {
    b = 0;
    e = n_rows;
  }
  size_t n1, n2;
  if (kind == 0) {
    n1 = sc->conv1x1_packed_size(p.in_c, p.out_c);
    n2 = k->conv1x1_packed_size(p.in_c, p.out_c);
  } else if (kind == 1) {
    n1 = sc->conv_packed_size(p.kernel_h, p.kernel_w, p.in_c, p.out_c);
    n2 = k->conv_packed_size(p.kernel_h, p.kernel_w, p.in_c, p.out_c);
  } else {
    n1 = sc->dwconv_packed_size(p.kernel_h, p.kernel_w, p.out_c);
    n2 = k->dwconv_packed_size(p.kernel_h, p.kernel_w, p.out_c);
  }
  void *pk1 = malloc(n1), *pk2 = gmalloc(n2);
  const int32_t zp = p.input_zero_point;
  if (kind == 0) {
    sc->conv1x1_pack(f, bias, p.in_c, p.out_c, zp, pk1);
    k->conv1x1_pack(f, bias, p.in_c, p.out_c, zp, pk2);
    sc->conv1x1(&p, in, pk1, m, s, want, b, e);
    k->conv1x1(&p, in, pk2, m, s, got, b, e);
  } else if (kind == 1) {
    sc->conv_pack(f, bias, p.kernel_h, p.kernel_w, p.in_c, p.out_c, zp, pk1);
    k->conv_pack(f, bias, p.kernel_h, p.kernel_w, p.in_c, p.out_c, zp, pk2);
    sc->conv(&p, in, pk1, m, s, want, b, e);
    k->conv(&p, in, pk2, m, s, got, b, e);
  } else {
    sc->dwconv_pack(f, bias, p.kernel_h, p.kernel_w, p.out_c, zp, pk1);
    k->dwconv_pack(f, bias, p.kernel_h, p.kernel_w, p.out_c, zp, pk2);
    sc->dwconv(&p, in, pk1, m, s, want, b, e);
    k->dwconv(&p, in, pk2, m, s, got, b, e);
  }
  static const char *names[] = {"conv1x1", "conv", "dwconv"};
  check(names[kind], k->name, want, got, out_n + GUARD, iter);
  free(pk1);
  gfree(pk2, n2);
  gfree(in, in_n);
  gfree(f, f_n);
  free(bias);
  free(m);
  free(s);
  free(want);
  free(got);
}

// ---- elementwise, lookup, mean ------------------------------------------------------------

static float rscale(void) { return (float)rr(1, 1000000) / 1e6f * (rnd() % 2 ? 1.0f : 0.01f); }

static void test_elementwise(const effk_isa_kernels *k, int iter) {
  const effk_isa_kernels *sc = &effk_kernels__scalar;
  const size_t n = rnd() % 4 == 0 ? (size_t)rr(0, 3000) : (size_t)rr(0, 70);
  int8_t *a = gmalloc(n), *b = gmalloc(n);
  fill8(a, n);
  fill8(b, n);
  int32_t lo, hi;
  act_pick(&lo, &hi);

  effk_add_params ap;
  effk_qs8_add_params_init(&ap, rscale(), zp_pick(), rscale(), zp_pick(), rscale(), zp_pick(), lo, hi);
  if (rnd() % 4 == 0) {
    quant_pick(&ap.input1_multiplier, &ap.input1_shift, 1);
    quant_pick(&ap.output_multiplier, &ap.output_shift, 1);
  }
  int8_t *want = out_alloc(n), *got = out_alloc(n);
  sc->add(&ap, a, b, want, n);
  k->add(&ap, a, b, got, n);
  check("add", k->name, want, got, n + GUARD, iter);
  free(want);
  free(got);

  effk_mul_params mp;
  effk_qs8_mul_params_init(&mp, rscale(), zp_pick(), rscale(), zp_pick(), rscale(), zp_pick(), lo, hi);
  if (rnd() % 4 == 0) quant_pick(&mp.output_multiplier, &mp.output_shift, 1);
  want = out_alloc(n);
  got = out_alloc(n);
  sc->mul(&mp, a, b, want, n);
  k->mul(&mp, a, b, got, n);
  check("mul", k->name, want, got, n + GUARD, iter);
  free(want);
  free(got);

  const int32_t c = rr(1, 70), px = rr(1, 20), pb = rr(0, px), pe = rr(pb, px);
  const size_t xn = (size_t)c * (size_t)px;
  int8_t *x = gmalloc(xn), *ch = gmalloc((size_t)c);
  fill8(x, xn);
  fill8(ch, (size_t)c);
  want = out_alloc(xn);
  got = out_alloc(xn);
  sc->mul_channel(&mp, x, ch, want, c, pb, pe);
  k->mul_channel(&mp, x, ch, got, c, pb, pe);
  check("mul_channel", k->name, want, got, xn + GUARD, iter);
  free(want);
  free(got);
  gfree(x, xn);
  gfree(ch, (size_t)c);

  int8_t table[256];
  fill8(table, 256);
  want = out_alloc(n);
  got = out_alloc(n);
  sc->lookup(table, a, want, n);
  k->lookup(table, a, got, n);
  check("lookup", k->name, want, got, n + GUARD, iter);
  free(want);
  free(got);
  gfree(a, n);
  gfree(b, n);

  effk_mean_params me;
  memset(&me, 0, sizeof me);
  me.h = rr(1, 30);
  me.w = rr(1, 30);
  me.c = rr(1, 70);
  me.input_zero_point = zp_pick();
  me.output_zero_point = zp_pick();
  me.input_scale = rscale();
  me.output_scale = rscale();
  effk_qs8_mean_hw_params_init(&me);
  const size_t mn = (size_t)me.h * me.w * me.c;
  int8_t *mi = gmalloc(mn);
  fill8(mi, mn);
  want = out_alloc((size_t)me.c);
  got = out_alloc((size_t)me.c);
  sc->mean_hw(&me, mi, want);
  k->mean_hw(&me, mi, got);
  check("mean_hw", k->name, want, got, (size_t)me.c + GUARD, iter);
  free(want);
  free(got);
  gfree(mi, mn);
}

int main(int argc, char **argv) {
  const int iters = argc > 1 ? atoi(argv[1]) : 300;
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("available: %s\n", effk_kernels_available());
  test_fixedpoint(iters * 4);
  static const char *names[] = {"neon", "neondot"};
  for (int t = 0; t < 2; ++t) {
    const effk_isa_kernels *k = effk_kernels_named(names[t]);
    if (!k) {
      printf("skip  %-7s     not available on this CPU\n", names[t]);
      continue;
    }
    const int before = fails;
    for (int i = 0; i < iters; ++i) {
      test_conv(k, i, 0);
      test_conv(k, i, 1);
      test_conv(k, i, 2);
      test_elementwise(k, i);
    }
    printf("%-4s  %-7s     %d random cases per kernel, guarded inputs\n",
           fails == before ? "ok" : "FAIL", names[t], iters);
  }
  printf("%d passed, %d failed\n", passes, fails);
  return fails != 0;
}
