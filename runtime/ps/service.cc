#include "runtime/ps/service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/ps/ps.grpc.pb.h"

namespace fleet::ps {
namespace {

// absl and gRPC number their status codes alike.
grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// How long a waiting pull may wait: the caller's deadline, and never more than an hour.
absl::Time DeadlineOf(const grpc::ServerContext& context) {
  const absl::Time cap = absl::Now() + absl::Hours(1);
  const absl::Time deadline = absl::FromChrono(context.deadline());
  return std::min(deadline, cap);
}

}  // namespace

class PsService::Impl final : public proto::ParameterServer::Service {
 public:
  explicit Impl(ServerCore* core) : core_(core) {}

  grpc::Status Push(grpc::ServerContext*, const proto::PushRequest* request,
                    proto::PushReply*) override {
    return ToGrpc(core_->Push(*request));
  }
  grpc::Status PullDense(grpc::ServerContext* context, const proto::PullDenseRequest* request,
                         proto::PullDenseReply* reply) override {
    return ToGrpc(core_->PullDense(*request, reply, DeadlineOf(*context)));
  }
  grpc::Status PullSparse(grpc::ServerContext*, const proto::PullSparseRequest* request,
                          proto::PullSparseReply* reply) override {
    return ToGrpc(core_->PullSparse(*request, reply));
  }
  grpc::Status Control(grpc::ServerContext*, const proto::ControlRequest* request,
                       proto::ControlReply* reply) override {
    return ToGrpc(core_->Control(*request, reply));
  }

 private:
  ServerCore* core_;
};

absl::StatusOr<std::unique_ptr<PsService>> PsService::Start(const std::string& endpoint,
                                                            ServerCore* core,
                                                            int64_t max_message_bytes) {
  std::unique_ptr<PsService> service(new PsService());
  service->impl_ = std::make_unique<Impl>(core);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(endpoint, grpc::InsecureServerCredentials(), &service->port_);
  builder.RegisterService(service->impl_.get());
  const int limit = static_cast<int>(std::min<int64_t>(max_message_bytes, INT32_MAX));
  builder.SetMaxReceiveMessageSize(limit);
  builder.SetMaxSendMessageSize(limit);
  // A restarted server must not share its port with a dead one's lingering socket owner.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  service->server_ = builder.BuildAndStart();
  if (service->server_ == nullptr || service->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("parameter server ", core->options().server, ": cannot listen on ", endpoint,
                     " (hint: the port is in use, or the host is not an address of this machine)"));
  }
  return service;
}

PsService::~PsService() {
  if (server_ != nullptr) Shutdown(absl::Seconds(1));
}

void PsService::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  server_.reset();
}

}  // namespace fleet::ps
