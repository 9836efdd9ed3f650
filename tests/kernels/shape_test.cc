// Tests of the CPU shape kernels (shape.cc, transpose.cc, slice_pad.cc) against closed forms
// (naive index arithmetic written out in the test) and NumPy results quoted in comments.
#include <numeric>

#include "gtest/gtest.h"
#include "kernels/cpu/shape_util.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using testing::MakeTensor;
using testing::RunKernel;
using testing::ToVector;

Tensor Iota(std::vector<int64_t> shape) {
  std::vector<float> v(NumElements(shape));
  std::iota(v.begin(), v.end(), 0.0f);
  return MakeTensor<float>(DataType::kF32, std::move(shape), v);
}

Tensor Ints(std::vector<int64_t> v) {
  return MakeTensor<int64_t>(DataType::kI64, {static_cast<int64_t>(v.size())}, v);
}

Tensor Run1(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {},
            ThreadPool* pool = nullptr) {
  auto out = RunKernel(op, inputs, attrs, 1, pool);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

TEST(ReshapeTest, ZeroCopiesDimAndMinusOneInfers) {
  Tensor x = Iota({2, 3, 4});
  Tensor y = Run1("Reshape", {x, Ints({0, -1})});
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{2, 12}));
  EXPECT_EQ(y.raw_data(), x.raw_data());  // a view, no copy
  Tensor z = Run1("Reshape", {Iota({0, 3}), Ints({3, 0})}, {{"allowzero", int64_t{1}}});
  EXPECT_EQ(z.shape(), (std::vector<int64_t>{3, 0}));
}

TEST(ReshapeTest, BadCountNamesBothElementCounts) {
  auto out = RunKernel("Reshape", {Iota({2, 3}), Ints({4, 2})}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("(6 elements)"), std::string::npos) << out.status();
  EXPECT_NE(out.status().message().find("(8 elements)"), std::string::npos) << out.status();
  auto two = RunKernel("Reshape", {Iota({2, 3}), Ints({-1, -1})}, {}, 1);
  EXPECT_NE(two.status().message().find("more than one -1"), std::string::npos);
  auto indivisible = RunKernel("Reshape", {Iota({2, 3}), Ints({4, -1})}, {}, 1);
  EXPECT_NE(indivisible.status().message().find("6 elements"), std::string::npos);
}

