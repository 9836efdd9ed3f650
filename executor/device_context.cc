#include "executor/device_context.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fleet {

absl::StatusOr<std::vector<DeviceContext>> DeviceContexts(const std::vector<DeviceContext>& extra) {
  std::vector<DeviceContext> devices = {CpuDeviceContext()};
  for (const DeviceContext& d : extra) {
    if (d.allocator == nullptr || d.allocator->device() != d.device) {
      return absl::InvalidArgumentError(absl::StrCat("ExecutorOptions::devices: the context of ",
                                                     d.device.ToString(),
                                                     " needs an allocator of that device"));
    }
    for (size_t i = 1; i < devices.size(); ++i) {
      if (devices[i].device == d.device) {
        return absl::InvalidArgumentError(
            absl::StrCat("ExecutorOptions::devices: ", d.device.ToString(), " is given twice"));
      }
    }
    if (d.device == devices[0].device) {
      devices[0] = d;
    } else {
      devices.push_back(d);
    }
  }
  return devices;
}

absl::StatusOr<const DeviceContext*> FindOpDevice(const Op& op, const std::string& op_description,
                                                  DeviceId default_device,
                                                  const std::vector<DeviceContext>& devices) {
  DeviceId id = default_device;
  if (!op.device.empty()) {
    absl::StatusOr<DeviceId> parsed = ParseDeviceId(op.device);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(op_description, ": ", parsed.status().message()));
    }
    id = *parsed;
  }
  std::vector<std::string> have;
  for (const DeviceContext& d : devices) {
    if (d.device == id) return &d;
    have.push_back(d.device.ToString());
  }
  return absl::FailedPreconditionError(absl::StrCat(op_description, ": device ", id.ToString(),
                                                    " is not available (have ",
                                                    absl::StrJoin(have, ", "), ")"));
}

absl::Status CheckInputDevices(const std::string& op_description, const DeviceContext& device,
                               const std::vector<const Tensor*>& inputs,
                               const std::vector<int>& slots,
                               const std::vector<std::string>& slot_names,
                               const std::vector<int>& host_inputs) {
  const bool host_kernel = device.allocator->host_accessible();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor* t = inputs[i];
    if (t == nullptr || !t->defined()) continue;
    if (std::find(host_inputs.begin(), host_inputs.end(), static_cast<int>(i)) !=
        host_inputs.end()) {
      if (t->host_accessible()) continue;
      return absl::FailedPreconditionError(absl::StrCat(
          op_description, ": input '", slot_names[slots[i]], "' is on ", t->device().ToString(),
          " but the kernel on ", device.device.ToString(),
          " reads it on the host (copy it to cpu with fleet.memcpy, or compute it on the host)"));
    }
    if (t->device() == device.device || (host_kernel && t->host_accessible())) continue;
    return absl::FailedPreconditionError(
        absl::StrCat(op_description, ": input '", slot_names[slots[i]], "' is on ",
                     t->device().ToString(), " but the op runs on ", device.device.ToString(),
                     " (copy it with fleet.memcpy; the insert-memcpy pass places such copies)"));
  }
  return absl::OkStatus();
}

}  // namespace fleet
