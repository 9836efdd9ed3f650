// Tests for the optimizer kernels (optimizer.cc) beyond plain dense steps: sparse-rows
// gradients (sgd and adagrad agree with the dense update of the same rows; untouched rows stay
// as they are; repeated ids add up; momentum and Adam update lazily, checked against a
// reference computed here in double) and weight decay (torch.optim's L2 term).
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using ::fleet::testing::MakeTensor;
using ::fleet::testing::RunKernel;
using ::testing::HasSubstr;

constexpr int64_t kHeight = 6;
constexpr int64_t kWidth = 3;

double Init(int64_t i) { return std::cos(0.37 * static_cast<double>(i)) - 0.2; }
double GradValue(int64_t i, int step) { return std::sin(0.7 * i + 1.3 * step + 0.1) * 1.5; }

template <typename T>
Tensor Table(DataType dtype, double (*fn)(int64_t)) {
  Tensor t(dtype, {kHeight, kWidth});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(fn(i));
  return t;
}

double Zero(int64_t) { return 0.0; }
Tensor Lr(float lr) { return MakeTensor<float>(DataType::kF32, {1}, {lr}); }

// Sparse rows `ids` of a kHeight x kWidth table; row r holds GradValue(r * kWidth + j, step).
template <typename T>
Tensor SparseGrad(DataType dtype, const std::vector<int64_t>& ids, int step) {
  const int64_t n = static_cast<int64_t>(ids.size());
  Tensor values(dtype, {n, kWidth});
  for (int64_t i = 0; i < values.numel(); ++i) {
    values.data<T>()[i] = static_cast<T>(GradValue(i, step));
  }
  return Tensor::SparseRows(values, MakeTensor<int64_t>(DataType::kI64, {n}, ids), kHeight);
}

// The dense table the sparse rows stand for (repeated ids added), in double.
template <typename T>
std::vector<double> Densify(const std::vector<int64_t>& ids, int step) {
  std::vector<double> g(kHeight * kWidth, 0.0);
  for (size_t r = 0; r < ids.size(); ++r) {
    for (int64_t j = 0; j < kWidth; ++j) {
      g[ids[r] * kWidth + j] += static_cast<T>(GradValue(r * kWidth + j, step));
    }
  }
  return g;
}

template <typename T>
Tensor DenseFrom(DataType dtype, const std::vector<double>& values) {
  Tensor t(dtype, {kHeight, kWidth});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(values[i]);
  return t;
}

template <typename T>
void ExpectNear(const Tensor& t, const std::vector<double>& expected, double tol,
                const std::string& what) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(expected.size())) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(static_cast<double>(t.data<T>()[i]), expected[i],
                tol * (1 + std::fabs(expected[i])))
        << what << " [" << i << "]";
  }
}

// sgd and adagrad: the sparse update equals the dense one with zero gradient elsewhere.
template <typename T>
void CheckSparseMatchesDense(DataType dtype, const std::string& op, int num_state) {
  Tensor sparse_param = Table<T>(dtype, Init);
  Tensor dense_param = Table<T>(dtype, Init);
  Tensor sparse_state = Table<T>(dtype, [](int64_t) { return 0.1; });
  Tensor dense_state = Table<T>(dtype, [](int64_t) { return 0.1; });
  const std::vector<std::vector<int64_t>> ids = {{4, 1, 4, 0}, {2, 2, 5}, {1}};
  for (int step = 0; step < 3; ++step) {
    Tensor sparse = SparseGrad<T>(dtype, ids[step], step);
    Tensor dense = DenseFrom<T>(dtype, Densify<T>(ids[step], step));
    std::vector<Tensor> a = {sparse_param, sparse, Lr(0.1f)};
    std::vector<Tensor> b = {dense_param, dense, Lr(0.1f)};
    if (num_state > 0) {  // adagrad: Param, Grad, Moment, LearningRate
      a.insert(a.begin() + 2, sparse_state);
      b.insert(b.begin() + 2, dense_state);
    }
    auto ra = RunKernel(op, a, {}, 1 + num_state);
    ASSERT_TRUE(ra.ok()) << ra.status();
    auto rb = RunKernel(op, b, {}, 1 + num_state);
    ASSERT_TRUE(rb.ok()) << rb.status();
    for (int64_t i = 0; i < sparse_param.numel(); ++i) {
      EXPECT_NEAR(sparse_param.data<T>()[i], dense_param.data<T>()[i], 1e-6)
          << op << " step " << step << " [" << i << "]";
      EXPECT_NEAR(sparse_state.data<T>()[i], dense_state.data<T>()[i], 1e-6);
    }
  }
  // Row 3 never had a gradient: bit-for-bit its initial value.
  for (int64_t j = 0; j < kWidth; ++j) {
    EXPECT_EQ(sparse_param.data<T>()[3 * kWidth + j], static_cast<T>(Init(3 * kWidth + j)));
  }
}

