// Tests for Conv and ConvTranspose against ONNX Runtime.
//
// Inputs follow one pattern; the expected values come from ONNX Runtime 1.x
// (CPU) running a single-node opset-17 model, in Python:
//   def pat(shape, mul=7, mod=11):
//       n = int(np.prod(shape))
//       return ((np.arange(n) * mul % mod - mod // 2) *
//       0.25).astype(np.float32).reshape(shape)
//   def ort(op, inputs, **attrs):  # one node, inputs i0.., output o0
//       node = onnx.helper.make_node(op, [f'i{k}' for k in range(len(inputs))],
//       ['o0'], **attrs)
//       ... make_graph/make_model(opset 17),
//       onnxruntime.InferenceSession(...).run(None, feeds)
// Each test quotes its call.
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using ::fleet::testing::MakeTensor;
using ::fleet::testing::RunKernel;
using ::fleet::testing::ToVector;
using ::testing::HasSubstr;

Tensor Pat(std::vector<int64_t> shape, int64_t mul = 7, int64_t mod = 11) {
  std::vector<float> v(static_cast<size_t>(NumElements(shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<float>((static_cast<int64_t>(i) * mul % mod - mod / 2) * 0.25);
  }
  return MakeTensor<float>(DataType::kF32, std::move(shape), v);
}

void ExpectNear(const Tensor& t, const std::vector<int64_t>& shape,
                const std::vector<float>& expected) {
  ASSERT_EQ(t.shape(), shape);
  std::vector<float> got = ToVector<float>(t);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-5) << "at " << i;
}

Tensor Run1(const std::string& op, const std::vector<Tensor>& in, const AttrMap& attrs = {},
            ThreadPool* pool = nullptr) {
  auto out = RunKernel(op, in, attrs, 1, pool);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

using Ints = std::vector<int64_t>;

TEST(ConvTest, BasicWithPaddingClosedForm) {
  // ONNX's Conv example: 5x5 ramp, 3x3 ones, pads 1: each output is the sum of
  // its neighbourhood.
  std::vector<float> x(25);
  for (int i = 0; i < 25; ++i) x[i] = static_cast<float>(i);
  Tensor y = Run1("Conv",
                  {MakeTensor<float>(DataType::kF32, {1, 1, 5, 5}, x),
                   MakeTensor<float>(DataType::kF32, {1, 1, 3, 3}, std::vector<float>(9, 1.0f))},
                  {{"pads", Ints{1, 1, 1, 1}}});
  ExpectNear(y, {1, 1, 5, 5}, {12,  21, 27, 33,  24,  33,  54,  63, 72,  51,  63,  99, 108,
                               117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84});
}

TEST(ConvTest, GroupsStridesDilationsAsymmetricPadsBias) {
  // ort('Conv', [pat([2,4,5,5]), pat([6,2,3,3],5,7), pat([6],3,5)], group=2,
  // strides=[2,1],
  //     dilations=[1,2], pads=[1,2,0,1])
  AttrMap attrs = {{"group", int64_t{2}},
                   {"strides", Ints{2, 1}},
                   {"dilations", Ints{1, 2}},
                   {"pads", Ints{1, 2, 0, 1}}};
  std::vector<Tensor> in = {Pat({2, 4, 5, 5}), Pat({6, 2, 3, 3}, 5, 7), Pat({6}, 3, 5)};
  const std::vector<float> expected = {
      -0.625,  -1.25,   0.125,   0.875,   -0.75,   -1.4375, -0.25,   -0.6875, -1.6875, 2.375,
      1.3125,  -0.75,   0.875,   -2.375,  2.375,   2.75,    -1.8125, -0.9375, -0.0625, -1,
      -0.0625, -1.0625, -1.5,    -1.1875, -0.25,   0.1875,  -1.1875, 0.875,   1.3125,  -1.1875,
      -1.4375, -1,      1.875,   -0.875,  -2.4375, 1.125,   -0.125,  2.375,   1,       -2.6875,
      0.0625,  -1.0625, -1.5,    -0.8125, 0.1875,  -0.1875, -0.0625, -2.1875, -1.25,   -0.5,
      1.5625,  -0.9375, -1.4375, -0.75,   -0.875,  1,       2.375,   0.25,    -1.1875, 1.125,
      -2.375,  2.625,   2.375,   -0.875,  -0.9375, 0.625,   -1.6875, -0.25,   -1.0625, -1.375,
      -0.875,  -0.5,    0.1875,  -0.0625, 1.5,     0.125,   -1.1875, -0.25,   -0.5,    1.25,
      -0.875,  -0.875,  2.1875,  0.625,   2.375,   -0.625,  -2.9375, 0.4375,  -1.0625, -0.8125,
      -1.5,    -1.0625, -0.1875, -0.5625, -2.3125, -1.25};
  ExpectNear(Run1("Conv", in, attrs), {2, 6, 2, 4}, expected);
  ThreadPool pool(2);  // same result when im2col runs in parallel
  ExpectNear(Run1("Conv", in, attrs, &pool), {2, 6, 2, 4}, expected);
}

TEST(ConvTest, Depthwise) {
  // ort('Conv', [pat([1,3,4,4]), pat([3,1,3,3],5,7)], group=3, pads=[1,1,1,1])
  ThreadPool pool(2);
  Tensor y = Run1("Conv", {Pat({1, 3, 4, 4}), Pat({3, 1, 3, 3}, 5, 7)},
                  {{"group", int64_t{3}}, {"pads", Ints{1, 1, 1, 1}}}, &pool);
  ExpectNear(y, {1, 3, 4, 4},
             {-1.375,  1.875,   -0.875, 0.9375,  0.5,    0.3125,  -0.125,  1.5,    -1.0625, 1.3125,
              -0.5,    -2.0625, -0.25,  0.8125,  0.5625, -0.875,  -0.4375, 0.5625, 0.625,   -0.375,
              0.5,     0.3125,  0.125,  0.1875,  -1.375, -0.4375, 1.4375,  -0.5,   0.9375,  0.5625,
              -1,      -0.0625, 0.875,  -1.0625, 0.75,   0.5,     0.625,   -2,     -0.25,   0.75,
              -0.5625, 1.5625,  0.5625, 0.1875,  -0.375, 0.75,    -1.125,  1.5});
}

TEST(ConvTest, PointwiseSkipsIm2col) {
  // ort('Conv', [pat([2,3,2,3]), pat([4,3,1,1],5,7), pat([4],3,5)])
  Tensor y = Run1("Conv", {Pat({2, 3, 2, 3}), Pat({4, 3, 1, 1}, 5, 7), Pat({4}, 3, 5)});
  ExpectNear(y, {2, 4, 2, 3}, {0.9375,  -0.875, -0.625,  -1.0625, -0.8125, -0.5625, 1.75,   -0.125,
                               0.0625,  0.25,   -0.25,   -0.0625, -0.4375, -0.625,  1.25,   -1,
                               -0.5,    1.375,  0.375,   0.125,   1.9375,  0.3125,  0.0625, 1.875,
                               -0.75,   0.875,  -0.9375, -0.6875, 0.9375,  -0.875,  -0.375, 1.875,
                               0,       -0.5,   1.75,    -0.125,  -0.375,  -0.5625, -0.75,  -0.25,
                               -0.4375, -0.625, 0,       0.4375,  0.1875,  -0.0625, 0.375,  0.125});
}

TEST(ConvTest, PointwiseOnLargePlaneReadsImageDirectly) {
  // Closed form: a [1,2,1,1] filter {1, 2} with bias 0.5 gives y = x[0] + 2 * x[1] + 0.5.
  Tensor x = Pat({1, 2, 32, 40});
  Tensor y = Run1("Conv", {x, MakeTensor<float>(DataType::kF32, {1, 2, 1, 1}, {1, 2}),
                           MakeTensor<float>(DataType::kF32, {1}, {0.5})});
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{1, 1, 32, 40}));
  const float* xp = x.data<float>();
  for (int i = 0; i < 32 * 40; ++i) {
    ASSERT_FLOAT_EQ(y.data<float>()[i], xp[i] + 2 * xp[32 * 40 + i] + 0.5f) << "at " << i;
  }
}

