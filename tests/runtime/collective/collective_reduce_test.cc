// Communicator::Reduce over both transports (Gloo over 127.0.0.1, shared memory), ranks as
// threads of this process: the root gets the closed-form sum or mean, the other ranks' tensors
// keep their values, for every root and 2, 3 and 4 ranks; shared memory's results are bitwise
// Gloo's; the calls are counted as reduces. (Ranks as processes: collective_peer's shm-check;
// a rank killed mid-reduce: the failure tests.)
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/collective/gloo_communicator.h"
#include "runtime/collective/shm_communicator.h"
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

enum class Transport { kGloo, kShm };

// A staging area of 16 KiB per rank, so that the buckets below go through in many pieces.
constexpr size_t kSmallStaging = 16 << 10;

// Runs fn(rank, communicator) on every rank of a fresh group of `transport`.
void OnRanks(Transport transport, int n, const std::function<void(int, Communicator&)>& fn) {
  if (transport == Transport::kGloo) {
    Group group(StoreKind::kTcp, n);
    ASSERT_TRUE(group.ok());
    RunRanks(n, [&](int rank) { fn(rank, group[rank]); });
  } else {
    ShmGroup group(StoreKind::kTcp, n,
                   [](ShmCommunicatorOptions& o) { o.staging_bytes = kSmallStaging; });
    ASSERT_TRUE(group.ok());
    RunRanks(n, [&](int rank) { fn(rank, group[rank]); });
  }
}

using Param = std::tuple<Transport, int>;

class ReduceTest : public ::testing::TestWithParam<Param> {
 protected:
  Transport transport() const { return std::get<0>(GetParam()); }
  int world() const { return std::get<1>(GetParam()); }

  // One fused reduce onto each root in turn of tensors of `sizes` elements: the root's tensors
  // against the sum (or mean) of every rank's values computed here, the others' against their
  // own values.
  template <typename T>
  void CheckReduce(DataType dtype, const std::vector<int64_t>& sizes, ReduceOp op) {
    const int n = world();
    OnRanks(transport(), n, [&](int rank, Communicator& comm) {
      for (int root = 0; root < n; ++root) {
        std::vector<Tensor> bucket;
        for (size_t i = 0; i < sizes.size(); ++i) {
          bucket.push_back(MakeTensor(dtype, ExactValues<T>(rank, i, sizes[i]), {sizes[i]}));
        }
        absl::Status s = Await(comm.Reduce(bucket, op, root));
        ASSERT_TRUE(s.ok()) << "rank " << rank << ", root " << root << ": " << s;
        for (size_t i = 0; i < sizes.size(); ++i) {
          std::vector<T> expected = ExactValues<T>(rank, i, sizes[i]);
          if (rank == root) {
            std::fill(expected.begin(), expected.end(), T{0});
            for (int r = 0; r < n; ++r) {
              std::vector<T> theirs = ExactValues<T>(r, i, sizes[i]);
              for (int64_t j = 0; j < sizes[i]; ++j) expected[j] += theirs[j];
            }
            if (op == ReduceOp::kMean) {
              for (T& x : expected) x /= static_cast<T>(n);
            }
          }
          EXPECT_EQ(Values<T>(bucket[i]), expected)
              << "rank " << rank << ", root " << root << ", tensor " << i;
        }
      }
    });
  }
};

TEST_P(ReduceTest, SumOfABucketOfSeveralSizesOntoEveryRoot) {
  CheckReduce<float>(DataType::kF32, {1, 7, 0, 1000, 70000}, ReduceOp::kSum);
}

TEST_P(ReduceTest, MeanInF64OntoEveryRoot) {
  CheckReduce<double>(DataType::kF64, {5, 300001}, ReduceOp::kMean);
}

TEST_P(ReduceTest, CountedAsReducesAndCheckedAtOnce) {
  const int n = world();
  OnRanks(transport(), n, [&](int rank, Communicator& comm) {
    Tensor t = MakeTensor(DataType::kF32, ExactValues<float>(rank, 0, 60), {60});
    ASSERT_TRUE(Await(comm.Reduce({t}, ReduceOp::kSum, n - 1)).ok());
    ASSERT_TRUE(Await(comm.Reduce({t}, ReduceOp::kMean, 0)).ok());
    const CommunicatorStats stats = comm.stats();
    EXPECT_EQ(stats[CollectiveKind::kReduce].calls, 2);
    EXPECT_EQ(stats[CollectiveKind::kReduce].bytes, 2 * 60 * 4);
    EXPECT_GT(stats[CollectiveKind::kReduce].busy.count(), 0);
    EXPECT_EQ(stats[CollectiveKind::kAllReduce].calls, 0);
    EXPECT_EQ(CollectiveKindName(CollectiveKind::kReduce), "reduce");

    absl::Status bad_root = Await(comm.Reduce({t}, ReduceOp::kSum, n));
    EXPECT_TRUE(absl::IsInvalidArgument(bad_root)) << bad_root;
    EXPECT_THAT(std::string(bad_root.message()),
                HasSubstr(absl::StrCat("reduce: root ", n, " is not a rank of this group of ", n)));
    Tensor ints(DataType::kI64, {3});
    absl::Status bad_dtype = Await(comm.Reduce({ints}, ReduceOp::kSum, 0));
    EXPECT_TRUE(absl::IsInvalidArgument(bad_dtype)) << bad_dtype;
    EXPECT_THAT(std::string(bad_dtype.message()), ::testing::StartsWith("reduce: tensor 0 is "));
  });
}

