// The kernel interface: what a kernel sees when it runs, and the table kernels are registered in.
//
// A kernel is a function `absl::Status(KernelContext&)`. Inputs and outputs are positional, in the
// order of the op's slots (a variadic slot contributes all of its vars); an absent optional input
// is an undefined tensor. A kernel sets each output either by allocating it (`Output`, from the
// op's device) or by handing over a tensor (`SetOutput`, e.g. a view of an input for Reshape).
// Besides its tensors a kernel sees its op's device (`device()`: allocator and stream), the
// execution environment (`env()`: communicator, PS client, ...), and may hand back its outputs
// before they are ready (`SetOutputsPending`).
//
// The executor resolves each op's kernel once, when a program is prepared, by (op type, kind of
// the op's device, dtype of the op's key input). Kernels never see the program. What a kernel
// does to memory beyond allocating its outputs (writing into an input, returning a view of one,
// finishing later) it declares in the table (KernelTraits). docs/executor.md has the contract.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/device_context.h"
#include "executor/event.h"
#include "executor/execution_env.h"
#include "executor/tensor.h"
#include "executor/thread_pool.h"
#include "ir/attribute.h"

namespace fleet {

class SubBlocks;  // executor/sub_block.h

// Data a kernel keeps for one op between runs (packed weights, plans). Kernels derive from it.
class KernelState {
 public:
  virtual ~KernelState() = default;
};

// What the executor tells a kernel beyond its tensors: per-op state, which inputs are constant,
// the op's device, the environment, where to leave a completion event. Default: no state,
// nothing constant, the host, an empty env, and pending outputs waited for at once (kernel unit
// tests).
struct KernelRunInfo {
  // Storage that lives as long as the prepared op; runs of one executor are sequential.
  std::unique_ptr<KernelState>* state = nullptr;
  // Bit i set: input i holds the same values on every run (a persistable var no op of the
  // program writes). A kernel may cache data derived from it, keyed by the input's buffer.
  uint64_t constant_inputs = 0;
  const DeviceContext* device = nullptr;  // null: CpuDeviceContext()
  const ExecutionEnv* env = nullptr;      // null: ExecutionEnv::Empty()
  // Where SetOutputsPending leaves the event (the executor's per-op slot); null: it waits.
  std::shared_ptr<Event>* pending = nullptr;
  // The op's prepared sub-blocks (ops with BlockRef attributes), or null.
  SubBlocks* sub_blocks = nullptr;
};

class KernelContext {
 public:
  KernelContext(std::string_view op_description, const AttrMap* attrs,
                std::vector<const Tensor*> inputs, std::vector<Tensor>* outputs, ThreadPool* pool,
                KernelRunInfo info = {})
      : op_description_(op_description),
        attrs_(attrs),
        inputs_(std::move(inputs)),
        outputs_(outputs),
        pool_(pool),
        info_(info) {}

  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  // True when input i exists and holds a tensor (absent optional inputs do not).
  bool has_input(int i) const {
    return i < num_inputs() && inputs_[i] != nullptr && inputs_[i]->defined();
  }
  // Input i; the caller checks has_input for optional inputs.
  const Tensor& input(int i) const { return *inputs_[i]; }

  int num_outputs() const { return static_cast<int>(outputs_->size()); }
  // Allocates output i with this type and shape from the op's device and returns it for
  // writing.
  Tensor* Output(int i, DataType dtype, std::vector<int64_t> shape);
  // Sets output i to an existing tensor (may share memory with an input).
  void SetOutput(int i, Tensor tensor);

  // INVALID_ARGUMENT when an output of this shape cannot be made (a negative dim, an
  // overflowing size, more than kMaxTensorBytes); call before Output() when the shape comes
  // from input values rather than input shapes.
  absl::Status CheckOutputSize(const std::vector<int64_t>& shape, DataType dtype) const;

  // Attributes, with the caller's default when absent. A present attribute of another type is
  // treated as absent by these getters; the verifier rejects such programs before they run.
  int64_t GetInt(std::string_view name, int64_t default_value) const;
  float GetFloat(std::string_view name, float default_value) const;
  std::string GetString(std::string_view name, std::string default_value) const;
  std::vector<int64_t> GetInts(std::string_view name, std::vector<int64_t> default_value) const;
  std::vector<float> GetFloats(std::string_view name, std::vector<float> default_value) const;
  const TensorValue* GetTensor(std::string_view name) const;
  bool HasAttr(std::string_view name) const;

  // Thread pool for intra-op parallelism; null means single-threaded.
  ThreadPool* pool() const { return pool_; }
  void ParallelFor(int64_t n, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& fn) const {
    fleet::ParallelFor(pool_, n, grain, fn);
  }

  // True when input i is the same on every run, so data derived from it may be cached in
  // state() (keyed by the input's buffer, which changes if the caller replaces the tensor).
  bool is_constant_input(int i) const { return i < 64 && (info_.constant_inputs >> i & 1u) != 0; }
  // This op's state slot, or nullptr when the caller keeps none.
  std::unique_ptr<KernelState>* state() const { return info_.state; }
  // The sub-blocks this op runs (If, Loop, fleet.conditional_block), or nullptr when the op has
  // none or the caller is not an executor (see executor/sub_block.h).
  SubBlocks* sub_blocks() const { return info_.sub_blocks; }