// A plain loop over the definition of 2-D Conv, as an independent reference for larger inputs.
std::vector<float> NaiveConv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t group,
                               Ints strides, Ints dilations, Ints pads, int64_t oh_n,
                               int64_t ow_n) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t m = w.dim(0), cg = w.dim(1), kh_n = w.dim(2), kw_n = w.dim(3), mg = m / group;
  std::vector<float> y(n * m * oh_n * ow_n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t oc = 0; oc < m; ++oc)
      for (int64_t oh = 0; oh < oh_n; ++oh)
        for (int64_t ow = 0; ow < ow_n; ++ow) {
          double acc = b.data<float>()[oc];
          for (int64_t icg = 0; icg < cg; ++icg)
            for (int64_t kh = 0; kh < kh_n; ++kh)
              for (int64_t kw = 0; kw < kw_n; ++kw) {
                const int64_t ih = oh * strides[0] + kh * dilations[0] - pads[0];
                const int64_t iw = ow * strides[1] + kw * dilations[1] - pads[1];
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                const int64_t ic = oc / mg * cg + icg;
                acc += x.data<float>()[((i * c + ic) * h + ih) * wd + iw] *
                       w.data<float>()[((oc * cg + icg) * kh_n + kh) * kw_n + kw];
              }
          y[((i * m + oc) * oh_n + oh) * ow_n + ow] = static_cast<float>(acc);
        }
  return y;
}

