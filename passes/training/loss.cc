// loss: gives the program the scalar loss that training minimises.
//
// When the model already has one — the output named by the strategy's training.loss_output, or
// a fetched scalar written by an op marked with the loss role or by a reducing
// SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss — the pass uses it: it marks its producer
// with the loss role and appends nothing. Otherwise it appends the loss the strategy names on
// the output (training.output; default: the only fetch var) against a new feed var for the
// labels (training.label; default "label"):
//
//   softmax_ce   %loss = SoftmaxCrossEntropyLoss(scores: %logits, labels: %label)
//                        reduction="mean"        # %logits f[N,C,...], %label i64[N,...]
//   sigmoid_bce  mean(Relu(x) - x*y + Softplus(-Abs(x)))   # BCE with logits, stable for any x
//   mse          mean((x - y) * (x - y))                   # %label shaped like x
//
// The new ops carry the role forward|loss; the scalar loss var ("loss", or "loss_1", ... when
// taken) is fetched, and the output stays fetched for metrics. An output of the wrong dtype or
// rank for the loss is INVALID_ARGUMENT naming the output and what was expected.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"
#include "passes/strategy.h"

namespace fleet {
namespace {

using proto::TrainingConfig;

// "f32[?,3]" as the text format writes it (? is an unknown dim); "f32" when the rank is unknown.
std::string ShapeString(const Var& v) {
  if (!v.shape) return absl::StrCat(DataTypeName(v.dtype), " of unknown rank");
  std::vector<std::string> dims;
  for (int64_t d : *v.shape) dims.push_back(d < 0 ? "?" : absl::StrCat(d));
  return absl::StrCat(DataTypeName(v.dtype), "[", absl::StrJoin(dims, ","), "]");
}

bool IsScalar(const Var& v) {
  if (!v.shape) return false;
  for (int64_t d : *v.shape) {
    if (d != 1) return false;
  }
  return true;
}

// The last op of `block` writing `var`, or -1.
int Producer(const Block& block, const std::string& var) {
  for (int i = static_cast<int>(block.ops.size()) - 1; i >= 0; --i) {
    for (const std::string& out : block.ops[i].OutputVars()) {
      if (out == var) return i;
    }
  }
  return -1;
}

// Whether `op` computes a loss reduced to a scalar, as an exported training graph does.
bool IsReducingLossOp(const Op& op, const std::string& var) {
  if (op.type != "SoftmaxCrossEntropyLoss" && op.type != "NegativeLogLikelihoodLoss") {
    return false;
  }
  const Slot* out = op.FindOutput("output");
  if (out == nullptr || out->vars.empty() || out->vars[0] != var) return false;
  auto it = op.attrs.find("reduction");
  return it == op.attrs.end() || !std::holds_alternative<std::string>(it->second) ||
         std::get<std::string>(it->second) != "none";
}

// A var name not yet declared in `block`: `base`, else base_1, base_2, ...
std::string FreshName(const Block& block, const std::string& base) {
  if (block.FindVar(base) == nullptr) return base;
  for (int i = 1;; ++i) {
    std::string name = absl::StrCat(base, "_", i);
    if (block.FindVar(name) == nullptr) return name;
  }
}

class LossBuilder {
 public:
  LossBuilder(Block& block, std::string loss) : block_(block), loss_(std::move(loss)) {}

  // Declares a new var named after the loss ("loss_relu") like `like` (or with `shape`).
  std::string Temp(const std::string& suffix, DataType dtype,
                   std::optional<std::vector<int64_t>> shape) {
    Var v;
    v.name = FreshName(block_, absl::StrCat(loss_, "_", suffix));
    v.dtype = dtype;
    v.shape = std::move(shape);
    block_.AddVar(v);
    return v.name;
  }

  void Add(const std::string& type, std::vector<Slot> inputs, std::vector<Slot> outputs,
           AttrMap attrs = {}) {
    Op op;
    op.type = type;
    op.name = absl::StrCat(loss_, ".", ++count_, ".", type);
    op.inputs = std::move(inputs);
    op.outputs = std::move(outputs);
    op.attrs = std::move(attrs);
    op.role = kRoleForward | kRoleLoss;
    block_.ops.push_back(std::move(op));
  }

  // data: `x` reduced to a scalar mean written to `out`.
  void ReduceMean(const std::string& x, const std::string& out) {
    Add("ReduceMean", {{"data", {x}}}, {{"reduced", {out}}}, {{"keepdims", int64_t{0}}});
  }

