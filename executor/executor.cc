#include "executor/executor.h"

#include <chrono>
#include <cmath>
#include <map>
#include <unordered_map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/op_waits.h"
#include "executor/sub_block.h"
#include "ir/op_schema.h"
#include "ir/status_macros.h"

namespace fleet {

struct Executor::PreparedOp {
  const Op* op = nullptr;
  std::string description;
  std::vector<int> inputs;   // positional; -1 = absent optional input
  std::vector<int> outputs;  // positional; -1 = output not wanted
  int key_input = 0;
  KernelFn fn = nullptr;  // null until resolved (when the key dtype is unknown at prepare)
  DataType fn_dtype = DataType::kUndefined;  // the key dtype `fn` was resolved for
  std::vector<int> release_after;            // slots whose last reader is this op
  std::unique_ptr<KernelState> state;
  std::unique_ptr<SubBlocks> sub_blocks;  // the child executors of an op with BlockRef attributes
  uint64_t constant_inputs = 0;           // bit i: input i is the same on every run
  const DeviceContext* device = nullptr;  // the op's device (an element of devices_)
  bool async = false;              // its kernel may leave outputs pending (KernelTraits::async)
  bool inputs_anywhere = false;    // its kernel reads inputs from any device
  std::vector<int> host_inputs;    // inputs its kernel reads on the host (KernelTraits)
  std::vector<int> wait_before;    // async ops whose pending outputs this op must wait for
  std::vector<int> reads;          // its inputs plus the outer vars its sub-blocks read
  std::shared_ptr<Event> pending;  // this op's outputs, while they are not ready
};

Executor::Executor() = default;

Executor::~Executor() {
  // In-flight work holds its own tensors; waiting keeps it from outliving the kernels' state.
  for (PreparedOp& p : ops_) {
    if (p.pending != nullptr) p.pending->Wait(Clock::now() + wait_timeout_).IgnoreError();
  }
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::Create(const Program& program,
                                                           const KernelTable& kernels,
                                                           const ExecutorOptions& options) {
  std::unique_ptr<Executor> executor(new Executor());
  FLEET_RETURN_IF_ERROR(executor->Prepare(program, kernels, options));
  return executor;
}

namespace {

std::string WithPrefix(const std::string& prefix, absl::string_view message) {
  if (absl::StartsWith(message, prefix)) return std::string(message);
  return absl::StrCat(prefix, ": ", message);
}

}  // namespace

absl::Status Executor::Prepare(const Program& program, const KernelTable& kernels,
                               const ExecutorOptions& options) {
  if (options.block < 0 || options.block >= static_cast<int>(program.blocks.size())) {
    return absl::InvalidArgumentError(absl::StrCat("block ", options.block, " does not exist"));
  }
  program_ = &program;
  block_ = &program.blocks[options.block];
  kernels_ = &kernels;
  options_ = options;
  FLEET_ASSIGN_OR_RETURN(devices_, DeviceContexts(options.devices));
  for (const DeviceContext& d : devices_) {
    check_devices_ = check_devices_ || !d.allocator->host_accessible();
  }
  env_ = options.env;
  wait_timeout_ = options.wait_timeout;
  if (wait_counters_ == nullptr) wait_counters_ = std::make_shared<WaitCounters>();
  profile_ = options.profile;
  check_nan_ = options.check_nan;
  if (options.num_threads > 1) {
    owned_pool_ = std::make_unique<ThreadPool>(options.num_threads);
    pool_ = owned_pool_.get();
  }

  std::unordered_map<std::string, int> slot_of;
  auto slot = [&](const std::string& name) {
    auto [it, inserted] = slot_of.emplace(name, static_cast<int>(slot_names_.size()));
    if (inserted) {
      slot_names_.push_back(name);
      const Var* var = nullptr;
      for (const Block* b = block_; b != nullptr && var == nullptr;
           b = b->parent() >= 0 ? &program.blocks[b->parent()] : nullptr) {
        var = b->FindVar(name);
      }
      slot_vars_.push_back(var);
    }
    return it->second;
  };

  std::vector<bool> written;
  std::vector<int> last_reader;
  for (const Op& op : block_->ops) {
    PreparedOp p;
    p.op = &op;
    p.description = op.Describe();
    const OpSchema* schema = FindOpSchema(op.type);
    for (const std::string& name : PositionalVars(op.inputs, schema ? &schema->inputs : nullptr)) {
      p.inputs.push_back(name.empty() ? -1 : slot(name));
    }
    for (const std::string& name :
         PositionalVars(op.outputs, schema ? &schema->outputs : nullptr)) {
      p.outputs.push_back(name.empty() ? -1 : slot(name));
    }
    written.resize(slot_names_.size(), false);
    std::vector<int> reads = p.inputs;
    if (HasBlockRef(op)) {  // its sub-blocks read outer vars the op must keep alive
      FLEET_ASSIGN_OR_RETURN(p.sub_blocks,
                             PrepareSubBlocks(op, p.description, p.outputs, written, slot));
      reads.insert(reads.end(), p.sub_blocks->outer_reads().begin(),
                   p.sub_blocks->outer_reads().end());
      written.resize(slot_names_.size(), false);
    }
    last_reader.resize(slot_names_.size(), -1);
    p.reads = reads;
    int index = static_cast<int>(ops_.size());
    for (int s : reads) {
      if (s < 0) continue;
      if (!written[s] &&
          std::find(input_slots_.begin(), input_slots_.end(), s) == input_slots_.end()) {
        input_slots_.push_back(s);
      }
      last_reader[s] = index;
    }
    for (int s : p.outputs) {
      if (s >= 0) written[s] = true;
    }

    if (!kernels.HasOp(op.type)) {
      return absl::UnimplementedError(
          absl::StrCat(p.description, ": no kernel for op type '", op.type, "'"));
    }
    FLEET_ASSIGN_OR_RETURN(p.device, FindOpDevice(op, p.description, options.device, devices_));
    const Device kind = p.device->device.type;
    const KernelTraits& traits = kernels.Traits(op.type, kind);
    p.async = traits.async;
    p.inputs_anywhere = traits.inputs_anywhere;
    p.host_inputs = traits.host_inputs;
    p.key_input = kernels.KeyInput(op.type, kind);
    DataType key_dtype = DataType::kUndefined;
    if (p.key_input >= 0 && p.key_input < static_cast<int>(p.inputs.size()) &&
        p.inputs[p.key_input] >= 0 && slot_vars_[p.inputs[p.key_input]] != nullptr) {
      key_dtype = slot_vars_[p.inputs[p.key_input]]->dtype;
    }
    if (key_dtype != DataType::kUndefined || p.key_input < 0) {
      auto fn = kernels.Find(op.type, kind, key_dtype);
      if (!fn.ok()) {
        return absl::Status(fn.status().code(),
                            absl::StrCat(p.description, ": ", fn.status().message()));
      }
      p.fn = *fn;
      p.fn_dtype = key_dtype;
    }
    ops_.push_back(std::move(p));
  }

  // Constant inputs: persistable vars (or initial values) that no op of the program writes.
  std::unordered_map<std::string, bool> written_anywhere;
  for (const Block& b : program.blocks) {
    for (const Op& op : b.ops) {
      for (const std::string& o : op.OutputVars()) written_anywhere[o] = true;
    }
  }
  for (PreparedOp& p : ops_) {
    for (size_t i = 0; i < p.inputs.size() && i < 64; ++i) {
      int s = p.inputs[i];
      if (s < 0 || written_anywhere.count(slot_names_[s])) continue;
      const Var* var = slot_vars_[s];
      bool persistable = (var != nullptr && var->Has(kVarPersistable) && !var->Has(kVarFeed)) ||
                         program.values.count(slot_names_[s]);
      if (persistable) p.constant_inputs |= uint64_t{1} << i;
    }
  }

  // Lifetimes: values that outlive the run are kept; others go after their last reader (or
  // right after being produced when nothing reads them).
  for (size_t s = 0; s < slot_names_.size(); ++s) {
    const Var* var = slot_vars_[s];
    bool declared_here = block_->FindVar(slot_names_[s]) != nullptr;
    bool keep = var == nullptr || !declared_here || var->Has(kVarPersistable) ||
                var->Has(kVarFeed) || var->Has(kVarFetch) || program.values.count(slot_names_[s]);
    if (keep) {
      if (var != nullptr && (var->Has(kVarFetch) || var->Has(kVarPersistable)) && written[s]) {
        output_slots_.push_back(static_cast<int>(s));
      }
      continue;
    }
    int release_at = last_reader[s];
    if (release_at < 0) {  // never read: release after the (last) op that writes it
      for (int i = static_cast<int>(ops_.size()) - 1; i >= 0 && release_at < 0; --i) {
        for (int o : ops_[i].outputs) {
          if (o == static_cast<int>(s)) release_at = i;
        }
      }
    }
    if (release_at >= 0) ops_[release_at].release_after.push_back(static_cast<int>(s));
  }
  for (const Var& v : block_->vars()) {
    if (v.Has(kVarFeed)) feed_names_.push_back(v.name);
    if (v.Has(kVarFetch)) fetch_names_.push_back(v.name);
  }

  std::vector<OpSlots> op_slots;
  op_slots.reserve(ops_.size());
  for (const PreparedOp& p : ops_) {
    // A sub-block reading a pending var waits for it before its op runs, like a direct reader.
    op_slots.push_back({&p.reads, &p.outputs, &kernels.Traits(p.op->type, p.device->device.type)});
  }
  std::vector<bool> outlives_run(slot_names_.size(), false);
  for (int s : output_slots_) outlives_run[s] = true;
  WaitPlan plan = PlanWaits(op_slots, outlives_run);
  for (size_t i = 0; i < ops_.size(); ++i) ops_[i].wait_before = std::move(plan.wait_before[i]);
  wait_at_end_ = std::move(plan.wait_at_end);
  return absl::OkStatus();
}

void Executor::WaitAtEndFor(const std::vector<int>& slots) {
  for (size_t j = 0; j < ops_.size(); ++j) {
    const PreparedOp& op = ops_[j];
    const int index = static_cast<int>(j);
    if (!op.async ||
        std::find(wait_at_end_.begin(), wait_at_end_.end(), index) != wait_at_end_.end()) {
      continue;
    }
    if (std::any_of(op.outputs.begin(), op.outputs.end(), [&](int s) {
          return std::find(slots.begin(), slots.end(), s) != slots.end();
        })) {
      wait_at_end_.push_back(index);
    }
  }
}

absl::Status Executor::CheckFeed(const Var& var, const Tensor& tensor) const {
  std::string declared = absl::StrCat(
      DataTypeName(var.dtype),
      var.shape.has_value()
          ? absl::StrCat("[",
                         absl::StrJoin(*var.shape, ",",
                                       [](std::string* out, int64_t d) {
                                         absl::StrAppend(
                                             out, d < 0 ? std::string("?") : std::to_string(d));
                                       }),
                         "]")
          : std::string("[...]"));
  auto mismatch = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("input '", var.name, "' is ",
                                                   tensor.TypeString(), "; expected ", declared,
                                                   " (", what, ")"));
  };
  if (var.dtype != DataType::kUndefined && tensor.dtype() != var.dtype) return mismatch("dtype");
  if (var.shape.has_value()) {
    if (static_cast<int>(var.shape->size()) != tensor.rank()) return mismatch("rank");
    for (int i = 0; i < tensor.rank(); ++i) {
      int64_t d = (*var.shape)[i];
      if (d >= 0 && d != tensor.dim(i)) return mismatch(absl::StrCat("dimension ", i));
    }
  }
  return absl::OkStatus();
}

