// CPUID detection and the FLEET_CPU_ISA override (kernels/cpu/cpu_isa.h).
#include "kernels/cpu/cpu_isa.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace fleet::cpu {
namespace {

constexpr const char* kEnvVar = "FLEET_CPU_ISA";

// Unset or empty reads as "no override".
const char* IsaFromEnvironment() {
  const char* value = std::getenv(kEnvVar);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

const char* CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return "avx512";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kPortable:
      break;
  }
  return "portable";
}

absl::StatusOr<CpuIsa> ParseCpuIsa(std::string_view name) {
  for (CpuIsa isa : {CpuIsa::kPortable, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (name == CpuIsaName(isa)) return isa;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown CPU instruction-set level '",
                                                 std::string(name),
                                                 "'; expected avx512, avx2 or portable"));
}

CpuIsa DetectedCpuIsa() {
#if defined(FLEET_HAVE_X86_ISA_LEVELS)
  // libgcc's checks include the OS's support for the wider register state (XGETBV).
  static const CpuIsa detected = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return CpuIsa::kAvx512;
    if (__builtin_cpu_supports("x86-64-v3")) return CpuIsa::kAvx2;
    return CpuIsa::kPortable;
  }();
  return detected;
#else
  return CpuIsa::kPortable;
#endif
}

bool CpuIsaSupported(CpuIsa isa) {
  return static_cast<int>(isa) <= static_cast<int>(DetectedCpuIsa());
}

absl::Status CheckCpuIsaEnvironment() {
  const char* value = IsaFromEnvironment();
  if (value == nullptr) return absl::OkStatus();
  absl::StatusOr<CpuIsa> isa = ParseCpuIsa(value);
  if (!isa.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kEnvVar, "=", value, ": ", isa.status().message()));
  }
  if (!CpuIsaSupported(*isa)) {
    return absl::InvalidArgumentError(
        absl::StrCat(kEnvVar, "=", value, ": this CPU does not support it; it supports up to ",
                     CpuIsaName(DetectedCpuIsa()), " (FLEET_CPU_ISA can only lower the level)"));
  }
  return absl::OkStatus();
}

CpuIsa ActiveCpuIsa() {
  static const CpuIsa active = [] {
    const CpuIsa detected = DetectedCpuIsa();
    const char* value = IsaFromEnvironment();
    if (value == nullptr) return detected;
    absl::Status valid = CheckCpuIsaEnvironment();
    if (!valid.ok()) {
      std::fprintf(stderr, "fleet: warning: %s; using %s\n", std::string(valid.message()).c_str(),
                   CpuIsaName(detected));
      return detected;
    }
    return *ParseCpuIsa(value);
  }();
  return active;
}

std::string CpuIsaSummary() {
  const CpuIsa active = ActiveCpuIsa();
  const CpuIsa detected = DetectedCpuIsa();
  if (active == detected) return absl::StrCat(CpuIsaName(active), " (detected)");
  return absl::StrCat(CpuIsaName(active), " (", kEnvVar, "=", CpuIsaName(active),
                      "; the CPU supports ", CpuIsaName(detected), ")");
}

}  // namespace fleet::cpu
