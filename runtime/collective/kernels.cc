// fleet.allreduce, fleet.broadcast, fleet.reduce, fleet.allgather_rows and fleet.is_rank on the
// CPU, and the first three on a device too (schemas: ir/fleet_comm_ops.cc). A kernel hands its
// tensors to the communicator of its op's device: the host's Communicator, or the
// DeviceCommunicator (NCCL) for tensors in a GPU's memory.
//
//   (Out: [%g1, %g2]) = fleet.allreduce(X: [%g1, %g2]) {reduce = "mean"}
//       ==> one fused allreduce of g1 and g2, in place; Out is pending until it completes.
//
//   (Out: [%g1, %g2]) = fleet.reduce(X: [%g1, %g2]) {reduce = "mean", root = 1}
//       ==> one fused reduce onto rank root mod N, in place; the other ranks' Out keeps their own
//           values (Communicator::Reduce), which the reduce mode never reads.
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "runtime/collective/communicator.h"
#include "runtime/collective/register.h"

namespace fleet {
namespace {

// The most tensors one op may carry: the in-place pairs are declared for this many.
constexpr int kMaxBucketTensors = 4096;

// The rank's communicator for the op's `group` and device, or the error that says why there is
// none.
absl::StatusOr<Communicator*> FindCommunicator(const KernelContext& ctx) {
  const int64_t group = ctx.GetInt("group", 0);
  if (group != 0) {
    return ctx.Unimplemented(absl::StrCat(
        "group ", group, " is not supported; only group 0 (all ranks) has a communicator"));
  }
  const DeviceId device = ctx.device().device;
  if (device.type != Device::kCpu) {
    const DeviceCommunicator* on_device = ctx.env().Get<DeviceCommunicator>();
    if (on_device == nullptr || on_device->communicator == nullptr) {
      return ctx.FailedPrecondition(absl::StrCat(
          "no communicator for tensors on ", device.ToString(),
          " in the execution environment (hint: the runtime installs one per rank with "
          "Fleet::InitDeviceCommunicator, or leaves the collectives on the host)"));
    }
    return on_device->communicator.get();
  }
  Communicator* comm = ctx.env().Get<Communicator>();
  if (comm == nullptr) {
    return ctx.FailedPrecondition(
        "no communicator in the execution environment (hint: the runtime installs one per rank "
        "with env->Set<Communicator>(...) before running a distributed program)");
  }
  return comm;
}

// The op's inputs, each handed back as the output of the same position (in place).
absl::StatusOr<std::vector<Tensor>> InPlaceBucket(KernelContext& ctx) {
  if (ctx.num_inputs() != ctx.num_outputs()) {
    return ctx.InvalidArgument(absl::StrCat(ctx.num_inputs(), " inputs and ", ctx.num_outputs(),
                                            " outputs; expected one output per input"));
  }
  if (ctx.num_inputs() > kMaxBucketTensors) {
    return ctx.InvalidArgument(absl::StrCat(ctx.num_inputs(), " tensors in one bucket; at most ",
                                            kMaxBucketTensors, " (hint: use smaller buckets)"));
  }
  std::vector<Tensor> tensors;
  tensors.reserve(ctx.num_inputs());
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is absent"));
    tensors.push_back(ctx.input(i));
    ctx.SetOutput(i, ctx.input(i));
  }
  return tensors;
}

// The op's `reduce` attribute.
absl::StatusOr<ReduceOp> ReduceAttr(const KernelContext& ctx) {
  const std::string reduce = ctx.GetString("reduce", "sum");
  if (reduce != "sum" && reduce != "mean") {
    return ctx.InvalidArgument(
        absl::StrCat("attribute reduce=\"", reduce, "\"; expected \"sum\" or \"mean\""));
  }
  return reduce == "mean" ? ReduceOp::kMean : ReduceOp::kSum;
}

absl::Status AllReduceKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(Communicator * comm, FindCommunicator(ctx));
  FLEET_ASSIGN_OR_RETURN(ReduceOp op, ReduceAttr(ctx));
  FLEET_ASSIGN_OR_RETURN(std::vector<Tensor> tensors, InPlaceBucket(ctx));
  absl::StatusOr<std::shared_ptr<Event>> done = comm->AllReduce(std::move(tensors), op);
  if (!done.ok()) return done.status();  // the executor prefixes the op
  return ctx.SetOutputsPending(*std::move(done));
}

