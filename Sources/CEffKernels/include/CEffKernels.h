// Umbrella header of the CEffKernels module (what Swift imports).
#include "effk.h"
#include "effk_dispatch.h"
#include "effk_image.h"
#include "effk_convert.h"
