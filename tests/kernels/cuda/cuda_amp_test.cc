// The CUDA kernels of mixed-precision training against independent references, on random
// inputs: Cast between f32 and f16 or bf16 against the host's conversions (executor/half.h,
// ir/bfloat16.h); the f16 and bf16 GEMMs and convolutions against the CPU's f32 kernels run on
// the rounded inputs, within the 16-bit type's tolerance; the loss-scaling ops against closed forms
// written here, over several steps. Error paths must match the CPU's. Every test is skipped without
// a GPU.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "executor/half.h"
#include "gtest/gtest.h"
#include "ir/bfloat16.h"
#include "tests/kernels/cuda/cuda_test_util.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet::testing {
namespace {

using Shape = std::vector<int64_t>;

constexpr int64_t kOnnxFloat = 1;
constexpr int64_t kOnnxFloat16 = 10;
constexpr int64_t kOnnxBFloat16 = 16;
constexpr DataType kHalfTypes[] = {DataType::kF16, DataType::kBF16};

// f16 tolerances: one f16 rounding of the result (2^-11 relative) and sums in another order.
// bf16 rounds to 2^-8 relative, so its absolute tolerance is wider.
constexpr double kHalfAtol = 1e-2;
constexpr double kHalfRtol = 1e-2;
constexpr double kBFloat16Atol = 4e-2;

// The host 16-bit tensor (f16 or bf16) of x's values (round to nearest even), and back.
Tensor ToHalf(const Tensor& x, DataType type = DataType::kF16) {
  Tensor h(type, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data<float>()[i];
    h.data<uint16_t>()[i] = type == DataType::kBF16 ? FloatToBFloat16(v) : FloatToHalf(v);
  }
  return h;
}

Tensor ToFloat(const Tensor& h) {
  Tensor x(DataType::kF32, h.shape());
  for (int64_t i = 0; i < h.numel(); ++i) {
    const uint16_t bits = h.data<uint16_t>()[i];
    x.data<float>()[i] = h.dtype() == DataType::kBF16 ? BFloat16ToFloat(bits) : HalfToFloat(bits);
  }
  return x;
}

// Runs `op_type` on the GPU in `type` (f16 or bf16) and on the CPU in f32, both on the rounded
// values of `inputs` (f32; undefined ones stay absent), and compares every output within the
// type's tolerance.
void ExpectHalfNearCpuFloat(const std::string& op_type, const std::vector<Tensor>& inputs,
                            const AttrMap& attrs, int num_outputs = 1,
                            DataType type = DataType::kF16) {
  std::vector<Tensor> halves, rounded;
  for (const Tensor& x : inputs) {
    halves.push_back(x.defined() ? ToHalf(x, type) : Tensor());
    rounded.push_back(x.defined() ? ToFloat(halves.back()) : Tensor());
  }
  absl::StatusOr<std::vector<Tensor>> cpu = RunKernel(op_type, rounded, attrs, num_outputs);
  ASSERT_TRUE(cpu.ok()) << "cpu " << op_type << ": " << cpu.status();
  absl::StatusOr<std::vector<Tensor>> gpu = RunOnGpu(op_type, halves, attrs, num_outputs);
  ASSERT_TRUE(gpu.ok()) << "cuda " << op_type << ": " << gpu.status();
  ASSERT_EQ(cpu->size(), gpu->size());
  for (size_t i = 0; i < cpu->size(); ++i) {
    const std::string what = op_type + " " + DataTypeName(type) + " output " + std::to_string(i);
    ASSERT_EQ((*gpu)[i].dtype(), type) << what;
    ExpectNear((*cpu)[i], ToFloat((*gpu)[i]), what,
               type == DataType::kBF16 ? kBFloat16Atol : kHalfAtol, kHalfRtol);
  }
}

// ---- Cast ----

class CudaCastTest : public CudaTest {};

TEST_F(CudaCastTest, FloatToHalfAndBackMatchTheHostConversions) {
  Tensor x = RandomTensor({1000}, 1, -70000.f, 70000.f);  // some beyond f16's range
  const std::vector<float> special = {0.f,
                                      -0.f,
                                      1.f,
                                      65504.f,         // f16's largest
                                      65519.f,         // rounds down to it
                                      65520.f,         // rounds to inf
                                      6.1e-5f,         // near the smallest normal
                                      3e-7f,           // subnormal
                                      1e-9f,           // underflows to 0
                                      1.00048828125f,  // a tie: 1 + 2^-11
                                      std::numeric_limits<float>::infinity(),
                                      -std::numeric_limits<float>::infinity(),
                                      std::numeric_limits<float>::quiet_NaN()};
  for (size_t i = 0; i < special.size(); ++i) x.data<float>()[i] = special[i];
  for (int64_t i = static_cast<int64_t>(special.size()); i < 200; ++i)
    x.data<float>()[i] *= 1e-4f;  // small values
  const AttrMap to_half = {{"to", I(kOnnxFloat16)}};
  const AttrMap to_float = {{"to", I(kOnnxFloat)}};
  absl::StatusOr<std::vector<Tensor>> h = RunOnGpu("Cast", {x}, to_half, 1);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ((*h)[0].dtype(), DataType::kF16);
  ASSERT_EQ((*h)[0].shape(), x.shape());
  const Tensor expected = ToHalf(x);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const uint16_t want = expected.data<uint16_t>()[i], got = (*h)[0].data<uint16_t>()[i];
    if (std::isnan(x.data<float>()[i])) {
      EXPECT_TRUE(std::isnan(HalfToFloat(got))) << "element " << i;
    } else {
      EXPECT_EQ(want, got) << "element " << i << ": " << x.data<float>()[i];
    }
  }
  // f16 -> f32 is exact.
  absl::StatusOr<std::vector<Tensor>> back = RunOnGpu("Cast", {(*h)[0]}, to_float, 1);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectNear(ToFloat((*h)[0]), (*back)[0], "f16 -> f32", 0, 0);
  // Empty and scalar tensors.
  for (const Shape& s : {Shape{0, 3}, Shape{}}) {
    absl::StatusOr<std::vector<Tensor>> e = RunOnGpu("Cast", {RandomTensor(s, 2)}, to_half, 1);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ((*e)[0].TypeString(), Tensor(DataType::kF16, s).TypeString());
  }
}

