// allreduce: data-parallel training. Every rank runs the same trainer program on its own shard
// of the data; this pass averages the gradients over the ranks before the update and makes the
// ranks start from the same parameters.
//
// In the main program, after the backward op that writes each parameter's final gradient (the
// (param, grad) pairs autodiff records on it), the gradients are grouped into buckets of at
// most training.collective.bucket_mb MiB in the order backward produces them, and each bucket
// gets one fused, in-place allreduce right after its last gradient is written:
//
//   (Out: [%"w2@GRAD", %"b2@GRAD"]) = fleet.allreduce(X: [%"w2@GRAD", %"b2@GRAD"])
//       {group = 0, reduce = "mean"} role=collective vars=[(%w2, %"w2@GRAD"), (%b2, %"b2@GRAD")]
//
// The op is in flight while the backward ops after it run (the executor waits only where the
// optimizer reads the gradient), as PyTorch DDP's buckets are. "mean" divides by the number of
// ranks at run time, so one job serves any number of ranks, and N ranks at batch B compute the
// update of one process at batch N*B. Gradient clipping and the update read the averaged
// gradients. In the startup program every parameter is broadcast from rank 0 (in buckets of the
// same size), so the ranks start identical even when the initial values are random.
//
// Every rank issues the same collectives in the same order: the order is the program's.
// Sparse (embedding) gradients are not handled yet: the pass fails naming the parameter.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "passes/builtin_passes.h"
#include "passes/distributed/buckets.h"
#include "passes/strategy.h"

namespace fleet {
namespace {

using distributed::Bucket;
using distributed::Member;

constexpr double kDefaultBucketMb = 25;

class AllreducePass final : public Pass {
 public:
  std::string_view name() const override { return "allreduce"; }
  std::string_view description() const override {
    return "averages the gradients over the ranks in fused buckets and broadcasts the "
           "parameters from rank 0 at startup (a job pass, after optimizer and startup)";
  }

  absl::StatusOr<bool> RunOnJob(Job& job, PassContext& ctx) override {
    Program& main = job.main();
    FLEET_ASSIGN_OR_RETURN(std::vector<Member> grads, distributed::FinalGradients(main, name()));
    double bucket_mb = kDefaultBucketMb;
    if (ctx.strategy() != nullptr && ctx.strategy()->collective().bucket_mb() > 0) {
      bucket_mb = ctx.strategy()->collective().bucket_mb();
    }
    const auto cap = static_cast<int64_t>(bucket_mb * distributed::kBytesPerMb);
    Block& block = main.main();
    FLEET_ASSIGN_OR_RETURN(std::vector<Member> params, distributed::ParametersOf(block, grads));

    std::vector<Bucket> buckets = distributed::MakeBuckets(std::move(grads), cap);
    // Each bucket starts right after its last gradient is written; insert from the back so
    // the earlier indices stay valid.
    for (size_t b = buckets.size(); b-- > 0;) {
      Op allreduce = distributed::CollectiveOp(
          "fleet.allreduce", absl::StrCat("allreduce.bucket", b), buckets[b], /*grads=*/true);
      allreduce.attrs["reduce"] = AttrValue(std::string("mean"));
      const auto at = static_cast<std::ptrdiff_t>(buckets[b].last_writer) + 1;
      block.ops.insert(block.ops.begin() + at, std::move(allreduce));
    }
    ctx.Note(absl::StrCat(buckets.size(), " bucket(s) of at most ", bucket_mb, " MiB"));
    distributed::AddStartupBroadcast(job, block, params, cap);
    return true;
  }

  absl::StatusOr<bool> Run(Program&, PassContext&) override {
    return absl::FailedPreconditionError(
        "pass 'allreduce' also writes the startup program; run it over a job, not a single "
        "program");
  }
};

}  // namespace

std::unique_ptr<Pass> CreateAllreducePass() { return std::make_unique<AllreducePass>(); }

}  // namespace fleet
