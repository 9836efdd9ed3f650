// Accuracy tests for the vectorised float math of kernels/cpu/vec_math.h: the error in ulps
// against the double-precision C library result rounded to float, over a strided sweep of every
// float bit pattern, dense sweeps around each range split, and the special values.
#include "kernels/cpu/vec_math.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using cpu::VecErf;
using cpu::VecExp;
using cpu::VecLog;
using cpu::VecSigmoid;
using cpu::VecSoftplus;
using cpu::VecTanh;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kDenormMin = std::numeric_limits<float>::denorm_min();
constexpr float kMin = std::numeric_limits<float>::min();
constexpr float kMax = std::numeric_limits<float>::max();

// Position of f on a line where adjacent floats are 1 apart (+0 and -0 both at 0).
int64_t Ordinal(float f) {
  int32_t i;
  std::memcpy(&i, &f, sizeof(i));
  return i < 0 ? -static_cast<int64_t>(i & 0x7fffffff) : i;
}

// Ulps between got and want; both NaN is 0, one NaN is "infinitely" far.
int64_t UlpError(float got, float want) {
  if (std::isnan(got) || std::isnan(want)) {
    return std::isnan(got) && std::isnan(want) ? 0 : std::numeric_limits<int64_t>::max();
  }
  return std::llabs(Ordinal(got) - Ordinal(want));
}

float FromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof(f));
  return f;
}

struct Worst {
  int64_t ulps = 0;
  float x = 0;
  std::string Describe() const { return absl::StrCat(ulps, " ulp at x = ", x); }
};

template <typename F, typename Ref>
void Check(Worst& w, F f, Ref ref, float x) {
  const int64_t e = UlpError(f(x), static_cast<float>(ref(static_cast<double>(x))));
  if (e > w.ulps) w = {e, x};
}

// Every `stride`-th float bit pattern (both signs, denormals, inf and NaN included), every float
// within 4096 ulps of each point in `dense` (the point included), and the special values.
template <typename F, typename Ref>
Worst Sweep(F f, Ref ref, const std::vector<float>& dense) {
  Worst w;
  constexpr uint64_t kStride = 1021;  // prime, so the low mantissa bits vary
  for (uint64_t b = 0; b < (uint64_t{1} << 32); b += kStride) {
    Check(w, f, ref, FromBits(static_cast<uint32_t>(b)));
  }
  for (float c : dense) {
    Check(w, f, ref, c);
    float lo = c, hi = c;
    for (int i = 0; i < 4096; ++i) {
      lo = std::nextafter(lo, -kInf);
      hi = std::nextafter(hi, kInf);
      Check(w, f, ref, lo);
      Check(w, f, ref, hi);
    }
  }
  for (float x : {0.0f, -0.0f, kInf, -kInf, kNaN, kDenormMin, -kDenormMin, kMin, -kMin, kMax, -kMax,
                  1e30f, -1e30f, 1.0f, -1.0f}) {
    Check(w, f, ref, x);
  }
  return w;
}

TEST(VecMathTest, Exp) {
  // Range splits of n = round(x / ln2), the overflow and denormal edges.
  const Worst w = Sweep([](float x) { return VecExp(x); }, [](double x) { return std::exp(x); },
                        {0.0f, 0.3465736f, -0.3465736f, 88.72284f, -87.33655f, -103.2789f, 1.0f});
  EXPECT_LE(w.ulps, 1) << w.Describe();
  EXPECT_EQ(VecExp(kInf), kInf);
  EXPECT_EQ(VecExp(-kInf), 0.0f);
  EXPECT_EQ(VecExp(89.0f), kInf);
  EXPECT_EQ(VecExp(-104.0f), 0.0f);
  EXPECT_GT(VecExp(-103.0f), 0.0f);  // a denormal, not flushed
  EXPECT_TRUE(std::isnan(VecExp(kNaN)));
}

TEST(VecMathTest, Log) {
  const Worst w = Sweep([](float x) { return VecLog(x); }, [](double x) { return std::log(x); },
                        {1.0f, 0.70710677f, 1.4142135f, 0.5f, 2.0f, kMin});
  EXPECT_LE(w.ulps, 1) << w.Describe();
  EXPECT_EQ(VecLog(0.0f), -kInf);
  EXPECT_EQ(VecLog(-0.0f), -kInf);
  EXPECT_EQ(VecLog(kInf), kInf);
  EXPECT_TRUE(std::isnan(VecLog(-1.0f)));
  EXPECT_TRUE(std::isnan(VecLog(-kInf)));
  EXPECT_TRUE(std::isnan(VecLog(kNaN)));
  EXPECT_EQ(VecLog(1.0f), 0.0f);
}

