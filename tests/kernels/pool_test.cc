// Tests for MaxPool, AveragePool, LpPool and the global pools against ONNX
// Runtime.
//
// Inputs follow one pattern; the expected values come from ONNX Runtime (CPU)
// running a single-node opset-17 model, in Python:
//   def pat(shape, mul=7, mod=11):
//       n = int(np.prod(shape))
//       return ((np.arange(n) * mul % mod - mod // 2) *
//       0.25).astype(np.float32).reshape(shape)
//   def ort(op, inputs, nout=1, **attrs):  # one node, inputs i0.., outputs
//   o0..
//       ... make_graph/make_model(opset 17),
//       onnxruntime.InferenceSession(...).run(None, feeds)
// Each test quotes its call.
#include <algorithm>
#include <cstdint>
#include <limits>
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
using Ints = std::vector<int64_t>;

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

std::vector<Tensor> RunPool(const std::string& op, const Tensor& x, const AttrMap& attrs,
                            int num_outputs = 1) {
  ThreadPool pool(2);
  auto out = RunKernel(op, {x}, attrs, num_outputs, &pool);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<Tensor>(num_outputs);
}

TEST(MaxPoolTest, PadsStridesCeilModeAndIndices) {
  // ort('MaxPool', [pat([1,2,5,5])], 2, kernel_shape=[3,2], strides=[2,2],
  // pads=[1,0,1,1],
  //     ceil_mode=1)
  auto out = RunPool("MaxPool", Pat({1, 2, 5, 5}),
                     {{"kernel_shape", Ints{3, 2}},
                      {"strides", Ints{2, 2}},
                      {"pads", Ints{1, 0, 1, 1}},
                      {"ceil_mode", int64_t{1}}},
                     2);
  ExpectNear(
      out[0], {1, 2, 3, 3},
      {1, 1.25, 0.75, 1, 1, 1.25, 0.75, 1, -0.5, 1.25, 1, 0.5, 1.25, 0.75, 1, 0.5, 1.25, -0.75});
  ASSERT_EQ(out[1].dtype(), DataType::kI64);
  EXPECT_EQ(ToVector<int64_t>(out[1]),
            (Ints{6, 3, 9, 6, 17, 14, 20, 17, 24, 25, 28, 34, 36, 42, 39, 45, 47, 49}));
}

TEST(MaxPoolTest, ColumnMajorIndices) {
  // ort('MaxPool', [pat([1,2,5,5])], 2, kernel_shape=[2,2], strides=[2,2],
  // storage_order=1)
  auto out = RunPool(
      "MaxPool", Pat({1, 2, 5, 5}),
      {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"storage_order", int64_t{1}}}, 2);
  ExpectNear(out[0], {1, 2, 2, 2}, {1, 1.25, 0.25, 1, 1.25, 1, 1.25, 0.75});
  EXPECT_EQ(ToVector<int64_t>(out[1]), (Ints{6, 15, 3, 13, 25, 40, 32, 38}));
}

TEST(MaxPoolTest, DilationsOneDimensionalAndUint8) {
  // ort('MaxPool', [pat([1,2,5,5])], kernel_shape=[2,2], dilations=[2,2])
  ExpectNear(RunPool("MaxPool", Pat({1, 2, 5, 5}),
                     {{"kernel_shape", Ints{2, 2}}, {"dilations", Ints{2, 2}}})[0],
             {1, 2, 3, 3},
             {0.5, 1.25, 1.25, 1, 1, 1, 0.75, 0.5, 1.25, 1.25, 1.25, 1, 0.75, 0.75, 0.75, 1.25,
              1.25, 1.25});
  // ort('MaxPool', [pat([1,2,7])], kernel_shape=[3], strides=[2])
  ExpectNear(
      RunPool("MaxPool", Pat({1, 2, 7}), {{"kernel_shape", Ints{3}}, {"strides", Ints{2}}})[0],
      {1, 2, 3}, {0.5, 1.25, 1, 0.75, 0.75, 0.5});
  Tensor u = MakeTensor<uint8_t>(DataType::kU8, {1, 1, 2, 2}, {3, 250, 7, 9});
  Tensor y = RunPool("MaxPool", u, {{"kernel_shape", Ints{2, 2}}})[0];
  EXPECT_EQ(ToVector<uint8_t>(y), (std::vector<uint8_t>{250}));
}