INSTANTIATE_TEST_SUITE_P(Transports, ReduceTest,
                         ::testing::Combine(::testing::Values(Transport::kGloo, Transport::kShm),
                                            ::testing::Values(2, 3, 4)),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return absl::StrCat(
                               std::get<0>(info.param) == Transport::kGloo ? "Gloo" : "Shm", "_",
                               std::get<1>(info.param), "ranks");
                         });

// Rank `rank`'s element i: magnitudes over 2^-8 .. 2^8, so that sums depend on their order.
float Noisy(int rank, int64_t i) {
  const uint32_t h =
      static_cast<uint32_t>(i * 2654435761u) ^ static_cast<uint32_t>((rank + 7) * 40503);
  return std::ldexp(static_cast<float>(h % 10007) / 10007.f - 0.5f, static_cast<int>(h % 17) - 8);
}

// The root's result of one sum of `count` Noisy floats per rank, over `transport`; with
// `allreduce`, an allreduce instead (rank 0's result).
std::vector<float> RootSum(Transport transport, int n, int64_t count, int root, bool allreduce) {
  std::vector<float> result;
  OnRanks(transport, n, [&](int rank, Communicator& comm) {
    Tensor t(DataType::kF32, {count});
    for (int64_t i = 0; i < count; ++i) t.data<float>()[i] = Noisy(rank, i);
    absl::Status s = Await(
        allreduce ? comm.AllReduce({t}, ReduceOp::kSum) : comm.Reduce({t}, ReduceOp::kSum, root),
        120s);
    ASSERT_TRUE(s.ok()) << "rank " << rank << ": " << s;
    if (rank == (allreduce ? 0 : root)) result = Values<float>(t);
  });
  return result;
}

int64_t BitwiseDifferences(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  int64_t differ = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    differ += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  }
  return differ;
}

TEST(ReduceOrderTest, SharedMemoryReducesBitwiseAsGlooDoes) {
  for (const auto& [n, count] : std::vector<std::pair<int, int64_t>>{{2, 100003}, {4, 600001}}) {
    const std::vector<float> gloo = RootSum(Transport::kGloo, n, count, n - 1, false);
    const std::vector<float> shm = RootSum(Transport::kShm, n, count, n - 1, false);
    EXPECT_EQ(BitwiseDifferences(shm, gloo), 0) << n << " ranks, " << count << " floats";
  }
}

TEST(ReduceOrderTest, GloosReduceHasAnOrderOfItsOwnThatSharedMemoryFollows) {
  // 7 MiB over 3 ranks: Gloo's allreduce cuts its ring in chunks of 7/3 MiB, its reduce in
  // chunks of 3 MiB, so the two add some elements in different orders. Shared memory must
  // follow the reduce's.
  const int n = 3;
  const int64_t count = int64_t{7} << 18;
  const std::vector<float> reduce = RootSum(Transport::kGloo, n, count, 0, false);
  const std::vector<float> allreduce = RootSum(Transport::kGloo, n, count, 0, true);
  EXPECT_GT(BitwiseDifferences(reduce, allreduce), count / 1000)
      << "the inputs do not tell the two orders apart";
  EXPECT_EQ(BitwiseDifferences(RootSum(Transport::kShm, n, count, 0, false), reduce), 0);
}

TEST(ReduceOrderTest, SharedMemoryNamesARankInAnotherCollective) {
  const int n = 2;
  std::vector<absl::Status> results(n);
  OnRanks(Transport::kShm, n, [&](int rank, Communicator& comm) {
    Tensor t = MakeTensor(DataType::kF32, std::vector<float>(100, 1.f), {100});
    results[rank] = Await(rank == 0 ? comm.Reduce({t}, ReduceOp::kSum, 1)
                                    : comm.AllReduce({t}, ReduceOp::kSum));
  });
  EXPECT_TRUE(absl::IsFailedPrecondition(results[0])) << results[0];
  EXPECT_THAT(std::string(results[0].message()),
              HasSubstr("reduce: rank 1 is in allreduce (sum) of 100 f32 elements (piece 0) while "
                        "this rank is in reduce (sum) to rank 1 of 100 f32 elements"));
  EXPECT_FALSE(results[1].ok());
}

}  // namespace
}  // namespace fleet
