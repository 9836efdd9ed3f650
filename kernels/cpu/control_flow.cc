// Control-flow kernels: ONNX If, Loop and Scan, and fleet.conditional_block. Each runs a
// sub-block of its op through the executor (executor/sub_block.h); none sees the program.
//
//   If(cond) -> outputs: runs then_branch or else_branch; its results are the outputs.
//   Loop(M, cond, v_initial...) -> (v_final..., scan_outputs...): the body takes
//     (iteration_num, cond, v...) and gives (cond, v..., scan elements...). It runs while
//     i < M (when M is given) and cond (when cond is given); each v is carried into the next
//     iteration, and scan element k of every iteration is stacked on a new axis 0.
//   Scan(state..., scan_inputs...) -> (final_state..., scan_outputs...): the body takes
//     (state..., one slice of each scan input along its axis) and gives (state..., scan
//     elements...); slices go forward or in reverse (scan_input_directions), and scan outputs
//     are stacked on scan_output_axes (reversed where scan_output_directions says so).
//   fleet.conditional_block(Cond) -> Out...: when Cond holds, runs sub_block, which writes
//     the Out vars by name; otherwise every Out keeps its value (see ir/fleet_control_ops.cc).
//
// A Loop or Scan that runs no iteration gives scan outputs of shape [0] with the body's declared
// dtype. A Loop with neither M nor cond would never end and is refused.
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executor/sub_block.h"
#include "ir/status_macros.h"
#include "kernels/cpu/groups.h"

namespace fleet::cpu {
namespace {

absl::StatusOr<SubBlocks*> BlocksOf(const KernelContext& ctx) {
  if (ctx.sub_blocks() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        std::string(ctx.op_description()), ": runs a sub-block, which only an executor can do"));
  }
  return ctx.sub_blocks();
}

// A one-element bool condition: input `i`, or the body's result when `what` says so.
absl::StatusOr<bool> ReadCondition(const KernelContext& ctx, const Tensor& t,
                                   const std::string& what) {
  if (t.numel() != 1 || t.dtype() != DataType::kBool) {
    return ctx.InvalidArgument(
        absl::StrCat(what, " is ", t.TypeString(), "; expected a one-element bool"));
  }
  return *t.data<uint8_t>() != 0;
}

// Bytes per step of `shape` from dimension `from` on.
size_t InnerBytes(DataType dtype, const std::vector<int64_t>& shape, int from) {
  int64_t n = 1;
  for (size_t d = from; d < shape.size(); ++d) n *= shape[d];
  return static_cast<size_t>(n) * DataTypeSize(dtype);
}

// Stacks the per-iteration tensors of one scan output on a new dimension `axis` (in
// [0, rank]), in iteration order or reversed. No iteration: a [0] tensor of `dtype`.
absl::StatusOr<Tensor> Stack(const KernelContext& ctx, const std::vector<Tensor>& parts, int axis,
                             bool reverse, DataType dtype, int output) {
  if (parts.empty()) {
    if (dtype == DataType::kUndefined) {
      return ctx.Unimplemented(
          absl::StrCat("scan output ", output, " of a body that never ran has no declared dtype"));
    }
    return Tensor(dtype, {0});
  }
  const Tensor& first = parts[0];
  for (size_t t = 1; t < parts.size(); ++t) {
    if (parts[t].dtype() != first.dtype() || parts[t].shape() != first.shape()) {
      return ctx.InvalidArgument(absl::StrCat("scan output ", output, " is ", parts[t].TypeString(),
                                              " in iteration ", t, " but ", first.TypeString(),
                                              " in iteration 0"));
    }
  }
  if (axis < 0) axis += first.rank() + 1;
  if (axis < 0 || axis > first.rank()) {
    return ctx.InvalidArgument(
        absl::StrCat("scan output axis ", axis, " is out of range for ", first.TypeString()));
  }
  std::vector<int64_t> shape = first.shape();
  const int64_t n = static_cast<int64_t>(parts.size());
  shape.insert(shape.begin() + axis, n);
  FLEET_RETURN_IF_ERROR(ctx.CheckOutputSize(shape, first.dtype()));
  Tensor out(first.dtype(), shape);
  const size_t inner = InnerBytes(first.dtype(), first.shape(), axis);
  const int64_t outer = inner == 0 ? 0 : static_cast<int64_t>(first.nbytes() / inner);
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t t = 0; t < n; ++t) {
      const Tensor& src = parts[reverse ? n - 1 - t : t];
      std::memcpy(dst + (o * n + t) * inner, static_cast<const char*>(src.raw_data()) + o * inner,
                  inner);
    }
  }
  return out;
}