TEST(FlattenSqueezeTest, Shapes) {
  Tensor x = Iota({2, 3, 4, 5});
  EXPECT_EQ(Run1("Flatten", {x}, {{"axis", int64_t{0}}}).shape(), (std::vector<int64_t>{1, 120}));
  EXPECT_EQ(Run1("Flatten", {x}, {{"axis", int64_t{-1}}}).shape(), (std::vector<int64_t>{24, 5}));
  EXPECT_EQ(Run1("Flatten", {x}).shape(), (std::vector<int64_t>{2, 60}));
  Tensor u = Run1("Unsqueeze", {x, Ints({-1, 0})});
  EXPECT_EQ(u.shape(), (std::vector<int64_t>{1, 2, 3, 4, 5, 1}));
  EXPECT_EQ(Run1("Squeeze", {u}).shape(), x.shape());
  EXPECT_EQ(Run1("Squeeze", {u, Ints({5})}).shape(), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  auto bad = RunKernel("Squeeze", {x, Ints({1})}, {}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("its dim is 3; expected 1"), std::string::npos);
  EXPECT_FALSE(RunKernel("Unsqueeze", {x, Ints({0, 0})}, {}, 1).ok());
  EXPECT_FALSE(RunKernel("Squeeze", {x, Ints({4})}, {}, 1).ok());
}

TEST(ShapeSizeTest, StartEnd) {
  Tensor x = Iota({2, 3, 4, 5});
  EXPECT_EQ(ToVector<int64_t>(Run1("Shape", {x})), (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(ToVector<int64_t>(Run1("Shape", {x}, {{"start", int64_t{1}}, {"end", int64_t{-1}}})),
            (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(ToVector<int64_t>(Run1("Shape", {x}, {{"start", int64_t{-10}}, {"end", int64_t{1}}})),
            (std::vector<int64_t>{2}));
  EXPECT_EQ(Run1("Shape", {x}, {{"start", int64_t{3}}, {"end", int64_t{1}}}).numel(), 0);
  EXPECT_EQ(ToVector<int64_t>(Run1("Size", {x})), (std::vector<int64_t>{120}));
}

// Naive transpose reference: out[j] = in[sum_d idx_{perm^-1}...] by explicit index arithmetic.
std::vector<float> NaiveTranspose(const std::vector<float>& in, const std::vector<int64_t>& shape,
                                  const std::vector<int64_t>& perm) {
  const size_t rank = shape.size();
  std::vector<int64_t> out_shape(rank), in_strides(rank, 1);
  for (int d = static_cast<int>(rank) - 2; d >= 0; --d)
    in_strides[d] = in_strides[d + 1] * shape[d + 1];
  for (size_t d = 0; d < rank; ++d) out_shape[d] = shape[perm[d]];
  std::vector<float> out(in.size());
  for (size_t j = 0; j < in.size(); ++j) {
    int64_t rem = static_cast<int64_t>(j), offset = 0;
    for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
      offset += (rem % out_shape[d]) * in_strides[perm[d]];
      rem /= out_shape[d];
    }
    out[j] = in[offset];
  }
  return out;
}

TEST(TransposeTest, MatchesNaiveReferenceOnManyShapes) {
  ThreadPool pool(2);
  struct Case {
    std::vector<int64_t> shape, perm;
  };
  for (const Case& c : std::vector<Case>{{{67, 45}, {1, 0}},
                                         {{3, 70, 33}, {0, 2, 1}},
                                         {{2, 3, 4, 5}, {3, 1, 0, 2}},
                                         {{2, 3, 4, 5}, {0, 2, 1, 3}},
                                         {{4, 1, 6}, {2, 1, 0}},
                                         {{256, 300}, {1, 0}},
                                         // Attention's K to [b, h, d, s]: 8x8 register blocks
                                         // with an input row stride of h * d; then with tails.
                                         {{2, 32, 4, 32}, {0, 2, 3, 1}},
                                         {{3, 19, 2, 13}, {0, 2, 3, 1}}}) {
    Tensor x = Iota(c.shape);
    Tensor y = Run1("Transpose", {x}, {{"perm", c.perm}}, &pool);
    EXPECT_EQ(ToVector<float>(y), NaiveTranspose(ToVector<float>(x), c.shape, c.perm))
        << ShapeString(c.shape) << " perm " << ShapeString(c.perm);
  }
  // Default perm reverses; other element sizes use the same byte path.
  Tensor x8 = MakeTensor<int8_t>(DataType::kI8, {2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y8 = Run1("Transpose", {x8});
  EXPECT_EQ(y8.shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(ToVector<int8_t>(y8), (std::vector<int8_t>{1, 4, 2, 5, 3, 6}));
  EXPECT_FALSE(RunKernel("Transpose", {x8}, {{"perm", std::vector<int64_t>{0, 0}}}, 1).ok());
}

TEST(ExpandTileTest, ClosedForm) {
  Tensor x = MakeTensor<double>(DataType::kF64, {3, 1}, {1, 2, 3});
  Tensor e = Run1("Expand", {x, Ints({2, 1, 4})});
  ASSERT_EQ(e.shape(), (std::vector<int64_t>{2, 3, 4}));
  std::vector<double> ev = ToVector<double>(e);
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(ev[i], 1 + (i / 4) % 3) << i;
  EXPECT_FALSE(RunKernel("Expand", {x, Ints({2, 4})}, {}, 1).ok());

  Tensor t = Run1("Tile", {Iota({2, 3}), Ints({2, 3})});
  ASSERT_EQ(t.shape(), (std::vector<int64_t>{4, 9}));
  std::vector<float> tv = ToVector<float>(t);
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 9; ++j) EXPECT_EQ(tv[i * 9 + j], (i % 2) * 3 + j % 3);
  }
  EXPECT_FALSE(RunKernel("Tile", {Iota({2, 3}), Ints({2})}, {}, 1).ok());
}

TEST(ConcatSplitTest, RoundTrip) {
  Tensor a = Iota({2, 2}), b = Iota({2, 3});
  Tensor c = Run1("Concat", {a, b}, {{"axis", int64_t{-1}}});
  EXPECT_EQ(ToVector<float>(c), (std::vector<float>{0, 1, 0, 1, 2, 2, 3, 3, 4, 5}));
  auto bad = RunKernel("Concat", {a, b}, {{"axis", int64_t{0}}}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("input 1 is f32[2,3]"), std::string::npos);

  auto parts = RunKernel("Split", {c, Ints({2, 0, 3})}, {{"axis", int64_t{1}}}, 3);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(ToVector<float>((*parts)[0]), ToVector<float>(a));
  EXPECT_EQ((*parts)[1].shape(), (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(ToVector<float>((*parts)[2]), ToVector<float>(b));
  auto equal = RunKernel("Split", {Iota({6})}, {}, 3);
  ASSERT_TRUE(equal.ok());
  EXPECT_EQ(ToVector<float>((*equal)[2]), (std::vector<float>{4, 5}));
  EXPECT_FALSE(RunKernel("Split", {c, Ints({2, 2})}, {{"axis", int64_t{1}}}, 2).ok());
}

TEST(SliceTest, NegativeStepsAndClamping) {
  Tensor y = Iota({2, 3, 4});
  // NumPy: np.arange(24).reshape(2,3,4)[:, ::-2, 3:0:-2] -> [[[11,9],[3,1]],[[23,21],[15,13]]]
  Tensor s = Run1("Slice", {y, Ints({-1, 3}), Ints({INT64_MIN, 0}), Ints({1, 2}), Ints({-2, -2})});
  EXPECT_EQ(s.shape(), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(ToVector<float>(s), (std::vector<float>{11, 9, 3, 1, 23, 21, 15, 13}));
  // NumPy: y[-5:10, 1:, -100:-1] -> [[[4,5,6],[8,9,10]],[[16,17,18],[20,21,22]]]
  Tensor t = Run1("Slice", {y, Ints({-5, 1, -100}), Ints({10, INT64_MAX, -1})});
  EXPECT_EQ(ToVector<float>(t), (std::vector<float>{4, 5, 6, 8, 9, 10, 16, 17, 18, 20, 21, 22}));
  Tensor empty = Run1("Slice", {y, Ints({3}), Ints({1}), Ints({2})});
  EXPECT_EQ(empty.shape(), (std::vector<int64_t>{2, 3, 0}));
  EXPECT_FALSE(RunKernel("Slice", {y, Ints({0}), Ints({1}), Ints({0}), Ints({0})}, {}, 1).ok());
  EXPECT_FALSE(RunKernel("Slice", {y, Ints({0}), Ints({1}), Ints({3})}, {}, 1).ok());
}

TEST(PadTest, ModesMatchNumPy) {
  Tensor x = Iota({3, 4});
  // np.pad(x, ((1,0),(2,1)), mode='reflect')
  Tensor r = Run1("Pad", {x, Ints({1, 2, 0, 1})}, {{"mode", std::string("reflect")}});
  EXPECT_EQ(ToVector<float>(r), (std::vector<float>{6, 5, 4, 5, 6, 7, 6, 2,  1, 0, 1, 2,  3,  2,
                                                    6, 5, 4, 5, 6, 7, 6, 10, 9, 8, 9, 10, 11, 10}));
  // np.pad(x, ((0,1),(1,2)), mode='edge')
  Tensor e = Run1("Pad", {x, Ints({0, 1, 1, 2})}, {{"mode", std::string("edge")}});
  EXPECT_EQ(ToVector<float>(e),
            (std::vector<float>{0, 0, 1, 2,  3,  3,  3,  4, 4, 5, 6,  7,  7,  7,
                                8, 8, 9, 10, 11, 11, 11, 8, 8, 9, 10, 11, 11, 11}));
  // Constant with a negative (cropping) pad: x[:, 1:] padded by one 9 on each side of each axis.
  Tensor c = Run1("Pad", {x, Ints({1, -1, 1, 1}), MakeTensor<float>(DataType::kF32, {}, {9})});
  ASSERT_EQ(c.shape(), (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(ToVector<float>(c),
            (std::vector<float>{9, 9, 9, 9, 1, 2, 3, 9, 5, 6, 7, 9, 9, 10, 11, 9, 9, 9, 9, 9}));
  auto bad = RunKernel("Pad", {x, Ints({1, 1})}, {}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("expected 4"), std::string::npos);
}

TEST(DepthToSpaceTest, MatchesNumPyAndInverts) {
  // NumPy (DCR): x.reshape(1,2,2,2,2,3).transpose(0,3,4,1,5,2).reshape(1,2,4,6)
  Tensor x = Iota({1, 8, 2, 3});
  Tensor d = Run1("DepthToSpace", {x}, {{"blocksize", int64_t{2}}});
  ASSERT_EQ(d.shape(), (std::vector<int64_t>{1, 2, 4, 6}));
  std::vector<float> dv = ToVector<float>(d);
  std::vector<float> expected =
      NaiveTranspose(ToVector<float>(x), {1, 2, 2, 2, 2, 3}, {0, 3, 4, 1, 5, 2});
  EXPECT_EQ(dv, expected);
  Tensor crd = Run1("DepthToSpace", {x}, {{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}});
  EXPECT_EQ(ToVector<float>(crd),
            NaiveTranspose(ToVector<float>(x), {1, 2, 2, 2, 2, 3}, {0, 1, 4, 2, 5, 3}));
  // SpaceToDepth undoes CRD-free DCR: s2d(d2s_dcr(x)) == x.
  Tensor back = Run1("SpaceToDepth", {d}, {{"blocksize", int64_t{2}}});
  EXPECT_EQ(ToVector<float>(back), ToVector<float>(x));
  EXPECT_FALSE(RunKernel("DepthToSpace", {x}, {{"blocksize", int64_t{3}}}, 1).ok());
}

TEST(IdentityTest, SharesInput) {
  Tensor x = Iota({4});
  EXPECT_EQ(Run1("Identity", {x}).raw_data(), x.raw_data());
}

}  // namespace
}  // namespace fleet