TEST(AveragePoolTest, CountIncludePad) {
  // ort('AveragePool', [pat([1,2,5,5])], kernel_shape=[3,3], strides=[2,2],
  // pads=[1,1,1,1])
  AttrMap attrs = {
      {"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}};
  ExpectNear(RunPool("AveragePool", Pat({1, 2, 5, 5}), attrs)[0], {1, 2, 3, 3},
             {-0.125, 0.208333, 0.3125, -0.291667, -0.111111, -0.0833333, 0, -0.125, -0.25, 0.3125,
              -0.0416667, 0.0625, -0.0833333, -0.0555556, -0.333333, -0.25, 0.0833333, -0.5});
  // ... with count_include_pad=1
  attrs["count_include_pad"] = int64_t{1};
  ExpectNear(RunPool("AveragePool", Pat({1, 2, 5, 5}), attrs)[0], {1, 2, 3, 3},
             {-0.0555556, 0.138889, 0.138889, -0.194444, -0.111111, -0.0555556, 0, -0.0833333,
              -0.111111, 0.138889, -0.0277778, 0.0277778, -0.0555556, -0.0555556, -0.222222,
              -0.111111, 0.0555556, -0.222222});
}

TEST(AveragePoolTest, CeilModeSameLowerAndThreeDimensional) {
  // ort('AveragePool', [pat([1,2,5,5])], kernel_shape=[2,2], strides=[2,2],
  // ceil_mode=1)
  ExpectNear(
      RunPool(
          "AveragePool", Pat({1, 2, 5, 5}),
          {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}})[0],
      {1, 2, 3, 3},
      {-0.125, -0.0625, 0.5, -0.5, 0.25, 0.125, 0.25, -0.375, -0.5, 0.3125, -0.3125, 0.25, -0.0625,
       0, -0.125, 0, 0.75, -0.75});
  // ort('AveragePool', [pat([1,1,4,4])], kernel_shape=[2,2],
  // auto_pad='SAME_LOWER')
  ExpectNear(RunPool("AveragePool", Pat({1, 1, 4, 4}),
                     {{"kernel_shape", Ints{2, 2}}, {"auto_pad", std::string("SAME_LOWER")}})[0],
             {1, 1, 4, 4},
             {-1.25, -0.375, 0, 0.375, -0.5, -0.3125, 0.0625, 0.4375, -0.375, -0.1875, 0.1875,
              -0.125, -0.25, -0.0625, 0.3125, 0});
  // ort('AveragePool', [pat([1,1,3,3,4])], kernel_shape=[2,2,2],
  // strides=[1,1,2])
  ExpectNear(RunPool("AveragePool", Pat({1, 1, 3, 3, 4}),
                     {{"kernel_shape", Ints{2, 2, 2}}, {"strides", Ints{1, 1, 2}}})[0],
             {1, 1, 2, 2, 2}, {-0.125, 0.28125, 0, -0.28125, 0.25, -0.03125, 0.03125, -0.25});
}

TEST(LpPoolTest, TwoNormWithPads) {
  // ort('LpPool', [pat([1,2,5,5])], kernel_shape=[2,2], strides=[2,2],
  // pads=[0,0,1,1], p=2)
  ExpectNear(RunPool("LpPool", Pat({1, 2, 5, 5}),
                     {{"kernel_shape", Ints{2, 2}},
                      {"strides", Ints{2, 2}},
                      {"pads", Ints{0, 0, 1, 1}},
                      {"p", int64_t{2}}})[0],
             {1, 2, 3, 3},
             {1.83712, 1.67705, 0.790569, 1.5, 1.22474, 1.60078, 0.790569, 1.34629, 0.5, 1.78536,
              1.78536, 0.5, 1.67705, 1.11803, 1.60078, 0.707107, 1.27475, 0.75});
}

TEST(GlobalPoolTest, AverageAndMax) {
  // ort('GlobalAveragePool', [pat([2,3,2,2])]), ort('GlobalMaxPool',
  // [pat([2,3,2,2])])
  ExpectNear(RunPool("GlobalAveragePool", Pat({2, 3, 2, 2}), {})[0], {2, 3, 1, 1},
             {0, 0.125, -0.4375, 0.375, -0.1875, -0.0625});
  ExpectNear(RunPool("GlobalMaxPool", Pat({2, 3, 2, 2}), {})[0], {2, 3, 1, 1},
             {1.25, 1, 0.75, 1.25, 1, 0.75});
  // Closed form: the 2-norm of [3, 4] is 5.
  ExpectNear(RunPool("GlobalLpPool", MakeTensor<float>(DataType::kF32, {1, 1, 2}, {3, 4}), {})[0],
             {1, 1, 1}, {5});
}

// 2-D pooling by the definition, one output at a time: window o covers input
// positions o * stride - pad_begin + k * dilation; `out_h` x `out_w` is the
// output the kernel produced (its size arithmetic is tested above).
struct Pool2d {
  int64_t kh, kw, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
  bool ceil = false;
};
std::vector<float> ReferencePool2d(const Tensor& x, const Pool2d& p, bool max,
                                   bool include_pad, int64_t out_h, int64_t out_w) {
  const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
  std::vector<float> xv = ToVector<float>(x), y;
  for (int64_t q = 0; q < planes; ++q) {
    for (int64_t oh = 0; oh < out_h; ++oh) {
      for (int64_t ow = 0; ow < out_w; ++ow) {
        float best = std::numeric_limits<float>::lowest();
        double sum = 0;
        int64_t count = 0;
        for (int64_t a = 0; a < p.kh; ++a) {
          for (int64_t b = 0; b < p.kw; ++b) {
            const int64_t i = oh * p.sh - p.pt + a * p.dh, j = ow * p.sw - p.pl + b * p.dw;
            const bool inside = i >= 0 && i < h && j >= 0 && j < w;
            if (inside || (include_pad && i < h + p.pb && j < w + p.pr)) ++count;
            if (!inside) continue;
            best = std::max(best, xv[(q * h + i) * w + j]);
            sum += xv[(q * h + i) * w + j];
          }
        }
        y.push_back(max ? best : count > 0 ? static_cast<float>(sum / count) : 0.f);
      }
    }
  }
  return y;
}

TEST(PoolTest, RowPathMatchesDefinition) {
  // Kernels, strides, dilations, pads and ceil_mode on planes wider than one
  // vector block, against the definition; MaxPool's values also against its
  // per-output path (taken when Indices is requested).
  const std::vector<Pool2d> cases = {
      {3, 3, 2, 2, 1, 1, 1, 1, 1, 1},        // ResNet stem pool
      {2, 2, 2, 2},                          // 2x2 stride 2
      {3, 3, 1, 1, 1, 1, 1, 1, 1, 1},        // 3x3 stride 1 same
      {1, 1, 2, 2},                          // subsample
      {3, 5, 2, 3, 1, 2, 0, 2, 1, 0, true},  // asymmetric pads, ceil_mode
      {2, 3, 1, 2, 2, 3, 1, 0, 0, 2},        // dilations
      {5, 5, 3, 3, 1, 1, 2, 2, 2, 2, true},  // big window, ceil_mode
  };
  for (const Tensor& x : {Pat({2, 3, 19, 37}, 13, 29), Pat({1, 2, 6, 5})}) {
    for (size_t c = 0; c < cases.size(); ++c) {
      const Pool2d& p = cases[c];
      AttrMap attrs = {{"kernel_shape", Ints{p.kh, p.kw}},
                       {"strides", Ints{p.sh, p.sw}},
                       {"pads", Ints{p.pt, p.pl, p.pb, p.pr}},
                       {"ceil_mode", int64_t{p.ceil}}};
      if ((p.kh - 1) * p.dh + 1 > x.dim(2) + p.pt + p.pb ||
          (p.kw - 1) * p.dw + 1 > x.dim(3) + p.pl + p.pr) {
        continue;  // window larger than the padded input
      }
      AttrMap max_attrs = attrs;
      max_attrs["dilations"] = Ints{p.dh, p.dw};
      std::vector<Tensor> y = RunPool("MaxPool", x, max_attrs);
      std::vector<Tensor> yi = RunPool("MaxPool", x, max_attrs, 2);
      ASSERT_EQ(y[0].rank(), 4) << "case " << c;
      const int64_t oh = y[0].dim(2), ow = y[0].dim(3);
      ExpectNear(y[0], yi[0].shape(), ToVector<float>(yi[0]));
      ExpectNear(y[0], y[0].shape(), ReferencePool2d(x, p, true, false, oh, ow));
      if (p.dh != 1 || p.dw != 1) continue;  // AveragePool (opset 17) has no dilations
      for (bool include_pad : {false, true}) {
        attrs["count_include_pad"] = int64_t{include_pad};
        Tensor a = RunPool("AveragePool", x, attrs)[0];
        ExpectNear(a, y[0].shape(), ReferencePool2d(x, p, false, include_pad, oh, ow));
      }
    }
  }
}

TEST(PoolTest, RejectsBadAttributes) {
  Tensor x(DataType::kF32, {1, 1, 4, 4});
  auto status = [&](const std::string& op, const AttrMap& attrs) {
    return RunKernel(op, {x}, attrs, 1).status();
  };
  absl::Status s = status("MaxPool", {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("missing attribute 'kernel_shape'"));
  EXPECT_THAT(status("MaxPool", {{"kernel_shape", Ints{2}}}).message(),
              HasSubstr("attribute 'kernel_shape' has 1 entries [2]; expected 2"));
  EXPECT_THAT(status("AveragePool", {{"kernel_shape", Ints{5, 5}}}).message(),
              HasSubstr("input 'X' spatial dim 0 is 4 (4 with pads); expected at least the "
                        "dilated kernel extent 5"));
  EXPECT_THAT(status("MaxPool", {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{0, 1}}}).message(),
              HasSubstr("attribute 'strides' is [0,1]; expected entries >= 1"));
  EXPECT_EQ(status("AveragePool", {{"kernel_shape", Ints{2, 2}}, {"dilations", Ints{2, 2}}}).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_THAT(
      RunKernel("MaxPool", {Tensor(DataType::kF32, {4, 4})}, {{"kernel_shape", Ints{2, 2}}}, 1)
          .status()
          .message(),
      HasSubstr("input 'X' has shape [4,4]; expected [N,C,spatial...]"));
}

}  // namespace
}  // namespace fleet
