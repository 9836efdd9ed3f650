// Tests of the CPU index kernels (index.cc, index_misc.cc). Expected values are closed forms or
// the worked examples of the ONNX operator documentation (quoted), checked with NumPy.
#include <random>

#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using testing::MakeTensor;
using testing::RunKernel;
using testing::ToVector;

Tensor F32(std::vector<int64_t> shape, std::vector<float> v) {
  return MakeTensor<float>(DataType::kF32, std::move(shape), v);
}
Tensor I64(std::vector<int64_t> shape, std::vector<int64_t> v) {
  return MakeTensor<int64_t>(DataType::kI64, std::move(shape), v);
}

Tensor Run1(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {},
            ThreadPool* pool = nullptr) {
  auto out = RunKernel(op, inputs, attrs, 1, pool);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0] : Tensor();
}

TEST(GatherTest, EmbeddingLookupCopiesRows) {
  ThreadPool pool(2);
  const int64_t vocab = 1000, width = 64, n = 5000;
  std::vector<float> table(vocab * width);
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<float>(i) * 0.5f;
  std::mt19937 rng(7);
  std::vector<int64_t> ids(n);
  for (int64_t& id : ids) id = static_cast<int64_t>(rng() % (2 * vocab)) - vocab;  // negatives too
  Tensor y = Run1("Gather", {F32({vocab, width}, table), I64({n / 50, 50}, ids)}, {}, &pool);
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{n / 50, 50, width}));
  const float* p = y.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = ids[i] < 0 ? ids[i] + vocab : ids[i];
    for (int64_t j = 0; j < width; j += 13) {
      ASSERT_EQ(p[i * width + j], (row * width + j) * 0.5f) << "index " << i;
    }
  }
}

TEST(GatherTest, InnerAxisAndInt32Indices) {
  // ONNX doc (axis=1): data [[1,1.2,1.9],[2.3,3.4,3.9],[4.5,5.7,5.9]], indices [[0,2]]
  // -> [[[1,1.9]],[[2.3,3.9]],[[4.5,5.9]]]
  Tensor data = F32({3, 3}, {1, 1.2f, 1.9f, 2.3f, 3.4f, 3.9f, 4.5f, 5.7f, 5.9f});
  Tensor idx = MakeTensor<int32_t>(DataType::kI32, {1, 2}, {0, -1});
  Tensor y = Run1("Gather", {data, idx}, {{"axis", int64_t{1}}});
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(ToVector<float>(y), (std::vector<float>{1, 1.9f, 2.3f, 3.9f, 4.5f, 5.9f}));
}

TEST(GatherTest, OutOfRangeIdNamesIndexAndBound) {
  auto out = RunKernel("Gather", {F32({4, 2}, std::vector<float>(8)), I64({3}, {0, 4, 1})}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("index 4 at position 1"), std::string::npos)
      << out.status();
  EXPECT_NE(out.status().message().find("of size 4"), std::string::npos) << out.status();
  EXPECT_FALSE(
      RunKernel("Gather", {F32({4, 2}, std::vector<float>(8)), I64({1}, {-5})}, {}, 1).ok());
  EXPECT_FALSE(
      RunKernel("Gather", {F32({4, 2}, std::vector<float>(8)), F32({1}, {0})}, {}, 1).ok());
}

TEST(GatherElementsTest, DocExample) {
  // data [[1,2],[3,4]], axis 1, indices [[0,0],[1,0]] -> [[1,1],[4,3]]
  Tensor y = Run1("GatherElements", {F32({2, 2}, {1, 2, 3, 4}), I64({2, 2}, {0, 0, -1, 0})},
                  {{"axis", int64_t{1}}});
  EXPECT_EQ(ToVector<float>(y), (std::vector<float>{1, 1, 4, 3}));
  // axis 0, indices [[1,2,0],[2,0,0]] on 3x3 -> [[4,8,3],[7,2,3]]
  Tensor z = Run1("GatherElements",
                  {F32({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}), I64({2, 3}, {1, 2, 0, 2, 0, 0})});
  EXPECT_EQ(ToVector<float>(z), (std::vector<float>{4, 8, 3, 7, 2, 3}));
  EXPECT_FALSE(
      RunKernel("GatherElements", {F32({2, 2}, {1, 2, 3, 4}), I64({1, 1}, {2})}, {}, 1).ok());
}

