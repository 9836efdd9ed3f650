#include "runtime/ps/client.h"

#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <sys/socket.h>

#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "runtime/endpoint.h"
#include "runtime/ps/ps.grpc.pb.h"

namespace fleet::ps {

struct PsClient::Server {
  int index = 0;
  std::string endpoint;
  // Whether the last heartbeat to this server failed: an error elsewhere (another server's
  // report that a worker died) may be this server's doing, and the error says so.
  std::atomic<bool> silent{false};
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<proto::ParameterServer::Stub> stub;
};

namespace {

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// Worth another try: the server was briefly unreachable (a restart, a full accept queue).
bool Transient(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE;
}

constexpr int kAttempts = 3;

// One call per server, all in flight together, over one completion queue. `start` begins server
// i's call; `send[i]` false skips it. Transient failures of idempotent calls are tried again.
// Counts the bytes of the calls that succeeded into `traffic` (may be null).
template <typename Request, typename Reply>
absl::Status CallAll(const char* method, const std::vector<std::string>& endpoints,
                     absl::Duration timeout, bool idempotent, const std::vector<Request>& requests,
                     const std::vector<bool>& send, std::vector<Reply>* replies,
                     PsTrafficCounters* traffic,
                     const std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<Reply>>(
                         int, grpc::ClientContext*, grpc::CompletionQueue*)>& start) {
  const int n = static_cast<int>(endpoints.size());
  replies->assign(n, Reply());
  std::vector<bool> pending = send;
  for (int attempt = 1;; ++attempt) {
    grpc::CompletionQueue cq;
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts(n);
    std::vector<std::unique_ptr<grpc::ClientAsyncResponseReader<Reply>>> calls(n);
    std::vector<grpc::Status> statuses(n);
    int in_flight = 0;
    for (int i = 0; i < n; ++i) {
      if (!pending[i]) continue;
      contexts[i] = std::make_unique<grpc::ClientContext>();
      contexts[i]->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
      calls[i] = start(i, contexts[i].get(), &cq);
      calls[i]->Finish(&(*replies)[i], &statuses[i], reinterpret_cast<void*>(intptr_t{i}));
      ++in_flight;
    }
    // The first call to fail for good cancels the others: the job cannot go on, and its error
    // (a gone server) is the one to report, not the waits it leaves the others in.
    auto final_failure = [&](const grpc::Status& status) {
      return !status.ok() && !(idempotent && Transient(status) && attempt < kAttempts);
    };
    std::vector<int> failed;  // in the order they failed
    std::vector<bool> cancelled(n, false);
    for (; in_flight > 0; --in_flight) {
      void* tag = nullptr;
      bool ok = false;
      if (!cq.Next(&tag, &ok)) break;
      const int i = static_cast<int>(reinterpret_cast<intptr_t>(tag));
      if (!final_failure(statuses[i]) || cancelled[i]) continue;
      failed.push_back(i);
      for (int j = 0; j < n; ++j) {
        if (j != i && pending[j] && contexts[j] != nullptr && !cancelled[j]) {
          cancelled[j] = true;
          contexts[j]->TryCancel();
        }
      }
    }
    bool retry = false;
    for (int i = 0; i < n; ++i) {
      if (!pending[i] || !failed.empty()) continue;
      const grpc::Status& status = statuses[i];
      if (status.ok()) {
        pending[i] = false;
        if (traffic != nullptr) {
          traffic->calls.fetch_add(1, std::memory_order_relaxed);
          traffic->bytes_sent.fetch_add(requests[i].ByteSizeLong(), std::memory_order_relaxed);
          traffic->bytes_received.fetch_add((*replies)[i].ByteSizeLong(),
                                            std::memory_order_relaxed);
        }
        continue;
      }
      retry = true;  // transient, and worth another try
    }
    if (!failed.empty()) {
      std::string message;
      for (int i : failed) {
        const grpc::Status& status = statuses[i];
        const char* hint = status.error_code() == grpc::StatusCode::UNAVAILABLE
                               ? " (hint: the server process is gone or unreachable)"
                           : status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
                               ? " (hint: the server or another worker is stuck or gone)"
                               : "";
        absl::StrAppend(&message, message.empty() ? "" : "; also ", "parameter server ", i, " (",
                        endpoints[i], "): ", method, ": ", status.error_message(), hint);
      }
      return absl::Status(FromGrpc(statuses[failed.front()]).code(), message);
    }
    if (!retry) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(200) * attempt);
  }
}

// OK when `endpoint` is host:port and its host resolves; else an error naming it (gRPC itself
// would keep retrying a name that never resolves until the connect deadline).
absl::Status CheckResolves(int server, const std::string& endpoint) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(endpoint);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter server ", server, ": ", parsed.status().message()));
  }
  std::string host = parsed->host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int error = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (found != nullptr) freeaddrinfo(found);
  if (error != 0) {
    return absl::InvalidArgumentError(absl::StrCat("parameter server ", server, " (", endpoint,
                                                   "): host \"", host,
                                                   "\" does not resolve: ", gai_strerror(error)));
  }
  return absl::OkStatus();
}

}  // namespace