TEST_F(CudaCastTest, FloatToBFloat16AndBackMatchTheHostConversions) {
  Tensor x = RandomTensor({1000}, 3, -1e5f, 1e5f);
  const std::vector<float> special = {0.f,
                                      -0.f,
                                      1.f,
                                      1.00390625f,  // a tie: 1 + 2^-8, to even (1)
                                      1.01171875f,  // a tie: 1 + 3 * 2^-8, to even (1 + 2^-6)
                                      3e38f,        // f32's range is bf16's
                                      std::numeric_limits<float>::max(),  // rounds to inf
                                      1e-40f,                             // subnormal
                                      std::numeric_limits<float>::infinity(),
                                      -std::numeric_limits<float>::infinity(),
                                      std::numeric_limits<float>::quiet_NaN()};
  for (size_t i = 0; i < special.size(); ++i) x.data<float>()[i] = special[i];
  absl::StatusOr<std::vector<Tensor>> h = RunOnGpu("Cast", {x}, {{"to", I(kOnnxBFloat16)}}, 1);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ((*h)[0].dtype(), DataType::kBF16);
  const Tensor expected = ToHalf(x, DataType::kBF16);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const uint16_t want = expected.data<uint16_t>()[i], got = (*h)[0].data<uint16_t>()[i];
    if (std::isnan(x.data<float>()[i])) {
      EXPECT_TRUE(std::isnan(BFloat16ToFloat(got))) << "element " << i;
    } else {
      EXPECT_EQ(want, got) << "element " << i << ": " << x.data<float>()[i];
    }
  }
  absl::StatusOr<std::vector<Tensor>> back =
      RunOnGpu("Cast", {(*h)[0]}, {{"to", I(kOnnxFloat)}}, 1);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectNear(ToFloat((*h)[0]), (*back)[0], "bf16 -> f32", 0, 0);
}

