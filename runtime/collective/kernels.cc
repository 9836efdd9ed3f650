// fleet.allreduce, fleet.broadcast, fleet.reduce and fleet.is_rank on the CPU (schemas:
// ir/fleet_comm_ops.cc).
//
//   (Out: [%g1, %g2]) = fleet.allreduce(X: [%g1, %g2]) {reduce = "mean"}
//       ==> one fused allreduce of g1 and g2, in place; Out is pending until it completes.
//
// fleet.reduce runs as an allreduce: every rank then holds the reduction, which the op allows
// (only the root may rely on it). The reduce mode's saving is the optimizer work each rank skips;
// a transport with a reduce proper can take over the kernel without changing programs.
#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "runtime/collective/communicator.h"
#include "runtime/collective/register.h"

namespace fleet {
namespace {

// The most tensors one op may carry: the in-place pairs are declared for this many.
constexpr int kMaxBucketTensors = 4096;

// The rank's communicator for the op's `group`, or the error that says why there is none.
absl::StatusOr<Communicator*> FindCommunicator(const KernelContext& ctx) {
  const int64_t group = ctx.GetInt("group", 0);
  if (group != 0) {
    return ctx.Unimplemented(absl::StrCat(
        "group ", group, " is not supported; only group 0 (all ranks) has a communicator"));
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

absl::Status AllReduceKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(Communicator * comm, FindCommunicator(ctx));
  const std::string reduce = ctx.GetString("reduce", "sum");
  if (reduce != "sum" && reduce != "mean") {
    return ctx.InvalidArgument(
        absl::StrCat("attribute reduce=\"", reduce, "\"; expected \"sum\" or \"mean\""));
  }
  FLEET_ASSIGN_OR_RETURN(std::vector<Tensor> tensors, InPlaceBucket(ctx));
  absl::StatusOr<std::shared_ptr<Event>> done =
      comm->AllReduce(std::move(tensors), reduce == "mean" ? ReduceOp::kMean : ReduceOp::kSum);
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
  (void)root;  // every rank gets the reduction (see the file comment)
  return AllReduceKernel(ctx);
}

absl::Status IsRankKernel(KernelContext& ctx) {
  FLEET_ASSIGN_OR_RETURN(Communicator * comm, FindCommunicator(ctx));
  FLEET_ASSIGN_OR_RETURN(int rank, RankAttr(ctx, *comm, "rank"));
  *ctx.Output(0, DataType::kBool, {1})->data<bool>() = comm->rank() == rank;
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

}  // namespace

void RegisterCollectiveKernels(KernelTable& table) {
  KernelTraits traits;
  traits.async = true;
  for (int i = 0; i < kMaxBucketTensors; ++i) traits.in_place.emplace_back(i, i);
  table.Add("fleet.allreduce", Device::kCpu, {DataType::kF32, DataType::kF64}, &AllReduceKernel);
  table.SetTraits("fleet.allreduce", Device::kCpu, traits);
  table.Add("fleet.reduce", Device::kCpu, {DataType::kF32, DataType::kF64}, &ReduceKernel);
  table.SetTraits("fleet.reduce", Device::kCpu, traits);
  table.Add("fleet.broadcast", Device::kCpu, {DataType::kF32, DataType::kF64}, &BroadcastKernel);
  table.SetTraits("fleet.broadcast", Device::kCpu, std::move(traits));
  table.AddAnyType("fleet.is_rank", Device::kCpu, &IsRankKernel);
}

}  // namespace fleet