absl::Status Executor::Await(std::shared_ptr<Event>& event, const std::string& op_description) {
  if (event == nullptr) return absl::OkStatus();  // the synchronous path: one test
  const Clock::time_point start = Clock::now();
  absl::Status status = AwaitPendingSlow(event, op_description, wait_timeout_);
  wait_counters_->AddWait(Clock::now() - start);
  return status;
}

absl::Status Executor::RunOp(PreparedOp& p, std::vector<Tensor>& values) {
  for (int producer : p.wait_before) {
    PreparedOp& q = ops_[producer];
    FLEET_RETURN_IF_ERROR(Await(q.pending, q.description));
  }
  // Still in flight from the previous run (nothing read its outputs since).
  FLEET_RETURN_IF_ERROR(Await(p.pending, p.description));
  std::vector<const Tensor*> inputs;
  inputs.reserve(p.inputs.size());
  for (int s : p.inputs) inputs.push_back(s >= 0 ? &values[s] : nullptr);
  if (check_devices_ && !p.inputs_anywhere) {
    FLEET_RETURN_IF_ERROR(
        CheckInputDevices(p.description, *p.device, inputs, p.inputs, slot_names_, p.host_inputs));
  }
  // Kernels are typed: the one chosen for the declared (or first seen) dtype must not see
  // another, so a change of the key input's dtype resolves the kernel again.
  DataType dtype = DataType::kUndefined;
  if (p.key_input >= 0 && p.key_input < static_cast<int>(inputs.size()) &&
      inputs[p.key_input] != nullptr) {
    dtype = inputs[p.key_input]->dtype();
  }
  if (p.fn == nullptr || (p.key_input >= 0 && dtype != p.fn_dtype)) {
    auto fn = kernels_->Find(p.op->type, p.device->device.type, dtype);
    if (!fn.ok()) {
      return absl::Status(fn.status().code(),
                          absl::StrCat(p.description, ": ", fn.status().message()));
    }
    p.fn = *fn;
    p.fn_dtype = dtype;
  }
  std::vector<Tensor> outputs(p.outputs.size());
  KernelContext ctx(p.description, &p.op->attrs, std::move(inputs), &outputs, pool_,
                    KernelRunInfo{&p.state, p.constant_inputs, p.device, env_.get(), &p.pending,
                                  p.sub_blocks.get()});
  absl::Status status;
  try {
    status = p.fn(ctx);
  } catch (const std::bad_alloc&) {  // the one exception the standard library throws at us
    return absl::ResourceExhaustedError(
        absl::StrCat(p.description, ": out of memory while allocating its outputs"));
  }
  if (!status.ok()) return absl::Status(status.code(), WithPrefix(p.description, status.message()));
  // Only declared async ops are waited for where planned; the NaN check reads the outputs now.
  if (!p.async || check_nan_) {
    FLEET_RETURN_IF_ERROR(Await(p.pending, p.description));
  }
  for (size_t i = 0; i < p.outputs.size(); ++i) {
    int s = p.outputs[i];
    if (s < 0) continue;
    if (!outputs[i].defined()) {
      return absl::InternalError(
          absl::StrCat(p.description, ": kernel did not produce output ", i));
    }
    values[s] = std::move(outputs[i]);
  }
  if (check_nan_) FLEET_RETURN_IF_ERROR(CheckFinite(p, values));
  for (int s : p.release_after) values[s] = Tensor();
  return absl::OkStatus();
}