TEST_F(CudaCastTest, ToTheSameTypeSharesTheBuffer) {
  const Tensor x = Upload(RandomTensor({3, 4}, 1));
  absl::StatusOr<std::vector<Tensor>> out = RunCudaKernel("Cast", {x}, {{"to", I(kOnnxFloat)}}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].raw_data(), x.raw_data());
  const Tensor h = Upload(ToHalf(RandomTensor({5}, 2)));
  out = RunCudaKernel("Cast", {h}, {{"to", I(kOnnxFloat16)}}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].raw_data(), h.raw_data());
}

TEST_F(CudaCastTest, ErrorsMatchTheCpu) {
  ExpectSameError("Cast", {RandomTensor({3}, 1)}, {});              // no 'to'
  ExpectSameError("Cast", {RandomTensor({3}, 1)}, {{"to", I(8)}});  // ONNX STRING
  // f32 -> i64 is the CPU's only.
  absl::StatusOr<std::vector<Tensor>> i64 =
      RunOnGpu("Cast", {RandomTensor({3}, 1)}, {{"to", I(7)}}, 1);
  ASSERT_FALSE(i64.ok());
  EXPECT_EQ(i64.status().code(), absl::StatusCode::kUnimplemented) << i64.status();
  EXPECT_NE(std::string(i64.status().message()).find("f32 to i64"), std::string::npos)
      << i64.status();
}

// ---- f16 and bf16 GEMMs ----

class CudaHalfGemmTest : public CudaTest {};

// Gemm with every transpose, alpha, beta and C broadcast, in `type`.
void CheckGemm(DataType type) {
  const int64_t m = 5, k = 24, n = 3;
  uint32_t seed = 1;
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      for (const Shape& c : {Shape{n}, Shape{1, n}, Shape{m, 1}, Shape{m, n}}) {
        SCOPED_TRACE(::testing::Message()
                     << "transA " << ta << " transB " << tb << " C " << ShapeString(c));
        const Tensor a = RandomTensor(ta ? Shape{k, m} : Shape{m, k}, seed++);
        const Tensor b = RandomTensor(tb ? Shape{n, k} : Shape{k, n}, seed++);
        ExpectHalfNearCpuFloat(
            "Gemm", {a, b, RandomTensor(c, seed++)},
            {{"transA", I(ta)}, {"transB", I(tb)}, {"alpha", F(0.5f)}, {"beta", F(2.f)}}, 1, type);
      }
    }
  }
  // No C, the MLP's shapes; K = 0 (beta * C, and zeros).
  ExpectHalfNearCpuFloat("Gemm", {RandomTensor({64, 784}, 90), RandomTensor({128, 784}, 91)},
                         {{"transB", I(1)}}, 1, type);
  ExpectHalfNearCpuFloat(
      "Gemm", {RandomTensor({3, 0}, 1), RandomTensor({0, 4}, 2), RandomTensor({3, 4}, 3)},
      {{"beta", F(3.f)}}, 1, type);
  ExpectHalfNearCpuFloat("Gemm", {RandomTensor({3, 0}, 1), RandomTensor({0, 4}, 2)}, {}, 1, type);
}

TEST_F(CudaHalfGemmTest, GemmTransposesAlphaBetaAndBroadcastC) {
  for (DataType type : kHalfTypes) {
    SCOPED_TRACE(DataTypeName(type));
    CheckGemm(type);
  }
}

std::vector<std::pair<Shape, Shape>> MatMulCases() {
  return {
      {{3, 4}, {4, 5}},                // plain
      {{2, 3, 40}, {40, 5}},           // A's batch folds into rows
      {{2, 3, 4}, {2, 4, 5}},          // strided batched
      {{3, 4}, {2, 4, 5}},             // A shared across B's batch
      {{2, 1, 3, 4}, {1, 3, 4, 5}},    // batch dims broadcast both ways
      {{2, 4, 8, 16}, {2, 4, 16, 8}},  // attention scores' shapes
      {{4}, {4, 5}},                   // 1-D A
      {{3, 4}, {4}},                   // 1-D B
      {{0, 4}, {4, 5}},                // empty
      {{3, 0}, {0, 5}},                // K = 0: zeros
  };
}

