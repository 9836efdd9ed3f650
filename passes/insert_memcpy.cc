// insert-memcpy: makes copies between devices visible in the program. Where an op reads a var
// that lives on another device, a fleet.memcpy onto the op's device is inserted and the op reads
// the copy; a fetched or persistable var written on a device is copied back to the host.
//
//   (Y: %h) = Relu(X: %x) device="cuda:0"          # %x fed (host), %h read on the host
//   (Y: %y) = Sigmoid(X: %h)                        # %y fetched
//     ==>
//   (Out: %"x@cuda:0") = fleet.memcpy(X: %x) device="cuda:0"
//   (Y: %h) = Relu(X: %"x@cuda:0") device="cuda:0"
//   (Out: %"h@cpu") = fleet.memcpy(X: %h) device="cpu"
//   (Y: %y) = Sigmoid(X: %"h@cpu")
//
// A var lives on the device of the op that last wrote it; feeds, persistable vars and initial
// values live on the host (the executor reads them from its scope), and an op without a device
// runs on the host (an executor whose default device is the CPU). A copy is reused by later
// readers on the same device until the var is written again. Fetched and persistable vars
// written on a device are written to `<var>@<device>` and copied back, so the scope keeps host
// tensors. fleet.memcpy ops already present are taken as they are. Only the main block is
// placed; sub-blocks are left alone.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/device.h"
#include "ir/grad_builder.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"

namespace fleet {
namespace {

constexpr char kMemcpy[] = "fleet.memcpy";

absl::StatusOr<DeviceId> OpDevice(const Op& op) {
  if (op.device.empty()) return DeviceId(Device::kCpu);
  absl::StatusOr<DeviceId> device = ParseDeviceId(op.device);
  if (!device.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(op.Describe(), ": ", device.status().message()));
  }
  return *device;
}

class Placer {
 public:
  explicit Placer(Block& block) : block_(block) {}

  // The ops of the block with the copies in place (the block's ops are moved from).
  absl::StatusOr<std::vector<Op>> Place() {
    std::vector<Op> placed;
    for (Op& op : block_.ops) {
      FLEET_ASSIGN_OR_RETURN(DeviceId device, OpDevice(op));
      if (op.type != kMemcpy) {
        for (Slot& slot : op.inputs) {
          for (std::string& var : slot.vars) {
            if (!var.empty() && LocationOf(var) != device) var = CopyOn(var, device, op, placed);
          }
        }
      }
      std::vector<Op> copies_back;
      for (Slot& slot : op.outputs) {
        for (std::string& var : slot.vars) {
          if (var.empty()) continue;
          Written(var);
          const Var* declared = block_.FindVar(var);
          bool to_host = device.type != Device::kCpu && declared != nullptr &&
                         (declared->Has(kVarFetch) || declared->Has(kVarPersistable));
          if (!to_host) {
            location_[var] = device;
            continue;
          }
          std::string on_device = CopyName(var, device);
          copies_back.push_back(Memcpy(on_device, var, DeviceId(Device::kCpu), op));
          copies_[{var, device.ToString()}] = on_device;
          location_[on_device] = device;
          location_[var] = DeviceId(Device::kCpu);
          var = on_device;
        }
      }
      placed.push_back(std::move(op));
      for (Op& copy : copies_back) placed.push_back(std::move(copy));
    }
    return placed;
  }

  bool changed() const { return changed_; }

 private:
  DeviceId LocationOf(const std::string& var) const {
    auto it = location_.find(var);
    return it == location_.end() ? DeviceId(Device::kCpu) : it->second;
  }

  // A var is written: copies of its old value are stale.
  void Written(const std::string& var) {
    for (auto it = copies_.lower_bound({var, ""}); it != copies_.end() && it->first.first == var;) {
      it = copies_.erase(it);
    }
  }

  // The name of `var`'s copies on `device` (one name per pair, so that an in-place update on
  // a device reads and writes the same var), declared like `var` without its flags.
  std::string CopyName(const std::string& var, DeviceId device) {
    auto [it, inserted] = names_.try_emplace({var, device.ToString()});
    if (!inserted) return it->second;
    it->second = FreshVarName(block_, absl::StrCat(var, "@", device.ToString()));
    Var copy;
    if (const Var* original = block_.FindVar(var)) copy = *original;
    copy.name = it->second;
    copy.flags = 0;
    block_.AddVar(std::move(copy));
    changed_ = true;
    return it->second;
  }

  // Emits (before `reader`) a copy of `var` onto `device` unless one is current; its name.
  std::string CopyOn(const std::string& var, DeviceId device, const Op& reader,
                     std::vector<Op>& placed) {
    auto known = copies_.find({var, device.ToString()});
    if (known != copies_.end()) return known->second;
    std::string name = CopyName(var, device);
    placed.push_back(Memcpy(var, name, device, reader));
    copies_[{var, device.ToString()}] = name;
    location_[name] = device;
    return name;
  }

  Op Memcpy(const std::string& from, const std::string& to, DeviceId device, const Op& origin) {
    changed_ = true;
    Op copy;
    copy.type = kMemcpy;
    copy.inputs = {{"X", {from}}};
    copy.outputs = {{"Out", {to}}};
    copy.device = device.ToString();
    copy.role = origin.role;
    copy.loc = origin.loc;
    return copy;
  }

  Block& block_;
  std::map<std::string, DeviceId> location_;  // absent: the host
  // (var, device) -> the copy's name; in copies_ only while the copy is current.
  std::map<std::pair<std::string, std::string>, std::string> names_;
  std::map<std::pair<std::string, std::string>, std::string> copies_;
  bool changed_ = false;
};

class InsertMemcpyPass final : public Pass {
 public:
  std::string_view name() const override { return "insert-memcpy"; }
  std::string_view description() const override {
    return "inserts fleet.memcpy where an op reads a var that lives on another device";
  }

  absl::StatusOr<bool> Run(Program& program, PassContext& /*ctx*/) override {
    Placer placer(program.main());
    FLEET_ASSIGN_OR_RETURN(std::vector<Op> placed, placer.Place());
    program.main().ops = std::move(placed);  // the same ops when nothing changed
    return placer.changed();
  }
};

}  // namespace

std::unique_ptr<Pass> CreateInsertMemcpyPass() { return std::make_unique<InsertMemcpyPass>(); }

}  // namespace fleet
