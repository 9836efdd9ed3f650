// f32 and threaded paths of the gradient kernels on the CTR hot path (fleet.concat_grad,
// fleet.gather_grad_sparse, fleet.gather_grad, fleet.softmax_ce_grad, fleet.softmax_grad),
// against closed forms; the finite-difference checks in tests/grad cover the f64 math.
#include <cmath>
#include <vector>

#include "executor/thread_pool.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using testing::MakeTensor;
using testing::RunKernel;
using testing::ToVector;

TEST(ConcatGradKernel, CutsSelectedPiecesInParallel) {
  ThreadPool pool(2);
  const int64_t rows = 5000;  // enough rows for several tasks
  std::vector<float> x(rows * 6);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  std::vector<Tensor> in = {MakeTensor<float>(DataType::kF32, {rows, 6}, x),
                            Tensor(DataType::kF32, {rows, 1}), Tensor(DataType::kF32, {rows, 3}),
                            Tensor(DataType::kF32, {rows, 2})};
  AttrMap attrs = {{"axis", AttrValue(int64_t{1})},
                   {"select", AttrValue(std::vector<int64_t>{0, 2})}};
  auto out = RunKernel("fleet.concat_grad", in, attrs, 2, &pool);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ((*out)[0].shape(), (std::vector<int64_t>{rows, 1}));
  ASSERT_EQ((*out)[1].shape(), (std::vector<int64_t>{rows, 2}));
  for (int64_t r : {int64_t{0}, int64_t{1234}, rows - 1}) {
    EXPECT_EQ((*out)[0].data<float>()[r], x[r * 6]);
    EXPECT_EQ((*out)[1].data<float>()[r * 2], x[r * 6 + 4]);
    EXPECT_EQ((*out)[1].data<float>()[r * 2 + 1], x[r * 6 + 5]);
  }
}

TEST(ConcatGradKernel, RejectsInputsThatDoNotAddUp) {
  std::vector<Tensor> in = {Tensor(DataType::kF32, {2, 5}), Tensor(DataType::kF32, {2, 1}),
                            Tensor(DataType::kF32, {2, 3})};
  auto out = RunKernel("fleet.concat_grad", in, {{"axis", AttrValue(int64_t{1})}}, 2);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("do not add up"), std::string::npos) << out.status();
}