// Element `t` of `x` along `axis` (the dimension dropped); a view when axis is 0.
Tensor SliceAt(const Tensor& x, int axis, int64_t t) {
  std::vector<int64_t> shape = x.shape();
  const int64_t len = shape[axis];
  shape.erase(shape.begin() + axis);
  const size_t inner = InnerBytes(x.dtype(), shape, axis);
  if (axis == 0) {
    size_t offset =
        static_cast<const char*>(x.raw_data()) - static_cast<const char*>(x.buffer()->data());
    return Tensor(x.dtype(), shape, x.buffer(), offset + t * inner);
  }
  Tensor out(x.dtype(), shape);
  const int64_t outer = NumElements(std::vector<int64_t>(shape.begin(), shape.begin() + axis));
  const char* src = static_cast<const char*>(x.raw_data());
  for (int64_t o = 0; o < outer; ++o) {
    std::memcpy(static_cast<char*>(out.raw_data()) + o * inner, src + (o * len + t) * inner, inner);
  }
  return out;
}

absl::Status IfKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(SubBlocks * blocks, BlocksOf(ctx));
  FLEET_ASSIGN_OR_RETURN(bool cond, ReadCondition(ctx, ctx.input(0), "input 'cond'"));
  const char* branch = cond ? "then_branch" : "else_branch";
  std::vector<Tensor> results;
  FLEET_RETURN_IF_ERROR(blocks->Run(branch, {}, &results));
  if (static_cast<int>(results.size()) < ctx.num_outputs()) {
    return ctx.InvalidArgument(absl::StrCat(
        branch, " gives ", results.size(), " results; the op has ", ctx.num_outputs(), " outputs"));
  }
  for (int i = 0; i < ctx.num_outputs(); ++i) ctx.SetOutput(i, std::move(results[i]));
  return absl::OkStatus();
}

absl::Status LoopKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(SubBlocks * blocks, BlocksOf(ctx));
  const bool has_trip_count = ctx.has_input(0);
  const bool has_cond = ctx.has_input(1);
  if (!has_trip_count && !has_cond) {
    return ctx.InvalidArgument("has neither a trip count M nor a condition, so it would never end");
  }
  int64_t trip_count = 0;
  if (has_trip_count) {
    const Tensor& m = ctx.input(0);
    if (m.dtype() != DataType::kI64 || m.numel() != 1) {
      return ctx.InvalidArgument(
          absl::StrCat("input 'M' is ", m.TypeString(), "; expected a one-element i64"));
    }
    trip_count = *m.data<int64_t>();
  }
  bool cond = true;
  if (has_cond) {
    FLEET_ASSIGN_OR_RETURN(cond, ReadCondition(ctx, ctx.input(1), "input 'cond'"));
  }

  const int carried = std::max(0, ctx.num_inputs() - 2);
  const BlockSignature* body = blocks->Signature("body");
  if (body == nullptr) return ctx.InvalidArgument("has no 'body' block");
  const int num_results = static_cast<int>(body->result_dtypes.size());
  if (body->num_feeds != 2 + carried || num_results < 1 + carried) {
    return ctx.InvalidArgument(absl::StrCat("the body takes ", body->num_feeds,
                                            " inputs and gives ", num_results, " results; with ",
                                            carried, " loop-carried values it must take ",
                                            2 + carried, " and give at least ", 1 + carried));
  }
  const int scans = num_results - 1 - carried;
  std::vector<Tensor> feeds(2 + carried);
  for (int j = 0; j < carried; ++j) feeds[2 + j] = ctx.input(2 + j);
  std::vector<std::vector<Tensor>> scanned(scans);
  std::vector<Tensor> results;
  for (int64_t i = 0; (!has_trip_count || i < trip_count) && cond; ++i) {
    feeds[0] = Tensor::Scalar<int64_t>(DataType::kI64, i);
    feeds[1] = Tensor::Scalar<uint8_t>(DataType::kBool, 1);
    FLEET_RETURN_IF_ERROR(blocks->Run("body", feeds, &results));
    if (has_cond) {  // with M alone the body's condition is ignored (a for loop)
      FLEET_ASSIGN_OR_RETURN(cond, ReadCondition(ctx, results[0], "the body's condition"));
    }
    for (int j = 0; j < carried; ++j) feeds[2 + j] = std::move(results[1 + j]);
    for (int k = 0; k < scans; ++k) scanned[k].push_back(std::move(results[1 + carried + k]));
  }
  for (int j = 0; j < carried && j < ctx.num_outputs(); ++j) ctx.SetOutput(j, feeds[2 + j]);
  for (int k = 0; k < scans && carried + k < ctx.num_outputs(); ++k) {
    FLEET_ASSIGN_OR_RETURN(Tensor stacked, Stack(ctx, scanned[k], 0, /*reverse=*/false,
                                                 body->result_dtypes[1 + carried + k], k));
    ctx.SetOutput(carried + k, std::move(stacked));
  }
  return absl::OkStatus();
}

