// Internal to CEffKernels: the per-ISA kernel tables that dispatch.c chooses from, and
// CPU facts the tables may consult. Not part of the public interface (include/).
#ifndef EFFK_TABLES_H
#define EFFK_TABLES_H

#include "effk_dispatch.h"

#ifdef __cplusplus
extern "C" {
#endif

// Defined in scalar/table.c (every platform), avx2/table.c and avx512vnni/table.c
// (x86-64 only), neon/ and neondot/ (aarch64 only). dispatch.c references a table only on
// the architecture that defines it.
extern const effk_isa_kernels effk_kernels__scalar;
extern const effk_isa_kernels effk_kernels__avx2;
extern const effk_isa_kernels effk_kernels__avx512vnni;
extern const effk_isa_kernels effk_kernels__neon;
extern const effk_isa_kernels effk_kernels__neondot;

#if defined(__x86_64__)
// 1 when the CPU (and OS) supports AVX512_VBMI (vpermb); set by dispatch.c before any
// avx512vnni table is handed out. The avx512vnni lookup uses it to pick vpermi2b.
int effk__x86_has_avx512vbmi(void);
#endif

#ifdef __cplusplus
}
#endif

#endif
