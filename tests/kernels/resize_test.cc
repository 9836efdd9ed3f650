// Tests for Resize (resize.cc).
//
// Expected values are from ONNX's reference implementation (onnx.reference, NumPy based); the
// script that printed them (pasted below under the same names) is:
//   import numpy as np
//   from onnx import helper
//   from onnx.reference import ReferenceEvaluator
//   def fmt(a): return ', '.join('%.9g' % v for v in np.ravel(a))
//   def resize(x, scales=None, sizes=None, roi=None, **attrs):
//       feeds = {'X': x.astype(np.float32)}; names = ['X']
//       for n, v, t in (('roi', roi, np.float32), ('scales', scales, np.float32),
//                       ('sizes', sizes, np.int64)):
//           names.append(n if v is not None else '')
//           if v is not None: feeds[n] = np.array(v, t)
//       while names[-1] == '': names.pop()
//       node = helper.make_node('Resize', names, ['Y'], **attrs)
//       return ReferenceEvaluator(node).run(None, feeds)[0]
//   x = np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4) ** 1.5 * 0.25
//   print('linear_up', fmt(resize(x, scales=[1, 1, 1.5, 2], mode='linear')))
//   print('linear_down_ac', fmt(resize(x, scales=[1, 1, 0.6, 0.6], mode='linear',
//                                      coordinate_transformation_mode='align_corners')))
//   print('cubic_up', fmt(resize(x, scales=[1, 1, 1.25, 1.5], mode='cubic')))
//   print('cubic_ex', fmt(resize(x, sizes=[1, 1, 3, 5], mode='cubic', cubic_coeff_a=-0.5,
//                                exclude_outside=1)))
//   print('cubic_asym', fmt(resize(x, scales=[1, 1, 2, 0.75], mode='cubic',
//                                  coordinate_transformation_mode='asymmetric')))
//   print('pt_half', fmt(resize(x, sizes=[1, 1, 3, 2], mode='linear',
//                               coordinate_transformation_mode='pytorch_half_pixel')))
//   print('tf_crop', fmt(resize(x, sizes=[1, 1, 3, 3], roi=[0, 0, 0.4, 0.6, 1, 1, 1.2, 1.7],
//       mode='linear', coordinate_transformation_mode='tf_crop_and_resize',
//       extrapolation_value=10.0)))
//   print('nearest_down', fmt(resize(x, scales=[1, 1, 0.6, 0.6], mode='nearest')))
//   x2 = np.array([[1, 2, 4], [8, 16, 32]], np.float32)
//   print('lin2d', fmt(resize(x2, sizes=[3, 5], mode='linear')))
//   x1 = np.arange(5, dtype=np.float32) * 10
//   for nm in ('round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'):
//       print('nearest1d_hp', nm, fmt(resize(x1, sizes=[8], mode='nearest', nearest_mode=nm)))
//       print('nearest1d_asym', nm, fmt(resize(x1, scales=[2.0], mode='nearest', nearest_mode=nm,
//                                              coordinate_transformation_mode='asymmetric')))
//   x3 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
//   print('trilinear', fmt(resize(x3, scales=[1.5, 1, 0.5], mode='linear')))
#include <cmath>
#include <string>
#include <vector>

#include "executor/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using ::fleet::testing::MakeTensor;
using ::fleet::testing::RunKernel;
using ::fleet::testing::ToVector;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

const std::vector<float> kX = {0.25,       0.707106769, 1.29903817, 2,
                               2.79508495, 3.67423463,  4.63006449, 5.65685415,
                               6.75,       7.90569401,  9.120718,   10.3923054,
                               11.7180414, 13.0958004,  14.5236874, 16};  // [1, 1, 4, 4]

Tensor F32(std::vector<int64_t> shape, const std::vector<float>& v) {
  return MakeTensor<float>(DataType::kF32, std::move(shape), v);
}
Tensor I64(std::vector<int64_t> shape, const std::vector<int64_t>& v) {
  return MakeTensor<int64_t>(DataType::kI64, std::move(shape), v);
}
Tensor Scales(const std::vector<float>& v) { return F32({static_cast<int64_t>(v.size())}, v); }
Tensor Sizes(const std::vector<int64_t>& v) { return I64({static_cast<int64_t>(v.size())}, v); }