TEST(ConvTest, MatchesNaiveLoopOnLargerInputs) {
  ThreadPool pool(2);
  {  // small planes: several images share one GEMM
    Tensor x = Pat({3, 6, 20, 17}), w = Pat({8, 3, 3, 2}, 5, 7), b = Pat({8}, 3, 5);
    Tensor y = Run1("Conv", {x, w, b},
                    {{"group", int64_t{2}},
                     {"strides", Ints{2, 1}},
                     {"dilations", Ints{1, 2}},
                     {"pads", Ints{1, 0, 2, 1}}},
                    &pool);
    // out = (20 + 3 - 3) / 2 + 1 = 11, (17 + 1 - 3) / 1 + 1 = 16
    ExpectNear(y, {3, 8, 11, 16}, NaiveConv2d(x, w, b, 2, {2, 1}, {1, 2}, {1, 0}, 11, 16));
  }
  {  // large planes: one GEMM per image
    Tensor x = Pat({2, 4, 40, 40}), w = Pat({5, 4, 3, 3}, 5, 7), b = Pat({5}, 3, 5);
    Tensor y = Run1("Conv", {x, w, b}, {{"pads", Ints{1, 1, 1, 1}}}, &pool);
    ExpectNear(y, {2, 5, 40, 40}, NaiveConv2d(x, w, b, 1, {1, 1}, {1, 1}, {1, 1}, 40, 40));
  }
  {  // ResNet-style stem: 7x7 stride 2 with pads, rows of more than 16 strided outputs
    Tensor x = Pat({2, 3, 37, 71}), w = Pat({4, 3, 7, 7}, 5, 7), b = Pat({4}, 3, 5);
    Tensor y = Run1("Conv", {x, w, b}, {{"strides", Ints{2, 2}}, {"pads", Ints{3, 3, 2, 4}}},
                    &pool);
    // out = (37 + 5 - 7) / 2 + 1 = 18, (71 + 7 - 7) / 2 + 1 = 36
    ExpectNear(y, {2, 4, 18, 36}, NaiveConv2d(x, w, b, 1, {2, 2}, {1, 1}, {3, 3}, 18, 36));
  }
  {  // 1x1 stride 2 without pads (a subsample) on an odd width: the last tap is the plane's end
    Tensor x = Pat({2, 3, 9, 33}), w = Pat({5, 3, 1, 1}, 5, 7), b = Pat({5}, 3, 5);
    Tensor y = Run1("Conv", {x, w, b}, {{"strides", Ints{2, 2}}}, &pool);
    ExpectNear(y, {2, 5, 5, 17}, NaiveConv2d(x, w, b, 1, {2, 2}, {1, 1}, {0, 0}, 5, 17));
  }
  // Planes narrower than one vector (late ResNet stages), im2col'd several rows at a time:
  // {input H, W, kernel, stride, pad}.
  const int64_t small[][5] = {{4, 4, 3, 1, 1}, {2, 2, 3, 1, 1}, {8, 8, 3, 2, 1}, {6, 7, 3, 1, 0},
                              {4, 4, 7, 1, 3}, {9, 13, 3, 2, 0}, {5, 3, 2, 1, 1}};
  for (const auto& c : small) {
    const int64_t h = c[0], wd = c[1], k = c[2], st = c[3], pd = c[4];
    const int64_t oh = (h + 2 * pd - k) / st + 1, ow = (wd + 2 * pd - k) / st + 1;
    Tensor x = Pat({3, 4, h, wd}), w = Pat({6, 4, k, k}, 5, 7), b = Pat({6}, 3, 5);
    Tensor y = Run1("Conv", {x, w, b}, {{"strides", Ints{st, st}}, {"pads", Ints{pd, pd, pd, pd}}},
                    &pool);
    ExpectNear(y, {3, 6, oh, ow}, NaiveConv2d(x, w, b, 1, {st, st}, {1, 1}, {pd, pd}, oh, ow));
  }
}

