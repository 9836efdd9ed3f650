// Fuzzes the parameter server's request handling (runtime/ps/server_core.h) without sockets:
// each input is a short session of requests, decoded as the gRPC service would decode them
// (ParseFromArray of ps.proto's messages), against a fresh server of 2 workers holding a dense
// block 7 : f32[2,3] and a sparse table 3 of width 2 whose update rule is plain SGD.
//
// Input: one byte picking the sync mode, then records of
//   kind (1 byte: Push, PullDense, PullSparse, Control) | length (2 bytes, little-endian) | bytes
// A bad request must get a status and change nothing; nothing may crash, and no call may block
// (pulls get a deadline of now). Control SAVE is pointed at a scratch folder: the request's own
// path would let the fuzzer write anywhere.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "google/protobuf/stubs/logging.h"
#include "runtime/ps/server_core.h"
#include "tests/fuzz/scratch_dir.h"

namespace {

using fleet::DataType;
using fleet::Tensor;
namespace ps = fleet::ps;

constexpr float kLr = 0.5f;

// p -= lr * g; every state counts updates.
class Sgd final : public ps::UpdateRule {
 public:
  absl::Status Apply(int64_t, ps::UpdateTensors& t) override {
    float* p = t.param.data<float>();
    const float* g = t.grad.data<float>();
    for (int64_t i = 0; i < t.param.numel(); ++i) p[i] -= kLr * g[i];
    for (Tensor& s : t.states) {
      for (int64_t i = 0; i < s.numel(); ++i) s.data<float>()[i] += 1;
    }
    return absl::OkStatus();
  }
};

std::unique_ptr<ps::ServerCore> MakeServer(ps::SyncMode mode, ps::UpdateRule* rule) {
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

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // protobuf's complaints about each bad input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  constexpr ps::SyncMode kModes[] = {ps::SyncMode::kSync, ps::SyncMode::kAsync,
                                     ps::SyncMode::kHalfAsync, ps::SyncMode::kGeo};
  Sgd rule;
  std::unique_ptr<ps::ServerCore> core = MakeServer(kModes[data[0] % 4], &rule);
  size_t pos = 1;
  while (pos + 3 <= size) {
    const uint8_t kind = data[pos] % 4;
    const size_t length = std::min<size_t>(data[pos + 1] | (data[pos + 2] << 8), size - pos - 3);
    const uint8_t* message = data + pos + 3;
    pos += 3 + length;
    const int n = static_cast<int>(length);
    switch (kind) {
      case 0: {
        ps::proto::PushRequest request;
        if (request.ParseFromArray(message, n)) (void)core->Push(request);
        break;
      }
      case 1: {
        ps::proto::PullDenseRequest request;
        ps::proto::PullDenseReply reply;
        if (request.ParseFromArray(message, n)) (void)core->PullDense(request, &reply, absl::Now());
        break;
      }
      case 2: {
        ps::proto::PullSparseRequest request;
        ps::proto::PullSparseReply reply;
        if (request.ParseFromArray(message, n)) (void)core->PullSparse(request, &reply);
        break;
      }
      default: {
        ps::proto::ControlRequest request;
        ps::proto::ControlReply reply;
        if (!request.ParseFromArray(message, n)) break;
        if (request.kind() == ps::proto::ControlRequest::SAVE) {
          request.set_path(fleet::fuzz::ScratchDir().string());
        }
        (void)core->Control(request, &reply);
        break;
      }
    }
  }
  core->Stop();
  return 0;
}