absl::StatusOr<std::vector<Tensor>> Resize(const Tensor& x, const Tensor& scales,
                                           const Tensor& sizes, const AttrMap& attrs,
                                           const Tensor& roi = Tensor(),
                                           ThreadPool* pool = nullptr) {
  return RunKernel("Resize", {x, roi, scales, sizes}, attrs, 1, pool);
}

void ExpectResult(const absl::StatusOr<std::vector<Tensor>>& r, std::vector<int64_t> shape,
                  const std::vector<double>& expected) {
  ASSERT_TRUE(r.ok()) << r.status();
  const Tensor& y = (*r)[0];
  EXPECT_EQ(y.shape(), shape);
  std::vector<float> got = ToVector<float>(y);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], 1e-5 * (1 + std::abs(expected[i]))) << "element " << i;
  }
}

AttrMap Attrs(std::vector<std::pair<std::string, AttrValue>> kv) {
  return AttrMap(kv.begin(), kv.end());
}

TEST(ResizeTest, LinearMatchesReference) {
  const Tensor x = F32({1, 1, 4, 4}, kX);
  ExpectResult(
      Resize(x, Scales({1, 1, 1.5, 2}), Tensor(), Attrs({{"mode", std::string("linear")}})),
      {1, 1, 6, 8},
      {0.25,       0.364276707, 0.592830062, 0.855089605, 1.15105534, 1.47427869, 1.82475948,
       2,          1.52254248,  1.68957448,  2.02363873,  2.38414097, 2.77108121, 3.1805203,
       3.61245823, 3.82842708,  3.45423746,  3.68554759,  4.14816761, 4.62923527, 5.12874937,
       5.64540386, 6.17919874,  6.44609594,  6.09084749,  6.36824846, 6.92304993, 7.49340725,
       8.07931995, 8.67997265,  9.29536629,  9.60306358,  9.23402023, 9.5507021,  10.1840658,
       10.831111,  11.4918385,  12.1656904,  12.8526649,  13.1961527, 11.7180414, 12.0624809,
       12.7513609, 13.4527721,  14.1667156,  14.892765,   15.6309223, 16});
  ExpectResult(Resize(x, Scales({1, 1, 0.6f, 0.6f}), Tensor(),
                      Attrs({{"mode", std::string("linear")},
                             {"coordinate_transformation_mode", std::string("align_corners")}})),
               {1, 1, 2, 2}, {0.25, 1.39917552, 7.45971966, 10.0784035});
  ExpectResult(
      Resize(x, Tensor(), Sizes({1, 1, 3, 2}),
             Attrs({{"mode", std::string("linear")},
                    {"coordinate_transformation_mode", std::string("pytorch_half_pixel")}})),
      {1, 1, 3, 2}, {0.937904477, 2.23184252, 5.28125334, 7.4499855, 11.5604086, 14.3442879});
}

TEST(ResizeTest, LinearOnRank2And3) {
  ExpectResult(Resize(F32({2, 3}, {1, 2, 4, 8, 16, 32}), Tensor(), Sizes({3, 5}),
                      Attrs({{"mode", std::string("linear")}})),
               {3, 5},
               {1, 1.39999998, 2, 3.20000005, 4, 4.5, 6.30000019, 9, 14.3999996, 18, 8, 11.1999998,
                16, 25.6000004, 32});
  std::vector<float> x3(24);
  for (int i = 0; i < 24; ++i) x3[i] = static_cast<float>(i);
  ExpectResult(Resize(F32({2, 3, 4}, x3), Scales({1.5, 1, 0.5}), Tensor(),
                      Attrs({{"mode", std::string("linear")}})),
               {3, 3, 2},
               {0.5, 2.5, 4.5, 6.5, 8.5, 10.5, 6.5, 8.5, 10.5, 12.5, 14.5, 16.5, 12.5, 14.5, 16.5,
                18.5, 20.5, 22.5});
}