 private:
  Block& block_;
  std::string loss_;
  int count_ = 0;
};

class LossPass final : public Pass {
 public:
  std::string_view name() const override { return "loss"; }
  std::string_view description() const override {
    return "uses the model's loss output, or appends the strategy's loss (softmax_ce, "
           "sigmoid_bce, mse) against a new label feed";
  }

  // A whole-program pass on the main block, where training happens: it overrides Run, so it
  // does not visit sub-blocks.
  absl::StatusOr<bool> Run(Program& program, PassContext& ctx) override {
    TrainingConfig training;
    if (ctx.strategy() != nullptr) training = ctx.strategy()->training();
    Block& block = program.main();

    FLEET_ASSIGN_OR_RETURN(std::optional<std::string> existing, ExistingLoss(block, training));
    if (existing) return UseExisting(block, *existing, training, ctx);

    if (training.loss() == TrainingConfig::LOSS_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          "the model has no loss output and the strategy names no loss; expected --loss "
          "softmax_ce, sigmoid_bce or mse (or training.loss_output naming the model's loss)");
    }
    FLEET_ASSIGN_OR_RETURN(std::string output, OutputName(block, training));
    const Var out = *block.FindVar(output);
    const std::string kind = LossKindName(training.loss());
    FLEET_RETURN_IF_ERROR(CheckOutput(out, training.loss(), kind));

    const std::string label = training.label().empty() ? "label" : training.label();
    if (block.FindVar(label) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "label '", label, "' already names a var of the model; expected a new name (--label)"));
    }
    Var label_var;
    label_var.name = label;
    label_var.flags = kVarFeed;
    if (training.loss() == TrainingConfig::SOFTMAX_CE) {
      // [N, C, d1, ...] scores take [N, d1, ...] class indices.
      std::vector<int64_t> shape = {(*out.shape)[0]};
      shape.insert(shape.end(), out.shape->begin() + 2, out.shape->end());
      label_var.dtype = DataType::kI64;
      label_var.shape = shape;
    } else {
      label_var.dtype = out.dtype;
      label_var.shape = out.shape;
    }
    block.AddVar(label_var);

    Var loss_var;
    loss_var.name = FreshName(block, "loss");
    loss_var.dtype = out.dtype;
    loss_var.shape = std::vector<int64_t>{};
    loss_var.flags = kVarFetch;
    block.AddVar(loss_var);
    const std::string& loss = loss_var.name;

