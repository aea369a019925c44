// Run-time choice of a kernel table by CPU feature detection.
//
// x86-64: scalar, avx2 (AVX2 + OS-enabled YMM state), avx512vnni (AVX-512 F/BW/VL/DQ +
// AVX512_VNNI + OS-enabled ZMM/opmask state), detected with cpuid + xgetbv.
// aarch64: scalar, neon (ASIMD), neondot (ASIMD + dot product), from getauxval(AT_HWCAP)
// on Linux and sysctl on Apple platforms.
// Other architectures: scalar only.
//
// EFFNETD_ISA=<name> forces a table (effk_kernels_select); compiling with
// -DEFFK_SCALAR_ONLY leaves every ISA table out (bring-up and debugging), and with
// -DEFFK_TEST_NO_VBMI hides AVX512_VBMI (tests the avx512vnni fallbacks).
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tables.h"

#if defined(EFFK_SCALAR_ONLY)
#define EFFK_ISA_NONE 1
#elif defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#if defined(__APPLE__)
#include <sys/sysctl.h>
#else
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif
#endif

#define EFFK_MAX_TABLES 4

typedef struct {
  const effk_isa_kernels *tables[EFFK_MAX_TABLES];  // best last
  int count;
  char names[64];
} effk_cpu_tables;

#if defined(__x86_64__) && !defined(EFFK_SCALAR_ONLY)
static int x86_vbmi;

static unsigned long long x86_xgetbv0(void) {
  unsigned int lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

static void x86_detect(int *avx2, int *avx512vnni, int *vbmi) {
  unsigned int a, b, c, d;
  *avx2 = *avx512vnni = *vbmi = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return;
  const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx) return;
  const unsigned long long xcr0 = x86_xgetbv0();
  const int ymm_state = (xcr0 & 0x6) == 0x6;       // SSE + AVX state
  const int zmm_state = (xcr0 & 0xE6) == 0xE6;     // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!ymm_state) return;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
  const int has_avx2 = (b >> 5) & 1;
  const int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  const int vnni = (c >> 11) & 1, vbmi_bit = (c >> 1) & 1;
  *avx2 = has_avx2;
  if (has_avx2 && zmm_state && f && dq && bw && vl && vnni) {
    *avx512vnni = 1;
    *vbmi = vbmi_bit;
  }
}

static const effk_cpu_tables *cpu_tables(void);
int effk__x86_has_avx512vbmi(void) {
  (void)cpu_tables();
  return x86_vbmi;
}
#endif

static effk_cpu_tables cpu_tables_value;
static pthread_once_t cpu_tables_once = PTHREAD_ONCE_INIT;

static void cpu_tables_init(void) {
  effk_cpu_tables r;
  memset(&r, 0, sizeof r);
  r.tables[r.count++] = &effk_kernels__scalar;
#if defined(EFFK_SCALAR_ONLY)
#elif defined(__x86_64__)
  int avx2, avx512vnni, vbmi;
  x86_detect(&avx2, &avx512vnni, &vbmi);
#if defined(EFFK_TEST_NO_VBMI)  // tests the avx512vnni paths for CPUs without AVX512_VBMI
  vbmi = 0;
#endif
  x86_vbmi = vbmi;
  if (avx2) r.tables[r.count++] = &effk_kernels__avx2;
  if (avx512vnni) r.tables[r.count++] = &effk_kernels__avx512vnni;
#elif defined(__aarch64__)
  int asimd = 0, asimddp = 0;
#if defined(__APPLE__)
  asimd = 1;  // every Apple arm64 CPU has Advanced SIMD
  int v = 0;
  size_t len = sizeof v;
  if (sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, NULL, 0) == 0 && v) asimddp = 1;
#else
  const unsigned long hwcap = getauxval(AT_HWCAP);
  asimd = (hwcap & HWCAP_ASIMD) != 0;
  asimddp = asimd && (hwcap & HWCAP_ASIMDDP) != 0;
#endif
  if (asimd) r.tables[r.count++] = &effk_kernels__neon;
  if (asimddp) r.tables[r.count++] = &effk_kernels__neondot;
#endif
  size_t n = 0;
  for (int i = 0; i < r.count; ++i) {
    const char *name = r.tables[i]->name;
    const size_t len = strlen(name);
    if (i) r.names[n++] = ',';
    memcpy(r.names + n, name, len);
    n += len;
  }
  r.names[n] = '\0';
  cpu_tables_value = r;
}

static const effk_cpu_tables *cpu_tables(void) {
  pthread_once(&cpu_tables_once, cpu_tables_init);
  return &cpu_tables_value;
}

const effk_isa_kernels *effk_kernels_named(const char *name) {
  if (!name) return NULL;
  const effk_cpu_tables *t = cpu_tables();
  for (int i = 0; i < t->count; ++i)
    if (strcmp(t->tables[i]->name, name) == 0) return t->tables[i];
  return NULL;
}

const effk_isa_kernels *effk_kernels_select(const char **error) {
  const effk_cpu_tables *t = cpu_tables();
  if (error) *error = NULL;
  const char *forced = getenv("EFFNETD_ISA");
  if (forced && *forced) {
    const effk_isa_kernels *k = effk_kernels_named(forced);
    if (!k && error) *error = "EFFNETD_ISA names an instruction set this build or CPU lacks";
    return k;
  }
  return t->tables[t->count - 1];
}

const char *effk_kernels_available(void) { return cpu_tables()->names; }