TEST(ResizeTest, CubicMatchesReference) {
  const Tensor x = F32({1, 1, 4, 4}, kX);
  ExpectResult(
      Resize(x, Scales({1, 1, 1.25, 1.5}), Tensor(), Attrs({{"mode", std::string("cubic")}})),
      {1, 1, 5, 6}, {0.0579323471, 0.257698923, 0.634262979, 0.963259757, 1.49068356, 1.83697641,
                     1.58553207,   1.93702221,  2.54606605,  3.02090168,  3.73747516, 4.19340992,
                     4.45544672,   4.96038914,  5.80917168,  6.44058514,  7.36450386, 7.94243336,
                     8.46377182,   9.07402802,  10.0920706,  10.84023,    11.9232445, 12.5966244,
                     11.8990889,   12.5804005,  13.7128143,  14.5400629,  15.7313719, 16.4699097});
  ExpectResult(Resize(x, Tensor(), Sizes({1, 1, 3, 5}),
                      Attrs({{"mode", std::string("cubic")},
                             {"cubic_coeff_a", -0.5f},
                             {"exclude_outside", int64_t{1}}})),
               {1, 1, 3, 5},
               {0.474596709, 0.812579274, 1.29909837, 1.88023937, 2.3961041, 4.57654381, 5.28395653,
                6.19053411, 7.14856434, 7.95270443, 11.1373692, 12.0708799, 13.2485285, 14.4668159,
                15.4767246});
  ExpectResult(Resize(x, Scales({1, 1, 2, 0.75}), Tensor(),
                      Attrs({{"mode", std::string("cubic")},
                             {"coordinate_transformation_mode", std::string("asymmetric")}})),
               {1, 1, 8, 3},
               {0.25,       0.905302346, 1.81221163, 1.15176916, 2.05458736, 3.1613853,
                2.79508495, 4.01578188,  5.38670588, 4.54539013, 5.97837925, 7.53741884,
                6.75,       8.34596539,  10.0594893, 9.60479355, 11.3871288, 13.2750969,
                11.7180414, 13.6163826,  15.6145582, 12.183795,  14.1104841, 16.1353455});
}

TEST(ResizeTest, TfCropAndResizeExtrapolates) {
  ExpectResult(Resize(F32({1, 1, 4, 4}, kX), Tensor(), Sizes({1, 1, 3, 3}),
                      Attrs({{"mode", std::string("linear")},
                             {"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
                             {"extrapolation_value", 10.0f}}),
                      F32({8}, {0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f})),
               {1, 1, 3, 3}, {5.32666159, 10, 10, 11.0218725, 10, 10, 10, 10, 10});
}

TEST(ResizeTest, NearestModes) {
  ExpectResult(Resize(F32({1, 1, 4, 4}, kX), Scales({1, 1, 0.6f, 0.6f}), Tensor(), {}),
               {1, 1, 2, 2}, {0.25, 1.29903817, 6.75, 9.120718});
  const Tensor x1 = F32({5}, {0, 10, 20, 30, 40});
  const std::vector<std::pair<std::string, std::vector<double>>> half_pixel = {
      {"round_prefer_floor", {0, 0, 10, 20, 20, 30, 40, 40}},
      {"round_prefer_ceil", {0, 0, 10, 20, 20, 30, 40, 40}},
      {"floor", {0, 0, 10, 10, 20, 20, 30, 40}},
      {"ceil", {0, 10, 20, 20, 30, 30, 40, 40}}};
  for (const auto& [mode, expected] : half_pixel) {
    SCOPED_TRACE(mode);
    ExpectResult(Resize(x1, Tensor(), Sizes({8}), Attrs({{"nearest_mode", mode}})), {8}, expected);
  }
  // asymmetric with scale 2 puts every odd output on a tie (j / 2 = k + 0.5).
  const std::vector<std::pair<std::string, std::vector<double>>> asymmetric = {
      {"round_prefer_floor", {0, 0, 10, 10, 20, 20, 30, 30, 40, 40}},
      {"round_prefer_ceil", {0, 10, 10, 20, 20, 30, 30, 40, 40, 40}},
      {"floor", {0, 0, 10, 10, 20, 20, 30, 30, 40, 40}},
      {"ceil", {0, 10, 10, 20, 20, 30, 30, 40, 40, 40}}};
  for (const auto& [mode, expected] : asymmetric) {
    SCOPED_TRACE(mode);
    ExpectResult(Resize(x1, Scales({2}), Tensor(),
                        Attrs({{"nearest_mode", mode},
                               {"coordinate_transformation_mode", std::string("asymmetric")}})),
                 {10}, expected);
  }
}

TEST(ResizeTest, IdentityScalesReturnTheInput) {
  auto r = Resize(F32({1, 1, 4, 4}, kX), Scales({1, 1, 1, 1}), Tensor(),
                  Attrs({{"mode", std::string("cubic")}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(ToVector<float>((*r)[0]), ElementsAreArray(kX));
}

TEST(ResizeTest, ThreadPoolGivesTheSameResult) {
  // Bilinear 2x on [2, 3, 40, 50]: interior outputs of half_pixel 2x are 3/4 : 1/4 blends, so
  // compare with that closed form, and the pooled run with the single-threaded one.
  std::vector<float> x(2 * 3 * 40 * 50);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 37 % 101) * 0.1);
  const Tensor input = F32({2, 3, 40, 50}, x);
  const AttrMap attrs = Attrs({{"mode", std::string("linear")}});
  auto one = Resize(input, Scales({1, 1, 2, 2}), Tensor(), attrs);
  ThreadPool pool(3);
  auto many = Resize(input, Scales({1, 1, 2, 2}), Tensor(), attrs, Tensor(), &pool);
  ASSERT_TRUE(one.ok() && many.ok());
  const std::vector<float> a = ToVector<float>((*one)[0]), b = ToVector<float>((*many)[0]);
  EXPECT_EQ(a, b);
  // Output (h, w) = (2i + 1, 2j + 1) maps to input (i + 1/4, j + 1/4).
  auto at = [&](int plane, int h, int w) { return x[(plane * 40 + h) * 50 + w]; };
  for (int plane = 0; plane < 6; ++plane) {
    for (int i = 0; i + 1 < 40; i += 7) {
      for (int j = 0; j + 1 < 50; j += 5) {
        const double top = 0.75 * at(plane, i, j) + 0.25 * at(plane, i, j + 1);
        const double bottom = 0.75 * at(plane, i + 1, j) + 0.25 * at(plane, i + 1, j + 1);
        EXPECT_NEAR(a[(plane * 80 + 2 * i + 1) * 100 + 2 * j + 1], 0.75 * top + 0.25 * bottom,
                    1e-5);
      }
    }
  }
}

void ExpectInvalid(const absl::StatusOr<std::vector<Tensor>>& r, const std::string& substring) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(substring));
}