TEST(ConvTest, OneDimensionalAutoPad) {
  // ort('Conv', [pat([1,2,6]), pat([3,2,3],5,7)], strides=[2],
  // auto_pad='SAME_UPPER' / LOWER)
  std::vector<Tensor> in = {Pat({1, 2, 6}), Pat({3, 2, 3}, 5, 7)};
  ExpectNear(Run1("Conv", in, {{"strides", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}}),
             {1, 3, 3}, {0.4375, 2, -1.375, -1.0625, -1.25, 1.125, 0.9375, -1, 0.125});
  ExpectNear(Run1("Conv", in, {{"strides", Ints{2}}, {"auto_pad", std::string("SAME_LOWER")}}),
             {1, 3, 3},
             {0.125, -1.1875, -1.6875, 0.6875, 1.9375, -1.6875, -0.0625, -1.0625, 1.8125});
}

TEST(ConvTest, ThreeDimensional) {
  // ort('Conv', [pat([1,2,3,4,3]), pat([2,2,2,2,2],5,7)], pads=[0,1,0,1,0,1])
  Tensor y = Run1("Conv", {Pat({1, 2, 3, 4, 3}), Pat({2, 2, 2, 2, 2}, 5, 7)},
                  {{"pads", Ints{0, 1, 0, 1, 0, 1}}});
  ExpectNear(y, {1, 2, 3, 4, 3},
             {-1,      -0.1875, -0.6875, 1.6875,  -0.8125, 0.875,   -0.3125, -0.75,   1.0625,
              1.125,   -0.6875, -0.125,  -0.1875, -0.75,   -0.5625, -0.8125, 1.5,     -0.4375,
              -0.75,   1.5625,  -0.25,   -0.6875, 0.25,    -0.0625, 0.5,     -0.625,  0,
              1.1875,  -0.875,  -0.0625, 1.1875,  -0.875,  0.125,   -0.1875, -0.875,  0.3125,
              0.0625,  -0.25,   0.0625,  0.875,   -0.6875, -1,      1,       -0.5625, -1,
              -0.25,   -1.125,  -0.3125, -0.25,   0.125,   1.3125,  -0.6875, -0.875,  0.375,
              -0.5625, -0.75,   0.375,   -1.125,  0.0625,  0.375,   -0.5,    1.25,    0.1875,
              -0.25,   0.375,   -0.0625, -0.4375, 0.1875,  -0.1875, 0.0625,  0,       -0.3125});
}

