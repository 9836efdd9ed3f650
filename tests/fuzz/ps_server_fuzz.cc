// Fuzzes the parameter server's request handling (runtime/ps/server_core.h) without sockets:
// each input is a short session of requests, decoded as the gRPC service would decode them
// (ParseFromArray of ps.proto's messages), against a fresh server (tests/fuzz/ps_fuzz_server.h).
// Sessions reach states one request cannot (a completed sync step, a worker that left); the
// ps_*_fuzz targets take one RPC each.
//
// Input: one byte picking the sync mode, then records of
//   kind (1 byte: Push, PullDense, PullSparse, Control) | length (2 bytes, little-endian) | bytes
// A bad request must get a status and change nothing; nothing may crash, and no call may block
// (pulls get a deadline of now). Control SAVE is pointed at a scratch folder: the request's own
// path would let the fuzzer write anywhere.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/time/clock.h"
#include "runtime/ps/server_core.h"
#include "tests/fuzz/ps_fuzz_server.h"
#include "tests/fuzz/scratch_dir.h"

namespace ps = fleet::ps;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fleet::fuzz::QuietProtobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  fleet::fuzz::FuzzSgd rule;
  std::unique_ptr<ps::ServerCore> core =
      fleet::fuzz::MakeFuzzServer(fleet::fuzz::FuzzSyncMode(data[0]), &rule);
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
