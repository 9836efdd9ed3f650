// Failures of the collective runtime, each ending in an error within its deadline, never a hang
// or a crash: a rank that never joins, a rank that never issues the collective, and a rank whose
// process is killed (SIGKILL) while an allreduce or a reduce is in flight.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/collective/gloo_communicator.h"
#include "tests/runtime/collective/collective_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using testing::Await;
using testing::ChildProcess;
using testing::Group;
using testing::MakeStores;
using testing::RunRanks;
using testing::StoreKind;
using testing::TempFolder;
using SteadyClock = std::chrono::steady_clock;

TEST(CollectiveFailureTest, ARankThatNeverJoinsIsNamedAtTheRendezvousDeadline) {
  TempFolder folder;
  auto stores = MakeStores(StoreKind::kTcp, 3, folder.path());
  ASSERT_EQ(stores.size(), 3u);
  std::vector<absl::Status> results(2);
  const auto start = SteadyClock::now();
  RunRanks(2, [&](int rank) {  // ranks 0 and 1 of 3; rank 2 never comes
    GlooCommunicatorOptions options;
    options.rank = rank;
    options.size = 3;
    options.store = stores[rank];
    options.rendezvous_timeout = 1s;
    results[rank] = GlooCommunicator::Create(options).status();
  });
  EXPECT_LT(SteadyClock::now() - start, 6s);
  for (const absl::Status& s : results) {
    EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("timed out after 1s: rank 2 of 3 never arrived"));
  }
}

TEST(CollectiveFailureTest, ACollectiveThatOneRankNeverIssuesTimesOut) {
  Group group(StoreKind::kTcp, 2, [](GlooCommunicatorOptions& o) { o.timeout = 1s; });
  ASSERT_TRUE(group.ok());
  // Rank 1 is alive but issues nothing.
  Tensor t(DataType::kF32, {1000});
  const auto start = SteadyClock::now();
  absl::Status s = Await(group[0].AllReduce({t}, ReduceOp::kSum));
  const auto elapsed = SteadyClock::now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("allreduce: timed out after 1s waiting for rank 1"));
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 10s);
}

// Rank 0 here, ranks 1 .. size-1 in child processes allreducing (or with `reduce`, reducing onto
// rank 0) in a loop; `victim` is killed while rank 0's collective is in flight. Returns the error
// rank 0 ends with.
absl::Status KillOnePeerMidCollective(int size, int victim, bool reduce = false) {
  auto store = TcpStore::Serve("127.0.0.1", 0);
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return store.status();
  const std::string port = std::to_string((*store)->port());
  std::vector<std::unique_ptr<ChildProcess>> peers;
  for (int r = 1; r < size; ++r) {
    peers.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{FLEET_COLLECTIVE_PEER, std::to_string(r), std::to_string(size),
                                 port, reduce ? "reduce-loop" : "allreduce-loop"}));
  }
  GlooCommunicatorOptions options;
  options.rank = 0;
  options.size = size;
  options.store = *std::move(store);
  options.rendezvous_timeout = 30s;
  options.timeout = 60s;  // far beyond the test's bound: a failure here is not a timeout
  auto comm = GlooCommunicator::Create(options);
  EXPECT_TRUE(comm.ok()) << comm.status();
  if (!comm.ok()) return comm.status();

  const int64_t n = 1 << 20;
  auto ones = [n] {
    Tensor t(DataType::kF32, {n});
    for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = 1.f;
    return t;
  };
  const float sum = static_cast<float>(size * (size + 1) / 2);  // rank r adds r + 1
  // Rank 0's collective: the peers' loop's, with rank 0 as the reduce's root.
  auto issue = [&](Tensor t) {
    return reduce ? (*comm)->Reduce({std::move(t)}, ReduceOp::kSum, 0)
                  : (*comm)->AllReduce({std::move(t)}, ReduceOp::kSum);
  };
  const std::string op = reduce ? "reduce" : "allreduce";
  for (int step = 0; step < 3; ++step) {  // every peer is alive and adds its share
    Tensor t = ones();
    absl::Status s = Await(issue(t), 60s);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(t.data<float>()[0], sum);
    EXPECT_EQ(t.data<float>()[n - 1], sum);
  }

  // Kill the victim while our next allreduce is in flight. Should the kill land after the call's
  // last byte, the call after it fails instead.
  const auto start = SteadyClock::now();
  Tensor t = ones();
  auto in_flight = issue(t);
  EXPECT_TRUE(in_flight.ok());
  const int wait_status = peers[victim - 1]->Kill();
  EXPECT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL)
      << "the peer ended on its own (status " << wait_status << ")";
  absl::Status s = (*in_flight)->Wait(Clock::now() + 60s);
  if (s.ok()) s = Await(issue(ones()), 60s);
  EXPECT_LT(SteadyClock::now() - start, 20s);

  // The connections are gone: later calls fail at once, saying why.
  const auto later = SteadyClock::now();
  absl::Status after = Await((*comm)->Barrier(), 60s);
  EXPECT_LT(SteadyClock::now() - later, 1s);
  EXPECT_THAT(std::string(after.message()),
              HasSubstr("barrier: not run; an earlier collective failed: " + op + ": "));
  return s;
}

TEST(CollectiveFailureTest, ASurvivorsAllReduceFailsWhenItsPeerIsKilled) {
  absl::Status s = KillOnePeerMidCollective(2, 1);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("allreduce: rank 1 unreachable ("));
}

TEST(CollectiveFailureTest, ARootsReduceFailsWhenAPeerIsKilled) {
  absl::Status s = KillOnePeerMidCollective(3, 2, /*reduce=*/true);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              ::testing::ContainsRegex("reduce: rank [12] unreachable \\("));
}

TEST(CollectiveFailureTest, InAGroupOfThreeTheLostPeerIsNamedByItsAddress) {
  // With two peers there is no "the other one": the rank comes from the address in Gloo's
  // error. Rank 2 dies; rank 1 may notice first and leave too, so either may be named.
  absl::Status s = KillOnePeerMidCollective(3, 2);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()),
              ::testing::ContainsRegex("allreduce: rank [12] unreachable \\("));
}

}  // namespace
}  // namespace fleet