PsClient::PsClient(PsClientOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<PsClient>> PsClient::Connect(PsClientOptions options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("no parameter server endpoints");
  }
  std::unique_ptr<PsClient> client(new PsClient(std::move(options)));
  const PsClientOptions& o = client->options_;
  grpc::ChannelArguments args;
  const int limit = static_cast<int>(std::min<int64_t>(o.max_message_bytes, INT32_MAX));
  args.SetMaxReceiveMessageSize(limit);
  args.SetMaxSendMessageSize(limit);
  for (int i = 0; i < static_cast<int>(o.endpoints.size()); ++i) {
    FLEET_RETURN_IF_ERROR(CheckResolves(i, o.endpoints[i]));
  }
  const absl::Time deadline = absl::Now() + o.connect_timeout;
  for (int i = 0; i < static_cast<int>(o.endpoints.size()); ++i) {
    auto server = std::make_unique<Server>();
    server->index = i;
    server->endpoint = o.endpoints[i];
    server->channel =
        grpc::CreateCustomChannel(o.endpoints[i], grpc::InsecureChannelCredentials(), args);
    server->stub = proto::ParameterServer::NewStub(server->channel);
    client->servers_.push_back(std::move(server));
  }
  // Ask each server who it is, retrying while it is not up yet.
  for (const auto& server : client->servers_) {
    proto::ControlRequest request;
    request.set_kind(proto::ControlRequest::HEARTBEAT);
    request.set_worker(o.worker);
    proto::ControlReply reply;
    grpc::Status status;
    for (;;) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(deadline));
      context.set_wait_for_ready(true);  // wait for the server to listen, up to the deadline
      status = server->stub->Control(&context, request, &reply);
      if (status.ok() || !Transient(status) || absl::Now() >= deadline) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    const std::string who =
        absl::StrCat("parameter server ", server->index, " (", server->endpoint, ")");
    if (!status.ok()) {
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED || Transient(status)) {
        return absl::UnavailableError(absl::StrCat(
            who, " did not answer within ", absl::FormatDuration(o.connect_timeout),
            " (hint: is it running, and is the endpoint right?): ", status.error_message()));
      }
      return absl::Status(FromGrpc(status).code(), absl::StrCat(who, ": ", status.error_message()));
    }
    client->num_workers_ = reply.num_workers();
    if (reply.server() != server->index || reply.num_servers() != client->num_servers()) {
      return absl::FailedPreconditionError(absl::StrCat(
          who, " says it is server ", reply.server(), " of ", reply.num_servers(),
          "; this worker lists ", client->num_servers(),
          " servers (hint: every process must get the same server list, in the same order)"));
    }
  }
  client->heartbeat_ = std::thread([c = client.get()] { c->HeartbeatLoop(); });
  return client;
}

PsClient::~PsClient() { StopHeartbeats(); }

void PsClient::StopHeartbeats() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void PsClient::HeartbeatLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.heartbeat_interval),
                            [this] { return stop_; })) {
    lock.unlock();
    for (const auto& server : servers_) {
      proto::ControlRequest request;
      request.set_kind(proto::ControlRequest::HEARTBEAT);
      request.set_worker(options_.worker);
      proto::ControlReply reply;
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + options_.heartbeat_interval * 5));
      // A lost heartbeat is not an error here: the data calls report a gone server, and name
      // it when their own error came from elsewhere (Annotate).
      server->silent = !server->stub->Control(&context, request, &reply).ok();
    }
    lock.lock();
  }
}