TEST(GatherGradSparseKernel, ViewsTheGradientAndSharesPlainIndices) {
  Tensor dy = MakeTensor<float>(DataType::kF32, {2, 2, 3}, std::vector<float>(12, 1.5f));
  Tensor ids = MakeTensor<int64_t>(DataType::kI64, {2, 2}, {3, 0, 3, 9});
  Tensor table(DataType::kF32, {10, 3});
  auto out = RunKernel("fleet.gather_grad_sparse", {dy, ids, table}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  const Tensor& g = (*out)[0];
  ASSERT_TRUE(g.is_sparse_rows());
  EXPECT_EQ(g.TypeString(), "f32[4,3] rows of 10");
  EXPECT_EQ(g.raw_data(), dy.raw_data());  // no copy of the values
  EXPECT_EQ(g.rows().raw_data(), ids.raw_data());
  EXPECT_EQ(ToVector<int64_t>(g.rows()), (std::vector<int64_t>{3, 0, 3, 9}));
}

TEST(GatherGradSparseKernel, NormalisesNegativeAndI32Indices) {
  Tensor dy = MakeTensor<float>(DataType::kF32, {3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor ids = MakeTensor<int32_t>(DataType::kI32, {3}, {-1, 0, -4});
  Tensor table(DataType::kF32, {4, 2});
  auto out = RunKernel("fleet.gather_grad_sparse", {dy, ids, table}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(ToVector<int64_t>((*out)[0].rows()), (std::vector<int64_t>{3, 0, 0}));
}

TEST(GatherGradKernel, ParallelColumnsMatchTheSerialSum) {
  ThreadPool pool(2);
  const int64_t width = 1500, n = 40;
  std::vector<float> dy(n * width);
  for (size_t i = 0; i < dy.size(); ++i) dy[i] = static_cast<float>(i % 97) * 0.25f;
  std::vector<int64_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = (i * 7) % 5 - 2;  // repeats, negatives
  auto out =
      RunKernel("fleet.gather_grad",
                {MakeTensor<float>(DataType::kF32, {n, width}, dy),
                 MakeTensor<int64_t>(DataType::kI64, {n}, ids), Tensor(DataType::kF32, {5, width})},
                {{"axis", AttrValue(int64_t{0})}}, 1, &pool);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<float> expected(5 * width, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = ids[i] < 0 ? ids[i] + 5 : ids[i];
    for (int64_t k = 0; k < width; ++k) expected[row * width + k] += dy[i * width + k];
  }
  EXPECT_EQ(ToVector<float>((*out)[0]), expected);
}

TEST(SoftmaxCeGradKernel, TwoClassesMeanWithAnIgnoredRow) {
  const std::vector<float> x = {0.5f, -1.0f, 2.0f, 2.0f, 30.0f, -30.0f};
  Tensor scores = MakeTensor<float>(DataType::kF32, {3, 2}, x);
  Tensor labels = MakeTensor<int64_t>(DataType::kI64, {3}, {1, -1, 0});
  Tensor dout = MakeTensor<float>(DataType::kF32, {}, {2.0f});
  AttrMap attrs = {{"reduction", AttrValue(std::string("mean"))},
                   {"ignore_index", AttrValue(int64_t{-1})}};
  auto out = RunKernel("fleet.softmax_ce_grad", {scores, labels, Tensor(), dout}, attrs, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<float> g = ToVector<float>((*out)[0]);
  // Two rows count; each gets 2 / 2 * (softmax - onehot).
  const double p0 = 1.0 / (1.0 + std::exp(-1.5));
  EXPECT_NEAR(g[0], p0, 1e-6);
  EXPECT_NEAR(g[1], (1.0 - p0) - 1.0, 1e-6);
  EXPECT_EQ(g[2], 0.0f);
  EXPECT_EQ(g[3], 0.0f);
  EXPECT_NEAR(g[4], 0.0, 1e-6);  // softmax ~1 at the label: no overflow at large scores
  EXPECT_NEAR(g[5], 0.0, 1e-6);
}

TEST(SoftmaxCeGradKernel, RejectsALabelOutOfRange) {
  Tensor scores(DataType::kF32, {2, 3});
  Tensor labels = MakeTensor<int64_t>(DataType::kI64, {2}, {0, 3});
  Tensor dout = MakeTensor<float>(DataType::kF32, {}, {1.0f});
  auto out = RunKernel("fleet.softmax_ce_grad", {scores, labels, Tensor(), dout}, {}, 1);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("label 3"), std::string::npos) << out.status();
}

TEST(SoftmaxGradKernel, F32RowsMatchTheClosedForm) {
  const std::vector<float> y = {0.1f, 0.2f, 0.7f, 0.25f, 0.25f, 0.5f};
  const std::vector<float> dy = {1.0f, -2.0f, 0.5f, 3.0f, 0.0f, -1.0f};
  auto out = RunKernel(
      "fleet.softmax_grad",
      {MakeTensor<float>(DataType::kF32, {2, 3}, y), MakeTensor<float>(DataType::kF32, {2, 3}, dy)},
      {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<float> g = ToVector<float>((*out)[0]);
  for (int r = 0; r < 2; ++r) {
    double dot = 0;
    for (int k = 0; k < 3; ++k) dot += y[r * 3 + k] * dy[r * 3 + k];
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(g[r * 3 + k], y[r * 3 + k] * (dy[r * 3 + k] - dot), 1e-6);
    }
  }
}

}  // namespace
}  // namespace fleet
