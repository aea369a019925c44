// glibc's malloc tuning (mallopt, malloc_trim), which Swift's Glibc module does not
// import: <malloc.h> is not part of it.
#pragma once
#include <malloc.h>