// The op's `attr` (root or rank) as a rank of the group: taken modulo the group's size.
absl::StatusOr<int> RankAttr(const KernelContext& ctx, const Communicator& comm, const char* attr) {
  const int64_t value = ctx.GetInt(attr, 0);
  if (value < 0) {
    return ctx.InvalidArgument(absl::StrCat("attribute ", attr, "=", value, "; expected >= 0"));
  }
  return static_cast<int>(value % comm.size());
}

absl::Status ReduceKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(Communicator * comm, FindCommunicator(ctx));
  FLEET_ASSIGN_OR_RETURN(int root, RankAttr(ctx, *comm, "root"));
  FLEET_ASSIGN_OR_RETURN(ReduceOp op, ReduceAttr(ctx));
  FLEET_ASSIGN_OR_RETURN(std::vector<Tensor> tensors, InPlaceBucket(ctx));
  absl::StatusOr<std::shared_ptr<Event>> done = comm->Reduce(std::move(tensors), op, root);
  if (!done.ok()) return done.status();  // the executor prefixes the op
  return ctx.SetOutputsPending(*std::move(done));
}

absl::Status IsRankKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(Communicator * comm, FindCommunicator(ctx));
  FLEET_ASSIGN_OR_RETURN(int rank, RankAttr(ctx, *comm, "rank"));
  *ctx.Output(0, DataType::kBool, {1})->data<bool>() = comm->rank() == rank;
  return absl::OkStatus();
}

// The longest fleet.allgather_rows waits for the other ranks' rows; the communicator's own
// collective timeout ends a wait for a dead rank long before.
constexpr std::chrono::hours kAllGatherRowsWait{1};

// fleet.allgather_rows: this rank's rows (repeated ids added up) travel as [n: i64][ids: n x
// i64][values: n x width f32]; the output lists every rank's rows, rank by rank. It waits for them
// (the number of rows a rank sends is known only once they arrive, so the output cannot be handed
// out pending).
absl::Status AllGatherRowsKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(Communicator * comm, FindCommunicator(ctx));
  const std::string reduce = ctx.GetString("reduce", "sum");
  if (reduce != "sum" && reduce != "mean") {
    return ctx.InvalidArgument(
        absl::StrCat("attribute reduce=\"", reduce, "\"; expected \"sum\" or \"mean\""));
  }
  const Tensor& x = ctx.input(0);
  if (!x.is_sparse_rows() || x.dtype() != DataType::kF32 || x.rank() < 1) {
    return ctx.InvalidArgument(
        absl::StrCat("input X is ", x.TypeString(), "; expected f32 sparse rows"));
  }
  int64_t row_width = 1;
  for (int d = 1; d < x.rank(); ++d) row_width *= x.dim(d);
  // Repeated ids are added up here, so each touched row travels once.
  std::vector<int64_t> unique_ids;
  std::vector<float> unique_rows;
  std::unordered_map<int64_t, size_t> slot;
  const int64_t* ids_in = x.rows().data<int64_t>();
  const float* rows_in = x.data<float>();
  for (int64_t r = 0; r < x.dim(0); ++r) {
    auto [it, inserted] = slot.try_emplace(ids_in[r], unique_ids.size());
    const float* row = rows_in + r * row_width;
    if (inserted) {
      unique_ids.push_back(ids_in[r]);
      unique_rows.insert(unique_rows.end(), row, row + row_width);
    } else {
      float* dst = unique_rows.data() + it->second * row_width;
      for (int64_t j = 0; j < row_width; ++j) dst[j] += row[j];
    }
  }
  const int64_t n = static_cast<int64_t>(unique_ids.size());
  std::string local(sizeof(int64_t) + n * sizeof(int64_t) + unique_rows.size() * sizeof(float),
                    '\0');
  std::memcpy(local.data(), &n, sizeof(n));
  std::memcpy(local.data() + sizeof(n), unique_ids.data(), n * sizeof(int64_t));
  std::memcpy(local.data() + sizeof(n) + n * sizeof(int64_t), unique_rows.data(),
              unique_rows.size() * sizeof(float));
  auto gathered = std::make_shared<std::vector<std::string>>();
  FLEET_ASSIGN_OR_RETURN(std::shared_ptr<Event> done, comm->AllGather(std::move(local), gathered));
  FLEET_RETURN_IF_ERROR(done->Wait(Clock::now() + kAllGatherRowsWait));
  // Every rank's part, checked before anything is copied.
  int64_t total = 0;
  for (size_t r = 0; r < gathered->size(); ++r) {
    const std::string& part = (*gathered)[r];
    int64_t rows = -1;
    if (part.size() >= sizeof(rows)) std::memcpy(&rows, part.data(), sizeof(rows));
    if (rows < 0 ||
        part.size() != sizeof(rows) + rows * (sizeof(int64_t) + row_width * sizeof(float))) {
      return ctx.FailedPrecondition(absl::StrCat("rank ", r, " sent ", part.size(),
                                                 " bytes of rows; expected rows of ", row_width,
                                                 " f32 (do all ranks run the same program?)"));
    }
    total += rows;
  }
  std::vector<int64_t> shape = x.shape();
  shape[0] = total;
  Tensor values(DataType::kF32, shape);
  Tensor ids(DataType::kI64, {total});
  const float scale = reduce == "mean" ? 1.0f / static_cast<float>(comm->size()) : 1.0f;
  int64_t at = 0;
  for (const std::string& part : *gathered) {
    int64_t rows = 0;
    std::memcpy(&rows, part.data(), sizeof(rows));
    std::memcpy(ids.data<int64_t>() + at, part.data() + sizeof(rows), rows * sizeof(int64_t));
    const float* src =
        reinterpret_cast<const float*>(part.data() + sizeof(rows) + rows * sizeof(int64_t));
    float* dst = values.data<float>() + at * row_width;
    for (int64_t i = 0; i < rows * row_width; ++i) dst[i] = src[i] * scale;
    at += rows;
  }
  ctx.SetOutput(0, Tensor::SparseRows(std::move(values), std::move(ids), x.sparse_height()));
  return absl::OkStatus();
}

