// Tests for the run-time choice of the instruction-set level (kernels/cpu/cpu_isa.h): names,
// the FLEET_CPU_ISA override and its errors, and that the SGEMM in use is the chosen level's.
#include "kernels/cpu/cpu_isa.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/level_kernels.h"
#include "kernels/cpu/sgemm.h"

namespace fleet::cpu {
namespace {

TEST(CpuIsaTest, NamesRoundTrip) {
  for (CpuIsa isa : {CpuIsa::kPortable, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    absl::StatusOr<CpuIsa> parsed = ParseCpuIsa(CpuIsaName(isa));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, isa);
  }
  absl::StatusOr<CpuIsa> bad = ParseCpuIsa("avx1024");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'avx1024'"), std::string::npos);
}

// CTest runs this binary unforced and forced to each lower level: the level in use must be the
// forced one, and the SGEMM must be that level's build.
TEST(CpuIsaTest, ActiveLevelFollowsTheEnvironment) {
  const char* forced = std::getenv("FLEET_CPU_ISA");
  const CpuIsa expected =
      forced != nullptr && *forced != '\0' ? *ParseCpuIsa(forced) : DetectedCpuIsa();
  EXPECT_EQ(ActiveCpuIsa(), expected);
  EXPECT_TRUE(CpuIsaSupported(ActiveCpuIsa()));
  const std::string kernel = SgemmKernelName();
  EXPECT_EQ(kernel.rfind(CpuIsaName(expected), 0), 0u) << kernel;
  const std::vector<float> b(16, 1.0f);
  EXPECT_EQ(PackSgemmB(false, 4, 4, b.data(), 4).variant(), &LevelKernelsFor(expected).sgemm);
}

TEST(CpuIsaTest, EveryLevelUpToTheDetectedOneIsSupported) {
  EXPECT_TRUE(CpuIsaSupported(CpuIsa::kPortable));
  for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    EXPECT_EQ(CpuIsaSupported(isa), static_cast<int>(isa) <= static_cast<int>(DetectedCpuIsa()));
    EXPECT_EQ(LevelKernelsFor(isa).isa, isa);
  }
}

class CpuIsaEnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* v = std::getenv("FLEET_CPU_ISA");
    saved_ = v != nullptr ? std::string(v) : std::string();
    had_ = v != nullptr;
  }
  void TearDown() override {
    if (had_) {
      setenv("FLEET_CPU_ISA", saved_.c_str(), 1);
    } else {
      unsetenv("FLEET_CPU_ISA");
    }
  }
  std::string saved_;
  bool had_ = false;
};

TEST_F(CpuIsaEnvironmentTest, UnknownNameIsAnError) {
  setenv("FLEET_CPU_ISA", "sse9", 1);
  absl::Status status = CheckCpuIsaEnvironment();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("FLEET_CPU_ISA=sse9"), std::string::npos) << status.message();
}

TEST_F(CpuIsaEnvironmentTest, LevelAboveTheCpuIsAnError) {
  if (DetectedCpuIsa() == CpuIsa::kAvx512) GTEST_SKIP() << "no level above this CPU's";
  setenv("FLEET_CPU_ISA", "avx512", 1);
  absl::Status status = CheckCpuIsaEnvironment();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("does not support"), std::string::npos) << status.message();
}

TEST_F(CpuIsaEnvironmentTest, UnsetOrSupportedIsFine) {
  unsetenv("FLEET_CPU_ISA");
  EXPECT_TRUE(CheckCpuIsaEnvironment().ok());
  setenv("FLEET_CPU_ISA", "portable", 1);
  EXPECT_TRUE(CheckCpuIsaEnvironment().ok());
}

}  // namespace
}  // namespace fleet::cpu
