#include "runtime/ps/kernel_support.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace fleet::ps {

absl::StatusOr<PsClient*> FindClient(const KernelContext& ctx) {
  PsClient* client = ctx.env().Get<PsClient>();
  if (client == nullptr) {
    return ctx.FailedPrecondition(
        "no parameter-server client in the execution environment (hint: Fleet::InitWorker "
        "connects one in a parameter-server job; run the job with fleet-run)");
  }
  return client;
}

// An id tensor's elements as i64 (i32 ids widen).
absl::StatusOr<std::vector<int64_t>> IdsOf(const KernelContext& ctx, int input) {
  const Tensor& ids = ctx.input(input);
  std::vector<int64_t> out(ids.numel());
  if (ids.dtype() == DataType::kI64) {
    std::memcpy(out.data(), ids.data<int64_t>(), ids.nbytes());
  } else if (ids.dtype() == DataType::kI32) {
    std::copy(ids.data<int32_t>(), ids.data<int32_t>() + ids.numel(), out.begin());
  } else {
    return ctx.InvalidArgument(
        absl::StrCat("input ", input, " (ids) is ", ids.TypeString(), "; expected i64 or i32"));
  }
  return out;
}

std::string IdBytes(const std::vector<int64_t>& ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int64_t));
}

absl::Status CheckTableAttrs(const KernelContext& ctx, const std::vector<int64_t>& table_id,
                             const std::vector<int64_t>& table_dim) {
  if (table_dim.size() != table_id.size()) {
    return ctx.InvalidArgument(absl::StrCat(table_id.size(), " table_id entries but ",
                                            table_dim.size(), " table_dim entries"));
  }
  for (int64_t d : table_dim) {
    if (d < 1) return ctx.InvalidArgument(absl::StrCat("table_dim ", d, "; expected >= 1"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> StepOf(const KernelContext& ctx, int input) {
  const Tensor& step = ctx.input(input);
  if (step.dtype() != DataType::kI64 || step.numel() != 1) {
    return ctx.InvalidArgument(absl::StrCat("Step is ", step.TypeString(), "; expected i64[1]"));
  }
  return *step.data<int64_t>();
}

absl::StatusOr<BlockLayout> BlockLayout::Of(const KernelContext& ctx, int num_servers) {
  BlockLayout l;
  l.id = ctx.GetInts("block_id", {});
  l.param = ctx.GetInts("block_param", {});
  l.begin = ctx.GetInts("block_begin", {});
  l.rows = ctx.GetInts("block_rows", {});
  l.server = ctx.GetInts("block_server", {});
  const size_t n = l.id.size();
  if (l.param.size() != n || l.begin.size() != n || l.rows.size() != n || l.server.size() != n) {
    return ctx.InvalidArgument(
        "block_id, block_param, block_begin, block_rows and block_server differ in length");
  }
  for (size_t b = 0; b < n; ++b) {
    if (l.param[b] < 0 || l.begin[b] < 0 || l.rows[b] < 1 || l.server[b] < 0 ||
        l.server[b] >= num_servers) {
      return ctx.InvalidArgument(absl::StrCat("block ", l.id[b], ": param ", l.param[b], ", rows ",
                                              l.begin[b], "+", l.rows[b], ", server ", l.server[b],
                                              " (the job has ", num_servers, " servers)"));
    }
    l.num_params = std::max<int>(l.num_params, static_cast<int>(l.param[b]) + 1);
  }
  return l;
}

}  // namespace fleet::ps
