// GlooCommunicator with ranks as threads of this process, each with its own store client and
// communicator, over 127.0.0.1: every collective against a result the test computes itself, over
// both stores, 2, 3 and 4 ranks and both allreduce algorithms.
#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <tuple>
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
using testing::Group;
using testing::RunRanks;
using testing::StoreKind;

using testing::ExactValues;
using testing::MakeTensor;
using testing::Values;

using Param = std::tuple<StoreKind, int, AllReduceAlgorithm>;

class GlooCollectiveTest : public ::testing::TestWithParam<Param> {
 protected:
  StoreKind kind() const { return std::get<0>(GetParam()); }
  int world() const { return std::get<1>(GetParam()); }
  std::unique_ptr<Group> MakeGroup() {
    AllReduceAlgorithm algorithm = std::get<2>(GetParam());
    return std::make_unique<Group>(
        kind(), world(), [algorithm](GlooCommunicatorOptions& o) { o.algorithm = algorithm; });
  }

  // One fused allreduce of tensors of `sizes` elements on every rank, checked against the sum
  // (or mean) of every rank's values computed here.
  template <typename T>
  void CheckAllReduce(DataType dtype, const std::vector<int64_t>& sizes, ReduceOp op) {
    auto group = MakeGroup();
    ASSERT_TRUE(group->ok());
    const int n = world();
    RunRanks(n, [&](int rank) {
      std::vector<Tensor> bucket;
      for (size_t i = 0; i < sizes.size(); ++i) {
        bucket.push_back(MakeTensor(dtype, ExactValues<T>(rank, i, sizes[i]), {sizes[i]}));
      }
      absl::Status s = Await((*group)[rank].AllReduce(bucket, op));
      ASSERT_TRUE(s.ok()) << "rank " << rank << ": " << s;
      for (size_t i = 0; i < sizes.size(); ++i) {
        std::vector<T> expected(sizes[i], 0);
        for (int r = 0; r < n; ++r) {
          std::vector<T> theirs = ExactValues<T>(r, i, sizes[i]);
          for (int64_t j = 0; j < sizes[i]; ++j) expected[j] += theirs[j];
        }
        if (op == ReduceOp::kMean) {
          for (T& x : expected) x /= static_cast<T>(n);
        }
        EXPECT_EQ(Values<T>(bucket[i]), expected) << "rank " << rank << ", tensor " << i;
      }
    });
  }
};

TEST_P(GlooCollectiveTest, AllReduceSumOfABucketOfSeveralSizes) {
  CheckAllReduce<float>(DataType::kF32, {1, 7, 0, 1000, 70000}, ReduceOp::kSum);
}

TEST_P(GlooCollectiveTest, AllReduceMeanInF64) {
  CheckAllReduce<double>(DataType::kF64, {5, 300001}, ReduceOp::kMean);
}

TEST_P(GlooCollectiveTest, AllReduceResultsAreBitwiseEqualOnEveryRank) {
  // Arbitrary floats: sums depend on their order, so equal results mean one order for all ranks.
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  const int n = world();
  const int64_t count = 100003;
  std::vector<std::vector<float>> inputs(n), results(n);
  for (int r = 0; r < n; ++r) {
    std::mt19937 rng(r);
    std::normal_distribution<float> dist(0.f, 1.f);
    for (int64_t i = 0; i < count; ++i) inputs[r].push_back(dist(rng) * 1e3f);
  }
  RunRanks(n, [&](int rank) {
    Tensor t = MakeTensor(DataType::kF32, inputs[rank], {count});
    ASSERT_TRUE(Await((*group)[rank].AllReduce({t}, ReduceOp::kSum)).ok());
    results[rank] = Values<float>(t);
  });
  for (int r = 1; r < n; ++r) EXPECT_EQ(results[r], results[0]) << "rank " << r;
  for (int64_t i = 0; i < count; ++i) {
    double sum = 0;
    for (int r = 0; r < n; ++r) sum += inputs[r][i];
    ASSERT_NEAR(results[0][i], sum, 1e-3 + 1e-5 * std::abs(sum)) << "element " << i;
  }
}