// An attribute list of `n` axes or directions (zeros when absent).
absl::StatusOr<std::vector<int64_t>> PerInput(const KernelContext& ctx, const char* attr,
                                              size_t n) {
  std::vector<int64_t> v = ctx.GetInts(attr, std::vector<int64_t>(n, 0));
  if (v.size() != n) {
    return ctx.InvalidArgument(
        absl::StrCat("attribute '", attr, "' has ", v.size(), " entries; expected ", n));
  }
  return v;
}

absl::Status ScanKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(SubBlocks * blocks, BlocksOf(ctx));
  const int num_scan_inputs = static_cast<int>(ctx.GetInt("num_scan_inputs", 0));
  const int states = ctx.num_inputs() - num_scan_inputs;
  const BlockSignature* body = blocks->Signature("body");
  if (body == nullptr) return ctx.InvalidArgument("has no 'body' block");
  const int num_results = static_cast<int>(body->result_dtypes.size());
  if (num_scan_inputs < 1 || states < 0 ||
      body->num_feeds != ctx.num_inputs() || num_results < states) {
    return ctx.InvalidArgument(
        absl::StrCat("has ", ctx.num_inputs(), " inputs with num_scan_inputs=", num_scan_inputs,
                     "; its body takes ", body->num_feeds, " and gives ", num_results));
  }
  const int scans = num_results - states;
  FLEET_ASSIGN_OR_RETURN(auto in_axes, PerInput(ctx, "scan_input_axes", num_scan_inputs));
  FLEET_ASSIGN_OR_RETURN(auto in_dirs, PerInput(ctx, "scan_input_directions", num_scan_inputs));
  FLEET_ASSIGN_OR_RETURN(auto out_axes, PerInput(ctx, "scan_output_axes", scans));
  FLEET_ASSIGN_OR_RETURN(auto out_dirs, PerInput(ctx, "scan_output_directions", scans));
  int64_t length = -1;
  for (int j = 0; j < num_scan_inputs; ++j) {
    const Tensor& x = ctx.input(states + j);
    int64_t axis = in_axes[j] < 0 ? in_axes[j] + x.rank() : in_axes[j];
    if (axis < 0 || axis >= x.rank()) {
      return ctx.InvalidArgument(
          absl::StrCat("scan input ", j, " (", x.TypeString(), ") has no axis ", in_axes[j]));
    }
    in_axes[j] = axis;
    if (length >= 0 && x.dim(static_cast<int>(axis)) != length) {
      return ctx.InvalidArgument(absl::StrCat("scan input ", j, " has ", x.dim(axis),
                                              " steps; scan input 0 has ", length));
    }
    length = x.dim(static_cast<int>(axis));
  }
  std::vector<Tensor> feeds(ctx.num_inputs());
  for (int j = 0; j < states; ++j) feeds[j] = ctx.input(j);
  std::vector<std::vector<Tensor>> scanned(scans);
  std::vector<Tensor> results;
  for (int64_t t = 0; t < length; ++t) {
    for (int j = 0; j < num_scan_inputs; ++j) {
      int64_t step = in_dirs[j] != 0 ? length - 1 - t : t;
      feeds[states + j] = SliceAt(ctx.input(states + j), static_cast<int>(in_axes[j]), step);
    }
    FLEET_RETURN_IF_ERROR(blocks->Run("body", feeds, &results));
    for (int j = 0; j < states; ++j) feeds[j] = std::move(results[j]);
    for (int k = 0; k < scans; ++k) scanned[k].push_back(std::move(results[states + k]));
  }
  for (int j = 0; j < states && j < ctx.num_outputs(); ++j) ctx.SetOutput(j, feeds[j]);
  for (int k = 0; k < scans && states + k < ctx.num_outputs(); ++k) {
    FLEET_ASSIGN_OR_RETURN(Tensor stacked,
                           Stack(ctx, scanned[k], static_cast<int>(out_axes[k]), out_dirs[k] != 0,
                                 body->result_dtypes[states + k], k));
    ctx.SetOutput(states + k, std::move(stacked));
  }
  return absl::OkStatus();
}

absl::Status ConditionalBlockKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(SubBlocks * blocks, BlocksOf(ctx));
  FLEET_ASSIGN_OR_RETURN(bool cond, ReadCondition(ctx, ctx.input(0), "input 'Cond'"));
  return cond ? blocks->RunWritingOutputs("sub_block", ctx) : blocks->KeepOutputs(ctx);
}

}  // namespace

void RegisterControlFlowKernels(KernelTable& table) {
  table.AddAnyType("If", Device::kCpu, IfKernel);
  table.AddAnyType("Loop", Device::kCpu, LoopKernel);
  table.AddAnyType("Scan", Device::kCpu, ScanKernel);
  table.AddAnyType("fleet.conditional_block", Device::kCpu, ConditionalBlockKernel);
}

}  // namespace fleet::cpu
