// The startup program of a training program (passes/training/startup.h): one
// fleet.fill_constant per optimizer state var, with the value the op that reads it expects; and
// the `startup` pass, which adds it to the job.
#include "passes/training/startup.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"
#include "ir/verify.h"
#include "passes/builtin_passes.h"
#include "passes/pattern.h"

namespace fleet {
namespace {

// A float attribute of `op`, or its schema's default.
float FloatAttrOrDefault(const Op& op, const std::string& name) {
  auto it = op.attrs.find(name);
  if (it != op.attrs.end() && std::holds_alternative<float>(it->second)) {
    return std::get<float>(it->second);
  }
  const OpSchema* schema = FindOpSchema(op.type);
  const AttrSpec* spec = schema == nullptr ? nullptr : schema->FindAttr(name);
  if (spec != nullptr && spec->default_value &&
      std::holds_alternative<float>(*spec->default_value)) {
    return std::get<float>(*spec->default_value);
  }
  return 0.0f;
}

// The (input slot, initial value) pairs of the state an op reads.
std::vector<std::pair<std::string, float>> StateInits(const Op& op) {
  const std::string& t = op.type;
  if (t == "fleet.momentum") return {{"Velocity", 0.0f}};
  if (t == "fleet.adam" || t == "fleet.adamw") {
    return {{"Moment1", 0.0f},
            {"Moment2", 0.0f},
            {"Beta1Pow", FloatAttrOrDefault(op, "beta1")},
            {"Beta2Pow", FloatAttrOrDefault(op, "beta2")}};
  }
  if (t == "fleet.adagrad")
    return {{"Moment", FloatAttrOrDefault(op, "initial_accumulator_value")}};
  if (t == "fleet.lr_schedule") return {{"Step", 0.0f}};
  if (t == "fleet.increment") return {{"X", 0.0f}};
  if (t == "fleet.update_loss_scaling") {
    return {{"Scale", FloatAttrOrDefault(op, "init_scale")},
            {"GoodSteps", 0.0f},
            {"SkippedSteps", 0.0f}};
  }
  return {};
}

}  // namespace

absl::StatusOr<Program> BuildStartupProgram(const Program& main) {
  Program startup;
  startup.meta.opset = main.meta.opset;
  startup.meta.producer = main.meta.producer;
  startup.meta.strategy = main.meta.strategy;
  startup.meta.role = "startup";
  Block& out = startup.main();
  std::map<std::string, float> value_of;

  auto add = [&](const Op& op, const Block& block, const std::string& name,
                 float value) -> absl::Status {
    if (name.empty() || main.values.count(name)) return absl::OkStatus();
    auto [it, inserted] = value_of.emplace(name, value);
    if (!inserted) {
      if (it->second != value) {
        return absl::InvalidArgumentError(
            absl::StrCat(op.Describe(), ": state var '", name, "' starts at ", value,
                         " here and at ", it->second, " for another op; expected one value"));
      }
      return absl::OkStatus();
    }
    const Var* v = FindVisibleVar(main, block.index(), name);
    if (v == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(op.Describe(), ": state var '", name, "' is not declared"));
    }
    bool is_static = v->shape.has_value();
    for (int64_t d : v->shape.value_or(std::vector<int64_t>{})) is_static = is_static && d >= 0;
    if (!is_static) {
      return absl::InvalidArgumentError(absl::StrCat(
          op.Describe(), ": state var '", name, "' has no static shape; expected one to fill"));
    }
    Var decl = *v;
    decl.flags = kVarPersistable;
    decl.kind = VarKind::kDense;
    out.AddVar(decl);
    Op fill;
    fill.type = "fleet.fill_constant";
    fill.outputs = {{"Out", {name}}};
    fill.attrs["dtype"] = AttrValue(std::string(DataTypeName(v->dtype)));
    fill.attrs["shape"] = AttrValue(*v->shape);
    fill.attrs["value"] = AttrValue(value);
    out.ops.push_back(std::move(fill));
    return absl::OkStatus();
  };

  for (const Block& block : main.blocks) {
    for (const Op& op : block.ops) {
      for (const auto& [slot, value] : StateInits(op)) {
        const Slot* s = op.FindInput(slot);
        if (s == nullptr) continue;
        for (const std::string& name : s->vars) {
          FLEET_RETURN_IF_ERROR(add(op, block, name, value));
        }
      }
      if (op.type == "fleet.lr_schedule") {
        const Slot* s = op.FindOutput("LearningRate");
        for (const std::string& name : s == nullptr ? std::vector<std::string>{} : s->vars) {
          FLEET_RETURN_IF_ERROR(add(op, block, name, FloatAttrOrDefault(op, "base_lr")));
        }
      }
    }
  }
  absl::Status valid = Verify(startup);
  if (!valid.ok()) {
    return absl::InternalError(absl::StrCat("startup program: ", valid.message()));
  }
  return startup;
}

namespace {

// Adds the startup program of each program a process runs every step (main, pserver.<i>).
class StartupPass final : public Pass {
 public:
  std::string_view name() const override { return "startup"; }
  std::string_view description() const override {
    return "adds the startup program that initialises the optimizer state (a job pass)";
  }

  absl::StatusOr<bool> RunOnJob(Job& job, PassContext&) override {
    std::vector<std::pair<std::string, Program>> built;
    for (const auto& [name, program] : job.programs) {
      const ProgramRole role = ProgramRoleOf(name);
      if (role != ProgramRole::kMain && role != ProgramRole::kServer) continue;
      absl::StatusOr<Program> startup = BuildStartupProgram(program);
      if (!startup.ok()) {
        return absl::Status(startup.status().code(),
                            absl::StrCat("program \"", name, "\": ", startup.status().message()));
      }
      built.emplace_back(StartupProgramNameOf(name), *std::move(startup));
    }
    for (auto& [name, startup] : built) job.programs[name] = std::move(startup);
    return !built.empty();
  }

  absl::StatusOr<bool> Run(Program&, PassContext&) override {
    return absl::FailedPreconditionError(
        "pass 'startup' adds a program to the job; run it over a job, not a single program");
  }
};

}  // namespace

std::unique_ptr<Pass> CreateStartupPass() { return std::make_unique<StartupPass>(); }

}  // namespace fleet
