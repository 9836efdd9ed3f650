// --version text for the tools (tools/version.h).
#include "tools/version.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_isa.h"
#include "kernels/cpu/sgemm.h"
#include "tools/version_info.h"

namespace fleet {

std::string VersionText(std::string_view tool) {
  return absl::StrCat(std::string(tool), " ", FLEET_VERSION, " (git ", FLEET_GIT_DESCRIBE, ")\n",
                      "build: ", FLEET_BUILD_TYPE, ", ", FLEET_COMPILER,
                      ", CPU kernel levels built: ", FLEET_ISA_LEVELS_BUILT, "\n",
                      "cpu kernels: ", cpu::CpuIsaSummary(), "; sgemm micro-kernel ",
                      cpu::SgemmKernelName());
}

bool CheckCpuIsaEnvironmentOrReport(std::string_view tool) {
  absl::Status status = cpu::CheckCpuIsaEnvironment();
  if (status.ok()) return true;
  std::cerr << tool << ": error: " << status.message() << "\n";
  return false;
}

}  // namespace fleet
