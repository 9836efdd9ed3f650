// The parameter server's service over real gRPC on 127.0.0.1: sync merging, async updates,
// sparse rows, and every kind of bad request (each refused with a status while the server keeps
// serving). Updates use a closed-form SGD rule, so expected values are computed here.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/ps/client.h"
#include "runtime/ps/communicator.h"
#include "runtime/ps/ps.grpc.pb.h"
#include "runtime/ps/server_core.h"
#include "runtime/ps/service.h"
#include "runtime/ps/sharding.h"

namespace fleet::ps {
namespace {

using ::testing::HasSubstr;

constexpr float kLr = 0.5f;

// p -= lr * g; one rowwise state counts the updates each row had (to see which rows changed).
class CountingSgd final : public UpdateRule {
 public:
  absl::Status Apply(int64_t step, UpdateTensors& t) override {
    float* p = t.param.data<float>();
    const float* g = t.grad.data<float>();
    for (int64_t i = 0; i < t.param.numel(); ++i) p[i] -= kLr * g[i];
    for (Tensor& s : t.states) {
      for (int64_t i = 0; i < s.numel(); ++i) s.data<float>()[i] += 1;
    }
    last_step = step;
    return absl::OkStatus();
  }
  int64_t last_step = -1;
};

Tensor Filled(std::vector<int64_t> shape, float start) {
  Tensor t(DataType::kF32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}

std::string Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}
std::string IdBytes(const std::vector<int64_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t));
}
std::vector<float> Floats(const std::string& bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

// One server (index 0 of 1) with a dense block 7 of [2, 3] and a table 3 of width 2 whose model
// rows are [4, 2] (row r = {10r, 10r + 1}); workers talk to it through PsClient or a raw stub.
class PsServiceTest : public ::testing::Test {
 protected:
  void StartServer(SyncMode mode, int workers, absl::Duration heartbeat = absl::Seconds(60),
                   int64_t max_message = kDefaultMaxMessageBytes) {
    ServerCoreOptions options;
    options.num_workers = workers;
    options.mode = mode;
    options.heartbeat_timeout = heartbeat;
    std::vector<DenseBlockSpec> blocks(1);
    blocks[0].block_id = 7;
    blocks[0].value = Filled({2, 3}, 1.0f);
    SparseTableSpec table;
    table.table_id = 3;
    table.dim = 2;
    table.model_rows = Tensor(DataType::kF32, {4, 2});
    for (int r = 0; r < 4; ++r) {
      table.model_rows.data<float>()[2 * r] = 10.0f * r;
      table.model_rows.data<float>()[2 * r + 1] = 10.0f * r + 1;
    }
    table.state_rowwise = {true};
    table.state_init = {100.0f};
    blocks[0].states.push_back(Tensor::Zeros(DataType::kF32, {2, 3}));
    std::vector<SparseTableSpec> tables;
    tables.push_back(std::move(table));
    auto core = ServerCore::Create(options, std::move(blocks), std::move(tables), &rule_);
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = *std::move(core);
    auto service = PsService::Start("127.0.0.1:0", core_.get(), max_message);
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    endpoint_ = absl::StrCat("127.0.0.1:", service_->port());
  }

  std::unique_ptr<PsClient> Connect(int worker) {
    PsClientOptions options;
    options.endpoints = {endpoint_};
    options.worker = worker;
    options.connect_timeout = absl::Seconds(10);
    options.rpc_timeout = absl::Seconds(20);
    auto client = PsClient::Connect(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  std::unique_ptr<proto::ParameterServer::Stub> RawStub() {
    return proto::ParameterServer::NewStub(
        grpc::CreateChannel(endpoint_, grpc::InsecureChannelCredentials()));
  }

  static proto::PushRequest DensePush(int worker, int64_t step, std::vector<float> grad) {
    proto::PushRequest r;
    r.set_worker(worker);
    r.set_step(step);
    proto::DenseBlock* b = r.add_dense();
    b->set_block_id(7);
    b->set_values(Bytes(grad));
    return r;
  }

  std::vector<float> PullBlock(PsClient& client, int64_t step, bool wait) {
    std::vector<proto::PullDenseRequest> requests(1);
    requests[0].set_worker(client.worker());
    requests[0].set_step(step);
    requests[0].set_wait_for_step(wait);
    requests[0].add_block_ids(7);
    std::vector<proto::PullDenseReply> replies;
    absl::Status status = client.PullDense(requests, &replies);
    EXPECT_TRUE(status.ok()) << status;
    if (!status.ok()) return {};
    EXPECT_THAT(replies[0].dense(0).shape(), ::testing::ElementsAre(2, 3));
    return Floats(replies[0].dense(0).values());
  }

  // A valid request still works: the server survived whatever came before.
  void ExpectStillServing() {
    auto stub = RawStub();
    grpc::ClientContext context;
    proto::ControlRequest request;
    proto::ControlReply reply;
    grpc::Status status = stub->Control(&context, request, &reply);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  // Sends `request` raw and returns the status.
  grpc::Status RawPush(const proto::PushRequest& request) {
    auto stub = RawStub();
    grpc::ClientContext context;
    proto::PushReply reply;
    return stub->Push(&context, request, &reply);
  }

  CountingSgd rule_;
  std::unique_ptr<ServerCore> core_;
  std::unique_ptr<PsService> service_;
  std::string endpoint_;
};

TEST_F(PsServiceTest, SyncStepAppliesTheMeanOfTheWorkersGradientsOnce) {
  StartServer(SyncMode::kSync, 2);
  auto w0 = Connect(0);
  auto w1 = Connect(1);
  ASSERT_TRUE(w0 && w1);
  const std::vector<float> g0 = {1, 2, 3, 4, 5, 6}, g1 = {3, 2, 1, 0, -1, -2};
  ASSERT_TRUE(w0->Push({DensePush(0, 0, g0)}).ok());
  // Worker 0's pull of step 0 must wait for worker 1's push.
  auto pulled = std::async(std::launch::async, [&] { return PullBlock(*w0, 0, true); });
  EXPECT_EQ(pulled.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  ASSERT_TRUE(w1->Push({DensePush(1, 0, g1)}).ok());
  std::vector<float> got = pulled.get();
  ASSERT_EQ(got.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_FLOAT_EQ(got[i], (1.0f + i) - kLr * (g0[i] + g1[i]) / 2) << i;
  }
  EXPECT_EQ(rule_.last_step, 0);
}

TEST_F(PsServiceTest, ARepeatedPushIsIgnoredAndAnOutOfStepPushIsRefused) {
  StartServer(SyncMode::kSync, 2);
  const std::vector<float> g(6, 1.0f);
  ASSERT_TRUE(RawPush(DensePush(0, 4, g)).ok());
  ASSERT_TRUE(RawPush(DensePush(0, 4, g)).ok());  // a retry: counted once
  grpc::Status ahead = RawPush(DensePush(1, 5, g));
  EXPECT_EQ(ahead.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(ahead.error_message(), HasSubstr("collects step 4"));
  ASSERT_TRUE(RawPush(DensePush(1, 4, g)).ok());
  auto w0 = Connect(0);
  ASSERT_TRUE(w0);
  std::vector<float> got = PullBlock(*w0, 4, true);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_FLOAT_EQ(got[0], 1.0f - kLr * 1.0f);  // the mean of two 1s, not of three
  grpc::Status late = RawPush(DensePush(1, 3, g));
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(PsServiceTest, AsyncPushesApplyAsTheyCome) {
  StartServer(SyncMode::kAsync, 2);
  ASSERT_TRUE(RawPush(DensePush(0, 0, std::vector<float>(6, 1.0f))).ok());
  ASSERT_TRUE(RawPush(DensePush(0, 1, std::vector<float>(6, 2.0f))).ok());
  auto w1 = Connect(1);
  ASSERT_TRUE(w1);
  std::vector<float> got = PullBlock(*w1, 0, false);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_FLOAT_EQ(got[5], 6.0f - kLr * 3.0f);
  EXPECT_EQ(rule_.last_step, 1);
}

TEST_F(PsServiceTest, SparseRowsStartFromTheModelOrTheRowInitAndOnlyTouchedRowsChange) {
  StartServer(SyncMode::kAsync, 1);
  // Ids of this server (the only one), including one beyond the model's 4 rows and a 64-bit hash.
  const std::vector<int64_t> ids = {2, 0, int64_t{1} << 62};
  auto stub = RawStub();
  proto::PullSparseRequest pull;
  pull.add_tables()->set_table_id(3);
  pull.mutable_tables(0)->set_ids(IdBytes(ids));
  proto::PullSparseReply before;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->PullSparse(&context, pull, &before).ok());
  }
  EXPECT_THAT(Floats(before.tables(0).values()), ::testing::ElementsAre(20, 21, 0, 1, 0, 0));
  proto::PushRequest push;
  proto::SparseRows* rows = push.add_sparse();
  rows->set_table_id(3);
  rows->set_ids(IdBytes({2, 2, int64_t{1} << 62}));  // a repeated id adds up
  rows->set_values(Bytes({1, 1, 1, 3, 2, 4}));
  ASSERT_TRUE(RawPush(push).ok());
  proto::PullSparseReply after;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->PullSparse(&context, pull, &after).ok());
  }
  EXPECT_THAT(Floats(after.tables(0).values()),
              ::testing::ElementsAre(20 - kLr * 2, 21 - kLr * 4, 0, 1, -kLr * 2, -kLr * 4));
  EXPECT_EQ(core_->sparse_rows(), 3);  // rows touched, not the declared 4 + 2^62
}

// Found by ps_server_fuzz (UBSan: memcpy from an empty id list's null buffer): empty id lists
// are valid and touch nothing.
TEST_F(PsServiceTest, EmptyIdListsAreAnsweredWithEmptyRows) {
  StartServer(SyncMode::kAsync, 1);
  proto::PullSparseRequest pull;
  pull.add_tables()->set_table_id(3);
  proto::PullSparseReply reply;
  ASSERT_TRUE(core_->PullSparse(pull, &reply).ok());
  ASSERT_EQ(reply.tables_size(), 1);
  EXPECT_EQ(reply.tables(0).table_id(), 3);
  EXPECT_TRUE(reply.tables(0).values().empty());
  proto::PushRequest push;
  push.add_sparse()->set_table_id(3);
  EXPECT_TRUE(core_->Push(push).ok());
  EXPECT_EQ(core_->sparse_rows(), 0);
}

TEST_F(PsServiceTest, TheCommunicatorSendsEveryQueuedStepAndTracksTheDenseValues) {
  StartServer(SyncMode::kAsync, 1);
  auto w0 = Connect(0);
  ASSERT_TRUE(w0);
  CommunicatorOptions options;
  options.max_queued_steps = 2;  // Enqueue must wait for room at least once
  AsyncCommunicator communicator(w0.get(), options);
  std::vector<proto::PullDenseRequest> track(1);
  track[0].set_worker(0);
  track[0].add_block_ids(7);
  communicator.TrackDense(track);
  // Every step pushes the same gradients, so however the sender groups the queued steps, each
  // send carries their average, g, and the server takes one SGD step per send.
  const float g = 0.25f;
  for (int step = 0; step < 10; ++step) {
    proto::PushRequest push = DensePush(0, step, std::vector<float>(6, g));
    proto::SparseRows* rows = push.add_sparse();
    rows->set_table_id(3);
    rows->set_ids(IdBytes({1}));
    rows->set_values(Bytes({1, 0}));
    ASSERT_TRUE(communicator.Enqueue({push}).ok());
  }
  ASSERT_TRUE(communicator.Flush().ok());
  EXPECT_EQ(communicator.steps_sent(), 10);
  const int64_t sends = communicator.sends();
  EXPECT_GE(sends, 1);
  EXPECT_LE(sends, 10);
  std::vector<float> got = PullBlock(*w0, 0, false);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_NEAR(got[0], 1.0f - kLr * g * sends, 1e-5);
  int64_t version = 0;
  auto latest = communicator.LatestDense(&version);
  ASSERT_NE(latest, nullptr);
  EXPECT_NEAR(Floats((*latest)[0].dense(0).values())[0], 1.0f - kLr * g * sends, 1e-5);
  EXPECT_EQ(communicator.LatestDense(&version), nullptr);  // nothing newer
  proto::PullSparseRequest pull;
  pull.add_tables()->set_table_id(3);
  pull.mutable_tables(0)->set_ids(IdBytes({1}));
  proto::PullSparseReply row;
  grpc::ClientContext context;
  ASSERT_TRUE(RawStub()->PullSparse(&context, pull, &row).ok());
  EXPECT_THAT(Floats(row.tables(0).values()),
              ::testing::ElementsAre(::testing::FloatNear(10 - kLr * sends, 1e-5), 11));
}

TEST_F(PsServiceTest, TheCommunicatorPullsAfterEveryNthSendWhenAsked) {
  StartServer(SyncMode::kAsync, 1);
  auto w0 = Connect(0);
  ASSERT_TRUE(w0);
  CommunicatorOptions options;
  options.max_merged_steps = 1;  // one send per step, so sends are counted exactly
  AsyncCommunicator communicator(w0.get(), options);
  std::vector<proto::PullDenseRequest> track(1);
  track[0].set_worker(0);
  track[0].add_block_ids(7);
  communicator.TrackDense(track, 3, /*warmup=*/2);
  const float g = 0.25f;
  for (int step = 0; step < 10; ++step) {
    ASSERT_TRUE(communicator.Enqueue({DensePush(0, step, std::vector<float>(6, g))}).ok());
  }
  ASSERT_TRUE(communicator.Flush().ok());
  EXPECT_EQ(communicator.sends(), 10);
  EXPECT_EQ(communicator.pulls(), 5);  // after sends 1 and 2 (the warm-up), then 3, 6 and 9
  int64_t version = 0;
  auto latest = communicator.LatestDense(&version);
  ASSERT_NE(latest, nullptr);
  // The values as they were after the 9th update, not the 10th.
  EXPECT_NEAR(Floats((*latest)[0].dense(0).values())[0], 1.0f - kLr * g * 9, 1e-5);
  EXPECT_NEAR(PullBlock(*w0, 0, false)[0], 1.0f - kLr * g * 10, 1e-5);
}

TEST_F(PsServiceTest, BadRequestsAreRefusedAndTheServerKeepsServing) {
  StartServer(SyncMode::kAsync, 2);
  struct Case {
    const char* what;
    proto::PushRequest request;
    const char* message;
  };
  std::vector<Case> cases;
  cases.push_back({"short block", DensePush(0, 0, {1, 2, 3}), "12 bytes of gradient"});
  cases.push_back({"unknown block", DensePush(0, 0, std::vector<float>(6, 1)), "block 8"});
  cases.back().request.mutable_dense(0)->set_block_id(8);
  cases.push_back({"worker out of range", DensePush(5, 0, std::vector<float>(6, 1)), "worker 5"});
  cases.push_back({"negative step", DensePush(0, -3, std::vector<float>(6, 1)), "step -3"});
  proto::PushRequest sparse;
  sparse.add_sparse()->set_table_id(9);
  cases.push_back({"unknown table", sparse, "unknown table 9"});
  sparse.mutable_sparse(0)->set_table_id(3);
  sparse.mutable_sparse(0)->set_ids("12345");
  cases.push_back({"ids not whole i64", sparse, "not whole i64s"});
  sparse.mutable_sparse(0)->set_ids(IdBytes({1}));
  sparse.mutable_sparse(0)->set_values(Bytes({1, 2, 3}));
  cases.push_back({"row of the wrong width", sparse, "rows of 2 f32"});
  for (const Case& c : cases) {
    grpc::Status status = RawPush(c.request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.what;
  }
  // Nothing was applied.
  EXPECT_EQ(rule_.last_step, -1);
  // Garbage bytes where a request should be.
  grpc::GenericStub generic(grpc::CreateChannel(endpoint_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  const std::string garbage = "\xff\xff\xff\xff garbage";
  grpc::Slice slice(garbage);
  grpc::ByteBuffer request(&slice, 1), reply;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/fleet.ps.proto.ParameterServer/Push", grpc::StubOptions(), &request,
                    &reply, [&done](grpc::Status s) { done.set_value(s); });
  EXPECT_FALSE(done.get_future().get().ok());
  ExpectStillServing();
}

TEST_F(PsServiceTest, AnOversizedMessageIsRefusedWithTheLimit) {
  StartServer(SyncMode::kAsync, 1, absl::Seconds(60), /*max_message=*/1 << 20);
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  auto stub = proto::ParameterServer::NewStub(
      grpc::CreateCustomChannel(endpoint_, grpc::InsecureChannelCredentials(), args));
  proto::PushRequest big = DensePush(0, 0, std::vector<float>(6, 1));
  big.mutable_dense(0)->set_values(std::string(2 << 20, '\0'));
  grpc::ClientContext context;
  proto::PushReply reply;
  grpc::Status status = stub->Push(&context, big, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  ExpectStillServing();
}

TEST_F(PsServiceTest, ASilentWorkerFailsTheSyncStepNamingIt) {
  StartServer(SyncMode::kSync, 2, absl::Milliseconds(1500));
  auto w0 = Connect(0);
  ASSERT_TRUE(w0);
  ASSERT_TRUE(w0->Push({DensePush(0, 0, std::vector<float>(6, 1))}).ok());
  std::vector<proto::PullDenseRequest> requests(1);
  requests[0].set_worker(0);
  requests[0].set_step(0);
  requests[0].set_wait_for_step(true);
  requests[0].add_block_ids(7);
  std::vector<proto::PullDenseReply> replies;
  const absl::Time start = absl::Now();
  absl::Status status = w0->PullDense(requests, &replies);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("worker 1 sent nothing"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_FALSE(core_->WaitUntilWorkersDone().ok());
}

TEST_F(PsServiceTest, TheServerEndsWhenEveryWorkerIsDone) {
  StartServer(SyncMode::kSync, 2);
  auto w0 = Connect(0);
  auto w1 = Connect(1);
  ASSERT_TRUE(w0 && w1);
  auto waited = std::async(std::launch::async, [&] { return core_->WaitUntilWorkersDone(); });
  ASSERT_TRUE(w0->Done().ok());
  EXPECT_EQ(waited.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  ASSERT_TRUE(w1->Done().ok());
  EXPECT_TRUE(waited.get().ok());
}

TEST_F(PsServiceTest, APortInUseIsNamed) {
  StartServer(SyncMode::kSync, 1);
  auto second = PsService::Start(endpoint_, core_.get());
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(endpoint_));
}

TEST(PsClientTest, AServerThatNeverComesUpIsNamedAfterTheConnectTimeout) {
  // Nothing listens on port 1 (privileged, unused here).
  PsClientOptions options;
  options.endpoints = {"127.0.0.1:1"};
  options.connect_timeout = absl::Milliseconds(800);
  auto client = PsClient::Connect(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(client.status().message()),
              HasSubstr("parameter server 0 (127.0.0.1:1) did not answer"));
}

TEST(PsClientTest, AnEndpointThatDoesNotResolveIsNamedAtOnce) {
  PsClientOptions options;
  options.endpoints = {"127.0.0.1:1", "no-such-host.invalid:6000"};
  const absl::Time start = absl::Now();
  auto client = PsClient::Connect(options);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(std::string(client.status().message()),
              HasSubstr("parameter server 1 (no-such-host.invalid:6000): host "
                        "\"no-such-host.invalid\" does not resolve"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // not the two-minute connect deadline
}

TEST(ShardingTest, RowsSpreadOverServersAndShardsTheSameWayEverywhere) {
  // SplitMix64's finaliser of 0 (+ the golden gamma) is a published constant.
  EXPECT_EQ(MixId(0), 0xe220a8397b1dcdafULL);
  std::vector<int> per_server(3, 0);
  for (int64_t id = 0; id < 3000; ++id) ++per_server[ServerOfRow(id, 3)];
  for (int n : per_server) EXPECT_NEAR(n, 1000, 120);
}

}  // namespace
}  // namespace fleet::ps