TEST(GatherNDTest, DocExamples) {
  Tensor data = MakeTensor<int32_t>(DataType::kI32, {2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  // indices [[[0,1]],[[1,0]]] -> [[[2,3]],[[4,5]]]
  Tensor y = Run1("GatherND", {data, I64({2, 1, 2}, {0, 1, 1, 0})});
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{2, 1, 2}));
  EXPECT_EQ(ToVector<int32_t>(y), (std::vector<int32_t>{2, 3, 4, 5}));
  // batch_dims 1, indices [[1],[0]] -> [[2,3],[4,5]]
  Tensor z = Run1("GatherND", {data, I64({2, 1}, {1, 0})}, {{"batch_dims", int64_t{1}}});
  EXPECT_EQ(z.shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(ToVector<int32_t>(z), (std::vector<int32_t>{2, 3, 4, 5}));
  EXPECT_FALSE(RunKernel("GatherND", {data, I64({1, 2}, {0, 2})}, {}, 1).ok());
}

TEST(ScatterTest, ElementsAndND) {
  // data [[1,2,3,4,5]], indices [[1,3]], updates [[1.1,2.1]], axis 1 -> [[1,1.1,3,2.1,5]]
  Tensor data = F32({1, 5}, {1, 2, 3, 4, 5});
  Tensor y = Run1("ScatterElements", {data, I64({1, 2}, {1, -2}), F32({1, 2}, {1.1f, 2.1f})},
                  {{"axis", int64_t{1}}});
  EXPECT_EQ(ToVector<float>(y), (std::vector<float>{1, 1.1f, 3, 2.1f, 5}));
  EXPECT_EQ(ToVector<float>(data), (std::vector<float>{1, 2, 3, 4, 5}));  // input untouched
  // reduction add with duplicates: indices [[1,1]] -> [[1, 2+1.1+2.1, 3, 4, 5]]
  Tensor a = Run1("ScatterElements", {data, I64({1, 2}, {1, 1}), F32({1, 2}, {1.1f, 2.1f})},
                  {{"axis", int64_t{1}}, {"reduction", std::string("add")}});
  EXPECT_FLOAT_EQ(a.data<float>()[1], 5.2f);
  EXPECT_FALSE(RunKernel("ScatterElements", {data, I64({1, 1}, {5}), F32({1, 1}, {0})},
                         {{"axis", int64_t{1}}}, 1)
                   .ok());
  // ScatterND doc: data [1..8], indices [[4],[3],[1],[7]], updates [9,10,11,12]
  // -> [1,11,3,10,9,6,7,12]
  Tensor nd = Run1("ScatterND", {F32({8}, {1, 2, 3, 4, 5, 6, 7, 8}), I64({4, 1}, {4, 3, 1, 7}),
                                 F32({4}, {9, 10, 11, 12})});
  EXPECT_EQ(ToVector<float>(nd), (std::vector<float>{1, 11, 3, 10, 9, 6, 7, 12}));
  Tensor mul =
      Run1("ScatterND", {F32({2, 2}, {1, 2, 3, 4}), I64({2, 1}, {1, 1}), F32({2, 2}, {2, 3, 4, 5})},
           {{"reduction", std::string("mul")}});
  EXPECT_EQ(ToVector<float>(mul), (std::vector<float>{1, 2, 24, 60}));
  EXPECT_FALSE(
      RunKernel("ScatterND", {F32({2}, {1, 2}), I64({1, 1}, {2}), F32({1}, {0})}, {}, 1).ok());
}

TEST(OneHotTest, NegativeAndOutOfRange) {
  // indices [0,-1,3,5], depth 4, values [0,1] -> rows e0, e3, e3, zeros
  Tensor y = Run1("OneHot", {I64({4}, {0, -1, 3, 5}), F32({}, {4}), F32({2}, {0, 1})});
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(ToVector<float>(y),
            (std::vector<float>{1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}));
  // axis 0 transposes the layout: out[k][i] = (indices[i] == k)
  Tensor z =
      Run1("OneHot", {I64({2}, {1, 0}), I64({}, {3}), I64({2}, {-1, 7})}, {{"axis", int64_t{0}}});
  EXPECT_EQ(ToVector<int64_t>(z), (std::vector<int64_t>{-1, 7, 7, -1, -1, -1}));
}

TEST(TopKTest, StableTiesLowerIndexFirst) {
  Tensor x = F32({5}, {3, 1, 3, 2, 3});
  auto big = RunKernel("TopK", {x, I64({1}, {2})}, {}, 2);
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(ToVector<float>((*big)[0]), (std::vector<float>{3, 3}));
  EXPECT_EQ(ToVector<int64_t>((*big)[1]), (std::vector<int64_t>{0, 2}));
  auto small = RunKernel("TopK", {x, I64({1}, {3})}, {{"largest", int64_t{0}}}, 2);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(ToVector<float>((*small)[0]), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(ToVector<int64_t>((*small)[1]), (std::vector<int64_t>{1, 3, 0}));
  // axis 0 of a 3x2 matrix: per column
  auto col = RunKernel("TopK", {F32({3, 2}, {1, 6, 5, 2, 3, 4}), I64({1}, {1})},
                       {{"axis", int64_t{0}}}, 2);
  ASSERT_TRUE(col.ok());
  EXPECT_EQ(ToVector<float>((*col)[0]), (std::vector<float>{5, 6}));
  EXPECT_EQ(ToVector<int64_t>((*col)[1]), (std::vector<int64_t>{1, 0}));
  EXPECT_FALSE(RunKernel("TopK", {x, I64({1}, {6})}, {}, 2).ok());
}

TEST(CumSumTest, ExclusiveReverse) {
  Tensor x = F32({5}, {1, 2, 3, 4, 5});
  Tensor axis = I64({}, {0});
  EXPECT_EQ(ToVector<float>(Run1("CumSum", {x, axis})), (std::vector<float>{1, 3, 6, 10, 15}));
  EXPECT_EQ(ToVector<float>(
                Run1("CumSum", {x, axis}, {{"exclusive", int64_t{1}}, {"reverse", int64_t{1}}})),
            (std::vector<float>{14, 12, 9, 5, 0}));
  // np.cumsum([[1,2,3],[4,5,6]], axis=0) -> [[1,2,3],[5,7,9]]
  Tensor m = MakeTensor<int32_t>(DataType::kI32, {2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(ToVector<int32_t>(Run1("CumSum", {m, MakeTensor<int32_t>(DataType::kI32, {}, {-2})})),
            (std::vector<int32_t>{1, 2, 3, 5, 7, 9}));
}

TEST(RangeTest, IntAndFloat) {
  auto i32 = [](int32_t v) { return MakeTensor<int32_t>(DataType::kI32, {}, {v}); };
  EXPECT_EQ(ToVector<int32_t>(Run1("Range", {i32(10), i32(4), i32(-3)})),
            (std::vector<int32_t>{10, 7}));
  Tensor f = Run1("Range", {F32({}, {1}), F32({}, {2}), F32({}, {0.3f})});
  ASSERT_EQ(f.numel(), 4);  // ceil(1 / 0.3)
  EXPECT_FLOAT_EQ(f.data<float>()[3], 1.9f);
  EXPECT_EQ(Run1("Range", {i32(1), i32(5), i32(-1)}).numel(), 0);
  EXPECT_FALSE(RunKernel("Range", {i32(1), i32(5), i32(0)}, {}, 1).ok());
}

TEST(ConstantTest, AttributeForms) {
  TensorValue v{DataType::kI32, {2}, std::string("\x01\0\0\0\x02\0\0\0", 8)};
  EXPECT_EQ(ToVector<int32_t>(Run1("Constant", {}, {{"value", v}})), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(ToVector<float>(Run1("Constant", {}, {{"value_floats", std::vector<float>{1.5f}}})),
            (std::vector<float>{1.5f}));
  Tensor s = Run1("Constant", {}, {{"value_int", int64_t{7}}});
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(*s.data<int64_t>(), 7);
  EXPECT_EQ(RunKernel("Constant", {}, {}, 1).status().code(), absl::StatusCode::kUnimplemented);

  Tensor zeros = Run1("ConstantOfShape", {I64({2}, {2, 3})});
  EXPECT_EQ(zeros.dtype(), DataType::kF32);
  EXPECT_EQ(ToVector<float>(zeros), std::vector<float>(6, 0.0f));
  TensorValue one{DataType::kI64, {1}, std::string("\x05\0\0\0\0\0\0\0", 8)};
  EXPECT_EQ(ToVector<int64_t>(Run1("ConstantOfShape", {I64({1}, {3})}, {{"value", one}})),
            (std::vector<int64_t>{5, 5, 5}));
}

TEST(NonZeroTest, NegativeZeroIsZero) {
  // np.nonzero([[1,0],[-0.0,2]]) -> ([0,1],[0,1])
  Tensor y = Run1("NonZero", {F32({2, 2}, {1, 0, -0.0f, 2})});
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(ToVector<int64_t>(y), (std::vector<int64_t>{0, 1, 0, 1}));
}

TEST(TriluEyeLikeTest, ClosedForm) {
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = static_cast<float>(i + 1);
  for (int64_t upper : {0, 1}) {
    for (int64_t k : {-1, 0, 2}) {
      Tensor y = Run1("Trilu", {F32({3, 4}, v), I64({}, {k})}, {{"upper", upper}});
      std::vector<float> got = ToVector<float>(y);
      for (int64_t i = 0; i < 3; ++i) {
        for (int64_t j = 0; j < 4; ++j) {
          const bool keep = upper ? j - i >= k : j - i <= k;
          EXPECT_EQ(got[i * 4 + j], keep ? v[i * 4 + j] : 0) << upper << " " << k;
        }
      }
    }
  }
  Tensor eye = Run1("EyeLike", {F32({3, 4}, v)}, {{"k", int64_t{1}}, {"dtype", int64_t{6}}});
  EXPECT_EQ(eye.dtype(), DataType::kI32);
  EXPECT_EQ(ToVector<int32_t>(eye), (std::vector<int32_t>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
}

TEST(CompressTest, DocExamples) {
  Tensor x = F32({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor c = MakeTensor<uint8_t>(DataType::kBool, {3}, {0, 1, 1});
  EXPECT_EQ(ToVector<float>(Run1("Compress", {x, c}, {{"axis", int64_t{0}}})),
            (std::vector<float>{3, 4, 5, 6}));
  Tensor flat = MakeTensor<uint8_t>(DataType::kBool, {5}, {0, 1, 0, 0, 1});
  EXPECT_EQ(ToVector<float>(Run1("Compress", {x, flat})), (std::vector<float>{2, 5}));
  EXPECT_FALSE(RunKernel("Compress", {x, flat}, {{"axis", int64_t{0}}}, 1).ok());
}

}  // namespace
}  // namespace fleet

namespace fleet {
namespace {

// Output sizes taken from input values must be refused, not wrapped around (2^62 f32 elements
// would otherwise be "0 bytes").
TEST(IndexKernelsTest, HugeOutputsFromValuesAreRefused) {
  using ::fleet::testing::MakeTensor;
  using ::fleet::testing::RunKernel;
  Tensor indices = MakeTensor<int64_t>(DataType::kI64, {1}, {0});
  Tensor depth = MakeTensor<int64_t>(DataType::kI64, {}, {int64_t{1} << 62});
  Tensor values = MakeTensor<float>(DataType::kF32, {2}, {0.f, 1.f});
  auto onehot = RunKernel("OneHot", {indices, depth, values}, {}, 1);
  ASSERT_FALSE(onehot.ok());
  EXPECT_EQ(onehot.status().code(), absl::StatusCode::kInvalidArgument);
  Tensor shape = MakeTensor<int64_t>(DataType::kI64, {2}, {int64_t{1} << 31, int64_t{1} << 31});
  EXPECT_FALSE(RunKernel("ConstantOfShape", {shape}, {}, 1).ok());
  Tensor x = MakeTensor<float>(DataType::kF32, {1}, {1.f});
  EXPECT_FALSE(RunKernel("Expand", {x, shape}, {}, 1).ok());
  Tensor start = MakeTensor<int64_t>(DataType::kI64, {}, {0});
  Tensor limit = MakeTensor<int64_t>(DataType::kI64, {}, {int64_t{1} << 62});
  Tensor delta = MakeTensor<int64_t>(DataType::kI64, {}, {1});
  EXPECT_FALSE(RunKernel("Range", {start, limit, delta}, {}, 1).ok());
  Tensor a = MakeTensor<float>(DataType::kF32, {2, 1}, {1.f, 2.f});
  Tensor reps = MakeTensor<int64_t>(DataType::kI64, {2}, {int64_t{1} << 40, int64_t{1} << 40});
  EXPECT_FALSE(RunKernel("Tile", {a, reps}, {}, 1).ok());
}

}  // namespace
}  // namespace fleet