TEST(ResizeErrorsTest, BadScalesAndSizes) {
  const Tensor x = F32({1, 1, 4, 4}, kX);
  ExpectInvalid(Resize(x, Scales({1, 1, 2, 2}), Sizes({1, 1, 8, 8}), {}), "both");
  ExpectInvalid(Resize(x, Tensor(), Tensor(), {}), "neither");
  ExpectInvalid(Resize(x, Scales({2, 2}), Tensor(), {}), "expected f32[4]");
  ExpectInvalid(Resize(x, Scales({1, 1, 0, 2}), Tensor(), {}), "scales[2] is 0");
  ExpectInvalid(Resize(x, Scales({1, 1, -1, 2}), Tensor(), {}), "scales[2] is -1");
  ExpectInvalid(Resize(x, Scales({1, 1, NAN, 2}), Tensor(), {}), "scales[2] is nan");
  ExpectInvalid(Resize(x, Scales({1, 1, 1e30f, 1e30f}), Tensor(), {}), "scales[2]");
  ExpectInvalid(Resize(x, Scales({1, 1, 1e5f, 1e6f}), Tensor(), {}), "elements; expected at most");
  ExpectInvalid(Resize(x, Tensor(), Sizes({1, 1, -2, 4}), {}), "sizes[2] is -2");
  ExpectInvalid(Resize(x, Tensor(), I64({1, 4}, {1, 1, 8, 8}), {}), "expected i64[4]");
}

TEST(ResizeErrorsTest, BadAttributesAndRoi) {
  const Tensor x = F32({1, 1, 4, 4}, kX);
  ExpectInvalid(Resize(x, Scales({1, 1, 2, 2}), Tensor(), Attrs({{"mode", std::string("area")}})),
                "mode is 'area'");
  ExpectInvalid(Resize(x, Scales({1, 1, 2, 2}), Tensor(),
                       Attrs({{"coordinate_transformation_mode", std::string("corners")}})),
                "coordinate_transformation_mode is 'corners'");
  ExpectInvalid(
      Resize(x, Scales({1, 1, 2, 2}), Tensor(), Attrs({{"nearest_mode", std::string("round")}})),
      "nearest_mode is 'round'");
  ExpectInvalid(
      Resize(x, Scales({1, 1, 2, 2}), Tensor(),
             Attrs({{"coordinate_transformation_mode", std::string("tf_crop_and_resize")}}),
             F32({4}, {0, 0, 1, 1})),
      "input 'roi' is f32[4]; expected f32[8]");
  ExpectInvalid(Resize(F32({}, {1}), Scales({}), Sizes({}), {}), "scalar");
}

}  // namespace
}  // namespace fleet