TEST_F(CudaHalfGemmTest, MatMulBatchesAndBroadcasts) {
  for (DataType type : kHalfTypes) {
    uint32_t seed = 10;
    for (const auto& [a, b] : MatMulCases()) {
      SCOPED_TRACE(ShapeString(a) + " x " + ShapeString(b));
      ExpectHalfNearCpuFloat("MatMul", {RandomTensor(a, seed++), RandomTensor(b, seed++)}, {}, 1,
                             type);
    }
  }
}

TEST_F(CudaHalfGemmTest, MatMulGradients) {
  for (DataType type : kHalfTypes) {
    uint32_t seed = 100;
    for (const auto& [a_shape, b_shape] : MatMulCases()) {
      SCOPED_TRACE(ShapeString(a_shape) + " x " + ShapeString(b_shape));
      const Tensor a = RandomTensor(a_shape, seed++);
      const Tensor b = RandomTensor(b_shape, seed++);
      absl::StatusOr<std::vector<Tensor>> y = RunKernel("MatMul", {a, b}, {}, 1);
      ASSERT_TRUE(y.ok()) << y.status();
      const Tensor dy = RandomTensor((*y)[0].shape(), seed++);
      ExpectHalfNearCpuFloat("fleet.matmul_grad_a", {a, b, dy}, {}, 1, type);
      ExpectHalfNearCpuFloat("fleet.matmul_grad_b", {a, b, dy}, {}, 1, type);
    }
  }
}

TEST_F(CudaHalfGemmTest, MixedDtypesAreRejected) {
  absl::StatusOr<std::vector<Tensor>> out =
      RunOnGpu("MatMul", {ToHalf(RandomTensor({3, 4}, 1)), RandomTensor({4, 5}, 2)}, {}, 1);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
  EXPECT_NE(std::string(out.status().message()).find("input 'B' is f32"), std::string::npos)
      << out.status();
}

// ---- f16 and bf16 convolutions ----

class CudaHalfConvTest : public CudaTest {};

std::vector<ConvCase> ConvCases() {
  return {
      {{2, 3, 8, 8}, {4, 3, 3, 3}, {{"pads", V({1, 1, 1, 1})}}},                   // the CNN's
      {{2, 4, 9, 7}, {6, 2, 3, 3}, {{"group", I(2)}, {"strides", V({2, 2})}}},     // groups, stride
      {{2, 4, 6, 6}, {4, 1, 3, 3}, {{"group", I(4)}, {"pads", V({1, 1, 1, 1})}}},  // depthwise
      {{2, 8, 5, 5}, {16, 8, 1, 1}, {}},                                           // 1x1
      {{2, 3, 12}, {4, 3, 5}, {{"pads", V({2, 2})}, {"strides", V({2})}}},         // 1-D
      {{1, 2, 4, 5, 6}, {3, 2, 3, 3, 3}, {{"pads", V({1, 1, 1, 1, 1, 1})}}},       // 3-D
  };
}

TEST_F(CudaHalfConvTest, ForwardWithBiasAndGradients) {
  for (DataType type : kHalfTypes) {
    uint32_t seed = 1;
    for (const ConvCase& c : ConvCases()) {
      SCOPED_TRACE(ShapeString(c.x) + " * " + ShapeString(c.w));
      const Tensor x = RandomTensor(c.x, seed++);
      const Tensor w = RandomTensor(c.w, seed++);
      ExpectHalfNearCpuFloat("Conv", {x, w}, c.attrs, 1, type);
      ExpectHalfNearCpuFloat("Conv", {x, w, RandomTensor({c.w[0]}, seed++)}, c.attrs, 1, type);
      absl::StatusOr<std::vector<Tensor>> y = RunKernel("Conv", {x, w}, c.attrs, 1);
      ASSERT_TRUE(y.ok()) << y.status();
      const Tensor dy = RandomTensor((*y)[0].shape(), seed++);
      ExpectHalfNearCpuFloat("fleet.conv_grad_input", {x, w, dy}, c.attrs, 1, type);
      ExpectHalfNearCpuFloat("fleet.conv_grad_filter", {x, w, dy}, c.attrs, 2, type);
    }
  }
}

