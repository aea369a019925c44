#!/bin/sh
# Build the scalar kernels as a shared library and check them against LiteRT 2.3.0
# BUILTIN_REF: every op of Lite0 and B0 (with the dumped intermediates), then
# randomised single-op models. Usage: tools/kernel-check/run.sh [cases-per-op]
set -e
cd "$(dirname "$0")/../.."
M=/work/shared/models
LIB=${EFFK_LIB:-/tmp/libeffk.so}
cc -std=c11 -O2 -Wall -Wextra -shared -fPIC -I Sources/CEffKernels/include \
  Sources/CEffKernels/scalar/*.c -o "$LIB" -lm
export EFFK_LIB="$LIB"
python3 tools/kernel-check/check_ops.py $M/efficientnet-lite0-int8.tflite \
  $M/reference/intermediates-lite0-chelsea --quiet
python3 tools/kernel-check/check_ops.py $M/efficientnet-b0-int8-random1.tflite \
  $M/reference/intermediates-b0-chelsea --quiet
python3 tools/kernel-check/single_ops.py --cases "${1:-50}"
