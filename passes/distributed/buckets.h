// What the data-parallel passes (allreduce, localsgd) share: the (parameter, gradient) pairs of
// a training program in the order backward finishes them, fused buckets of them, and the
// collective ops that carry a bucket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/job.h"
#include "ir/program.h"

namespace fleet::distributed {

// A var a collective carries: its (param, grad) pair, dtype and static size.
struct Member {
  RoleVar pair;
  DataType dtype = DataType::kUndefined;
  int64_t bytes = 0;
  size_t writer = 0;  // main-block index of the op that writes the var's final value
};

struct Bucket {
  std::vector<Member> members;
  int64_t bytes = 0;
  size_t last_writer = 0;  // the largest `writer` of the members
};

// Bytes per MiB of a bucket-size setting (fleet-transpile's --bucket-mb).
inline constexpr double kBytesPerMb = 1024.0 * 1024.0;

// Makes every embedding gradient of the main block dense, so that an allreduce can carry it, as
// PyTorch DDP averages the dense gradients of its default nn.Embedding: the sparse-row gradient
// of a lookup, fleet.gather_grad_sparse, becomes fleet.gather_grad (a scatter-add into zeros
// shaped like the table) and its var a dense tensor. Only final gradients (those autodiff
// records with their parameter) written by that op are changed; a sparse gradient summed over
// several lookups stays sparse, and FinalGradients then names it. The gradients of the
// parameters in `keep` stay sparse (the ps strategy's tables). Returns the parameters whose
// gradients it changed.
std::vector<std::string> DensifyEmbeddingGradients(Program& main,
                                                   const std::set<std::string>& keep = {});

// The final gradient of every trainable parameter, in the order the main block's backward ops
// write them (the pairs autodiff records on each gradient's last writer), sized as the
// gradient. Sparse (embedding) gradients go to `sparse` when it is given (sized as their
// dense table). FAILED_PRECONDITION when the program is not a training program or records
// none; UNIMPLEMENTED naming the parameter for a sparse gradient without `sparse`;
// INVALID_ARGUMENT for a gradient without a static shape.
absl::StatusOr<std::vector<Member>> FinalGradients(const Program& main, std::string_view pass,
                                                   std::vector<Member>* sparse = nullptr);

// The same pairs sized as their parameters (what a broadcast or a parameter average carries).
absl::StatusOr<std::vector<Member>> ParametersOf(const Block& block,
                                                 const std::vector<Member>& grads);

// Groups `members`, in order, into buckets of at most `cap` bytes and one dtype each; a member
// larger than `cap` is a bucket of its own.
std::vector<Bucket> MakeBuckets(std::vector<Member> members, int64_t cap);

// `type` (fleet.allreduce or fleet.broadcast) over the bucket's gradients (`grads`) or
// parameters, in place, named `name`, role collective; a gradient op records its pairs.
Op CollectiveOp(const std::string& type, const std::string& name, const Bucket& bucket, bool grads);

// Appends to the job's startup program (made when missing) one fleet.broadcast from rank 0 per
// bucket of the parameters, so every rank starts from rank 0's values.
void AddStartupBroadcast(Job& job, const Block& main_block, const std::vector<Member>& params,
                         int64_t cap);

}  // namespace fleet::distributed
