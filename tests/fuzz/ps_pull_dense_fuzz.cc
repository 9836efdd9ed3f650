// Fuzzes one parameter-server RPC, PullDense, decoded as the gRPC service decodes it, against a
// server without sockets (tests/fuzz/ps_fuzz_server.h). Input: a sync-mode byte, then a
// PullDenseRequest. The pull's deadline is now, so a wait for a step that never comes ends at
// once; a refused pull must change nothing.
#include <cstddef>
#include <cstdint>

#include "absl/time/clock.h"
#include "tests/fuzz/ps_fuzz_server.h"

namespace ps = fleet::ps;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fleet::fuzz::QuietProtobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fleet::fuzz::FuzzOneRequest<ps::proto::PullDenseRequest>(
      data, size, "PullDense",
      [](ps::ServerCore& core, const ps::proto::PullDenseRequest& request) {
        ps::proto::PullDenseReply reply;
        return core.PullDense(request, &reply, absl::Now());
      });
}
