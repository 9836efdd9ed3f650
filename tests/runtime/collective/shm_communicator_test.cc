// ShmCommunicator with ranks as threads of this process: every collective against a result the
// test computes itself, 2, 3 and 4 ranks, buckets many times the staging area; results bitwise
// equal to GlooCommunicator's for the same inputs (random floats, whose sums depend on the
// order) with each of Gloo's algorithms; and the choice of transport (CreateCommunicator).
#include "runtime/collective/shm_communicator.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/collective/create_communicator.h"
#include "tests/runtime/collective/collective_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using testing::Await;
using testing::ExactValues;
using testing::Group;
using testing::MakeTensor;
using testing::RunRanks;
using testing::ShmGroup;
using testing::StoreKind;
using testing::Values;

// A staging area of 16 KiB per rank: two buffers of 8 KiB (less a header line), so that most
// buckets below go through in many pieces.
constexpr size_t kSmallStaging = 16 << 10;

std::string AlgorithmName(AllReduceAlgorithm a) {
  return a == AllReduceAlgorithm::kAuto    ? "auto"
         : a == AllReduceAlgorithm::kBcube ? "bcube"
                                           : "ring";
}

class ShmCollectiveTest : public ::testing::TestWithParam<int> {
 protected:
  int world() const { return GetParam(); }
  std::unique_ptr<ShmGroup> MakeGroup(size_t staging = kSmallStaging) {
    return std::make_unique<ShmGroup>(
        StoreKind::kTcp, world(),
        [staging](ShmCommunicatorOptions& o) { o.staging_bytes = staging; });
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

TEST_P(ShmCollectiveTest, AllReduceSumOfABucketOfSeveralSizes) {
  // 71,008 floats: about 35 pieces of the small staging area.
  CheckAllReduce<float>(DataType::kF32, {1, 7, 0, 1000, 70000}, ReduceOp::kSum);
}

TEST_P(ShmCollectiveTest, AllReduceMeanInF64) {
  CheckAllReduce<double>(DataType::kF64, {5, 300001}, ReduceOp::kMean);
}

TEST_P(ShmCollectiveTest, AllReduceOfOneElementAndOfNone) {
  CheckAllReduce<float>(DataType::kF32, {1}, ReduceOp::kSum);
  CheckAllReduce<double>(DataType::kF64, {0, 0}, ReduceOp::kMean);
}

TEST_P(ShmCollectiveTest, BroadcastOneTensorAndABucket) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  const int n = world();
  const int root = n - 1;
  RunRanks(n, [&](int rank) {
    Tensor single = MakeTensor(DataType::kF64, ExactValues<double>(rank, 0, 33), {3, 11});
    std::vector<Tensor> bucket = {
        MakeTensor(DataType::kF32, ExactValues<float>(rank, 1, 5), {5}),
        MakeTensor(DataType::kF32, ExactValues<float>(rank, 2, 40000), {200, 200})};
    ASSERT_TRUE(Await((*group)[rank].Broadcast({single}, 0)).ok());
    ASSERT_TRUE(Await((*group)[rank].Broadcast(bucket, root)).ok());
    EXPECT_EQ(Values<double>(single), ExactValues<double>(0, 0, 33));
    EXPECT_EQ(Values<float>(bucket[0]), ExactValues<float>(root, 1, 5));
    EXPECT_EQ(Values<float>(bucket[1]), ExactValues<float>(root, 2, 40000));
  });
}

TEST_P(ShmCollectiveTest, AllGatherOfBytesOfDifferentLengths) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  const int n = world();
  // Rank r sends r * 10000 bytes (several staging buffers) of a pattern of its own; rank 0 sends
  // nothing.
  auto bytes_of = [](int r) {
    std::string s(r * 10000, '\0');
    for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>('a' + r + i % 7);
    return s;
  };
  RunRanks(n, [&](int rank) {
    auto gathered = std::make_shared<std::vector<std::string>>();
    ASSERT_TRUE(Await((*group)[rank].AllGather(bytes_of(rank), gathered)).ok());
    ASSERT_EQ(gathered->size(), static_cast<size_t>(n));
    for (int r = 0; r < n; ++r) EXPECT_EQ((*gathered)[r], bytes_of(r)) << "from rank " << r;
    auto empty = std::make_shared<std::vector<std::string>>();
    ASSERT_TRUE(Await((*group)[rank].AllGather("", empty)).ok());
    EXPECT_EQ(*empty, std::vector<std::string>(n));
  });
}