TEST(VecMathTest, Erf) {
  const Worst w = Sweep([](float x) { return VecErf(x); }, [](double x) { return std::erf(x); },
                        {0.0f, 0.927734375f, -0.927734375f, 3.9f, 4.0f, -4.0f, 2.0f});
  EXPECT_LE(w.ulps, 1) << w.Describe();
  // Dense over the range GELU uses: every 1024th float in [-6, 6].
  Worst dense;
  for (int64_t k = Ordinal(-6.0f); k < Ordinal(6.0f); k += 1024) {
    const float x =
        k < 0 ? -FromBits(static_cast<uint32_t>(-k)) : FromBits(static_cast<uint32_t>(k));
    Check(
        dense, [](float v) { return VecErf(v); }, [](double v) { return std::erf(v); }, x);
  }
  EXPECT_LE(dense.ulps, 1) << dense.Describe();
  EXPECT_EQ(VecErf(kInf), 1.0f);
  EXPECT_EQ(VecErf(-kInf), -1.0f);
  EXPECT_EQ(VecErf(-0.0f), -0.0f);
  EXPECT_TRUE(std::signbit(VecErf(-0.0f)));
  EXPECT_TRUE(std::isnan(VecErf(kNaN)));
}

TEST(VecMathTest, Tanh) {
  const Worst w = Sweep([](float x) { return VecTanh(x); }, [](double x) { return std::tanh(x); },
                        {0.0f, 0.625f, -0.625f, 9.0f, 44.4f});
  EXPECT_LE(w.ulps, 1) << w.Describe();
  EXPECT_EQ(VecTanh(kInf), 1.0f);
  EXPECT_EQ(VecTanh(-kInf), -1.0f);
  EXPECT_TRUE(std::signbit(VecTanh(-0.0f)));
  EXPECT_TRUE(std::isnan(VecTanh(kNaN)));
}

TEST(VecMathTest, Sigmoid) {
  const Worst w = Sweep(
      [](float x) { return VecSigmoid(x); }, [](double x) { return 1.0 / (1.0 + std::exp(-x)); },
      {0.0f, -87.0f, -103.0f, 17.0f, -5.54266453f});  // the last: 3 ulp, the worst seen
  EXPECT_LE(w.ulps, 3) << w.Describe();
  EXPECT_EQ(VecSigmoid(kInf), 1.0f);
  EXPECT_EQ(VecSigmoid(-kInf), 0.0f);
  EXPECT_GT(VecSigmoid(-100.0f), 0.0f);  // a denormal, not flushed
  EXPECT_TRUE(std::isnan(VecSigmoid(kNaN)));
}

TEST(VecMathTest, Softplus) {
  const Worst w =
      Sweep([](float x) { return VecSoftplus(x); },
            [](double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); },
            {0.0f, -20.0f, 20.0f, -88.0f});
  EXPECT_LE(w.ulps, 2) << w.Describe();
  EXPECT_EQ(VecSoftplus(kInf), kInf);
  EXPECT_EQ(VecSoftplus(-kInf), 0.0f);
  EXPECT_TRUE(std::isnan(VecSoftplus(kNaN)));
}

// The kernels map these over arrays in vectorised blocks plus a scalar tail: every element of an
// array whose length is not a multiple of the block matches the scalar function.
TEST(VecMathTest, KernelsMatchScalarFunctionsIncludingTail) {
  std::vector<float> values;
  for (int i = 0; i < 37; ++i) values.push_back(-4.5f + 0.25f * static_cast<float>(i));
  values.push_back(kNaN);
  const Tensor x = testing::MakeTensor<float>(DataType::kF32, {2, 19}, values);
  struct Case {
    const char* op;
    float (*fn)(float);
  };
  for (const Case& c : {Case{"Erf", [](float v) { return VecErf(v); }},
                        Case{"Exp", [](float v) { return VecExp(v); }},
                        Case{"Log", [](float v) { return VecLog(v); }},
                        Case{"Tanh", [](float v) { return VecTanh(v); }},
                        Case{"Sigmoid", [](float v) { return VecSigmoid(v); }},
                        Case{"Softplus", [](float v) { return VecSoftplus(v); }}}) {
    auto out = testing::RunKernel(c.op, {x}, {}, 1);
    ASSERT_TRUE(out.ok()) << c.op << ": " << out.status();
    const std::vector<float> y = testing::ToVector<float>((*out)[0]);
    ASSERT_EQ(y.size(), values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(UlpError(y[i], c.fn(values[i])), 0) << c.op << "(" << values[i] << ")";
    }
  }
}

}  // namespace
}  // namespace fleet
