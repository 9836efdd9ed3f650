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
//
// Options (fleet-run sets them from the device's kernels):
// - `insert-memcpy.host-inputs=Reshape:1,Expand:1`: inputs (op type : input index, counted over
//   the op's slots in order) that the op's kernel reads in host memory wherever the op runs,
//   such as a shape. Such an input is copied to the host, not to the op's device.
// - `insert-memcpy.persistable-home=device` (default `host`): a persistable var written on a
//   device stays there. Its copy back runs on that device instead of the host, which hands the
//   scope the device's tensor without moving a byte, and the next step's copy onto the device
//   finds it there already. Parameters and optimizer state then stay on the GPU between steps.
//   Every reader of a persistable var then reads a copy, since where the value is when a step
//   starts depends on the step before; a device's fleet.memcpy hands its input on when it is
//   already on that device.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

// Inputs read in host memory, by op type: the input indices.
using HostInputs = std::map<std::string, std::set<int>, std::less<>>;

absl::StatusOr<HostInputs> ParseHostInputs(const std::string& text) {
  HostInputs inputs;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const size_t colon = item.rfind(':');
    int index = -1;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(item.substr(colon + 1), &index) || index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("pass option 'insert-memcpy.host-inputs': '", std::string(item),
                       "' is not OP_TYPE:INPUT_INDEX (for example Reshape:1)"));
    }
    inputs[std::string(item.substr(0, colon))].insert(index);
  }
  return inputs;
}

class Placer {
 public:
  Placer(Block& block, HostInputs host_inputs, bool persistables_stay)
      : block_(block),
        host_inputs_(std::move(host_inputs)),
        persistables_stay_(persistables_stay) {}

  // The ops of the block with the copies in place (the block's ops are moved from).
  absl::StatusOr<std::vector<Op>> Place() {
    std::vector<Op> placed;
    for (Op& op : block_.ops) {
      FLEET_ASSIGN_OR_RETURN(DeviceId device, OpDevice(op));
      if (op.type != kMemcpy) {
        auto host_read = host_inputs_.find(op.type);
        int index = 0;
        for (Slot& slot : op.inputs) {
          for (std::string& var : slot.vars) {
            const DeviceId wanted =
                host_read != host_inputs_.end() && host_read->second.count(index) > 0
                    ? DeviceId(Device::kCpu)
                    : device;
            ++index;
            if (!var.empty() && LocationOf(var) != wanted) var = CopyOn(var, wanted, op, placed);
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
          const bool stays = persistables_stay_ && declared->Has(kVarPersistable);
          copies_back.push_back(
              Memcpy(on_device, var, stays ? device : DeviceId(Device::kCpu), op));
          copies_[{var, device.ToString()}] = on_device;
          location_[on_device] = device;
          location_[var] = stays ? device : DeviceId(Device::kCpu);
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
    if (it != location_.end()) return it->second;
    // Where a persistable var that stays on its device is when a step starts depends on the
    // step before (the host after start-up, a device afterwards): every reader gets a copy,
    // which costs nothing when the value is already where the reader runs.
    if (persistables_stay_) {
      const Var* declared = block_.FindVar(var);
      if (declared != nullptr && declared->Has(kVarPersistable)) return kSomewhere;
    }
    return DeviceId(Device::kCpu);
  }

  // No device: the location of a value not known before the program runs.
  static constexpr DeviceId kSomewhere{Device::kCuda, -1};

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
  HostInputs host_inputs_;
  bool persistables_stay_;
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

  absl::StatusOr<bool> Run(Program& program, PassContext& ctx) override {
    FLEET_ASSIGN_OR_RETURN(HostInputs host_inputs,
                           ParseHostInputs(ctx.GetString("insert-memcpy.host-inputs", "")));
    const std::string home = ctx.GetString("insert-memcpy.persistable-home", "host");
    if (home != "host" && home != "device") {
      return absl::InvalidArgumentError(absl::StrCat(
          "pass option 'insert-memcpy.persistable-home' is '", home, "'; expected host or device"));
    }
    Placer placer(program.main(), std::move(host_inputs), home == "device");
    FLEET_ASSIGN_OR_RETURN(std::vector<Op> placed, placer.Place());
    program.main().ops = std::move(placed);  // the same ops when nothing changed
    return placer.changed();
  }
};

}  // namespace

std::unique_ptr<Pass> CreateInsertMemcpyPass() { return std::make_unique<InsertMemcpyPass>(); }

}  // namespace fleet
