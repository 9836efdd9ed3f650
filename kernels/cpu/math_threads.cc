#include <cblas.h>

#include "kernels/cpu/register.h"

namespace fleet {

void SetCpuMathThreads(int num_threads) { openblas_set_num_threads(num_threads); }

}  // namespace fleet