TEST_P(ShmCollectiveTest, ReduceScatterLeavesEachRankItsPartReduced) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  testing::CheckReduceScatter(*group);
}

TEST_P(ShmCollectiveTest, BarrierReleasesNobodyBeforeEveryoneArrived) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  const int n = world();
  std::atomic<int> arrived{0};
  RunRanks(n, [&](int rank) {
    for (int round = 1; round <= 3; ++round) {
      // The last rank comes late; a barrier that did not wait would let the others see fewer.
      if (rank == n - 1) std::this_thread::sleep_for(50ms);
      arrived.fetch_add(1);
      ASSERT_TRUE(Await((*group)[rank].Barrier()).ok());
      EXPECT_GE(arrived.load(), round * n) << "rank " << rank << " left barrier " << round;
      // Nobody may pass the next barrier before everyone left this one.
      ASSERT_TRUE(Await((*group)[rank].Barrier()).ok());
    }
  });
}

TEST_P(ShmCollectiveTest, ManyAsyncCallsRunInIssueOrder) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  const int n = world();
  constexpr int kCalls = 40;
  RunRanks(n, [&](int rank) {
    // Calls of different sizes, some longer than a staging buffer, issued without waiting.
    std::vector<Tensor> tensors;
    std::vector<std::shared_ptr<Event>> events;
    for (int k = 0; k < kCalls; ++k) {
      const int64_t count = 1 + 137 * k;
      Tensor t = MakeTensor(DataType::kF32, std::vector<float>(count, rank + k), {count});
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
      EXPECT_EQ(Values<float>(tensors[k]), std::vector<float>(1 + 137 * k, expected))
          << "call " << k;
    }
  });
}