  // The op's device: where Output allocates, and the stream to enqueue device work on.
  const DeviceContext& device() const {
    return info_.device != nullptr ? *info_.device : CpuDeviceContext();
  }
  // The runtime objects of this executor (communicator, PS client, ...).
  const ExecutionEnv& env() const {
    return info_.env != nullptr ? *info_.env : ExecutionEnv::Empty();
  }
  // Says that this op's outputs (already set with Output/SetOutput) are not ready until `done`
  // completes; the kernel may return now, keeping its own references to the tensors its work
  // still touches. Kernels that call it are declared async (KernelTraits). Outside an executor
  // this waits for `done` (kDefaultWaitTimeout) and returns its status.
  absl::Status SetOutputsPending(std::shared_ptr<Event> done);

  // A context for running another kernel as part of this one, on other tensors: this op's
  // description, attributes, thread pool, device and environment, with no state, no constant
  // inputs and no sub-blocks; pending outputs are waited for. For kernels that wrap a kernel
  // (one that converts dtypes around it, a fused op that runs single ops).
  KernelContext Delegate(std::vector<const Tensor*> inputs, std::vector<Tensor>* outputs) const {
    return KernelContext(op_description_, attrs_, std::move(inputs), outputs, pool_,
                         KernelRunInfo{nullptr, 0, info_.device, info_.env});
  }

  // INVALID_ARGUMENT prefixed with the op's description: "op 'fc1' (MatMul): <message>".
  absl::Status InvalidArgument(std::string_view message) const;
  absl::Status Unimplemented(std::string_view message) const;
  absl::Status FailedPrecondition(std::string_view message) const;
  std::string_view op_description() const { return op_description_; }

 private:
  const AttrValue* FindAttr(std::string_view name) const;

  std::string_view op_description_;
  const AttrMap* attrs_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor>* outputs_;
  ThreadPool* pool_;
  KernelRunInfo info_;
};

using KernelFn = absl::Status (*)(KernelContext& ctx);

// What a kernel does beyond allocating its outputs, declared once per (op type, device) in the
// table (ONNX Runtime's KernelDef inplace_map / alias_map). The executor plans with it:
// an op that writes in place waits for pending ops that still use that memory.
struct KernelTraits {
  // {input, output}: the kernel writes output `output` into input `input`'s buffer and hands
  // that buffer back (the optimizer updates). The program names one var for both.
  std::vector<std::pair<int, int>> in_place;
  // {input, output}: output `output` may be a view of input `input`'s memory, unchanged
  // (Reshape, a Cast to the same type).
  std::vector<std::pair<int, int>> aliases;
  // The kernel may return before its outputs are ready (SetOutputsPending).
  bool async = false;
  // The kernel reads inputs from any device itself (fleet.memcpy); others read their own
  // device's memory (and a host kernel any host-accessible memory).
  bool inputs_anywhere = false;
  // Inputs the kernel reads on the host (a shape, an axis list) although the op runs on a
  // device (ONNX Runtime's OrtMemTypeCPUInput): the executor requires host-accessible memory
  // for them, and accepts it, instead of the op's device memory; fleet-run has insert-memcpy
  // copy them to the host. Indices in input order.
  std::vector<int> host_inputs;

  static KernelTraits InPlace(std::vector<std::pair<int, int>> pairs) {
    KernelTraits t;
    t.in_place = std::move(pairs);
    return t;
  }
  static KernelTraits Aliases(std::vector<std::pair<int, int>> pairs) {
    KernelTraits t;
    t.aliases = std::move(pairs);
    return t;
  }
};

// Kernels registered per (op type, device, dtype). The dtype is that of the op's key input
// (`key_input`, usually 0); a kernel registered with kUndefined accepts every dtype and checks
// for itself (Shape, Cast, Constant...).
class KernelTable {
 public:
  struct Entry {
    KernelFn fn = nullptr;
    int key_input = 0;  // -1: the op has no inputs to key on (e.g. Constant)
  };

  // Registers fn for each dtype in `dtypes`. A later registration of the same key replaces the
  // earlier one (plugins may override built-ins).
  void Add(std::string_view op_type, Device device, std::vector<DataType> dtypes, KernelFn fn,
           int key_input = 0);
  // Registers one kernel for all dtypes.
  void AddAnyType(std::string_view op_type, Device device, KernelFn fn, int key_input = -1);

  // Declares what the kernels of `op_type` on `device` do to memory (replaces earlier traits).
  void SetTraits(std::string_view op_type, Device device, KernelTraits traits);
  // The declared traits, or empty ones.
  const KernelTraits& Traits(std::string_view op_type, Device device) const;

  // Which input decides the dtype key for this op type on this device (0 when unknown).
  int KeyInput(std::string_view op_type, Device device) const;
  // The kernel for this key, or NOT_FOUND / UNIMPLEMENTED saying what exists, e.g.
  // "no kernel for Relu(f64) on cpu; have f32, f16".
  absl::StatusOr<KernelFn> Find(std::string_view op_type, Device device, DataType dtype) const;
  bool HasOp(std::string_view op_type) const;
  // Whether some kernel of `op_type` is registered for `device` (any dtype).
  bool HasKernels(std::string_view op_type, Device device) const;
  // All registered op types (sorted), for `--list-kernels` and coverage reports.
  std::vector<std::string> OpTypes() const;

 private:
  struct DeviceKernels {
    std::map<DataType, Entry> by_dtype;  // kUndefined: any dtype
    KernelTraits traits;
  };
  // op type -> device -> kernels
  std::map<std::string, std::map<Device, DeviceKernels>, std::less<>> table_;
};

}  // namespace fleet