TEST(SparseSgdTest, MatchesDenseF32) {
  CheckSparseMatchesDense<float>(DataType::kF32, "fleet.sgd", 0);
}
TEST(SparseSgdTest, MatchesDenseF64) {
  CheckSparseMatchesDense<double>(DataType::kF64, "fleet.sgd", 0);
}
TEST(SparseAdagradTest, MatchesDenseF32) {
  CheckSparseMatchesDense<float>(DataType::kF32, "fleet.adagrad", 1);
}

TEST(SparseSgdTest, RepeatedIdsAddUp) {
  Tensor param = Tensor::Zeros(DataType::kF32, {4, 2});
  Tensor values = MakeTensor<float>(DataType::kF32, {3, 2}, {1, 2, 10, 20, 100, 200});
  Tensor grad = Tensor::SparseRows(values, MakeTensor<int64_t>(DataType::kI64, {3}, {2, 0, 2}), 4);
  auto out = RunKernel("fleet.sgd", {param, grad, Lr(0.5f)}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].raw_data(), param.raw_data());
  const std::vector<float> expected = {-5, -10, 0, 0, -50.5f, -101, 0, 0};
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(param.data<float>()[i], expected[i]) << i;
}

// Lazy momentum and Adam: the rows a step names follow torch's formulas on the merged
// gradient; the others keep parameter and state. Adam's bias correction follows the global
// step.
template <typename T>
void CheckLazy(DataType dtype, const std::string& op, double tol) {
  const bool adam = op == "fleet.adam";
  const double lr = 0.05, mu = 0.8, beta1 = 0.9, beta2 = 0.99, eps = 1e-8;
  Tensor param = Table<T>(dtype, Init);
  Tensor s1 = Table<T>(dtype, Zero), s2 = Table<T>(dtype, Zero);
  Tensor b1p = MakeTensor<T>(dtype, {1}, {static_cast<T>(static_cast<float>(beta1))});
  Tensor b2p = MakeTensor<T>(dtype, {1}, {static_cast<T>(static_cast<float>(beta2))});
  std::vector<double> p(kHeight * kWidth), m(p.size(), 0.0), v(p.size(), 0.0);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<T>(Init(i));
  AttrMap attrs;
  if (adam) {
    attrs = {{"beta1", AttrValue(static_cast<float>(beta1))},
             {"beta2", AttrValue(static_cast<float>(beta2))},
             {"epsilon", AttrValue(static_cast<float>(eps))}};
  } else {
    attrs = {{"mu", AttrValue(static_cast<float>(mu))}};
  }
  const double b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
  const double lr32 = static_cast<float>(lr), mu32 = static_cast<float>(mu);
  const std::vector<std::vector<int64_t>> ids = {{4, 1, 4}, {1, 2}, {5, 4, 4, 4}};
  for (int step = 0; step < 3; ++step) {
    Tensor grad = SparseGrad<T>(dtype, ids[step], step);
    absl::StatusOr<std::vector<Tensor>> out =
        adam ? RunKernel(op, {param, grad, Lr(lr), s1, s2, b1p, b2p}, attrs, 5)
             : RunKernel(op, {param, grad, s1, Lr(lr)}, attrs, 2);
    ASSERT_TRUE(out.ok()) << out.status();
    const std::vector<double> g = Densify<T>(ids[step], step);
    std::vector<bool> touched(kHeight, false);
    for (int64_t id : ids[step]) touched[id] = true;
    const int t = step + 1;
    for (int64_t r = 0; r < kHeight; ++r) {
      if (!touched[r]) continue;
      for (int64_t j = 0; j < kWidth; ++j) {
        const int64_t i = r * kWidth + j;
        if (adam) {
          m[i] = b1 * m[i] + (1 - b1) * g[i];
          v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
          const double m_hat = m[i] / (1 - std::pow(b1, t));
          const double v_hat = v[i] / (1 - std::pow(b2, t));
          p[i] -= lr32 * m_hat / (std::sqrt(v_hat) + static_cast<float>(eps));
        } else {
          m[i] = mu32 * m[i] + g[i];
          p[i] -= lr32 * m[i];
        }
      }
    }
    ExpectNear<T>(param, p, tol, op + " param step " + std::to_string(step));
    ExpectNear<T>(s1, m, tol, op + " state step " + std::to_string(step));
    if (adam) {
      ExpectNear<T>(s2, v, tol, op + " moment2 step " + std::to_string(step));
      EXPECT_NEAR(static_cast<double>(b1p.data<T>()[0]), std::pow(b1, t + 1), tol);
    }
  }
}

TEST(SparseMomentumTest, LazyF32) { CheckLazy<float>(DataType::kF32, "fleet.momentum", 1e-5); }
TEST(SparseMomentumTest, LazyF64) { CheckLazy<double>(DataType::kF64, "fleet.momentum", 1e-10); }
TEST(SparseAdamTest, LazyF32) { CheckLazy<float>(DataType::kF32, "fleet.adam", 2e-5); }
TEST(SparseAdamTest, LazyF64) { CheckLazy<double>(DataType::kF64, "fleet.adam", 1e-9); }

