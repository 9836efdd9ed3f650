// Fuzzes one parameter-server RPC, PullSparse, decoded as the gRPC service decodes it, against a
// server without sockets (tests/fuzz/ps_fuzz_server.h). Input: a sync-mode byte, then a
// PullSparseRequest. A pull creates the rows it is first to touch; a refused one must create
// none.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/ps_fuzz_server.h"

namespace ps = fleet::ps;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fleet::fuzz::QuietProtobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fleet::fuzz::FuzzOneRequest<ps::proto::PullSparseRequest>(
      data, size, "PullSparse",
      [](ps::ServerCore& core, const ps::proto::PullSparseRequest& request) {
        ps::proto::PullSparseReply reply;
        return core.PullSparse(request, &reply);
      });
}