TEST_F(CudaHalfConvTest, PlansAreKeptPerDtype) {
  // One op state, the same shapes in f32 then f16: each dtype gets its own descriptors.
  const Tensor x = RandomTensor({2, 3, 6, 6}, 1);
  const Tensor w = RandomTensor({4, 3, 3, 3}, 2);
  const AttrMap attrs = {{"pads", V({1, 1, 1, 1})}};
  absl::StatusOr<std::vector<Tensor>> cpu =
      RunKernel("Conv", {ToFloat(ToHalf(x)), ToFloat(ToHalf(w))}, attrs, 1);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  std::unique_ptr<KernelState> state;
  absl::StatusOr<std::vector<Tensor>> f32 =
      RunCudaKernel("Conv", {Upload(x), Upload(w)}, attrs, 1, &state);
  ASSERT_TRUE(f32.ok()) << f32.status();
  absl::StatusOr<std::vector<Tensor>> f16 =
      RunCudaKernel("Conv", {Upload(ToHalf(x)), Upload(ToHalf(w))}, attrs, 1, &state);
  ASSERT_TRUE(f16.ok()) << f16.status();
  ExpectNear((*cpu)[0], ToFloat(Download((*f16)[0])), "f16 after f32", kHalfAtol, kHalfRtol);
  absl::StatusOr<std::vector<Tensor>> again =
      RunCudaKernel("Conv", {Upload(x), Upload(w)}, attrs, 1, &state);
  ASSERT_TRUE(again.ok()) << again.status();
  ExpectNear(Download((*f32)[0]), Download((*again)[0]), "f32 after f16", 1e-6, 1e-6);
}

// ---- loss scaling ----

class CudaLossScalingTest : public CudaTest {};

// X * (1 / scale), elementwise, as the op defines it.
Tensor Unscaled(const Tensor& x, float scale) {
  Tensor y(DataType::kF32, x.shape());
  const float inv = 1.f / scale;
  for (int64_t i = 0; i < x.numel(); ++i) y.data<float>()[i] = x.data<float>()[i] * inv;
  return y;
}

bool AllFiniteOf(const std::vector<Tensor>& xs) {
  for (const Tensor& x : xs) {
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (!std::isfinite(x.data<float>()[i])) return false;
    }
  }
  return true;
}

// Runs check_finite_and_unscale on device copies of `xs` and expects every X unscaled in place
// and the flag of the closed form.
void ExpectUnscaled(const std::vector<Tensor>& xs, float scale) {
  std::vector<Tensor> inputs;
  for (const Tensor& x : xs) inputs.push_back(Upload(x));
  inputs.push_back(Upload(HostTensor(DataType::kF32, {}, {scale})));
  const int n = static_cast<int>(xs.size());
  absl::StatusOr<std::vector<Tensor>> out =
      RunCudaKernel("fleet.check_finite_and_unscale", inputs, {}, n + 1);
  ASSERT_TRUE(out.ok()) << out.status();
  for (int i = 0; i < n; ++i) {
    SCOPED_TRACE(::testing::Message() << "X " << i);
    EXPECT_EQ((*out)[i].raw_data(), inputs[i].raw_data());  // in place
    ExpectNear(Unscaled(xs[i], scale), Download((*out)[i]), "Out", 0, 1e-7);
  }
  const Tensor flag = Download((*out)[n]);
  ASSERT_EQ(flag.TypeString(), "bool[]");
  EXPECT_EQ(*flag.data<bool>(), AllFiniteOf(xs));
}

