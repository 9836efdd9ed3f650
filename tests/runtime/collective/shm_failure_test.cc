// ShmCommunicator with real processes, and its failures, each ending in an error within its
// deadline, never a hang or a crash: ranks as processes checked against closed forms and Gloo; a
// rank that never joins, one that never issues the collective, one that closes early, and one
// whose process is killed (SIGKILL) while an allreduce or a reduce is in flight. Nothing is left
// in /dev/shm.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/collective/shm_communicator.h"
#include "tests/runtime/collective/collective_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using testing::Await;
using testing::ChildProcess;
using testing::MakeStores;
using testing::RunRanks;
using testing::ShmGroup;
using testing::StoreKind;
using testing::TempFolder;
using SteadyClock = std::chrono::steady_clock;

// `size` peers, every rank a process, in `mode`; returns their wait statuses (-1: killed at the
// deadline).
std::vector<int> RunPeers(int size, const std::string& mode) {
  auto store = TcpStore::Serve("127.0.0.1", 0);
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return {};
  const std::string port = std::to_string((*store)->port());
  std::vector<std::unique_ptr<ChildProcess>> peers;
  for (int r = 0; r < size; ++r) {
    peers.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
        FLEET_COLLECTIVE_PEER, std::to_string(r), std::to_string(size), port, mode}));
  }
  std::vector<int> statuses;
  const auto deadline = SteadyClock::now() + 240s;
  for (auto& peer : peers) {
    statuses.push_back(peer->Wait(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max(deadline - SteadyClock::now(), SteadyClock::duration(0)))));
  }
  return statuses;
}

class ShmProcessesTest : public ::testing::TestWithParam<int> {};

TEST_P(ShmProcessesTest, RanksAsProcessesAgreeWithClosedFormsAndGloo) {
  const std::vector<std::string> before = testing::FleetDevShmEntries();
  const std::vector<int> statuses = RunPeers(GetParam(), "shm-check");
  ASSERT_EQ(statuses.size(), static_cast<size_t>(GetParam()));
  for (size_t r = 0; r < statuses.size(); ++r) {
    EXPECT_TRUE(WIFEXITED(statuses[r]) && WEXITSTATUS(statuses[r]) == 0)
        << "rank " << r << " ended with wait status " << statuses[r] << " (see its stderr above)";
  }
  EXPECT_EQ(testing::FleetDevShmEntries(), before);
}

INSTANTIATE_TEST_SUITE_P(Ranks, ShmProcessesTest, ::testing::Values(2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat(info.param, "ranks");
                         });

TEST(ShmFailureTest, ARankThatNeverJoinsIsNamedAtTheRendezvousDeadline) {
  TempFolder folder;
  auto stores = MakeStores(StoreKind::kTcp, 3, folder.path());
  ASSERT_EQ(stores.size(), 3u);
  std::vector<absl::Status> results(2);
  const auto start = SteadyClock::now();
  RunRanks(2, [&](int rank) {  // ranks 0 and 1 of 3; rank 2 never comes
    ShmCommunicatorOptions options;
    options.rank = rank;
    options.size = 3;
    options.store = stores[rank];
    options.rendezvous_timeout = 1s;
    results[rank] = ShmCommunicator::Create(options).status();
  });
  EXPECT_LT(SteadyClock::now() - start, 6s);
  for (const absl::Status& s : results) {
    EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("timed out after 1s: rank 2 of 3 never arrived"));
  }
}

TEST(ShmFailureTest, RanksWithDifferentStagingSizesFailAtOnce) {
  TempFolder folder;
  auto stores = MakeStores(StoreKind::kTcp, 2, folder.path());
  ASSERT_EQ(stores.size(), 2u);
  std::vector<absl::Status> results(2);
  const auto start = SteadyClock::now();
  RunRanks(2, [&](int rank) {
    ShmCommunicatorOptions options;
    options.rank = rank;
    options.size = 2;
    options.store = stores[rank];
    options.rendezvous_timeout = 60s;  // far beyond the bound below: nobody waits it out
    options.staging_bytes = rank == 0 ? 64 << 10 : 32 << 10;
    results[rank] = ShmCommunicator::Create(options).status();
  });
  EXPECT_LT(SteadyClock::now() - start, 5s);
  EXPECT_TRUE(absl::IsInvalidArgument(results[1])) << results[1];
  EXPECT_THAT(std::string(results[1].message()),
              HasSubstr("rank 1: shared memory: rank 0's segment has"));
  EXPECT_THAT(std::string(results[1].message()),
              HasSubstr("(hint: staging_bytes must be the same on every rank)"));
  EXPECT_TRUE(absl::IsUnavailable(results[0])) << results[0];
  EXPECT_THAT(std::string(results[0].message()),
              HasSubstr("rank 0: connect: rank 1 stopped after an error of its own"));
}