TEST_P(GlooCollectiveTest, BroadcastOneTensorAndABucket) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  const int n = world();
  const int root = n - 1;
  RunRanks(n, [&](int rank) {
    Tensor single = MakeTensor(DataType::kF64, ExactValues<double>(rank, 0, 33), {3, 11});
    std::vector<Tensor> bucket = {
        MakeTensor(DataType::kF32, ExactValues<float>(rank, 1, 5), {5}),
        MakeTensor(DataType::kF32, ExactValues<float>(rank, 2, 4096), {64, 64})};
    ASSERT_TRUE(Await((*group)[rank].Broadcast({single}, 0)).ok());
    ASSERT_TRUE(Await((*group)[rank].Broadcast(bucket, root)).ok());
    EXPECT_EQ(Values<double>(single), ExactValues<double>(0, 0, 33));
    EXPECT_EQ(Values<float>(bucket[0]), ExactValues<float>(root, 1, 5));
    EXPECT_EQ(Values<float>(bucket[1]), ExactValues<float>(root, 2, 4096));
  });
}

TEST_P(GlooCollectiveTest, AllGatherOfBytesOfDifferentLengths) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  const int n = world();
  // Rank r sends r * 1000 bytes of value 'a' + r: rank 0 sends nothing.
  auto bytes_of = [](int r) { return std::string(r * 1000, static_cast<char>('a' + r)); };
  RunRanks(n, [&](int rank) {
    auto gathered = std::make_shared<std::vector<std::string>>();
    ASSERT_TRUE(Await((*group)[rank].AllGather(bytes_of(rank), gathered)).ok());
    ASSERT_EQ(gathered->size(), static_cast<size_t>(n));
    for (int r = 0; r < n; ++r) EXPECT_EQ((*gathered)[r], bytes_of(r)) << "from rank " << r;
    // Nobody sends anything: still one (empty) entry per rank.
    auto empty = std::make_shared<std::vector<std::string>>();
    ASSERT_TRUE(Await((*group)[rank].AllGather("", empty)).ok());
    EXPECT_EQ(*empty, std::vector<std::string>(n));
  });
}

TEST_P(GlooCollectiveTest, ReduceScatterLeavesEachRankItsPartReduced) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  testing::CheckReduceScatter(*group);
}

TEST_P(GlooCollectiveTest, BarrierReleasesNobodyBeforeEveryoneArrived) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  const int n = world();
  std::atomic<int> arrived{0};
  RunRanks(n, [&](int rank) {
    // The last rank comes late; a barrier that did not wait would let the others see fewer.
    if (rank == n - 1) std::this_thread::sleep_for(100ms);
    arrived.fetch_add(1);
    ASSERT_TRUE(Await((*group)[rank].Barrier()).ok());
    EXPECT_EQ(arrived.load(), n) << "rank " << rank << " left the barrier early";
  });
}

TEST_P(GlooCollectiveTest, ManyAsyncCallsRunInIssueOrder) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  const int n = world();
  constexpr int kCalls = 40;
  RunRanks(n, [&](int rank) {
    // Calls of different sizes, issued without waiting: mixed up, they would mismatch in size or
    // values across ranks.
    std::vector<Tensor> tensors;
    std::vector<std::shared_ptr<Event>> events;
    for (int k = 0; k < kCalls; ++k) {
      Tensor t = MakeTensor(DataType::kF32, std::vector<float>(1 + 37 * k, rank + k), {1 + 37 * k});
      auto e = k % 5 == 4 ? (*group)[rank].Broadcast({t}, k % n)
                          : (*group)[rank].AllReduce({t}, ReduceOp::kSum);
      ASSERT_TRUE(e.ok()) << e.status();
      tensors.push_back(t);
      events.push_back(*e);
    }
    for (int k = kCalls - 1; k >= 0; --k) {
      ASSERT_TRUE(events[k]->Wait(Clock::now() + 30s).ok()) << "call " << k;
      for (int j = 0; j < k; ++j) EXPECT_TRUE(events[j]->Ready()) << j << " after " << k;
      const float expected =
          k % 5 == 4 ? static_cast<float>(k % n + k) : static_cast<float>(n * k + n * (n - 1) / 2);
      EXPECT_EQ(Values<float>(tensors[k]), std::vector<float>(1 + 37 * k, expected))
          << "call " << k;
    }
  });
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  const AllReduceAlgorithm a = std::get<2>(info.param);
  return absl::StrCat(testing::StoreKindName(std::get<0>(info.param)), "_", std::get<1>(info.param),
                      "ranks_",
                      a == AllReduceAlgorithm::kAuto    ? "auto"
                      : a == AllReduceAlgorithm::kBcube ? "bcube"
                                                        : "ring");
}

INSTANTIATE_TEST_SUITE_P(
    Tcp, GlooCollectiveTest,
    ::testing::Combine(::testing::Values(StoreKind::kTcp), ::testing::Values(2, 3, 4),
                       ::testing::Values(AllReduceAlgorithm::kBcube, AllReduceAlgorithm::kRing)),
    ParamName);