TEST_P(ShmCollectiveTest, MismatchedCollectivesFailOnEveryRankNamingBoth) {
  auto group = MakeGroup();
  ASSERT_TRUE(group->ok());
  const int n = world();
  std::vector<absl::Status> results(n);
  RunRanks(n, [&](int rank) {
    Tensor t = MakeTensor(DataType::kF32, std::vector<float>(100, 1.f), {100});
    // The last rank broadcasts where the others allreduce.
    results[rank] = Await(rank == n - 1 ? (*group)[rank].Broadcast({t}, 0)
                                        : (*group)[rank].AllReduce({t}, ReduceOp::kSum));
  });
  for (int r = 0; r < n; ++r) {
    const absl::Status& s = results[r];
    EXPECT_FALSE(s.ok()) << "rank " << r;
    if (r < n - 1) {
      // Each allreducing rank reads the others' headers and names the broadcasting one.
      EXPECT_TRUE(absl::IsFailedPrecondition(s)) << "rank " << r << ": " << s;
      EXPECT_THAT(std::string(s.message()),
                  HasSubstr(absl::StrCat("allreduce: rank ", n - 1,
                                         " is in broadcast from rank 0 of 100 f32 elements")));
      EXPECT_THAT(std::string(s.message()),
                  HasSubstr("while this rank is in allreduce (sum) of 100 f32 elements"));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, ShmCollectiveTest, ::testing::Values(2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat(info.param, "ranks");
                         });

// Bitwise equality with Gloo: the same random inputs through a Gloo group and a shared-memory
// group that follows that Gloo algorithm's order.
using GlooParam = std::tuple<int, AllReduceAlgorithm>;

class ShmMatchesGlooTest : public ::testing::TestWithParam<GlooParam> {
 protected:
  int world() const { return std::get<0>(GetParam()); }
  AllReduceAlgorithm algorithm() const { return std::get<1>(GetParam()); }

  // Rank r's bucket of `sizes` tensors: normal values of widely different magnitudes, so that
  // almost every sum depends on the order of its additions.
  template <typename T>
  static std::vector<std::vector<T>> RandomInputs(int rank, const std::vector<int64_t>& sizes) {
    std::mt19937 rng(7 + rank);
    std::normal_distribution<T> dist(0, 1);
    std::uniform_int_distribution<int> exponent(-8, 8);
    std::vector<std::vector<T>> values;
    for (int64_t size : sizes) {
      std::vector<T> v(size);
      for (T& x : v) x = std::ldexp(dist(rng), exponent(rng));
      values.push_back(std::move(v));
    }
    return values;
  }

  // The results, by rank and tensor, of one allreduce of the inputs in `comm_of(rank)`.
  template <typename T, typename CommOf>
  std::vector<std::vector<std::vector<T>>> Run(DataType dtype, const std::vector<int64_t>& sizes,
                                               ReduceOp op, CommOf comm_of) {
    const int n = world();
    std::vector<std::vector<std::vector<T>>> results(n);
    RunRanks(n, [&](int rank) {
      std::vector<Tensor> bucket;
      std::vector<std::vector<T>> inputs = RandomInputs<T>(rank, sizes);
      for (size_t i = 0; i < sizes.size(); ++i) {
        bucket.push_back(MakeTensor(dtype, inputs[i], {sizes[i]}));
      }
      absl::Status s = Await(comm_of(rank).AllReduce(bucket, op), 120s);
      ASSERT_TRUE(s.ok()) << "rank " << rank << ": " << s;
      for (const Tensor& t : bucket) results[rank].push_back(Values<T>(t));
    });
    return results;
  }

  template <typename T>
  void CheckBitwiseEqual(DataType dtype, const std::vector<int64_t>& sizes, ReduceOp op,
                         size_t staging = kSmallStaging) {
    const int n = world();
    const AllReduceAlgorithm a = algorithm();
    std::vector<std::vector<std::vector<T>>> gloo, shm;
    {
      Group group(StoreKind::kTcp, n, [a](GlooCommunicatorOptions& o) { o.algorithm = a; });
      ASSERT_TRUE(group.ok());
      gloo = Run<T>(dtype, sizes, op, [&](int r) -> Communicator& { return group[r]; });
    }
    {
      ShmGroup group(StoreKind::kTcp, n, [a, staging](ShmCommunicatorOptions& o) {
        o.algorithm = a;
        o.staging_bytes = staging;
      });
      ASSERT_TRUE(group.ok());
      shm = Run<T>(dtype, sizes, op, [&](int r) -> Communicator& { return group[r]; });
    }
    int64_t order_sensitive = 0, compared = 0;
    for (int rank = 0; rank < n; ++rank) {
      ASSERT_EQ(shm[rank].size(), sizes.size());
      for (size_t i = 0; i < sizes.size(); ++i) {
        // Bitwise: compare the bytes, so that -0 and +0 (or NaN payloads) would differ too.
        ASSERT_EQ(shm[rank][i].size(), gloo[rank][i].size());
        int64_t differ = 0;
        for (size_t j = 0; j < shm[rank][i].size(); ++j) {
          differ += std::memcmp(&shm[rank][i][j], &gloo[rank][i][j], sizeof(T)) != 0;
        }
        EXPECT_EQ(differ, 0) << "rank " << rank << ", tensor " << i << " of " << sizes[i];
        EXPECT_EQ(shm[rank][i], shm[0][i]) << "rank " << rank << " differs from rank 0";
      }
    }
    // Sanity of the inputs: summed left to right in rank order (without any division), a good
    // share of the elements differ from Gloo's result, so equality above was not a given.
    if (n >= 3 && op == ReduceOp::kSum) {
      std::vector<std::vector<std::vector<T>>> all(n);
      for (int r = 0; r < n; ++r) all[r] = RandomInputs<T>(r, sizes);
      for (size_t i = 0; i < sizes.size(); ++i) {
        for (int64_t j = 0; j < sizes[i]; ++j) {
          T plain = 0;
          for (int r = 0; r < n; ++r) plain += all[r][i][j];
          ++compared;
          order_sensitive += plain != gloo[0][i][j];
        }
      }
      EXPECT_GT(order_sensitive, compared / 100) << "the inputs do not tell orders apart";
    }
  }
};

TEST_P(ShmMatchesGlooTest, F32SumOfABucketIsBitwiseEqual) {
  // 100,003 + 600,001 floats: 2.8 MB, a single bcube or ring piece of Gloo, many of ours.
  CheckBitwiseEqual<float>(DataType::kF32, {100003, 3, 600001}, ReduceOp::kSum);
}

TEST_P(ShmMatchesGlooTest, F64MeanIsBitwiseEqual) {
  CheckBitwiseEqual<double>(DataType::kF64, {250007}, ReduceOp::kMean, size_t{1} << 20);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, ShmMatchesGlooTest,
                         ::testing::Combine(::testing::Values(2, 3, 4),
                                            ::testing::Values(AllReduceAlgorithm::kAuto,
                                                              AllReduceAlgorithm::kBcube,
                                                              AllReduceAlgorithm::kRing)),
                         [](const ::testing::TestParamInfo<GlooParam>& info) {
                           return absl::StrCat(std::get<0>(info.param), "ranks_",
                                               AlgorithmName(std::get<1>(info.param)));
                         });

// Buckets past the size from which results are written around the caches (stream_store.h).
using ShmMatchesGlooLargeTest = ShmMatchesGlooTest;

TEST_P(ShmMatchesGlooLargeTest, BucketsPastTheStreamingSizeAreBitwiseEqual) {
  CheckBitwiseEqual<double>(DataType::kF64, {7, 4500001}, ReduceOp::kMean, size_t{4} << 20);
}

INSTANTIATE_TEST_SUITE_P(ThreeRanks, ShmMatchesGlooLargeTest,
                         ::testing::Values(GlooParam{3, AllReduceAlgorithm::kAuto}));

TEST(ShmCommunicatorTest, BucketsOverGloosPieceFollowItsPiecesBitwise) {
  // 17M floats (68 MB) over 3 ranks: Gloo reduces a 64 MiB ring piece, then a 4 MiB one, each
  // with chunks of its own; the shared-memory path (default staging, results streamed) must
  // follow both.
  const int n = 3;
  const int64_t count = 17 << 20;
  auto input = [](int rank, int64_t i) {
    // Cheap, order-sensitive values: magnitudes spread over 2^-8 .. 2^8.
    const uint32_t h = static_cast<uint32_t>(i * 2654435761u) ^ static_cast<uint32_t>(rank * 40503);
    return std::ldexp(static_cast<float>(h % 10007) / 10007.f - 0.5f, static_cast<int>(h % 17) - 8);
  };
  std::vector<std::vector<float>> gloo(n), shm(n);
  auto run = [&](auto& group, std::vector<std::vector<float>>& out) {
    RunRanks(n, [&](int rank) {
      Tensor t(DataType::kF32, {count});
      float* p = t.data<float>();
      for (int64_t i = 0; i < count; ++i) p[i] = input(rank, i);
      ASSERT_TRUE(Await(group[rank].AllReduce({t}, ReduceOp::kSum), 300s).ok());
      out[rank] = Values<float>(t);
    });
  };
  {
    Group group(StoreKind::kTcp, n);
    ASSERT_TRUE(group.ok());
    run(group, gloo);
  }
  {
    ShmGroup group(StoreKind::kTcp, n);
    ASSERT_TRUE(group.ok());
    run(group, shm);
  }
  for (int r = 0; r < n; ++r) {
    int64_t differ = 0;
    for (int64_t i = 0; i < count; ++i) {
      differ += std::memcmp(&shm[r][i], &gloo[r][i], sizeof(float)) != 0;
    }
    EXPECT_EQ(differ, 0) << "rank " << r;
  }
}

TEST(ShmCommunicatorTest, TheSmallestStagingAreaStillReducesWhole) {
  // 4 KiB of staging: pieces of 496 floats; 3 ranks slice them in whole cache lines.
  ShmGroup group(StoreKind::kFile, 3, [](ShmCommunicatorOptions& o) { o.staging_bytes = 4096; });
  ASSERT_TRUE(group.ok());
  const int64_t count = 100000;
  RunRanks(3, [&](int rank) {
    Tensor t(DataType::kF32, {count});
    float* p = t.data<float>();
    for (int64_t i = 0; i < count; ++i) p[i] = static_cast<float>((i % 1024) * (rank + 1));
    ASSERT_TRUE(Await(group[rank].AllReduce({t}, ReduceOp::kMean)).ok());
    int64_t wrong = 0;
    for (int64_t i = 0; i < count; ++i) wrong += p[i] != static_cast<float>(i % 1024) * 2.f;
    EXPECT_EQ(wrong, 0) << "rank " << rank;
  });
}

TEST(ShmCommunicatorTest, ArgumentErrorsComeAtOnce) {
  ShmGroup group(StoreKind::kTcp, 2);
  ASSERT_TRUE(group.ok());
  ShmCommunicator& comm = group[0];
  auto s = comm.AllReduce({Tensor(DataType::kI64, {3})}, ReduceOp::kSum);
  EXPECT_TRUE(absl::IsInvalidArgument(s.status()));
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("allreduce: tensor 0 is i64[3]; expected f32 or f64"));
  s = comm.Broadcast({Tensor(DataType::kF32, {2})}, 2);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("broadcast: root 2 is not a rank of this group of 2"));
  s = comm.ReduceScatter(Tensor(DataType::kF64, {3}), ReduceOp::kSum);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("reduce_scatter: f64[3] has 3 elements, which do not split into 2"));
  // Nothing was queued: the group still works.
  RunRanks(2, [&](int rank) { EXPECT_TRUE(Await(group[rank].Barrier()).ok()); });

  ShmCommunicatorOptions tiny;
  tiny.store = std::shared_ptr<Store>(FileStore::Open(testing::TempFolder().path()).value());
  tiny.staging_bytes = 1000;
  EXPECT_THAT(std::string(ShmCommunicator::Create(tiny).status().message()),
              HasSubstr("staging_bytes 1000; expected at least 4096"));
}