TEST(ConvTest, DoubleMatchesFloat) {
  std::vector<double> x(2 * 3 * 3), w(2 * 2 * 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 1.0;
  // Two channels of 3x3 ramps (0..8, 9..17), 2x2 ones: y[i,j] = sum of both 2x2
  // windows.
  Tensor y = Run1("Conv", {MakeTensor<double>(DataType::kF64, {1, 2, 3, 3}, x),
                           MakeTensor<double>(DataType::kF64, {1, 2, 2, 2}, w)});
  EXPECT_EQ(ToVector<double>(y), (std::vector<double>{52, 60, 76, 84}));
}

absl::Status ConvStatus(const std::vector<Tensor>& in, const AttrMap& attrs = {}) {
  return RunKernel("Conv", in, attrs, 1).status();
}

TEST(ConvTest, RejectsBadShapesAndAttributes) {
  Tensor x(DataType::kF32, {1, 8, 5, 5});
  absl::Status s = ConvStatus({x, Tensor(DataType::kF32, {4, 3, 3, 3})}, {{"group", int64_t{2}}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input 'W' has 3 input channels per group; expected 4 "
                                     "(X has 8 channels, group 2)"));
  EXPECT_THAT(
      ConvStatus({x, Tensor(DataType::kF32, {5, 4, 3, 3})}, {{"group", int64_t{2}}}).message(),
      HasSubstr("input 'W' has 5 output channels; expected a multiple of group 2"));
  EXPECT_THAT(
      ConvStatus({x, Tensor(DataType::kF32, {4, 8, 3, 3}), Tensor(DataType::kF32, {3})}).message(),
      HasSubstr("input 'B' is f32[3]; expected f32[4]"));
  EXPECT_THAT(ConvStatus({x, Tensor(DataType::kF32, {4, 8, 7, 7})}).message(),
              HasSubstr("input 'X' spatial dim 0 is 5 (5 with pads); expected at least the "
                        "dilated kernel extent 7"));
  EXPECT_THAT(
      ConvStatus({x, Tensor(DataType::kF32, {4, 8, 3, 3})}, {{"auto_pad", std::string("SAME")}})
          .message(),
      HasSubstr("attribute 'auto_pad' is 'SAME'"));
  EXPECT_THAT(
      ConvStatus({x, Tensor(DataType::kF32, {4, 8, 3, 3})}, {{"strides", Ints{1}}}).message(),
      HasSubstr("attribute 'strides' has 1 entries; expected 2"));
  EXPECT_THAT(ConvStatus({x, Tensor(DataType::kF32, {4, 8, 3, 3})}, {{"pads", Ints{1, 1, -1, 1}}})
                  .message(),
              HasSubstr("attribute 'pads' is [1,1,-1,1]; expected entries >= 0"));
  EXPECT_THAT(ConvStatus({x, Tensor(DataType::kF32, {4, 8, 3, 3})}, {{"kernel_shape", Ints{2, 2}}})
                  .message(),
              HasSubstr("attribute 'kernel_shape' is [2,2]; expected [3,3]"));
  EXPECT_THAT(
      ConvStatus({Tensor(DataType::kF32, {8, 5}), Tensor(DataType::kF32, {4, 8})}).message(),
      HasSubstr("input 'X' has shape [8,5]; expected [N,C,spatial...]"));
}

TEST(ConvTransposeTest, GroupsStridesPadsOutputPaddingBias) {
  // ort('ConvTranspose', [pat([1,4,3,3]), pat([4,1,3,3],5,7), pat([2],3,5)],
  // group=2,
  //     strides=[2,2], pads=[1,0,0,1], output_padding=[1,0])
  ThreadPool pool(2);
  Tensor y = Run1("ConvTranspose", {Pat({1, 4, 3, 3}), Pat({4, 1, 3, 3}, 5, 7), Pat({2}, 3, 5)},
                  {{"group", int64_t{2}},
                   {"strides", Ints{2, 2}},
                   {"pads", Ints{1, 0, 0, 1}},
                   {"output_padding", Ints{1, 0}}},
                  &pool);
  ExpectNear(
      y, {1, 2, 7, 6},
      {0.3125,  -1.625,  -1.6875, -0.0625, -0.25,   -0.5625, -0.75,   0.8125,  -1.5625, -0.5,
       -0.4375, -1.125,  -1,      0.3125,  -0.8125, -0.1875, 0.625,   -1.375,  -1.3125, -1.0625,
       -0.25,   -0.3125, 0.875,   -0.9375, -0.9375, 0.1875,  -0.625,  -0.3125, 0.8125,  -1.5,
       -0.625,  -1.25,   -0.5,    -0.5,    0.625,   0.25,    -0.5,    -0.5,    -0.5,    -0.5,
       -0.5,    -0.5,    0.25,    0.625,   0.4375,  -0.75,   0.4375,  0.625,   0.125,   1.125,
       0,       -1.625,  0,       1.125,   0.4375,  0.625,   0.4375,  -0.75,   0.4375,  0.625,
       0.0625,  1.125,   2.0625,  -0.9375, -0.6875, 1.125,   0.625,   0.625,   -1.625,  0.625,
       0.4375,  0.625,   0.1875,  0.1875,  0.5625,  1.0625,  -0.0625, 0.5625,  0.25,    0.25,
       0.25,    0.25,    0.25,    0.25});
}

TEST(ConvTransposeTest, OutputShapeAndOneDimensionalDilations) {
  // ort('ConvTranspose', [pat([1,1,2,2]), pat([1,1,2,2],5,7)], strides=[2,2],
  // output_shape=[5,5])
  ExpectNear(Run1("ConvTranspose", {Pat({1, 1, 2, 2}), Pat({1, 1, 2, 2}, 5, 7)},
                  {{"strides", Ints{2, 2}}, {"output_shape", Ints{5, 5}}}),
             {1, 1, 5, 5},
             {0.9375, -0.625, -0.375, 0.25, 0, 0,      0.625, 0, -0.25, 0, 0.375, -0.25, -0.9375,
              0.625,  0,      0,      0.25, 0, -0.625, 0,     0, 0,     0, 0,     0});
  // ort('ConvTranspose', [pat([1,2,4]), pat([2,1,2],5,7)], dilations=[2])
  ExpectNear(
      Run1("ConvTranspose", {Pat({1, 2, 4}), Pat({2, 1, 2}, 5, 7)}, {{"dilations", Ints{2}}}),
      {1, 1, 6}, {0.9375, -0.375, -0.375, -0.3125, -0.75, 0.625});
}

TEST(ConvTransposeTest, RejectsBadShapes) {
  Tensor x(DataType::kF32, {1, 4, 3, 3});
  absl::Status s =
      RunKernel("ConvTranspose", {x, Tensor(DataType::kF32, {3, 2, 3, 3})}, {}, 1).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input 'W' has 3 input channels (dim 0); expected 4"));
  s = RunKernel("ConvTranspose", {x, Tensor(DataType::kF32, {4, 2, 3, 3})},
                {{"pads", Ints{4, 4, 4, 4}}}, 1)
          .status();
  EXPECT_THAT(s.message(), HasSubstr("output spatial dim 0 would be -3"));
  s = RunKernel("ConvTranspose", {x, Tensor(DataType::kF32, {4, 2, 3, 3})},
                {{"output_padding", Ints{1}}}, 1)
          .status();
  EXPECT_THAT(s.message(), HasSubstr("attribute 'output_padding' has 1 entries; expected 2"));
}

}  // namespace
}  // namespace fleet