    LossBuilder b(block, loss);
    const DataType dt = out.dtype;
    switch (training.loss()) {
      case TrainingConfig::SOFTMAX_CE:
        b.Add("SoftmaxCrossEntropyLoss", {{"scores", {output}}, {"labels", {label}}},
              {{"output", {loss}}}, {{"reduction", std::string("mean")}});
        break;
      case TrainingConfig::SIGMOID_BCE: {
        // max(x, 0) - x*y + log(1 + exp(-|x|)): never exponentiates a positive number.
        std::string relu = b.Temp("relu", dt, out.shape);
        std::string xy = b.Temp("xy", dt, out.shape);
        std::string abs = b.Temp("abs", dt, out.shape);
        std::string neg = b.Temp("negabs", dt, out.shape);
        std::string softplus = b.Temp("softplus", dt, out.shape);
        std::string diff = b.Temp("diff", dt, out.shape);
        std::string each = b.Temp("each", dt, out.shape);
        b.Add("Relu", {{"X", {output}}}, {{"Y", {relu}}});
        b.Add("Mul", {{"A", {output}}, {"B", {label}}}, {{"C", {xy}}});
        b.Add("Abs", {{"X", {output}}}, {{"Y", {abs}}});
        b.Add("Neg", {{"X", {abs}}}, {{"Y", {neg}}});
        b.Add("Softplus", {{"X", {neg}}}, {{"Y", {softplus}}});
        b.Add("Sub", {{"A", {relu}}, {"B", {xy}}}, {{"C", {diff}}});
        b.Add("Add", {{"A", {diff}}, {"B", {softplus}}}, {{"C", {each}}});
        b.ReduceMean(each, loss);
        break;
      }
      case TrainingConfig::MSE: {
        std::string diff = b.Temp("diff", dt, out.shape);
        std::string sq = b.Temp("sq", dt, out.shape);
        b.Add("Sub", {{"A", {output}}, {"B", {label}}}, {{"C", {diff}}});
        b.Add("Mul", {{"A", {diff}}, {"B", {diff}}}, {{"C", {sq}}});
        b.ReduceMean(sq, loss);
        break;
      }
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("unsupported loss kind ", static_cast<int>(training.loss())));
    }
    ctx.Note(absl::StrCat("appended ", kind, " loss '", loss, "' on output '", output,
                          "' against new feed '", label, "' ", ShapeString(label_var)));
    return true;
  }

 private:
  // The model's own loss var, if it has one; an error when the strategy names a bad one or the
  // model has several.
  static absl::StatusOr<std::optional<std::string>> ExistingLoss(const Block& block,
                                                                 const TrainingConfig& t) {
    if (!t.loss_output().empty()) {
      const Var* v = block.FindVar(t.loss_output());
      if (v == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("loss output '", t.loss_output(), "' is not a var of the main block"));
      }
      if (!IsFloatingPoint(v->dtype) || !IsScalar(*v)) {
        return absl::InvalidArgumentError(absl::StrCat("loss output '", v->name, "' is ",
                                                       ShapeString(*v),
                                                       "; expected a floating-point scalar"));
      }
      return std::optional<std::string>(v->name);
    }
    std::vector<std::string> found;
    for (const Var& v : block.vars()) {
      if (!v.Has(kVarFetch) || !IsScalar(v) || !IsFloatingPoint(v.dtype)) continue;
      int p = Producer(block, v.name);
      if (p < 0) continue;
      const Op& op = block.ops[p];
      if (HasRole(op, kRoleLoss) || IsReducingLossOp(op, v.name)) found.push_back(v.name);
    }
    if (found.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat("the model has ", found.size(),
                                                     " loss outputs (", absl::StrJoin(found, ", "),
                                                     "); name one with training.loss_output"));
    }
    if (found.empty()) return std::optional<std::string>();
    return std::optional<std::string>(found[0]);
  }

  static absl::StatusOr<bool> UseExisting(Block& block, const std::string& loss,
                                          const TrainingConfig& t, PassContext& ctx) {
    bool changed = false;
    Var* v = block.FindVar(loss);
    if (!v->Has(kVarFetch)) {
      v->flags |= kVarFetch;
      changed = true;
    }
    int p = Producer(block, loss);
    if (p >= 0 && !HasRole(block.ops[p], kRoleLoss)) {
      AddRole(block.ops[p], kRoleLoss);
      changed = true;
    }
    std::string note = absl::StrCat("using the model's loss output '", loss, "'");
    if (t.loss() != TrainingConfig::LOSS_UNSPECIFIED) {
      absl::StrAppend(&note, "; loss ", LossKindName(t.loss()), " not appended");
    }
    ctx.Note(std::move(note));
    return changed;
  }

  static absl::StatusOr<std::string> OutputName(const Block& block, const TrainingConfig& t) {
    if (!t.output().empty()) {
      if (block.FindVar(t.output()) == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("output '", t.output(), "' is not a var of the main block (--output)"));
      }
      return t.output();
    }
    std::vector<std::string> fetches;
    for (const Var& v : block.vars()) {
      if (v.Has(kVarFetch)) fetches.push_back(v.name);
    }
    if (fetches.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("the model has ", fetches.size(), " fetch vars",
                       fetches.empty() ? "" : absl::StrCat(" (", absl::StrJoin(fetches, ", "), ")"),
                       "; name the output the loss is computed on (--output)"));
    }
    return fetches[0];
  }

  static absl::Status CheckOutput(const Var& out, TrainingConfig::LossKind loss,
                                  const std::string& kind) {
    const bool float_ok = out.dtype == DataType::kF32 || out.dtype == DataType::kF64;
    if (loss == TrainingConfig::SOFTMAX_CE) {
      if (!float_ok || !out.shape || out.shape->size() < 2) {
        return absl::InvalidArgumentError(
            absl::StrCat("output '", out.name, "' is ", ShapeString(out), "; ", kind,
                         " expects f32 or f64 scores of rank >= 2 [batch, classes, ...]"));
      }
      return absl::OkStatus();
    }
    if (!float_ok || !out.shape || out.shape->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("output '", out.name, "' is ", ShapeString(out), "; ", kind,
                       " expects an f32 or f64 tensor of rank >= 1 [batch, ...]"));
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Pass> CreateLossPass() { return std::make_unique<LossPass>(); }

}  // namespace fleet