TEST(ShmCommunicatorTest, StatsCountEveryCollective) {
  ShmGroup group(StoreKind::kTcp, 2);
  ASSERT_TRUE(group.ok());
  RunRanks(2, [&](int rank) {
    ShmCommunicator& comm = group[rank];
    for (int k = 0; k < 3; ++k) {
      // A bucket of f32[10] and f32[5]: 60 bytes.
      ASSERT_TRUE(Await(comm.AllReduce({Tensor(DataType::kF32, {10}), Tensor(DataType::kF32, {5})},
                                       ReduceOp::kSum))
                      .ok());
    }
    ASSERT_TRUE(Await(comm.Broadcast({Tensor(DataType::kF64, {4})}, 0)).ok());
    ASSERT_TRUE(Await(comm.ReduceScatter(Tensor(DataType::kF32, {6}), ReduceOp::kSum)).ok());
    auto gathered = std::make_shared<std::vector<std::string>>();
    ASSERT_TRUE(Await(comm.AllGather(rank == 0 ? "abc" : "defgh", gathered)).ok());
    ASSERT_TRUE(Await(comm.Barrier()).ok());
  });
  for (int rank = 0; rank < 2; ++rank) {
    SCOPED_TRACE(absl::StrCat("rank ", rank));
    const CommunicatorStats stats = group[rank].stats();
    EXPECT_EQ(stats[CollectiveKind::kAllReduce].calls, 3);
    EXPECT_EQ(stats[CollectiveKind::kAllReduce].bytes, 3 * 60);
    EXPECT_GT(stats[CollectiveKind::kAllReduce].busy.count(), 0);
    EXPECT_EQ(stats[CollectiveKind::kBroadcast].calls, 1);
    EXPECT_EQ(stats[CollectiveKind::kBroadcast].bytes, 4 * 8);
    EXPECT_EQ(stats[CollectiveKind::kAllGather].calls, 1);
    EXPECT_EQ(stats[CollectiveKind::kAllGather].bytes, rank == 0 ? 3 : 5);
    EXPECT_EQ(stats[CollectiveKind::kBarrier].calls, 1);
    EXPECT_EQ(stats[CollectiveKind::kBarrier].bytes, 0);
    EXPECT_EQ(stats[CollectiveKind::kReduceScatter].calls, 1);
    EXPECT_EQ(stats[CollectiveKind::kReduceScatter].bytes, 6 * 4);
  }
}