namespace {

// The first non-finite element of `data[0, n)`: "NaN", "+inf", "-inf", or nullptr.
template <typename T>
const char* FirstNonFinite(const T* data, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T v = data[i];
    if (!std::isfinite(v)) return std::isnan(v) ? "NaN" : (v > 0 ? "+inf" : "-inf");
  }
  return nullptr;
}

// The same for 16-bit floats (f16, bf16) given as bits: all-ones `exponent` bits are inf
// (mantissa 0) or NaN.
const char* FirstNonFinite16(const uint16_t* data, int64_t n, uint16_t exponent) {
  const uint16_t mantissa = static_cast<uint16_t>(0x7fffu & ~exponent);
  for (int64_t i = 0; i < n; ++i) {
    if ((data[i] & exponent) == exponent) {
      if (data[i] & mantissa) return "NaN";
      return (data[i] & 0x8000u) ? "-inf" : "+inf";
    }
  }
  return nullptr;
}

}  // namespace

absl::Status Executor::CheckFinite(const PreparedOp& p, const std::vector<Tensor>& values) const {
  for (int s : p.outputs) {
    if (s < 0) continue;
    const Tensor t = values[s].host_accessible() ? values[s] : values[s].Clone(CpuAllocator());
    const char* bad = nullptr;
    switch (t.dtype()) {
      case DataType::kF32:
        bad = FirstNonFinite(t.data<float>(), t.numel());
        break;
      case DataType::kF64:
        bad = FirstNonFinite(t.data<double>(), t.numel());
        break;
      case DataType::kF16:
        bad = FirstNonFinite16(t.data<uint16_t>(), t.numel(), 0x7c00u);
        break;
      case DataType::kBF16:
        bad = FirstNonFinite16(t.data<uint16_t>(), t.numel(), 0x7f80u);
        break;
      default:
        break;
    }
    if (bad != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(p.description, " produced ", bad, " in output '", slot_names_[s], "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status Executor::RunOps(std::vector<Tensor>& values) {
  if (profile_) {
    op_ms_.resize(ops_.size(), 0.0);
    for (size_t i = 0; i < ops_.size(); ++i) {
      auto start = std::chrono::steady_clock::now();
      FLEET_RETURN_IF_ERROR(RunOp(ops_[i], values));
      op_ms_[i] +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
    }
    ++runs_;
  } else {
    for (PreparedOp& p : ops_) FLEET_RETURN_IF_ERROR(RunOp(p, values));
  }
  return absl::OkStatus();
}

std::vector<OpTypeProfile> Executor::Profile() const {
  std::map<std::string, OpTypeProfile> by_type;
  for (size_t i = 0; i < op_ms_.size(); ++i) {
    OpTypeProfile& p = by_type[ops_[i].op->type];
    p.op_type = ops_[i].op->type;
    p.total_ms += op_ms_[i];
    p.calls += runs_;
  }
  std::vector<OpTypeProfile> out;
  for (auto& [type, p] : by_type) out.push_back(p);
  std::sort(out.begin(), out.end(),
            [](const OpTypeProfile& a, const OpTypeProfile& b) { return a.total_ms > b.total_ms; });
  return out;
}

absl::Status Executor::Run(Scope& scope) {
  wait_counters_->AddRun();
  std::vector<Tensor> values(slot_names_.size());
  return RunFrame(scope, values);
}

absl::Status Executor::RunFrame(Scope& scope, std::vector<Tensor>& values) {
  for (int s : input_slots_) {
    const std::string& name = slot_names_[s];
    const Var* var = slot_vars_[s];
    const Tensor* t = scope.Find(name);
    if (t == nullptr) {
      auto value = program_->values.find(name);
      if (value != program_->values.end()) {
        const TensorValue& v = value->second;
        int64_t expected = CheckedNumBytes(v.dtype, v.shape);
        if (expected < 0 || v.bytes.size() != static_cast<size_t>(expected)) {
          return absl::FailedPreconditionError(
              absl::StrCat("the value of '", name, "' has ", v.bytes.size(),
                           " bytes (read from text form, or moved into another scope)"));
        }
        scope.Set(name, Tensor::FromValue(v));
        t = scope.Find(name);
      } else if (var != nullptr && var->Has(kVarFeed)) {
        return absl::InvalidArgumentError(absl::StrCat("input '", name, "' was not fed"));
      } else {
        return absl::FailedPreconditionError(
            absl::StrCat("'", name, "' is read before any op writes it and has no value"));
      }
    } else if (var != nullptr && var->Has(kVarFeed)) {
      FLEET_RETURN_IF_ERROR(CheckFeed(*var, *t));
    }
    values[s] = *t;
  }
  frame_values_ = &values;
  frame_scope_ = &scope;
  absl::Status status = RunOps(values);
  for (size_t i = 0; i < wait_at_end_.size() && status.ok(); ++i) {
    PreparedOp& q = ops_[wait_at_end_[i]];
    status = Await(q.pending, q.description);
  }
  frame_values_ = nullptr;
  frame_scope_ = nullptr;
  if (!status.ok()) {
    // The failed step's work in flight keeps its own tensors; nothing waits for it any more.
    for (PreparedOp& p : ops_) p.pending = nullptr;
    return status;
  }
  for (int s : output_slots_) {
    if (values[s].defined()) scope.Set(slot_names_[s], std::move(values[s]));
  }
  return absl::OkStatus();
}

}  // namespace fleet