INSTANTIATE_TEST_SUITE_P(File, GlooCollectiveTest,
                         ::testing::Combine(::testing::Values(StoreKind::kFile),
                                            ::testing::Values(2, 4),
                                            ::testing::Values(AllReduceAlgorithm::kAuto)),
                         ParamName);

TEST(GlooCommunicatorTest, BucketsLargerThanOnePieceAreReducedWhole) {
  // 17M floats (68 MB): two pieces of the 64 MiB limit, the second one short.
  Group group(StoreKind::kTcp, 2);
  ASSERT_TRUE(group.ok());
  const int64_t count = 17 << 20;
  RunRanks(2, [&](int rank) {
    Tensor t(DataType::kF32, {count});
    float* p = t.data<float>();
    for (int64_t i = 0; i < count; ++i) p[i] = static_cast<float>((i % 1024) * (rank + 1));
    ASSERT_TRUE(Await(group[rank].AllReduce({t}, ReduceOp::kMean), 120s).ok());
    int64_t wrong = 0;
    for (int64_t i = 0; i < count; ++i) wrong += p[i] != static_cast<float>(i % 1024) * 1.5f;
    EXPECT_EQ(wrong, 0) << "rank " << rank;
  });
}

TEST(GlooCommunicatorTest, ArgumentErrorsComeAtOnce) {
  Group group(StoreKind::kTcp, 2);
  ASSERT_TRUE(group.ok());
  GlooCommunicator& comm = group[0];
  Tensor ints(DataType::kI64, {3});
  auto s = comm.AllReduce({ints}, ReduceOp::kSum);
  EXPECT_TRUE(absl::IsInvalidArgument(s.status()));
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("allreduce: tensor 0 is i64[3]; expected f32 or f64"));
  s = comm.AllReduce({Tensor(DataType::kF32, {2}), Tensor(DataType::kF64, {2})}, ReduceOp::kSum);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("tensor 1 is f64[2]; expected f32 like tensor 0"));
  s = comm.Broadcast({Tensor(DataType::kF32, {2})}, 2);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("broadcast: root 2 is not a rank of this group of 2"));
  s = comm.ReduceScatter(Tensor(DataType::kF32, {5}), ReduceOp::kSum);
  EXPECT_TRUE(absl::IsInvalidArgument(s.status()));
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("reduce_scatter: f32[5] has 5 elements, which do not split into 2 equal "
                        "parts, one per rank"));
  s = comm.ReduceScatter(Tensor(DataType::kI64, {4}), ReduceOp::kSum);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("reduce_scatter: tensor 0 is i64[4]; expected f32 or f64"));
  // Nothing was queued: the group still works.
  RunRanks(2, [&](int rank) { EXPECT_TRUE(Await(group[rank].Barrier()).ok()); });
}

