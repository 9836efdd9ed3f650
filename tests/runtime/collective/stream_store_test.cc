// The streaming copies (runtime/collective/stream_store.h) against memcpy and a plain division
// loop, at every alignment of source and destination and lengths around the vector widths.
#include "runtime/collective/stream_store.h"

#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace fleet {
namespace {

TEST(StreamStoreTest, CopyEqualsMemcpyAtEveryAlignment) {
  std::vector<char> src(512), dst(512), want(512);
  std::mt19937 rng(1);
  for (char& c : src) c = static_cast<char>(rng());
  for (size_t from = 0; from < 16; ++from) {
    for (size_t to = 0; to < 16; ++to) {
      for (size_t n : {0, 1, 15, 16, 17, 63, 64, 65, 200, 300}) {
        std::fill(dst.begin(), dst.end(), 0);
        std::fill(want.begin(), want.end(), 0);
        StreamCopy(dst.data() + to, src.data() + from, n);
        std::memcpy(want.data() + to, src.data() + from, n);
        ASSERT_EQ(dst, want) << "from +" << from << ", to +" << to << ", " << n << " bytes";
      }
    }
  }
}

template <typename T>
void CheckDivide() {
  std::vector<T> src(300), dst(300), want(300);
  std::mt19937 rng(2);
  std::normal_distribution<T> dist(0, 1000);
  for (T& x : src) x = dist(rng);
  for (size_t from = 0; from < 4; ++from) {
    for (size_t to = 0; to < 4; ++to) {
      for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 9, 100, 257}) {
        std::fill(dst.begin(), dst.end(), T(0));
        std::fill(want.begin(), want.end(), T(0));
        StreamDivide(src.data() + from, dst.data() + to, n, T(3));
        for (int64_t i = 0; i < n; ++i) want[to + i] = src[from + i] / T(3);
        ASSERT_EQ(0, std::memcmp(dst.data(), want.data(), dst.size() * sizeof(T)))
            << "from +" << from << ", to +" << to << ", " << n << " elements";
      }
    }
  }
}

TEST(StreamStoreTest, DivideEqualsAPlainLoopBitwise) {
  CheckDivide<float>();
  CheckDivide<double>();
}

}  // namespace
}  // namespace fleet
