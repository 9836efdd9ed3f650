// Fuzzes one parameter-server RPC, Push, decoded as the gRPC service decodes it, against a
// server without sockets (tests/fuzz/ps_fuzz_server.h). Input: a sync-mode byte, then a
// PushRequest. A refused push must change nothing: no block, row, state or count.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/ps_fuzz_server.h"

namespace ps = fleet::ps;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fleet::fuzz::QuietProtobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fleet::fuzz::FuzzOneRequest<ps::proto::PushRequest>(
      data, size, "Push",
      [](ps::ServerCore& core, const ps::proto::PushRequest& request) {
        return core.Push(request);
      });
}
