// Fuzzes one parameter-server RPC, Control (heartbeat, worker done, save), decoded as the gRPC
// service decodes it, against a server without sockets (tests/fuzz/ps_fuzz_server.h). Input: a
// sync-mode byte, then a ControlRequest. SAVE is pointed at a scratch folder: the request's own
// path would let the fuzzer write anywhere. A refused request must change nothing.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/ps_fuzz_server.h"
#include "tests/fuzz/scratch_dir.h"

namespace ps = fleet::ps;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fleet::fuzz::QuietProtobuf();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fleet::fuzz::FuzzOneRequest<ps::proto::ControlRequest>(
      data, size, "Control", [](ps::ServerCore& core, ps::proto::ControlRequest request) {
        if (request.kind() == ps::proto::ControlRequest::SAVE) {
          request.set_path(fleet::fuzz::ScratchDir().string());
        }
        ps::proto::ControlReply reply;
        return core.Control(request, &reply);
      });
}