TEST(ShmCommunicatorTest, AGroupOfOneNeedsNoPeers) {
  ShmGroup group(StoreKind::kFile, 1);
  ASSERT_TRUE(group.ok());
  Tensor t = MakeTensor(DataType::kF32, std::vector<float>{1.5f, -2.f}, {2});
  ASSERT_TRUE(Await(group[0].AllReduce({t}, ReduceOp::kMean)).ok());
  EXPECT_EQ(Values<float>(t), (std::vector<float>{1.5f, -2.f}));
  auto gathered = std::make_shared<std::vector<std::string>>();
  ASSERT_TRUE(Await(group[0].AllGather("me", gathered)).ok());
  EXPECT_EQ(*gathered, std::vector<std::string>{"me"});
  EXPECT_TRUE(Await(group[0].Barrier()).ok());
}

// The memfd segment's descriptors in this process ("/memfd:fleet-collective (deleted)").
int OpenSegmentDescriptors() {
  int found = 0;
  std::error_code ignored;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd", ignored)) {
    std::error_code err;
    const auto target = std::filesystem::read_symlink(fd.path(), err);
    if (!err && target.string().find("memfd:fleet-collective") != std::string::npos) ++found;
  }
  return found;
}

TEST(ShmCommunicatorTest, TheSegmentHasNoNameAndGoesWithTheLastRank) {
  const std::vector<std::string> before = testing::FleetDevShmEntries();
  {
    ShmGroup group(StoreKind::kTcp, 4);
    ASSERT_TRUE(group.ok());
    // Four mappings (one per rank) of a memfd, which no folder names; once every rank has mapped
    // it, no descriptor remains either.
    EXPECT_EQ(testing::SegmentMappings(),
              std::vector<std::string>(4, "/memfd:fleet-collective (deleted)"));
    EXPECT_EQ(OpenSegmentDescriptors(), 0);
    RunRanks(4, [&](int rank) {
      Tensor t = MakeTensor(DataType::kF32, std::vector<float>(10, 1.f), {10});
      EXPECT_TRUE(Await(group[rank].AllReduce({t}, ReduceOp::kSum)).ok());
      EXPECT_EQ(Values<float>(t), std::vector<float>(10, 4.f));
    });
  }
  EXPECT_EQ(testing::SegmentMappings(), std::vector<std::string>());
  EXPECT_EQ(testing::FleetDevShmEntries(), before);
  EXPECT_EQ(OpenSegmentDescriptors(), 0);
}

