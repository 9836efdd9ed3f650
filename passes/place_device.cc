// place-device: puts a program's ops on one device, so that a job trains on a GPU.
//
// Every op of the main block without a device gets `place-device.device` (e.g. "cuda:0"),
// except the op types listed in `place-device.host-ops` (comma-separated), which stay on the
// host: fleet-run lists there the op types that have no kernel on the device (they fall back
// to the host, visibly: insert-memcpy then puts copies around them) and the ones that must run
// on the host (reading data, talking to a parameter server). Ops that already name a device
// keep it.
//
// The sub-blocks of an op placed on the device (LocalSGD's conditional averages) are placed
// by the same rule; those of a host op stay on the host with it. insert-memcpy puts no copies
// inside sub-blocks, so a sub-block's device ops must read what is already on the device, as
// the averages of gradients and parameters do.
//
//   (Y: %h) = Relu(X: %x)                     place-device.device=cuda:0
//   (Y: %r) = fleet.ps_push(...)              place-device.host-ops=fleet.ps_push
//     ==>
//   (Y: %h) = Relu(X: %x) device="cuda:0"
//   (Y: %r) = fleet.ps_push(...)
//
// Run insert-memcpy after it to make the copies explicit.
#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ir/device.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"

namespace fleet {
namespace {

class PlaceDevicePass final : public Pass {
 public:
  std::string_view name() const override { return "place-device"; }
  std::string_view description() const override {
    return "places the main block's ops (and the sub-blocks of those placed) on "
           "place-device.device, except place-device.host-ops";
  }

  absl::StatusOr<bool> Run(Program& program, PassContext& ctx) override {
    const std::string text = ctx.GetString("place-device.device", "");
    if (text.empty()) {
      return absl::InvalidArgumentError(
          "place-device needs the option place-device.device (for example cuda:0)");
    }
    absl::StatusOr<DeviceId> device = ParseDeviceId(text);
    if (!device.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pass option 'place-device.device': ", device.status().message()));
    }
    if (device->type == Device::kCpu) return false;  // the host is where ops run anyway
    std::set<std::string, std::less<>> host_ops;
    for (absl::string_view type :
         absl::StrSplit(ctx.GetString("place-device.host-ops", ""), ',', absl::SkipEmpty())) {
      host_ops.emplace(type);
    }
    return PlaceBlock(program, 0, host_ops, device->ToString());
  }

 private:
  // Places block `index`'s ops and, below each op placed on the device, its sub-blocks.
  static bool PlaceBlock(Program& program, int index,
                         const std::set<std::string, std::less<>>& host_ops,
                         const std::string& placed) {
    bool changed = false;
    for (size_t i = 0; i < program.blocks[index].ops.size(); ++i) {
      Op& op = program.blocks[index].ops[i];
      if (op.device.empty() && host_ops.count(op.type) == 0) {
        op.device = placed;
        changed = true;
      }
      if (op.device != placed) continue;
      std::vector<int> sub_blocks;
      for (const auto& [name, value] : op.attrs) {
        if (const BlockRef* ref = std::get_if<BlockRef>(&value)) sub_blocks.push_back(ref->index);
      }
      for (int sub : sub_blocks) {
        if (sub > index && sub < static_cast<int>(program.blocks.size())) {
          changed = PlaceBlock(program, sub, host_ops, placed) || changed;
        }
      }
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreatePlaceDevicePass() { return std::make_unique<PlaceDevicePass>(); }

}  // namespace fleet
