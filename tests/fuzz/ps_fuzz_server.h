// The parameter server the ps fuzz targets talk to, without sockets: a ServerCore of 2 workers
// holding a dense block 7 : f32[2,3] (one state) and a sparse table 3 of width 2 (one rowwise
// state) whose update rule is plain SGD. Also what lets a target check that a refused request
// changed nothing: the server's whole contents, compared byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "runtime/ps/server_core.h"

namespace fleet::fuzz {

// p -= 0.5 * g; every state counts updates.
class FuzzSgd final : public ps::UpdateRule {
 public:
  absl::Status Apply(int64_t, ps::UpdateTensors& t) override {
    float* p = t.param.data<float>();
    const float* g = t.grad.data<float>();
    for (int64_t i = 0; i < t.param.numel(); ++i) p[i] -= 0.5f * g[i];
    for (Tensor& s : t.states) {
      for (int64_t i = 0; i < s.numel(); ++i) s.data<float>()[i] += 1;
    }
    return absl::OkStatus();
  }
};

// The sync mode a target's first input byte picks.
inline ps::SyncMode FuzzSyncMode(uint8_t byte) {
  constexpr ps::SyncMode kModes[] = {ps::SyncMode::kSync, ps::SyncMode::kAsync,
                                     ps::SyncMode::kHalfAsync, ps::SyncMode::kGeo};
  return kModes[byte % 4];
}

inline std::unique_ptr<ps::ServerCore> MakeFuzzServer(ps::SyncMode mode, ps::UpdateRule* rule) {
  ps::ServerCoreOptions options;
  options.num_workers = 2;
  options.mode = mode;
  std::vector<ps::DenseBlockSpec> blocks(1);
  blocks[0].block_id = 7;
  blocks[0].value = Tensor::Zeros(DataType::kF32, {2, 3});
  blocks[0].states.push_back(Tensor::Zeros(DataType::kF32, {2, 3}));
  std::vector<ps::SparseTableSpec> tables(1);
  tables[0].table_id = 3;
  tables[0].dim = 2;
  tables[0].model_rows = Tensor::Zeros(DataType::kF32, {4, 2});
  tables[0].state_rowwise = {true};
  tables[0].state_init = {0.0f};
  auto core = ps::ServerCore::Create(options, std::move(blocks), std::move(tables), rule);
  if (!core.ok()) std::abort();
  return *std::move(core);
}

// Silences protobuf's complaint about each unparsable input.
inline void QuietProtobuf() { google::protobuf::SetLogHandler(nullptr); }

inline bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0);
}

inline bool SameTensors(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SameBytes(a[i], b[i])) return false;
  }
  return true;
}

// Whether two exports of a server hold the same blocks, rows, states and counts.
inline bool SameContents(const ps::ServerCore::Contents& a, const ps::ServerCore::Contents& b) {
  if (a.applied_step != b.applied_step || a.blocks.size() != b.blocks.size() ||
      a.tables.size() != b.tables.size()) {
    return false;
  }
  for (size_t i = 0; i < a.blocks.size(); ++i) {
    const auto& x = a.blocks[i];
    const auto& y = b.blocks[i];
    if (x.block_id != y.block_id || x.updates != y.updates || !SameBytes(x.value, y.value) ||
        !SameTensors(x.states, y.states)) {
      return false;
    }
  }
  for (size_t i = 0; i < a.tables.size(); ++i) {
    const auto& x = a.tables[i].second;
    const auto& y = b.tables[i].second;
    if (a.tables[i].first != b.tables[i].first || x.updates != y.updates ||
        !SameBytes(x.ids, y.ids) || !SameBytes(x.rows, y.rows) ||
        !SameTensors(x.whole_states, y.whole_states)) {
      return false;
    }
  }
  return true;
}

// A push by worker 0 of step 0 (block 7 and rows 0 and 5 of table 3): in sync mode the step
// then waits for worker 1, whose push completes it; in the others it is applied.
inline void PushFirstStep(ps::ServerCore& core) {
  ps::proto::PushRequest push;
  push.set_worker(0);
  push.set_step(0);
  const float grad[] = {1, 2, 3, 4, 5, 6};
  ps::proto::DenseBlock* dense = push.add_dense();
  dense->set_block_id(7);
  dense->set_values(grad, sizeof(grad));
  ps::proto::SparseRows* rows = push.add_sparse();
  rows->set_table_id(3);
  const int64_t ids[] = {0, 5};
  rows->set_ids(ids, sizeof(ids));
  rows->set_values(grad, 4 * sizeof(float));
  if (!core.Push(push).ok()) std::abort();
}

// The body of a one-RPC target: the input is one byte picking the sync mode, then one
// `Request` as the gRPC service would receive it. `call(core, request)` runs it on a fresh
// server that has seen PushFirstStep; a refused request must leave the server's contents as
// they were (else the target aborts, naming `rpc`).
template <typename Request, typename Call>
int FuzzOneRequest(const uint8_t* data, size_t size, const char* rpc, Call call) {
  if (size < 1) return 0;
  Request request;
  if (!request.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
  FuzzSgd rule;
  std::unique_ptr<ps::ServerCore> core = MakeFuzzServer(FuzzSyncMode(data[0]), &rule);
  PushFirstStep(*core);
  const ps::ServerCore::Contents before = core->Export();
  const absl::Status status = call(*core, request);
  if (!status.ok() && !SameContents(before, core->Export())) {
    std::fprintf(stderr, "%s was refused (%s) but changed the server's contents\n", rpc,
                 status.ToString().c_str());
    std::abort();
  }
  core->Stop();
  return 0;
}

}  // namespace fleet::fuzz
