// Sub-blocks: preparing an op's child executors once, binding each to its parent's slots, and
// running them from a kernel (see sub_block.h for the scope rules).
#include "executor/sub_block.h"

#include <algorithm>
#include <variant>

#include "absl/strings/str_cat.h"
#include "executor/executor.h"
#include "ir/status_macros.h"

namespace fleet {

bool HasBlockRef(const Op& op) {
  for (const auto& [name, value] : op.attrs) {
    if (std::holds_alternative<BlockRef>(value)) return true;
  }
  return false;
}

SubBlocks::~SubBlocks() = default;

absl::StatusOr<std::unique_ptr<SubBlocks>> Executor::PrepareSubBlocks(
    const Op& op, const std::string& description, const std::vector<int>& op_outputs,
    const std::vector<bool>& written, absl::FunctionRef<int(const std::string&)> slot) {
  std::unique_ptr<SubBlocks> sub(new SubBlocks());
  sub->parent_ = this;
  sub->description_ = description;
  sub->output_slots_ = op_outputs;
  std::vector<std::string> output_names;
  for (int s : op_outputs) output_names.push_back(s >= 0 ? slot_names_[s] : std::string());
  for (const auto& [attr, value] : op.attrs) {
    const BlockRef* ref = std::get_if<BlockRef>(&value);
    if (ref == nullptr) continue;
    std::string where =
        absl::StrCat(description, ": attribute '", attr, "' refers to block ", ref->index);
    if (ref->index <= 0 || ref->index >= static_cast<int>(program_->blocks.size())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ", which does not exist"));
    }
    const Block& child_block = program_->blocks[ref->index];
    if (child_block.parent() != block_->index()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ", whose parent is block ", child_block.parent(),
                       "; a sub-block must be a child of the op's block ", block_->index()));
    }
    std::unique_ptr<Executor> child(new Executor());
    child->pool_ = pool_;  // one set of intra-op threads for the whole program
    child->wait_counters_ = wait_counters_;  // its waits count as the parent's
    // The parent's devices, environment, wait deadline and NaN check; its threads (above).
    ExecutorOptions options = options_;
    options.block = ref->index;
    options.num_threads = 1;
    options.profile = false;
    FLEET_RETURN_IF_ERROR(child->Prepare(*program_, *kernels_, options));
    FLEET_RETURN_IF_ERROR(child->BindToParent(*this, output_names, description, slot));
    for (const auto& [own, theirs] : child->as_child_->outer_inputs) {
      sub->outer_reads_.push_back(theirs);
    }
    sub->children_.push_back({attr, std::move(child)});
  }
  // Outputs with a value before the op: KeepOutputs may hand it on, so the op reads it.
  for (int s : op_outputs) {
    if (s < 0) continue;
    const Var* var = slot_vars_[s];
    bool earlier = s < static_cast<int>(written.size()) && written[s];
    bool outer_or_state = var == nullptr || block_->FindVar(slot_names_[s]) == nullptr ||
                          var->Has(kVarPersistable) || var->Has(kVarFeed) ||
                          program_->values.count(slot_names_[s]) > 0;
    if (earlier || outer_or_state) sub->outer_reads_.push_back(s);
  }
  return sub;
}

absl::Status Executor::BindToParent(const Executor& parent,
                                    const std::vector<std::string>& op_outputs,
                                    const std::string& op_description,
                                    absl::FunctionRef<int(const std::string&)> parent_slot) {
  auto in = std::make_unique<SubBlockInterface>();
  in->parent = &parent;
  in->block = block_->index();
  std::string where = absl::StrCat(op_description, ": block ", block_->index());
  auto find_slot = [&](const std::string& name) {
    auto it = std::find(slot_names_.begin(), slot_names_.end(), name);
    return it == slot_names_.end() ? -1 : static_cast<int>(it - slot_names_.begin());
  };
  std::vector<bool> written(slot_names_.size(), false);
  for (const Op& op : block_->ops) {
    for (const std::string& name : op.OutputVars()) written[find_slot(name)] = true;
  }
  for (const Var& v : block_->vars()) {
    if (!v.Has(kVarFeed)) continue;
    int s = find_slot(v.name);
    if (s < 0) {  // fed but never read: still a slot, so it can be a result as well
      s = static_cast<int>(slot_names_.size());
      slot_names_.push_back(v.name);
      slot_vars_.push_back(&v);
      written.push_back(false);
    }
    in->feed_slots.push_back(s);
  }
  in->signature.num_feeds = static_cast<int>(in->feed_slots.size());
  std::vector<int> own_inputs;
  for (int s : input_slots_) {
    const std::string& name = slot_names_[s];
    const Var* own = block_->FindVar(name);
    if (own == nullptr) {
      in->outer_inputs.emplace_back(s, parent_slot(name));
    } else if (!own->Has(kVarFeed)) {
      own_inputs.push_back(s);
    }
  }
  for (const Var& v : block_->vars()) {
    if (!v.Has(kVarFetch)) continue;
    int s = find_slot(v.name);
    bool has_value =
        s >= 0 && (written[s] || v.Has(kVarFeed) ||
                   std::find(own_inputs.begin(), own_inputs.end(), s) != own_inputs.end());
    if (!has_value) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": result '", v.name, "' is never written"));
    }
    in->result_slots.push_back(s);
    in->signature.result_dtypes.push_back(v.dtype);
  }
  in->op_output_slots.assign(op_outputs.size(), -1);
  for (size_t s = 0; s < written.size(); ++s) {
    if (!written[s] || block_->FindVar(slot_names_[s]) != nullptr) continue;
    auto it = std::find(op_outputs.begin(), op_outputs.end(), slot_names_[s]);
    if (it == op_outputs.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " writes '", slot_names_[s],
          "', which is declared in an enclosing block; list it among the op's outputs"));
    }
    in->op_output_slots[it - op_outputs.begin()] = static_cast<int>(s);
  }
  input_slots_ = std::move(own_inputs);
  // What goes back to the parent (outer writes, results) must have arrived when the run
  // returns: the parent cannot see that a child's op left it pending.
  std::vector<int> handed_back = in->result_slots;
  for (int s : in->op_output_slots) {
    if (s >= 0) handed_back.push_back(s);
  }
  WaitAtEndFor(handed_back);
  // Results and outer writes go back through the kernel; only the block's own persistable
  // vars are written to the scope.
  output_slots_.erase(std::remove_if(output_slots_.begin(), output_slots_.end(),
                                     [&](int s) {
                                       const Var* own = block_->FindVar(slot_names_[s]);
                                       return own == nullptr || !own->Has(kVarPersistable);
                                     }),
                      output_slots_.end());
  as_child_ = std::move(in);
  return absl::OkStatus();
}