TEST(GlooCommunicatorTest, StatsCountEveryCollectiveAndTheTimeItKeptTheWorkerBusy) {
  Group group(StoreKind::kTcp, 2);
  ASSERT_TRUE(group.ok());
  constexpr int kAllReduces = 3;
  constexpr auto kLate = 300ms;  // rank 1 comes this late to the barrier
  CompletionEvent rank0_at_barrier;
  std::chrono::nanoseconds rank0_barrier_wall{0};
  RunRanks(2, [&](int rank) {
    GlooCommunicator& comm = group[rank];
    for (int k = 0; k < kAllReduces; ++k) {
      // A bucket of f32[10] and f32[5]: 60 bytes.
      ASSERT_TRUE(Await(comm.AllReduce({Tensor(DataType::kF32, {10}), Tensor(DataType::kF32, {5})},
                                       ReduceOp::kSum))
                      .ok());
    }
    ASSERT_TRUE(Await(comm.Broadcast({Tensor(DataType::kF64, {4})}, 0)).ok());
    ASSERT_TRUE(Await(comm.ReduceScatter(Tensor(DataType::kF32, {6}), ReduceOp::kSum)).ok());
    auto gathered = std::make_shared<std::vector<std::string>>();
    ASSERT_TRUE(Await(comm.AllGather(rank == 0 ? "abc" : "defgh", gathered)).ok());
    if (rank == 1) {
      ASSERT_TRUE(rank0_at_barrier.Wait(Clock::now() + 30s).ok());
      std::this_thread::sleep_for(kLate);
      ASSERT_TRUE(Await(comm.Barrier()).ok());
    } else {
      const auto start = Clock::now();
      auto barrier = comm.Barrier();
      rank0_at_barrier.Complete();
      ASSERT_TRUE(Await(barrier).ok());
      rank0_barrier_wall = Clock::now() - start;
    }
  });
  for (int rank = 0; rank < 2; ++rank) {
    SCOPED_TRACE(absl::StrCat("rank ", rank));
    const CommunicatorStats stats = group[rank].stats();
    const CollectiveTotals& allreduce = stats[CollectiveKind::kAllReduce];
    EXPECT_EQ(allreduce.calls, kAllReduces);
    EXPECT_EQ(allreduce.bytes, kAllReduces * 15 * 4);
    EXPECT_GT(allreduce.busy.count(), 0);
    EXPECT_EQ(stats[CollectiveKind::kBroadcast].calls, 1);
    EXPECT_EQ(stats[CollectiveKind::kBroadcast].bytes, 4 * 8);
    EXPECT_EQ(stats[CollectiveKind::kAllGather].calls, 1);
    EXPECT_EQ(stats[CollectiveKind::kAllGather].bytes, rank == 0 ? 3 : 5);
    EXPECT_EQ(stats[CollectiveKind::kBarrier].calls, 1);
    EXPECT_EQ(stats[CollectiveKind::kBarrier].bytes, 0);
    EXPECT_EQ(stats[CollectiveKind::kReduceScatter].calls, 1);
    EXPECT_EQ(stats[CollectiveKind::kReduceScatter].bytes, 6 * 4);
  }
  // Rank 0's barrier kept its worker busy while rank 1 slept (wide margin: the worker may take
  // the call up a little late), and never longer than the caller saw it take.
  const std::chrono::nanoseconds busy = group[0].stats()[CollectiveKind::kBarrier].busy;
  EXPECT_GE(busy, kLate / 2);
  EXPECT_LE(busy, rank0_barrier_wall);
}

TEST(CollectiveStatsTest, HiddenShareDifferenceAndTotal) {
  EXPECT_DOUBLE_EQ(HiddenShare(4s, 1s), 0.75);
  EXPECT_DOUBLE_EQ(HiddenShare(4s, 0s), 1.0);
  EXPECT_DOUBLE_EQ(HiddenShare(4s, 5s), 0.0);  // a wait also covers handing the event over
  EXPECT_DOUBLE_EQ(HiddenShare(0s, 0s), 1.0);  // nothing to hide
  EXPECT_EQ(CollectiveKindName(CollectiveKind::kAllReduce), "allreduce");
  // What happened between two snapshots, and all kinds together.
  CommunicatorStats before, after;
  before.kinds[static_cast<int>(CollectiveKind::kBroadcast)] = {1, 100, 2s};
  after.kinds[static_cast<int>(CollectiveKind::kBroadcast)] = {3, 300, 5s};
  after.kinds[static_cast<int>(CollectiveKind::kAllReduce)] = {4, 40, 1s};
  const CommunicatorStats steps = Difference(after, before);
  EXPECT_EQ(steps[CollectiveKind::kBroadcast].calls, 2);
  EXPECT_EQ(steps[CollectiveKind::kBroadcast].bytes, 200);
  EXPECT_EQ(steps[CollectiveKind::kBroadcast].busy, 3s);
  EXPECT_EQ(steps[CollectiveKind::kAllReduce].calls, 4);
  const CollectiveTotals all = Total(steps);
  EXPECT_EQ(all.calls, 6);
  EXPECT_EQ(all.bytes, 240);
  EXPECT_EQ(all.busy, 4s);
  EXPECT_EQ(CollectiveKindName(CollectiveKind::kBarrier), "barrier");
  EXPECT_EQ(CollectiveKindName(CollectiveKind::kReduceScatter), "reduce_scatter");
}

TEST(GlooCommunicatorTest, AGroupOfOneNeedsNoPeers) {
  Group group(StoreKind::kFile, 1);
  ASSERT_TRUE(group.ok());
  Tensor t = MakeTensor(DataType::kF32, std::vector<float>{1.5f, -2.f}, {2});
  ASSERT_TRUE(Await(group[0].AllReduce({t}, ReduceOp::kMean)).ok());
  EXPECT_EQ(Values<float>(t), (std::vector<float>{1.5f, -2.f}));
  auto gathered = std::make_shared<std::vector<std::string>>();
  ASSERT_TRUE(Await(group[0].AllGather("me", gathered)).ok());
  EXPECT_EQ(*gathered, std::vector<std::string>{"me"});
}

}  // namespace
}  // namespace fleet
