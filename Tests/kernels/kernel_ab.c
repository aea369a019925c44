// Same-process A/B of two builds of the avx512vnni convolution kernels (scripts/bench-kernels-ab).
//
// Timing two separately built benchmark binaries moved single shapes by up to 20 % with buffer
// addresses and the host's state alone. Here both builds' gemm.c and dwconv.c are linked into
// one process (their entry points renamed A_* and B_*), each shape gets the same input, and the
// calls alternate A, B / B, A for R rounds; the figures are medians per build and their ratio,
// and the outputs are compared (they must be identical: both builds are exact).
// Each build still has its own packed weights and output buffer, and that alone shows: the
// same revision against itself (Zen 4, 200 rounds) put every 1x1 shape within 2 % (total
// 0.998) but single depthwise shapes at 0.80-1.15 and the depthwise total at 0.978. Read
// depthwise differences below a few percent as noise.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "effk.h"

#define DECLARE(P)                                                                              \
  size_t P##_conv1x1_packed_size(int32_t, int32_t);                                             \
  void P##_conv1x1_pack(const int8_t *, const int32_t *, int32_t, int32_t, int32_t, void *);    \
  void P##_conv1x1(const effk_conv2d_params *, const int8_t *, const void *, const int32_t *,   \
                   const int32_t *, int8_t *, int32_t, int32_t);                                \
  size_t P##_dw_packed_size(int32_t, int32_t, int32_t);                                         \
  void P##_dw_pack(const int8_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t, void *); \
  void P##_dw(const effk_conv2d_params *, const int8_t *, const void *, const int32_t *,        \
              const int32_t *, int8_t *, int32_t, int32_t);                                     \
  size_t P##_conv_packed_size(int32_t, int32_t, int32_t, int32_t);                              \
  void P##_conv_pack(const int8_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t,       \
                     int32_t, void *);                                                          \
  void P##_conv(const effk_conv2d_params *, const int8_t *, const void *, const int32_t *,      \
                const int32_t *, int8_t *, int32_t, int32_t);
DECLARE(A)
DECLARE(B)

// The rest of the kernel library links without its dispatch (each build's table would name
// the unrenamed entry points).
const void *effk_kernels_select(const char **error) {
  (void)error;
  return NULL;
}
int effk__x86_has_avx512vbmi(void) { return 0; }

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

#include "lite0_shapes.h"

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return p;
}