TEST_F(CudaLossScalingTest, UnscalesDenseTensorsAndFindsInfAndNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Tensor> xs = {RandomTensor({64, 128}, 1, -1e4f, 1e4f), RandomTensor({7}, 2),
                                  RandomTensor({0, 3}, 3), RandomTensor({}, 4)};
  ExpectUnscaled(xs, 1024.f);
  ExpectUnscaled(xs, 3.f);
  for (float bad : {inf, -inf, nan}) {
    for (int at : {0, 1, 3}) {
      SCOPED_TRACE(::testing::Message() << bad << " in X " << at);
      std::vector<Tensor> with = xs;
      with[at] = xs[at].Clone();
      with[at].data<float>()[with[at].numel() - 1] = bad;
      ExpectUnscaled(with, 65536.f);
    }
  }
  // More tensors than one launch takes; the NaN in a later launch.
  std::vector<Tensor> many;
  for (int i = 0; i < 37; ++i) many.push_back(RandomTensor({i % 5 * 100 + 1}, 100 + i));
  ExpectUnscaled(many, 8.f);
  many[33].data<float>()[0] = nan;
  ExpectUnscaled(many, 8.f);
}

TEST_F(CudaLossScalingTest, UnscalesTheValuesOfSparseRowsAndKeepsTheRows) {
  const Tensor values = RandomTensor({3, 4}, 1, -100.f, 100.f);
  const Tensor rows = HostTensor(DataType::kI64, {3}, {5, 0, 5});
  for (bool finite : {true, false}) {
    SCOPED_TRACE(finite ? "finite" : "with inf");
    Tensor host_values = values.Clone();
    if (!finite) host_values.data<float>()[6] = std::numeric_limits<float>::infinity();
    const Tensor sparse = Tensor::SparseRows(Upload(host_values), Upload(rows), 10);
    const Tensor dense = Upload(RandomTensor({2, 2}, 2));
    absl::StatusOr<std::vector<Tensor>> out =
        RunCudaKernel("fleet.check_finite_and_unscale",
                      {dense, sparse, Upload(HostTensor(DataType::kF32, {}, {256.f}))}, {}, 3);
    ASSERT_TRUE(out.ok()) << out.status();
    const Tensor& got = (*out)[1];
    ASSERT_TRUE(got.is_sparse_rows());
    EXPECT_EQ(got.raw_data(), sparse.raw_data());
    EXPECT_EQ(got.rows().raw_data(), sparse.rows().raw_data());
    EXPECT_EQ(got.sparse_height(), 10);
    ExpectNear(Unscaled(host_values, 256.f), Download(got), "values", 0, 1e-7);
    ExpectNear(rows, Download(got.rows()), "rows", 0, 0);
    EXPECT_EQ(*Download((*out)[2]).data<bool>(), finite);
  }
}

TEST_F(CudaLossScalingTest, AScaleThatIsNotPositiveAndFiniteClearsTheFlag) {
  // The CPU kernel rejects such a scale; the device cannot, so it skips the step instead.
  for (float scale : {0.f, -2.f, std::numeric_limits<float>::infinity()}) {
    absl::StatusOr<std::vector<Tensor>> out =
        RunOnGpu("fleet.check_finite_and_unscale",
                 {RandomTensor({4}, 1), HostTensor(DataType::kF32, {}, {scale})}, {}, 2);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_FALSE(*(*out)[1].data<bool>()) << scale;
  }
}

TEST_F(CudaLossScalingTest, UnscaleErrorsMatchTheCpu) {
  const Tensor scale = HostTensor(DataType::kF32, {}, {2.f});
  ExpectSameError("fleet.check_finite_and_unscale", {RandomTensor({3}, 1), scale}, {}, 1);
  ExpectSameError("fleet.check_finite_and_unscale",
                  {RandomTensor({3}, 1), HostTensor(DataType::kF64, {}, {2.0})}, {}, 2);
  ExpectSameError("fleet.check_finite_and_unscale", {RandomTensor({3}, 1), RandomTensor({2}, 2)},
                  {}, 2);
  ExpectSameError("fleet.check_finite_and_unscale",
                  {RandomTensor({3}, 1), HostTensor(DataType::kF64, {2}, {1, 2}), scale}, {}, 3);
}