// The transport CreateCommunicator picks, for ranks that claim the given hosts.
std::vector<std::string> TransportsFor(Transport transport, const std::vector<std::string>& hosts,
                                       std::vector<absl::Status>* errors = nullptr) {
  const int n = static_cast<int>(hosts.size());
  testing::TempFolder folder;
  auto stores = testing::MakeStores(StoreKind::kTcp, n, folder.path());
  std::vector<std::string> names(n);
  std::vector<std::shared_ptr<Communicator>> comms(n);
  if (errors != nullptr) errors->assign(n, absl::OkStatus());
  RunRanks(n, [&](int rank) {
    CommunicatorOptions o;
    o.rank = rank;
    o.size = n;
    o.store = stores[rank];
    o.rendezvous_timeout = 20s;
    o.timeout = 20s;
    o.transport = transport;
    o.host_identity = hosts[rank];
    auto comm = CreateCommunicator(o);
    if (!comm.ok()) {
      if (errors != nullptr) (*errors)[rank] = comm.status();
      return;
    }
    comms[rank] = *comm;
    names[rank] = (*comm)->transport();
    // Whatever it picked works.
    Tensor t = MakeTensor(DataType::kF32, std::vector<float>(1000, rank + 1.f), {1000});
    EXPECT_TRUE(Await((*comm)->AllReduce({t}, ReduceOp::kSum)).ok());
    EXPECT_EQ(Values<float>(t), std::vector<float>(1000, n * (n + 1) / 2.f));
  });
  return names;
}

TEST(CreateCommunicatorTest, AutoSharesMemoryOnOneHostAndUsesGlooAcrossHosts) {
  using V = std::vector<std::string>;
  EXPECT_EQ(TransportsFor(Transport::kAuto, {"a", "a", "a"}), V(3, "shared memory"));
  EXPECT_EQ(TransportsFor(Transport::kAuto, {"a", "a", "b"}), V(3, "gloo (tcp)"));
  EXPECT_EQ(TransportsFor(Transport::kGloo, {"a", "a"}), V(2, "gloo (tcp)"));
  EXPECT_EQ(TransportsFor(Transport::kShm, {"a", "a"}), V(2, "shared memory"));
}

TEST(CreateCommunicatorTest, ForcedSharedMemoryAcrossHostsNamesTheRankElsewhere) {
  std::vector<absl::Status> errors;
  TransportsFor(Transport::kShm, {"host a", "host a", "host b"}, &errors);
  for (const absl::Status& s : errors) {
    EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("shared memory: rank 2 runs on another host (host b) than rank 0 (host "
                          "a); every rank must share this host (hint: "
                          "FLEET_COLLECTIVE_TRANSPORT=auto or gloo"));
  }
}

TEST(CreateCommunicatorTest, TransportNamesParse) {
  EXPECT_EQ(ParseTransport("auto").value(), Transport::kAuto);
  EXPECT_EQ(ParseTransport("shm").value(), Transport::kShm);
  EXPECT_EQ(ParseTransport("gloo").value(), Transport::kGloo);
  EXPECT_THAT(std::string(ParseTransport("tcp").status().message()),
              HasSubstr("collective transport 'tcp'; expected auto, shm or gloo"));
}

}  // namespace
}  // namespace fleet