TEST(SparseOptimizerErrorTest, RowIdOutOfRange) {
  Tensor param = Tensor::Zeros(DataType::kF32, {4, 2});
  Tensor grad = Tensor::SparseRows(Tensor::Zeros(DataType::kF32, {1, 2}),
                                   MakeTensor<int64_t>(DataType::kI64, {1}, {4}), 4);
  auto out = RunKernel("fleet.sgd", {param, grad, Lr(0.5f)}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("sparse row id 4 is outside the table's 4 rows"));
}

TEST(SparseOptimizerErrorTest, RowsOfAnotherTable) {
  Tensor param = Tensor::Zeros(DataType::kF32, {4, 2});
  Tensor grad = Tensor::SparseRows(Tensor::Zeros(DataType::kF32, {1, 3}),
                                   MakeTensor<int64_t>(DataType::kI64, {1}, {0}), 4);
  auto out = RunKernel("fleet.adagrad",
                       {param, grad, Tensor::Zeros(DataType::kF32, {4, 2}), Lr(0.5f)}, {}, 2);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("expected sparse rows of 4 rows of 2 elements"));
}

// ---- weight decay (dense): g += wd * p before the update; adamw's decay is decoupled ----

TEST(WeightDecayTest, SgdAddsL2Term) {
  Tensor param = MakeTensor<double>(DataType::kF64, {2}, {1.0, -2.0});
  Tensor grad = MakeTensor<double>(DataType::kF64, {2}, {0.5, 0.25});
  AttrMap attrs = {{"weight_decay", AttrValue(0.5f)}};
  ASSERT_TRUE(RunKernel("fleet.sgd", {param, grad, Lr(0.25f)}, attrs, 1).ok());
  EXPECT_DOUBLE_EQ(param.data<double>()[0], 1.0 - 0.25 * (0.5 + 0.5 * 1.0));
  EXPECT_DOUBLE_EQ(param.data<double>()[1], -2.0 - 0.25 * (0.25 + 0.5 * -2.0));
}

TEST(WeightDecayTest, MomentumAndAdagradAddL2Term) {
  Tensor param = MakeTensor<double>(DataType::kF64, {1}, {2.0});
  Tensor velocity = MakeTensor<double>(DataType::kF64, {1}, {1.0});
  Tensor grad = MakeTensor<double>(DataType::kF64, {1}, {0.5});
  AttrMap attrs = {{"weight_decay", AttrValue(0.25f)}, {"mu", AttrValue(0.5f)}};
  ASSERT_TRUE(RunKernel("fleet.momentum", {param, grad, velocity, Lr(0.5f)}, attrs, 2).ok());
  // g = 0.5 + 0.25 * 2 = 1; v = 0.5 * 1 + 1 = 1.5; p = 2 - 0.5 * 1.5
  EXPECT_DOUBLE_EQ(velocity.data<double>()[0], 1.5);
  EXPECT_DOUBLE_EQ(param.data<double>()[0], 1.25);

  Tensor p2 = MakeTensor<double>(DataType::kF64, {1}, {2.0});
  Tensor acc = MakeTensor<double>(DataType::kF64, {1}, {0.0});
  AttrMap ada = {{"weight_decay", AttrValue(0.25f)}, {"epsilon", AttrValue(0.0f)}};
  ASSERT_TRUE(RunKernel("fleet.adagrad", {p2, grad, acc, Lr(0.5f)}, ada, 2).ok());
  // g = 1; s = 1; p = 2 - 0.5 * 1 / 1
  EXPECT_DOUBLE_EQ(acc.data<double>()[0], 1.0);
  EXPECT_DOUBLE_EQ(p2.data<double>()[0], 1.5);
}

TEST(WeightDecayTest, AdamL2AndAdamWDecoupled) {
  auto step = [](const std::string& op, double p0, double g, float wd) {
    Tensor p = MakeTensor<double>(DataType::kF64, {1}, {p0});
    Tensor grad = MakeTensor<double>(DataType::kF64, {1}, {g});
    Tensor m = Tensor::Zeros(DataType::kF64, {1}), v = Tensor::Zeros(DataType::kF64, {1});
    Tensor b1p = MakeTensor<double>(DataType::kF64, {1}, {0.5});
    Tensor b2p = MakeTensor<double>(DataType::kF64, {1}, {0.5});
    AttrMap attrs = {{"beta1", AttrValue(0.5f)},
                     {"beta2", AttrValue(0.5f)},
                     {"epsilon", AttrValue(0.0f)},
                     {"weight_decay", AttrValue(wd)}};
    EXPECT_TRUE(RunKernel(op, {p, grad, Lr(0.5f), m, v, b1p, b2p}, attrs, 5).ok());
    return p.data<double>()[0];
  };
  // First Adam step moves by lr * sign(g'): adam's g' = g + wd * p = -1 + 0.5 * 3 > 0.
  EXPECT_DOUBLE_EQ(step("fleet.adam", 3.0, -1.0, 0.5f), 3.0 - 0.5);
  // adamw: p = 3 * (1 - 0.5 * 0.5) = 2.25, then moves by lr * sign(g) = +0.5.
  EXPECT_DOUBLE_EQ(step("fleet.adamw", 3.0, -1.0, 0.5f), 2.75);
}

}  // namespace
}  // namespace fleet
