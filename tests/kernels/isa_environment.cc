// Linked into every kernel test binary. CTest runs each of them once at the detected
// instruction-set level and once more per lower level, forced with FLEET_CPU_ISA
// (tests/kernels/CMakeLists.txt); where the CPU lacks the forced level, every test of the binary
// is skipped (reported as skipped, not passed). An unknown level name fails the run.
#include <cstdio>
#include <cstdlib>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_isa.h"
#include "kernels/cpu/sgemm.h"

namespace fleet::cpu {
namespace {

class IsaEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* forced = std::getenv("FLEET_CPU_ISA");
    if (forced != nullptr && *forced != '\0') {
      absl::StatusOr<CpuIsa> isa = ParseCpuIsa(forced);
      ASSERT_TRUE(isa.ok()) << isa.status().message();
      if (!CpuIsaSupported(*isa)) {
        GTEST_SKIP() << "FLEET_CPU_ISA=" << forced << ": this CPU supports up to "
                     << CpuIsaName(DetectedCpuIsa());
      }
    }
    std::printf("cpu level: %s; sgemm micro-kernel %s\n", CpuIsaSummary().c_str(),
                SgemmKernelName());
  }
};

[[maybe_unused]] ::testing::Environment* const kIsaEnvironment =
    ::testing::AddGlobalTestEnvironment(new IsaEnvironment);

}  // namespace
}  // namespace fleet::cpu