int main(int argc, char **argv) {
  int rounds = 300;
  const char *filter = "";
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--filter") && i + 1 < argc)
      filter = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--rounds N] [--filter SUBSTRING]\n", argv[0]);
      return 2;
    }
  }
  if (rounds < 2) rounds = 2;
  srand(42);
  double total_a[3] = {0}, total_b[3] = {0};
  int differ = 0;
  printf("%-26s %10s %10s %7s %7s\n", "shape", "A us", "B us", "B/A", "min B/A");
  for (size_t si = 0; si < sizeof bench_shapes / sizeof bench_shapes[0]; ++si) {
    const bench_shape *b = &bench_shapes[si];
    if (b->kind > 2 || (*filter && !strstr(b->label, filter))) continue;  // no FC here
    effk_conv2d_params p;
    bench_shape_params(b, &p);
    const int32_t taps = b->kind == 1 ? b->k * b->k : b->k * b->k * b->in_c;
    const size_t in_n = (size_t)p.in_h * p.in_w * p.in_c, out_n = (size_t)p.out_h * p.out_w * p.out_c;
    int8_t *in = xmalloc(in_n), *out_a = xmalloc(out_n), *out_b = xmalloc(out_n);
    int8_t *filt = xmalloc((size_t)p.out_c * taps);
    for (size_t i = 0; i < in_n; ++i) in[i] = (int8_t)rand();
    for (size_t i = 0; i < (size_t)p.out_c * taps; ++i) filt[i] = (int8_t)(rand() % 255 - 127);
    int32_t *bias = xmalloc((size_t)p.out_c * 4), *mult = xmalloc((size_t)p.out_c * 4),
            *shift = xmalloc((size_t)p.out_c * 4);
    for (int32_t i = 0; i < p.out_c; ++i) {
      bias[i] = rand() % 20000 - 10000;
      mult[i] = (1 << 30) + rand() % (1 << 30);
      shift[i] = taps > 200 ? -10 : taps > 30 ? -8 : -6;
    }
    void *pa, *pb;
    if (b->kind == 0) {
      pa = xmalloc(A_conv1x1_packed_size(p.in_c, p.out_c));
      pb = xmalloc(B_conv1x1_packed_size(p.in_c, p.out_c));
      A_conv1x1_pack(filt, bias, p.in_c, p.out_c, p.input_zero_point, pa);
      B_conv1x1_pack(filt, bias, p.in_c, p.out_c, p.input_zero_point, pb);
    } else if (b->kind == 1) {
      pa = xmalloc(A_dw_packed_size(b->k, b->k, p.in_c));
      pb = xmalloc(B_dw_packed_size(b->k, b->k, p.in_c));
      A_dw_pack(filt, bias, b->k, b->k, p.in_c, p.input_zero_point, pa);
      B_dw_pack(filt, bias, b->k, b->k, p.in_c, p.input_zero_point, pb);
    } else {
      pa = xmalloc(A_conv_packed_size(b->k, b->k, p.in_c, p.out_c));
      pb = xmalloc(B_conv_packed_size(b->k, b->k, p.in_c, p.out_c));
      A_conv_pack(filt, bias, b->k, b->k, p.in_c, p.out_c, p.input_zero_point, pa);
      B_conv_pack(filt, bias, b->k, b->k, p.in_c, p.out_c, p.input_zero_point, pb);
    }
    double *ta = xmalloc((size_t)rounds * sizeof(double)), *tb = xmalloc((size_t)rounds * sizeof(double));
    for (int r = 0; r < rounds; ++r)
      for (int v = 0; v < 2; ++v) {
        const int is_a = (r + v) % 2 == 0;  // A, B then B, A
        const double t0 = now_s();
        if (b->kind == 0) {
          if (is_a) A_conv1x1(&p, in, pa, mult, shift, out_a, 0, b->h * b->w);
          else B_conv1x1(&p, in, pb, mult, shift, out_b, 0, b->h * b->w);
        } else if (b->kind == 1) {
          if (is_a) A_dw(&p, in, pa, mult, shift, out_a, 0, b->h);
          else B_dw(&p, in, pb, mult, shift, out_b, 0, b->h);
        } else {
          if (is_a) A_conv(&p, in, pa, mult, shift, out_a, 0, b->h);
          else B_conv(&p, in, pb, mult, shift, out_b, 0, b->h);
        }
        (is_a ? ta : tb)[r] = now_s() - t0;
      }
    qsort(ta, (size_t)rounds, sizeof(double), cmp_double);
    qsort(tb, (size_t)rounds, sizeof(double), cmp_double);
    const double ma = ta[rounds / 2], mb = tb[rounds / 2];
    const int same = memcmp(out_a, out_b, out_n) == 0;
    differ |= !same;
    total_a[b->kind] += ma * b->count;
    total_b[b->kind] += mb * b->count;
    printf("%-26s %10.2f %10.2f %7.3f %7.3f%s\n", b->label, ma * 1e6, mb * 1e6, mb / ma, tb[0] / ta[0],
           same ? "" : "  OUTPUTS DIFFER");
    free(in), free(out_a), free(out_b), free(filt), free(bias), free(mult), free(shift);
    free(pa), free(pb), free(ta), free(tb);
  }
  static const char *kind_names[3] = {"1x1", "depthwise", "stem"};
  for (int k = 0; k < 3; ++k)
    if (total_a[k] > 0)
      printf("Lite0 %-9s total (ms)   A %.3f  B %.3f  B/A %.3f\n", kind_names[k], total_a[k] * 1e3,
             total_b[k] * 1e3, total_b[k] / total_a[k]);
  if (differ) fprintf(stderr, "the two builds' outputs differ\n");
  return differ ? 1 : 0;
}
