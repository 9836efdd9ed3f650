#include "ir/device.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fleet {

const char* DeviceName(Device device) { return device == Device::kCuda ? "cuda" : "cpu"; }

std::string DeviceId::ToString() const {
  if (type == Device::kCpu && ordinal == 0) return DeviceName(type);
  return absl::StrCat(DeviceName(type), ":", ordinal);
}

absl::StatusOr<DeviceId> ParseDeviceId(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("unknown device '", std::string(text), "' (",
                                                   std::string(why),
                                                   "; expected cpu, cuda, or cuda:N)"));
  };
  std::string_view kind = text;
  std::string_view ordinal_text;
  if (size_t colon = text.find(':'); colon != std::string_view::npos) {
    kind = text.substr(0, colon);
    ordinal_text = text.substr(colon + 1);
    if (ordinal_text.empty()) return bad("no ordinal after ':'");
  }
  DeviceId id;
  if (kind == "cpu") {
    id.type = Device::kCpu;
  } else if (kind == "cuda") {
    id.type = Device::kCuda;
  } else {
    return bad(absl::StrCat("no device kind '", std::string(kind), "'"));
  }
  if (!ordinal_text.empty()) {
    if (ordinal_text.find_first_not_of("0123456789") != std::string_view::npos ||
        !absl::SimpleAtoi(absl::string_view(ordinal_text.data(), ordinal_text.size()),
                          &id.ordinal) ||
        id.ordinal > 1023) {
      return bad("the ordinal is not a number from 0 to 1023");
    }
    if (id.type == Device::kCpu && id.ordinal != 0) return bad("the host is cpu:0");
  }
  return id;
}

}  // namespace fleet
