#include "executor/tensor.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "executor/half.h"
#include "executor/thread_pool.h"
#include "gtest/gtest.h"

namespace fleet {
namespace {

TEST(TensorTest, AllocatesAlignedAndSharesOnReshape) {
  Tensor t(DataType::kF32, {2, 3});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  t.data<float>()[5] = 7.f;
  Tensor r = t.Reshaped({6});
  EXPECT_EQ(r.data<float>()[5], 7.f);
  EXPECT_EQ(r.raw_data(), t.raw_data());
  Tensor c = t.Clone();
  EXPECT_NE(c.raw_data(), t.raw_data());
  EXPECT_EQ(c.data<float>()[5], 7.f);
  EXPECT_EQ(t.TypeString(), "f32[2,3]");
}

TEST(TensorTest, ValueRoundTrip) {
  Tensor t = Tensor::Zeros(DataType::kI64, {3});
  t.data<int64_t>()[1] = -5;
  TensorValue v = t.ToValue();
  Tensor back = Tensor::FromValue(v);
  EXPECT_EQ(back.shape(), std::vector<int64_t>{3});
  EXPECT_EQ(back.data<int64_t>()[1], -5);
  EXPECT_EQ(back.data<int64_t>()[0], 0);
}

TEST(HalfTest, ConvertsExactValuesAndRoundsToNearestEven) {
  // Closed-form cases: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = max half, 2^-24 = smallest subnormal.
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.f), 0x7bff);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7c00);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.f, -24)), 0x0001);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.f, -24));
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1.0).
  EXPECT_EQ(FloatToHalf(1.f + std::ldexp(1.f, -11)), 0x3c00);
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(NAN))));
  for (int h = 0; h < 0x7c00; h += 7) {  // every finite positive half survives the round trip
    EXPECT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h);
  }
}

TEST(ThreadPoolTest, CoversRangeExactlyOnce) {
  ThreadPool pool(3);
  for (int64_t n : {1, 2, 7, 1000}) {
    std::vector<int> hits(n, 0);
    pool.ParallelFor(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
    for (int h : hits) EXPECT_EQ(h, 1);
  }
}

TEST(ThreadPoolTest, ManyBackToBackCallsLoseNoChunkAndNeverHang) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  for (int i = 0; i < 20000; ++i) {
    pool.ParallelFor(4, 1, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
  }
  EXPECT_EQ(total.load(), 80000);
  // After the workers have gone to sleep, a call still wakes them and completes.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<int> hits(8, 0);
  pool.ParallelFor(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) hits[j]++;
  });
  for (int h : hits) EXPECT_EQ(h, 1);
}

}  // namespace
}  // namespace fleet
