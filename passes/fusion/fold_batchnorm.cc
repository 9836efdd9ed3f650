// fold-batchnorm: folds an inference BatchNormalization into the Conv that feeds it.
//
//   %c = Conv(%x, %w, %b)                       # %w, %b constant; %c read only by the BN
//   %y = BatchNormalization(%c, %s, %t, %m, %v) # all four constant, not training
//     ==>
//   %y = Conv(%x, %w', %b')   with  k = s / sqrt(v + eps),  w' = w * k (per output channel),
//                                   b' = (b - m) * k + t
//
// The folded weights are new values (the originals may feed other ops), declared in the main
// block beside the parameters; originals no op reads any more are removed with their values.
// Only f32 values are folded. Every block is visited (a pair inside a sub-block folds too).
// Every skipped match says why (--debug-pass fold-batchnorm).
#include <cmath>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "passes/builtin_passes.h"
#include "passes/pattern.h"

namespace fleet {
namespace {

// Vars some op of some block writes.
std::set<std::string> WrittenVars(const Program& program) {
  std::set<std::string> written;
  for (const Block& b : program.blocks) {
    for (const Op& op : b.ops) {
      for (const std::string& v : op.OutputVars()) written.insert(v);
    }
  }
  return written;
}

// The f32 elements of a constant the program never writes, as block `block` sees it, or an
// empty vector (and `why`).
std::vector<float> ConstantF32(const Program& program, int block,
                               const std::set<std::string>& written, const std::string& name,
                               int64_t expected_count, std::string* why) {
  auto it = program.values.find(name);
  const Var* var = FindVisibleVar(program, block, name);
  if (it == program.values.end() || var == nullptr || var->Has(kVarFeed)) {
    *why = absl::StrCat("'", name, "' is not a constant value");
    return {};
  }
  if (written.count(name)) {
    *why = absl::StrCat("'", name, "' is written by an op");
    return {};
  }
  const TensorValue& v = it->second;
  if (v.dtype != DataType::kF32 || v.NumElements() != expected_count ||
      v.bytes.size() != static_cast<size_t>(expected_count) * sizeof(float)) {
    *why = absl::StrCat("'", name, "' is not f32 with ", expected_count,
                        " elements and its bytes");
    return {};
  }
  std::vector<float> out(static_cast<size_t>(expected_count));
  std::memcpy(out.data(), v.bytes.data(), v.bytes.size());
  return out;
}

bool Declared(const Program& program, const std::string& name) {
  for (const Block& b : program.blocks) {
    if (b.FindVar(name) != nullptr) return true;
  }
  return false;
}

std::string FreshName(const Program& program, const std::string& base) {
  std::string name = base;
  for (int k = 1; Declared(program, name) || program.values.count(name); ++k) {
    name = absl::StrCat(base, ".", k);
  }
  return name;
}

std::string AddValue(Program& program, const std::string& base, std::vector<int64_t> shape,
                     const std::vector<float>& data) {
  std::string name = FreshName(program, base);
  Var var;
  var.name = name;
  var.dtype = DataType::kF32;
  var.shape = shape;
  var.flags = kVarPersistable | kVarParameter;
  program.main().AddVar(std::move(var));
  TensorValue value;
  value.dtype = DataType::kF32;
  value.shape = std::move(shape);
  value.bytes.assign(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  program.values[name] = std::move(value);
  return name;
}

Slot* FindSlot(std::vector<Slot>& slots, const std::string& name) {
  for (Slot& s : slots) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

class FoldBatchNorm final : public Pass {
 public:
  std::string_view name() const override { return "fold-batchnorm"; }
  std::string_view description() const override {
    return "fold inference BatchNormalization into the preceding Conv's weights and bias";
  }

  absl::StatusOr<bool> RunOnBlock(Program& program, int b, PassContext& ctx) override {
    const OpPattern pattern =
        OpPattern("BatchNormalization")
            .Bind("bn")
            .Input("X", OpPattern("Conv").Bind("conv").SingleUse(), "conv_out");
    UseIndex uses(program, b);
    const std::set<std::string> written = WrittenVars(program);
    std::vector<int> erased;
    std::set<std::string> replaced;
    for (const PatternMatch& m : FindMatches(program.blocks[b], uses, pattern)) {
      Op& bn = program.blocks[b].ops[m.ops.at("bn")];
      Op& conv = program.blocks[b].ops[m.ops.at("conv")];
      std::string why = Fold(program, b, written, conv, bn, &replaced);
      if (!why.empty()) {
        ctx.Skip(bn, why);
        continue;
      }
      erased.push_back(m.ops.at("bn"));
      RemoveDeclaration(program, b, m.vars.at("conv_out"));
    }
    if (erased.empty()) return false;
    Block& block = program.blocks[b];
    EraseOps(block, erased);
    // Originals that nothing reads any more go, with their values.
    UseIndex after(program, b);
    for (const std::string& name : replaced) {
      const Var* var = FindVisibleVar(program, b, name);
      if (after.NumUses(name) == 0 && var != nullptr && !var->Has(kVarFetch)) {
        RemoveDeclaration(program, b, name);
        if (!Declared(program, name)) program.values.erase(name);
      }
    }
    return true;
  }

 private:
  // Rewrites `conv` to include `bn`; returns "" on success or why it cannot.
  static void RemoveDeclaration(Program& program, int block, const std::string& name) {
    int b = DeclaringBlock(program, block, name);
    if (b >= 0) program.blocks[b].RemoveVar(name);
  }

  static std::string Fold(Program& program, int block, const std::set<std::string>& written,
                          Op& conv, const Op& bn, std::set<std::string>* replaced) {
    auto mode = bn.attrs.find("training_mode");
    if (mode != bn.attrs.end() && std::get<int64_t>(mode->second) != 0) {
      return "BatchNormalization runs in training mode";
    }
    for (size_t i = 1; i < bn.outputs.size(); ++i) {
      if (!bn.outputs[i].vars.empty()) return "BatchNormalization's running statistics are used";
    }
    const Slot* w_slot = conv.FindInput("W");
    const Var* w_var = w_slot && w_slot->vars.size() == 1
                           ? FindVisibleVar(program, block, w_slot->vars[0])
                           : nullptr;
    if (w_var == nullptr || !w_var->shape.has_value() || w_var->shape->empty()) {
      return "the Conv's weights have no known shape";
    }
    const std::vector<int64_t> w_shape = *w_var->shape;
    const int64_t m = w_shape[0];
    const int64_t per_channel = NumElementsOf(w_shape) / std::max<int64_t>(m, 1);
    std::string why;
    std::vector<float> w = ConstantF32(program, block, written, w_var->name, m * per_channel, &why);
    if (w.empty()) return why;
    std::vector<float> bias(static_cast<size_t>(m), 0.f);
    const Slot* b_slot = conv.FindInput("B");
    if (b_slot != nullptr && !b_slot->vars.empty()) {
      bias = ConstantF32(program, block, written, b_slot->vars[0], m, &why);
      if (bias.empty()) return why;
    }
    std::vector<std::vector<float>> p;  // scale, B, input_mean, input_var
    for (const char* slot : {"scale", "B", "input_mean", "input_var"}) {
      const Slot* s = bn.FindInput(slot);
      if (s == nullptr || s->vars.size() != 1) return absl::StrCat("BatchNormalization lacks ", slot);
      p.push_back(ConstantF32(program, block, written, s->vars[0], m, &why));
      if (p.back().empty()) return why;
    }
    auto eps_attr = bn.attrs.find("epsilon");
    double eps = eps_attr != bn.attrs.end() ? std::get<float>(eps_attr->second) : 1e-5;
    for (int64_t c = 0; c < m; ++c) {
      double k = p[0][c] / std::sqrt(static_cast<double>(p[3][c]) + eps);
      for (int64_t i = 0; i < per_channel; ++i) {
        float& wi = w[static_cast<size_t>(c * per_channel + i)];
        wi = static_cast<float>(wi * k);
      }
      bias[c] = static_cast<float>((bias[c] - static_cast<double>(p[2][c])) * k + p[1][c]);
    }
    std::string new_w = AddValue(program, w_var->name + ".bn_folded", w_shape, w);
    std::string new_b = AddValue(program, conv.name.empty() ? new_w + ".bias" : conv.name + ".bias",
                                 {m}, bias);
    replaced->insert(w_slot->vars[0]);
    if (b_slot != nullptr && !b_slot->vars.empty()) replaced->insert(b_slot->vars[0]);
    for (const Slot& s : bn.inputs) {
      if (s.name != "X") replaced->insert(s.vars.begin(), s.vars.end());
    }
    FindSlot(conv.inputs, "W")->vars = {new_w};
    Slot* conv_b = FindSlot(conv.inputs, "B");
    if (conv_b == nullptr) {
      conv.inputs.push_back(Slot{"B", {}});
      conv_b = &conv.inputs.back();
    }
    conv_b->vars = {new_b};
    conv.outputs[0].vars = bn.outputs[0].vars;
    return "";
  }

  static int64_t NumElementsOf(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateFoldBatchNormPass() { return std::make_unique<FoldBatchNorm>(); }

}  // namespace fleet