absl::Status PsClient::Annotate(absl::Status status) const {
  if (status.ok()) return status;
  std::string silent;
  for (const auto& server : servers_) {
    if (!server->silent) continue;
    const std::string who =
        absl::StrCat("parameter server ", server->index, " (", server->endpoint, ")");
    if (status.message().find(who + ":") != absl::string_view::npos) continue;  // named already
    absl::StrAppend(&silent, silent.empty() ? "" : ", ", who);
  }
  if (silent.empty()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(status.message(), "; meanwhile ", silent,
                                   " stopped answering heartbeats (hint: it is gone or "
                                   "unreachable, which may be the cause)"));
}

absl::Status PsClient::Push(const std::vector<proto::PushRequest>& requests) {
  std::vector<proto::PushReply> replies;
  // A sync push is safe to repeat (the server acknowledges a repeated step); an async one is not.
  return Annotate(CallAll<proto::PushRequest, proto::PushReply>(
      "Push", options_.endpoints, options_.rpc_timeout, /*idempotent=*/false, requests,
      std::vector<bool>(requests.size(), true), &replies, &traffic_,
      [&](int i, grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        return servers_[i]->stub->AsyncPush(context, requests[i], cq);
      }));
}

absl::Status PsClient::PullDense(const std::vector<proto::PullDenseRequest>& requests,
                                 std::vector<proto::PullDenseReply>* replies) {
  return Annotate(CallAll<proto::PullDenseRequest, proto::PullDenseReply>(
      "PullDense", options_.endpoints, options_.rpc_timeout, /*idempotent=*/true, requests,
      std::vector<bool>(requests.size(), true), replies, &traffic_,
      [&](int i, grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        return servers_[i]->stub->AsyncPullDense(context, requests[i], cq);
      }));
}

absl::Status PsClient::PullSparse(const std::vector<proto::PullSparseRequest>& requests,
                                  const std::vector<bool>& skip,
                                  std::vector<proto::PullSparseReply>* replies) {
  std::vector<bool> send(requests.size());
  for (size_t i = 0; i < send.size(); ++i) send[i] = !skip[i];
  return Annotate(CallAll<proto::PullSparseRequest, proto::PullSparseReply>(
      "PullSparse", options_.endpoints, options_.rpc_timeout, /*idempotent=*/true, requests, send,
      replies, &traffic_, [&](int i, grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        return servers_[i]->stub->AsyncPullSparse(context, requests[i], cq);
      }));
}

absl::Status PsClient::ControlAll(proto::ControlRequest::Kind kind, const std::string& path,
                                  absl::Duration timeout, const char* what) {
  std::vector<proto::ControlRequest> requests(servers_.size());
  for (proto::ControlRequest& r : requests) {
    r.set_kind(kind);
    r.set_worker(options_.worker);
    r.set_path(path);
  }
  std::vector<proto::ControlReply> replies;
  return CallAll<proto::ControlRequest, proto::ControlReply>(
      what, options_.endpoints, timeout, /*idempotent=*/true, requests,
      std::vector<bool>(requests.size(), true), &replies, /*traffic=*/nullptr,
      [&](int i, grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        return servers_[i]->stub->AsyncControl(context, requests[i], cq);
      });
}

PsTraffic PsClient::traffic() const {
  PsTraffic t;
  t.calls = traffic_.calls.load(std::memory_order_relaxed);
  t.bytes_sent = traffic_.bytes_sent.load(std::memory_order_relaxed);
  t.bytes_received = traffic_.bytes_received.load(std::memory_order_relaxed);
  return t;
}

absl::Status PsClient::Save(const std::string& dir) {
  return ControlAll(proto::ControlRequest::SAVE, dir, options_.rpc_timeout, "Control(SAVE)");
}

absl::Status PsClient::Done() {
  StopHeartbeats();
  return ControlAll(proto::ControlRequest::WORKER_DONE, "", absl::Seconds(30),
                    "Control(WORKER_DONE)");
}

}  // namespace fleet::ps