absl::Status Executor::RunAsChild(absl::Span<const Tensor> feeds, std::vector<Tensor>& values) {
  const SubBlockInterface& in = *as_child_;
  if (feeds.size() != in.feed_slots.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "block ", in.block, " takes ", in.feed_slots.size(), " inputs; got ", feeds.size()));
  }
  const std::vector<Tensor>* outer = in.parent->frame_values_;
  FLEET_RET_CHECK(outer != nullptr && in.parent->frame_scope_ != nullptr);
  values.assign(slot_names_.size(), Tensor());
  for (const auto& [own, theirs] : in.outer_inputs) {
    if (!(*outer)[theirs].defined()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "block ", in.block, " reads '", slot_names_[own], "' before any op writes it"));
    }
    values[own] = (*outer)[theirs];
  }
  for (size_t i = 0; i < feeds.size(); ++i) values[in.feed_slots[i]] = feeds[i];
  return RunFrame(*in.parent->frame_scope_, values);
}

absl::StatusOr<const SubBlocks::Child*> SubBlocks::Find(std::string_view attr) const {
  for (const Child& c : children_) {
    if (c.attr == attr) return &c;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(description_, ": has no block attribute '", std::string(attr), "'"));
}

const BlockSignature* SubBlocks::Signature(std::string_view attr) const {
  auto child = Find(attr);
  return child.ok() ? &(*child)->executor->as_child_->signature : nullptr;
}

absl::Status SubBlocks::Run(std::string_view attr, absl::Span<const Tensor> feeds,
                            std::vector<Tensor>* results) {
  FLEET_ASSIGN_OR_RETURN(const Child* child, Find(attr));
  std::vector<Tensor> values;
  FLEET_RETURN_IF_ERROR(child->executor->RunAsChild(feeds, values));
  const std::vector<int>& slots = child->executor->as_child_->result_slots;
  results->resize(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) (*results)[i] = values[slots[i]];
  return absl::OkStatus();
}

const Tensor& SubBlocks::Prior(int output) const {
  return (*parent_->frame_values_)[output_slots_[output]];
}

absl::Status SubBlocks::RunWritingOutputs(std::string_view attr, KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(const Child* child, Find(attr));
  std::vector<Tensor> values;
  FLEET_RETURN_IF_ERROR(child->executor->RunAsChild({}, values));
  const std::vector<int>& written = child->executor->as_child_->op_output_slots;
  for (int i = 0; i < ctx.num_outputs() && i < static_cast<int>(output_slots_.size()); ++i) {
    if (written[i] < 0) continue;
    ctx.SetOutput(i, std::move(values[written[i]]));
  }
  for (int i = 0; i < ctx.num_outputs() && i < static_cast<int>(output_slots_.size()); ++i) {
    if (written[i] >= 0 || output_slots_[i] < 0) continue;
    if (!Prior(i).defined()) {
      return ctx.InvalidArgument(absl::StrCat(
          "block ", child->executor->as_child_->block, " does not write output '",
          parent_->slot_names_[output_slots_[i]], "', which has no value from before the op"));
    }
    ctx.SetOutput(i, Prior(i));
  }
  return absl::OkStatus();
}

absl::Status SubBlocks::KeepOutputs(KernelContext& ctx) const {
  for (int i = 0; i < ctx.num_outputs() && i < static_cast<int>(output_slots_.size()); ++i) {
    if (output_slots_[i] < 0) continue;
    if (!Prior(i).defined()) {
      return ctx.InvalidArgument(absl::StrCat("output '", parent_->slot_names_[output_slots_[i]],
                                              "' has no value from before the op to keep"));
    }
    ctx.SetOutput(i, Prior(i));
  }
  return absl::OkStatus();
}

}  // namespace fleet