// The rule of ir/fleet_amp_ops.cc, step by step.
struct Scaler {
  float scale;
  int64_t good = 0;
  int64_t every;
  float incr, decr;
  int64_t skipped = 0;

  void Step(bool finite) {
    if (finite) {
      good += 1;
      if (good >= every) {
        scale = scale * incr;
        good = 0;
      }
    } else {
      scale = scale * decr;
      good = 0;
      skipped += 1;
    }
  }
};

TEST_F(CudaLossScalingTest, UpdateLossScalingFollowsTheRuleOverSteps) {
  struct Rule {
    int64_t every;
    float incr, decr;
  };
  for (const Rule& rule : {Rule{3, 2.f, 0.5f}, Rule{1, 3.f, 0.25f}, Rule{2000, 2.f, 0.5f}}) {
    SCOPED_TRACE(::testing::Message()
                 << "every " << rule.every << " incr " << rule.incr << " decr " << rule.decr);
    const AttrMap attrs = {{"incr_every_n_steps", I(rule.every)},
                           {"incr_ratio", F(rule.incr)},
                           {"decr_ratio", F(rule.decr)}};
    Scaler expected{65536.f, 0, rule.every, rule.incr, rule.decr, 0};
    const Tensor scale = Upload(HostTensor(DataType::kF32, {}, {expected.scale}));
    const Tensor good = Upload(HostTensor(DataType::kI64, {}, {0}));
    const Tensor skipped = Upload(HostTensor(DataType::kI64, {}, {0}));
    const std::vector<bool> finite = {true, true,  true,  false, true, true, true,
                                      true, false, false, true,  true, true, true};
    for (size_t step = 0; step < finite.size(); ++step) {
      SCOPED_TRACE(::testing::Message() << "step " << step);
      absl::StatusOr<std::vector<Tensor>> out =
          RunCudaKernel("fleet.update_loss_scaling",
                        {Upload(HostTensor(DataType::kBool, {}, {finite[step] ? 1.0 : 0.0})), scale,
                         good, skipped},
                        attrs, 3);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ((*out)[0].raw_data(), scale.raw_data());  // in place
      EXPECT_EQ((*out)[1].raw_data(), good.raw_data());
      EXPECT_EQ((*out)[2].raw_data(), skipped.raw_data());
      expected.Step(finite[step]);
      EXPECT_EQ(*Download(scale).data<float>(), expected.scale);
      EXPECT_EQ(*Download(good).data<int64_t>(), expected.good);
      EXPECT_EQ(*Download(skipped).data<int64_t>(), expected.skipped);
    }
  }
}

TEST_F(CudaLossScalingTest, UpdateLossScalingErrorsMatchTheCpu) {
  const Tensor flag = HostTensor(DataType::kBool, {}, {1});
  const Tensor scale = HostTensor(DataType::kF32, {}, {1024.f});
  const Tensor good = HostTensor(DataType::kI64, {}, {0});
  const Tensor skipped = HostTensor(DataType::kI64, {}, {0});
  const std::string op = "fleet.update_loss_scaling";
  ExpectSameError(op, {flag, scale, good, skipped}, {{"incr_every_n_steps", I(0)}}, 3);
  ExpectSameError(op, {flag, scale, good, skipped}, {{"incr_ratio", F(0.5f)}}, 3);
  ExpectSameError(op, {flag, scale, good, skipped}, {{"decr_ratio", F(0.f)}}, 3);
  ExpectSameError(op, {flag, scale, good, skipped}, {{"decr_ratio", F(1.5f)}}, 3);
  ExpectSameError(op, {HostTensor(DataType::kF32, {}, {1}), scale, good, skipped}, {}, 3);
  ExpectSameError(op, {flag, scale, HostTensor(DataType::kI32, {}, {0}), skipped}, {}, 3);
  ExpectSameError(op, {flag, scale, good, HostTensor(DataType::kI32, {}, {0})}, {}, 3);
  ExpectSameError(op, {flag, HostTensor(DataType::kF32, {2}, {1, 2}), good, skipped}, {}, 3);
}

}  // namespace
}  // namespace fleet::testing
