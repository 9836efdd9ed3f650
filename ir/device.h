// Devices: the kind an op or a buffer lives on (cpu, cuda) and its ordinal, parsed from the
// free-form `Op::device` string of the IR.
//
// `Device` is the kind; kernels are registered per kind (KernelTable), so one CUDA kernel serves
// every GPU. `DeviceId` adds the ordinal ("cuda:1") and says which allocator and stream an op
// uses. The text form is "<kind>" or "<kind>:<ordinal>"; "cpu" is "cpu:0".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fleet {

enum class Device : int8_t { kCpu = 0, kCuda = 1 };
// "cpu", "cuda".
const char* DeviceName(Device device);

struct DeviceId {
  // Implicit on purpose: `Device::kCpu` reads as `cpu:0` wherever a DeviceId is expected.
  constexpr DeviceId(Device type = Device::kCpu, int ordinal = 0)  // NOLINT
      : type(type), ordinal(ordinal) {}

  Device type;
  int ordinal;

  // "cpu", "cuda:1": the ordinal is left out for the CPU, which has one.
  std::string ToString() const;
  friend bool operator==(DeviceId a, DeviceId b) {
    return a.type == b.type && a.ordinal == b.ordinal;
  }
  friend bool operator!=(DeviceId a, DeviceId b) { return !(a == b); }
};

// Parses "cpu", "cpu:0", "cuda", "cuda:3" (kind alone means ordinal 0). INVALID_ARGUMENT for
// anything else, saying what is accepted: "unknown device 'gpu:0' (expected cpu, cuda, or
// cuda:N)". An empty string is not a device (Op::device "" means the executor's default);
// callers handle it first.
absl::StatusOr<DeviceId> ParseDeviceId(std::string_view text);

}  // namespace fleet