TEST(ShmFailureTest, ACollectiveThatOneRankNeverIssuesTimesOutNamingIt) {
  // Ranks 0 and 1 allreduce; rank 2 is alive but issues nothing.
  ShmGroup group(StoreKind::kTcp, 3, [](ShmCommunicatorOptions& o) { o.timeout = 1s; });
  ASSERT_TRUE(group.ok());
  std::vector<absl::Status> results(2);
  const auto start = SteadyClock::now();
  RunRanks(2, [&](int rank) {
    Tensor t(DataType::kF32, {100000});
    results[rank] = Await(group[rank].AllReduce({t}, ReduceOp::kSum));
  });
  const auto elapsed = SteadyClock::now() - start;
  for (const absl::Status& s : results) {
    EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
    EXPECT_THAT(
        std::string(s.message()),
        HasSubstr("allreduce: timed out after 1s waiting for rank 2 (shared memory; hint:"));
  }
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 10s);
  // The communicator is unusable now, and says why at once.
  const auto later = SteadyClock::now();
  absl::Status after = Await(group[0].Barrier());
  EXPECT_LT(SteadyClock::now() - later, 1s);
  EXPECT_THAT(std::string(after.message()),
              HasSubstr("barrier: not run; an earlier collective failed: allreduce: timed out"));
}

TEST(ShmFailureTest, ARankThatClosesWhileOthersWaitIsNamed) {
  ShmGroup group(StoreKind::kFile, 2);
  ASSERT_TRUE(group.ok());
  Tensor t(DataType::kF32, {10});
  auto pending = group[0].AllReduce({t}, ReduceOp::kSum);
  ASSERT_TRUE(pending.ok());
  const auto start = SteadyClock::now();
  group.Close(1);
  absl::Status s = (*pending)->Wait(Clock::now() + 30s);
  EXPECT_LT(SteadyClock::now() - start, 5s);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("allreduce: rank 1 closed its communicator"));
}

// Rank 0 here, ranks 1 .. size-1 in child processes allreducing (or with `reduce`, reducing onto
// rank 0) in a loop over shared memory; `victim` is killed while rank 0's collective is in
// flight. Returns the error rank 0 ends with.
absl::Status KillOnePeerMidCollective(int size, int victim, bool reduce = false) {
  const std::vector<std::string> before = testing::FleetDevShmEntries();
  auto store = TcpStore::Serve("127.0.0.1", 0);
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return store.status();
  const std::string port = std::to_string((*store)->port());
  std::vector<std::unique_ptr<ChildProcess>> peers;
  for (int r = 1; r < size; ++r) {
    peers.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{FLEET_COLLECTIVE_PEER, std::to_string(r), std::to_string(size),
                                 port, reduce ? "shm-reduce-loop" : "shm-allreduce-loop"}));
  }
  ShmCommunicatorOptions options;
  options.rank = 0;
  options.size = size;
  options.store = *std::move(store);
  options.rendezvous_timeout = 30s;
  options.timeout = 60s;  // far beyond the test's bound: a failure here is not a timeout
  auto comm = ShmCommunicator::Create(options);
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
  // last wait, the call after it fails instead.
  const auto start = SteadyClock::now();
  Tensor t = ones();
  auto in_flight = issue(t);
  EXPECT_TRUE(in_flight.ok());
  const int wait_status = peers[victim - 1]->Kill();
  EXPECT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL)
      << "the peer ended on its own (status " << wait_status << ")";
  absl::Status s = (*in_flight)->Wait(Clock::now() + 60s);
  if (s.ok()) s = Await(issue(ones()), 60s);
  EXPECT_LT(SteadyClock::now() - start, 5s);

  // Later calls fail at once, saying why.
  const auto later = SteadyClock::now();
  absl::Status after = Await((*comm)->Barrier(), 60s);
  EXPECT_LT(SteadyClock::now() - later, 1s);
  EXPECT_THAT(std::string(after.message()),
              HasSubstr("barrier: not run; an earlier collective failed: " + op + ": "));
  peers.clear();
  comm->reset();
  EXPECT_EQ(testing::FleetDevShmEntries(), before);
  EXPECT_EQ(testing::SegmentMappings(), std::vector<std::string>());
  return s;
}

TEST(ShmFailureTest, ASurvivorsAllReduceFailsWhenItsPeerIsKilled) {
  absl::Status s = KillOnePeerMidCollective(2, 1);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("allreduce: rank 1 died (process "));
  EXPECT_THAT(std::string(s.message()), HasSubstr(" exited) after "));
}

TEST(ShmFailureTest, ARootsReduceFailsNamingTheKilledPeer) {
  absl::Status s = KillOnePeerMidCollective(3, 2, /*reduce=*/true);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("reduce: rank 2 died (process "));
}

TEST(ShmFailureTest, InAGroupOfFourTheKilledRankIsNamed) {
  // Rank 3 dies; ranks 1 and 2 notice too and give up, but the dead one is the news.
  absl::Status s = KillOnePeerMidCollective(4, 3);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("allreduce: rank 3 died (process "));
}

}  // namespace
}  // namespace fleet