absl::Status BroadcastKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(Communicator * comm, FindCommunicator(ctx));
  FLEET_ASSIGN_OR_RETURN(int root, RankAttr(ctx, *comm, "root"));
  FLEET_ASSIGN_OR_RETURN(std::vector<Tensor> tensors, InPlaceBucket(ctx));
  absl::StatusOr<std::shared_ptr<Event>> done =
      comm->Broadcast(std::move(tensors), static_cast<int>(root));
  if (!done.ok()) return done.status();  // the executor prefixes the op
  return ctx.SetOutputsPending(*std::move(done));
}

// The in-place bucket kernels (allreduce, reduce, broadcast) on `device`, for `dtypes`.
void AddBucketKernels(KernelTable& table, Device device, const std::vector<DataType>& dtypes) {
  KernelTraits traits;
  traits.async = true;
  for (int i = 0; i < kMaxBucketTensors; ++i) traits.in_place.emplace_back(i, i);
  table.Add("fleet.allreduce", device, dtypes, &AllReduceKernel);
  table.SetTraits("fleet.allreduce", device, traits);
  table.Add("fleet.reduce", device, dtypes, &ReduceKernel);
  table.SetTraits("fleet.reduce", device, traits);
  table.Add("fleet.broadcast", device, dtypes, &BroadcastKernel);
  table.SetTraits("fleet.broadcast", device, std::move(traits));
}

}  // namespace

void RegisterCollectiveKernels(KernelTable& table) {
  AddBucketKernels(table, Device::kCpu, {DataType::kF32, DataType::kF64});
  table.AddAnyType("fleet.is_rank", Device::kCpu, &IsRankKernel);
  table.Add("fleet.allgather_rows", Device::kCpu, {DataType::kF32}, &AllGatherRowsKernel);
}

void RegisterDeviceCollectiveKernels(KernelTable& table, Device device) {
  AddBucketKernels(table, device, {DataType::kF32, DataType::kF64, DataType::kF16});
}

}  // namespace fleet
