// The CUDA kernels of the MLP training program against the CPU kernels, on random inputs:
// GEMMs, broadcasting arithmetic, activations, the loss and its gradient, the bookkeeping ops
// and the optimizers over several steps; and shape errors, which must match the CPU's.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/cuda/cuda_test_util.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet::testing {
namespace {

using Shape = std::vector<int64_t>;

AttrValue S(const char* v) { return AttrValue(std::string(v)); }

class CudaGemmTest : public CudaTest {};

TEST_F(CudaGemmTest, TransposesAlphaBetaAndBroadcastC) {
  const int64_t m = 5, k = 7, n = 3;
  uint32_t seed = 1;
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      for (const Shape& c : {Shape{}, Shape{n}, Shape{1, n}, Shape{m, 1}, Shape{m, n}}) {
        SCOPED_TRACE(::testing::Message()
                     << "transA " << ta << " transB " << tb << " C " << ShapeString(c));
        const Tensor a = RandomTensor(ta ? Shape{k, m} : Shape{m, k}, seed++);
        const Tensor b = RandomTensor(tb ? Shape{n, k} : Shape{k, n}, seed++);
        ExpectSameAsCpu(
            "Gemm", {a, b, RandomTensor(c, seed++)},
            {{"transA", I(ta)}, {"transB", I(tb)}, {"alpha", F(0.5f)}, {"beta", F(2.f)}});
      }
    }
  }
  // No C, and the MLP's shapes (batch 64, 784 -> 128).
  ExpectSameAsCpu("Gemm", {RandomTensor({64, 784}, 90), RandomTensor({128, 784}, 91)},
                  {{"transB", I(1)}});
}

TEST_F(CudaGemmTest, EmptyAndSizeOneEdges) {
  // K = 0: Y is beta * C; M = 0: an empty result; 1 x 1 x 1.
  ExpectSameAsCpu("Gemm", {RandomTensor({3, 0}, 1), RandomTensor({0, 4}, 2), RandomTensor({4}, 3)},
                  {{"beta", F(3.f)}});
  ExpectSameAsCpu("Gemm", {RandomTensor({3, 0}, 1), RandomTensor({0, 4}, 2)}, {});
  ExpectSameAsCpu("Gemm", {RandomTensor({0, 5}, 4), RandomTensor({5, 4}, 5)}, {});
  ExpectSameAsCpu("Gemm", {RandomTensor({1, 1}, 6), RandomTensor({1, 1}, 7), RandomTensor({1}, 8)},
                  {});
}

TEST_F(CudaGemmTest, MatMulBatchesAndBroadcasts) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {4, 5}},              // plain
      {{2, 3, 4}, {4, 5}},           // A's batch folds into rows
      {{2, 3, 4}, {2, 4, 5}},        // strided batched
      {{3, 4}, {2, 4, 5}},           // A shared across B's batch
      {{2, 1, 3, 4}, {1, 3, 4, 5}},  // batch dims broadcast both ways
      {{4}, {4, 5}},                 // 1-D A
      {{3, 4}, {4}},                 // 1-D B
      {{4}, {4}},                    // dot product
      {{0, 4}, {4, 5}},              // empty
      {{3, 0}, {0, 5}},              // K = 0: zeros
  };
  uint32_t seed = 10;
  for (const auto& [a, b] : cases) {
    SCOPED_TRACE(ShapeString(a) + " x " + ShapeString(b));
    ExpectSameAsCpu("MatMul", {RandomTensor(a, seed++), RandomTensor(b, seed++)}, {});
  }
}

TEST_F(CudaGemmTest, ShapeErrorsMatchTheCpu) {
  ExpectSameError("Gemm", {RandomTensor({3, 4}, 1), RandomTensor({5, 2}, 2)}, {});
  ExpectSameError("Gemm", {RandomTensor({3, 4, 1}, 1), RandomTensor({4, 2}, 2)}, {});
  ExpectSameError("Gemm", {RandomTensor({3, 4}, 1), RandomTensor({4, 2}, 2), RandomTensor({3}, 3)},
                  {});
  ExpectSameError("MatMul", {RandomTensor({3, 4}, 1), RandomTensor({5, 2}, 2)}, {});
  ExpectSameError("MatMul", {RandomTensor({2, 3, 4}, 1), RandomTensor({3, 4, 2}, 2)}, {});
  // Only f32 has a CUDA kernel; the lookup says what exists.
  absl::StatusOr<KernelFn> f64 = CudaKernels().Find("Gemm", Device::kCuda, DataType::kF64);
  EXPECT_FALSE(f64.ok());
}

class CudaElementwiseTest : public CudaTest {};

TEST_F(CudaElementwiseTest, ArithmeticBroadcastsLikeNumPy) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{4, 5}, {4, 5}},    {{4, 5}, {}}, {{4, 5}, {5}}, {{2, 3, 4, 5}, {3, 1, 1}},
      {{2, 1, 3}, {4, 1}}, {{1}, {1}},   {{0, 3}, {3}}, {{3, 1, 2}, {1, 4, 1}},
      {{}, {2, 3}},
  };
  uint32_t seed = 100;
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    for (const auto& [a, b] : cases) {
      SCOPED_TRACE(std::string(op) + " " + ShapeString(a) + " " + ShapeString(b));
      // Divisors away from zero.
      ExpectSameAsCpu(op, {RandomTensor(a, seed++), RandomTensor(b, seed++, 0.5f, 2.f)}, {});
    }
  }
  ExpectSameError("Add", {RandomTensor({2, 3}, 1), RandomTensor({4}, 2)}, {});
  ExpectSameError("Mul", {RandomTensor({2, 3}, 1), RandomLabels({3}, 2, 5)}, {});
}

TEST_F(CudaElementwiseTest, ReluAndItsGradient) {
  for (const Shape& s : {Shape{64, 128}, Shape{7}, Shape{0, 3}, Shape{}}) {
    ExpectSameAsCpu("Relu", {RandomTensor(s, 1)}, {});
    ExpectSameAsCpu("fleet.relu_grad", {RandomTensor(s, 2), RandomTensor(s, 3)}, {});
  }
  ExpectSameError("fleet.relu_grad", {RandomTensor({3}, 1), RandomTensor({4}, 2)}, {});
}

TEST_F(CudaElementwiseTest, ReduceToLikeSumsTheBroadcastDims) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{64, 10}, {10}},       {{4, 5}, {4, 1}}, {{2, 3, 4, 5}, {3, 1, 1}}, {{2, 3}, {}},
      {{2, 3, 4}, {1, 3, 1}}, {{0, 5}, {5}},    {{4, 5}, {1, 5}},          {{1}, {}},
  };
  uint32_t seed = 200;
  for (const auto& [x, like] : cases) {
    SCOPED_TRACE(ShapeString(x) + " -> " + ShapeString(like));
    ExpectSameAsCpu("fleet.reduce_to_like", {RandomTensor(x, seed++), RandomTensor(like, seed++)},
                    {});
  }
  // Same shape: the input itself, no copy.
  const Tensor x = Upload(RandomTensor({3, 4}, 1));
  absl::StatusOr<std::vector<Tensor>> out =
      RunCudaKernel("fleet.reduce_to_like", {x, Upload(RandomTensor({3, 4}, 2))}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].raw_data(), x.raw_data());
  ExpectSameError("fleet.reduce_to_like", {RandomTensor({4, 5}, 1), RandomTensor({3}, 2)}, {});
}

TEST_F(CudaElementwiseTest, SigmoidTanhErfAndTheirGradients) {
  for (const Shape& s : {Shape{16, 33}, Shape{5}, Shape{0, 2}}) {
    for (const char* op : {"Sigmoid", "Tanh"}) {
      ExpectSameAsCpu(op, {RandomTensor(s, 1, -6.f, 6.f)}, {}, 1, 1e-6, 1e-5);
    }
    // The gradients take the forward output, in (0, 1) and (-1, 1).
    ExpectSameAsCpu("fleet.sigmoid_grad", {RandomTensor(s, 2, 0.f, 1.f), RandomTensor(s, 3)}, {});
    ExpectSameAsCpu("fleet.tanh_grad", {RandomTensor(s, 4), RandomTensor(s, 5)}, {});
    // Erf's gradient takes Erf's input.
    ExpectSameAsCpu("Erf", {RandomTensor(s, 6, -3.f, 3.f)}, {}, 1, 1e-6, 1e-5);
    ExpectSameAsCpu("fleet.erf_grad", {RandomTensor(s, 7, -3.f, 3.f), RandomTensor(s, 8)}, {}, 1,
                    1e-6, 1e-5);
  }
}

TEST_F(CudaElementwiseTest, SoftmaxAlongEveryAxisAndItsGradient) {
  const Shape shape = {3, 4, 5};
  for (int64_t axis : {-1, 0, 1, 2}) {
    for (const char* op : {"Softmax", "LogSoftmax"}) {
      SCOPED_TRACE(std::string(op) + " axis " + std::to_string(axis));
      const AttrMap attrs = {{"axis", I(axis)}};
      const Tensor x = RandomTensor(shape, 1, -5.f, 5.f);
      ExpectSameAsCpu(op, {x}, attrs, 1, 1e-6, 1e-5);
      absl::StatusOr<std::vector<Tensor>> y = RunKernel(op, {x}, attrs, 1);
      ASSERT_TRUE(y.ok()) << y.status();
      const std::string grad =
          std::string(op) == "Softmax" ? "fleet.softmax_grad" : "fleet.log_softmax_grad";
      ExpectSameAsCpu(grad, {(*y)[0], RandomTensor(shape, 2)}, attrs);
    }
  }
  ExpectSameAsCpu("Softmax", {RandomTensor({64, 128}, 3)}, {});  // attention-like rows
  ExpectSameAsCpu("Softmax", {RandomTensor({0, 3}, 4)}, {});
  ExpectSameError("Softmax", {RandomTensor({3, 4}, 1)}, {{"axis", I(2)}});
  ExpectSameError("fleet.softmax_grad", {RandomTensor({3, 4}, 1), RandomTensor({4, 3}, 2)}, {});
}

TEST_F(CudaElementwiseTest, TransposeEveryPermutationKind) {
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{3, 4}, {1, 0}},       {{2, 3, 4}, {0, 2, 1}},       {{2, 3, 4, 5}, {0, 2, 1, 3}},
      {{2, 3, 4}, {2, 0, 1}}, {{2, 3, 4, 5}, {3, 2, 1, 0}}, {{1, 5}, {1, 0}},
      {{0, 3}, {1, 0}},
  };
  uint32_t seed = 400;
  for (const auto& [shape, perm] : cases) {
    SCOPED_TRACE(ShapeString(shape));
    ExpectSameAsCpu("Transpose", {RandomTensor(shape, seed++)}, {{"perm", AttrValue(perm)}}, 1, 0,
                    0);
  }
  ExpectSameAsCpu("Transpose", {RandomTensor({2, 3, 4}, 1)}, {}, 1, 0, 0);  // reversed dims
  ExpectSameError("Transpose", {RandomTensor({2, 3}, 1)},
                  {{"perm", AttrValue(std::vector<int64_t>{0, 0})}});
}

TEST_F(CudaElementwiseTest, ReduceSumMeanAndTheirGradient) {
  using Axes = std::vector<int64_t>;
  const Shape shape = {2, 3, 4, 5};
  const std::vector<std::pair<Axes, int64_t>> cases = {{{}, 1},   {{1}, 1},    {{0, 2, 3}, 1},
                                                       {{-1}, 0}, {{1, 3}, 0}, {{0, 1, 2, 3}, 0}};
  uint32_t seed = 500;
  for (const auto& [axes, keepdims] : cases) {
    for (const char* op : {"ReduceSum", "ReduceMean"}) {
      SCOPED_TRACE(std::string(op) + " axes " + ShapeString(axes) + " keepdims " +
                   std::to_string(keepdims));
      const Tensor x = RandomTensor(shape, seed++);
      AttrMap attrs = {{"keepdims", I(keepdims)}};
      // The axes as an input (host memory), as ReduceSum-13 takes them.
      std::vector<Tensor> inputs = {x};
      if (!axes.empty()) {
        inputs.push_back(HostTensor(DataType::kI64, {static_cast<int64_t>(axes.size())},
                                    std::vector<double>(axes.begin(), axes.end())));
      }
      ExpectSameAsCpu(op, inputs, attrs);
      // The gradient: expand_like with the reduction's axes as an attribute.
      absl::StatusOr<std::vector<Tensor>> y = RunKernel(op, inputs, attrs, 1);
      ASSERT_TRUE(y.ok()) << y.status();
      AttrMap grad_attrs = {{"keepdims", I(keepdims)},
                            {"mean", I(std::string(op) == "ReduceMean" ? 1 : 0)}};
      if (!axes.empty()) grad_attrs["axes"] = AttrValue(axes);
      ExpectSameAsCpu("fleet.expand_like", {RandomTensor((*y)[0].shape(), seed++), x}, grad_attrs);
    }
  }
  // noop_with_empty_axes: the input itself.
  const Tensor x = Upload(RandomTensor({3, 4}, 1));
  absl::StatusOr<std::vector<Tensor>> same =
      RunCudaKernel("ReduceSum", {x}, {{"noop_with_empty_axes", I(1)}}, 1);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ((*same)[0].raw_data(), x.raw_data());
  ExpectSameError("ReduceSum", {RandomTensor({3, 4}, 1), HostTensor(DataType::kI64, {1}, {2})}, {});
  ExpectSameError("fleet.expand_like", {RandomTensor({5}, 1), RandomTensor({3, 4}, 2)},
                  {{"axes", AttrValue(std::vector<int64_t>{1})}});
}

TEST_F(CudaElementwiseTest, LayerNormalizationAndItsGradient) {
  struct Case {
    Shape x;
    int64_t axis;
    Shape scale, bias;
  };
  const std::vector<Case> cases = {
      {{8, 32}, -1, {32}, {32}},       // a transformer's rows
      {{2, 3, 4}, 1, {3, 4}, {3, 4}},  // two normalised dims
      {{2, 3, 4}, 1, {1, 4}, {4}},     // Scale and B broadcast over them
      {{4, 6}, -1, {6}, {}},           // no B
      {{1, 1}, -1, {1}, {1}},          // size 1
  };
  uint32_t seed = 600;
  for (const Case& c : cases) {
    SCOPED_TRACE(ShapeString(c.x) + " axis " + std::to_string(c.axis));
    const Tensor x = RandomTensor(c.x, seed++, -2.f, 2.f);
    const Tensor scale = RandomTensor(c.scale, seed++, 0.5f, 1.5f);
    const Tensor bias = c.bias.empty() ? Tensor() : RandomTensor(c.bias, seed++);
    const AttrMap attrs = {{"axis", I(c.axis)}, {"epsilon", F(1e-5f)}};
    ExpectSameAsCpu("LayerNormalization", {x, scale, bias}, attrs, 3, 1e-5, 1e-4);
    const Tensor dy = RandomTensor(c.x, seed++);
    ExpectSameAsCpu("fleet.layer_norm_grad", {x, scale, bias, dy}, attrs, c.bias.empty() ? 2 : 3,
                    1e-4, 1e-4);
  }
  const Tensor x = RandomTensor({2, 4}, 1);
  ExpectSameError("LayerNormalization", {x, RandomTensor({5}, 2)}, {});
  ExpectSameError("fleet.layer_norm_grad",
                  {x, RandomTensor({4}, 2), Tensor(), RandomTensor({4}, 3)}, {});
  ExpectSameError("fleet.layer_norm_grad",
                  {x, RandomTensor({4}, 2), Tensor(), RandomTensor({2, 4}, 3)}, {}, 3);
}

TEST_F(CudaElementwiseTest, GatherAndItsDenseGradient) {
  struct Case {
    Shape data;
    Tensor indices;
    int64_t axis;
  };
  const std::vector<Case> cases = {
      {{10, 4},
       HostTensor(DataType::kI64, {3, 5}, {0, 9, 3, 3, 1, 2, 2, 2, 7, 0, 5, 6, 4, 8, 1}),
       0},  // an embedding lookup, repeated ids
      {{3, 5, 2}, HostTensor(DataType::kI32, {4}, {-1, 0, 4, -5}), 1},  // negative, i32
      {{4, 6}, HostTensor(DataType::kI64, {}, {2}), 1},                 // a scalar index
      {{4, 3}, HostTensor(DataType::kI64, {0}, {}), 0},                 // no indices
  };
  uint32_t seed = 700;
  for (const Case& c : cases) {
    SCOPED_TRACE(ShapeString(c.data) + " axis " + std::to_string(c.axis));
    const Tensor data = RandomTensor(c.data, seed++);
    const AttrMap attrs = {{"axis", I(c.axis)}};
    ExpectSameAsCpu("Gather", {data, c.indices}, attrs, 1, 0, 0);
    absl::StatusOr<std::vector<Tensor>> y = RunKernel("Gather", {data, c.indices}, attrs, 1);
    ASSERT_TRUE(y.ok()) << y.status();
    ExpectSameAsCpu("fleet.gather_grad", {RandomTensor((*y)[0].shape(), seed++), c.indices, data},
                    attrs);
  }
  const Tensor data = RandomTensor({4, 3}, 1);
  ExpectSameError("Gather", {data, RandomTensor({2}, 2)}, {});
  ExpectSameError("Gather", {data, HostTensor(DataType::kI64, {1}, {0})}, {{"axis", I(2)}});
  ExpectSameError("fleet.gather_grad",
                  {RandomTensor({3, 3}, 2), HostTensor(DataType::kI64, {2}, {0, 1}), data}, {});
}

class CudaLossTest : public CudaTest {};

TEST_F(CudaLossTest, SoftmaxCrossEntropyAndItsGradient) {
  struct Case {
    Shape scores;
    const char* reduction;
    bool weights;
    bool ignore;
    DataType labels;
  };
  const std::vector<Case> cases = {
      {{64, 10}, "mean", false, false, DataType::kI64},
      {{64, 10}, "sum", false, false, DataType::kI64},
      {{8, 5}, "none", false, false, DataType::kI32},
      {{8, 5}, "mean", true, false, DataType::kI64},
      {{8, 5}, "mean", true, true, DataType::kI64},
      {{2, 5, 3}, "mean", false, true, DataType::kI64},  // positions d1 = 3
      {{2, 5, 3}, "none", true, false, DataType::kI64},
      {{1, 1}, "mean", false, false, DataType::kI64},
      {{0, 4}, "sum", false, false, DataType::kI64},
  };
  uint32_t seed = 300;
  for (const Case& c : cases) {
    SCOPED_TRACE(ShapeString(c.scores) + " " + c.reduction);
    const int64_t classes = c.scores[1];
    Shape label_shape = c.scores;
    label_shape.erase(label_shape.begin() + 1);
    const Tensor scores = RandomTensor(c.scores, seed++, -3.f, 3.f);
    const Tensor labels = RandomLabels(label_shape, seed++, classes, c.labels);
    const Tensor weights = c.weights ? RandomTensor({classes}, seed++, 0.5f, 2.f) : Tensor();
    AttrMap attrs = {{"reduction", S(c.reduction)}};
    if (c.ignore) attrs["ignore_index"] = I(1);
    // Forward, with and without log_prob.
    ExpectSameAsCpu("SoftmaxCrossEntropyLoss", {scores, labels, weights}, attrs, 1);
    ExpectSameAsCpu("SoftmaxCrossEntropyLoss", {scores, labels, weights}, attrs, 2);
    // Gradient: with OutGrad, with LogProbGrad too, and with neither.
    const Shape dout_shape = std::string(c.reduction) == "none" ? label_shape : Shape{};
    const Tensor dout = RandomTensor(dout_shape, seed++, 0.5f, 2.f);
    ExpectSameAsCpu("fleet.softmax_ce_grad", {scores, labels, weights, dout}, attrs);
    ExpectSameAsCpu("fleet.softmax_ce_grad",
                    {scores, labels, weights, dout, RandomTensor(c.scores, seed++)}, attrs);
    ExpectSameAsCpu("fleet.softmax_ce_grad", {scores, labels, weights}, attrs);
  }
}

TEST_F(CudaLossTest, ShapeErrorsMatchTheCpu) {
  const Tensor scores = RandomTensor({4, 3}, 1);
  ExpectSameError("SoftmaxCrossEntropyLoss", {scores, RandomLabels({5}, 2, 3)}, {});
  ExpectSameError("SoftmaxCrossEntropyLoss", {RandomTensor({4}, 1), RandomLabels({4}, 2, 3)}, {});
  ExpectSameError("SoftmaxCrossEntropyLoss",
                  {scores, RandomLabels({4}, 2, 3), RandomTensor({2}, 3)}, {});
  ExpectSameError("SoftmaxCrossEntropyLoss", {scores, RandomLabels({4}, 2, 3)},
                  {{"reduction", S("average")}});
  ExpectSameError("fleet.softmax_ce_grad",
                  {scores, RandomLabels({4}, 2, 3), Tensor(), RandomTensor({4}, 4)}, {});
}

TEST_F(CudaLossTest, AnOutOfRangeLabelGivesNaNRatherThanAnError) {
  // The labels stay on the device; the CPU kernel, which reads them, rejects the label instead.
  const Tensor labels = HostTensor(DataType::kI64, {2}, {0, 7});
  absl::StatusOr<std::vector<Tensor>> out =
      RunOnGpu("SoftmaxCrossEntropyLoss", {RandomTensor({2, 3}, 1), labels}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(std::isnan((*out)[0].data<float>()[0]));
}

class CudaTrainingOpsTest : public CudaTest {};

TEST_F(CudaTrainingOpsTest, FillsCounterAndSchedule) {
  ExpectSameAsCpu(
      "fleet.fill_constant", {},
      {{"dtype", S("f32")}, {"shape", AttrValue(std::vector<int64_t>{3, 4})}, {"value", F(0.25f)}});
  ExpectSameAsCpu(
      "fleet.fill_constant", {},
      {{"dtype", S("i64")}, {"shape", AttrValue(std::vector<int64_t>{1})}, {"value", F(7.f)}});
  ExpectSameAsCpu("fleet.fill_constant", {},
                  {{"dtype", S("f64")}, {"shape", AttrValue(std::vector<int64_t>{0})}});
  ExpectSameError("fleet.fill_constant", {}, {{"dtype", S("bogus")}});
  ExpectSameAsCpu("fleet.fill_like", {RandomTensor({5, 2}, 1)}, {{"value", F(1.f)}});
  ExpectSameAsCpu("fleet.fill_like", {RandomLabels({3}, 1, 4, DataType::kI32)},
                  {{"value", F(2.f)}});
  ExpectSameAsCpu("fleet.increment", {HostTensor(DataType::kI64, {1}, {41})}, {{"step", I(2)}});
  ExpectSameError("fleet.increment", {HostTensor(DataType::kI64, {2}, {1, 2})}, {});
  const std::vector<AttrMap> schedules = {
      {{"base_lr", F(0.1f)}},
      {{"base_lr", F(0.1f)},
       {"warmup_steps", I(5)},
       {"decay", S("cosine")},
       {"decay_steps", I(10)},
       {"min_lr", F(0.01f)}},
      {{"base_lr", F(0.1f)}, {"decay", S("linear")}, {"decay_steps", I(4)}},
      {{"base_lr", F(0.1f)},
       {"decay", S("exponential")},
       {"decay_steps", I(3)},
       {"decay_rate", F(0.5f)}},
      {{"base_lr", F(0.1f)},
       {"decay", S("step")},
       {"decay_steps", I(3)},
       {"decay_rate", F(0.5f)},
       {"min_lr", F(0.02f)}}};
  for (const AttrMap& schedule : schedules) {
    for (int64_t step : {0, 1, 4, 5, 9, 20}) {
      SCOPED_TRACE(step);
      ExpectSameAsCpu("fleet.lr_schedule", {HostTensor(DataType::kI64, {1}, {double(step)})},
                      schedule, 1, 0, 1e-6);
    }
  }
  ExpectSameError("fleet.lr_schedule", {HostTensor(DataType::kI64, {1}, {3})},
                  {{"decay", S("sqrt")}});
}

TEST_F(CudaTrainingOpsTest, MemcpyUploadsOntoTheGpu) {
  const Tensor x = RandomTensor({4, 3}, 1);
  absl::StatusOr<std::vector<Tensor>> out = RunCudaKernel("fleet.memcpy", {x}, {}, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].device().ToString(), "cuda:0");
  ExpectNear(x, Download((*out)[0]), "uploaded copy", 0, 0);
}

TEST_F(CudaTrainingOpsTest, MemcpyHandsOverWhatIsAlreadyOnTheGpu) {
  const Tensor x = RandomTensor({4, 3}, 2);
  absl::StatusOr<std::vector<Tensor>> up = RunCudaKernel("fleet.memcpy", {x}, {}, 1);
  ASSERT_TRUE(up.ok()) << up.status();
  absl::StatusOr<std::vector<Tensor>> again = RunCudaKernel("fleet.memcpy", {(*up)[0]}, {}, 1);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].raw_data(), (*up)[0].raw_data());
  ExpectNear(x, Download((*again)[0]), "handed-over copy", 0, 0);
}

class CudaOptimizerTest : public CudaTest {};

// A dense random gradient of the parameter's shape for step `step`.
Tensor DenseGrad(const Tensor& param, int step) { return RandomTensor(param.shape(), 1000 + step); }

// A sparse-rows gradient of the table `param` for step `step`: a lookup's rows, ids repeating
// and some rows left out (their parameter and state must not move).
Tensor SparseGrad(const Tensor& param, int step) {
  const std::vector<double> ids = {3, 0, 3, 7, static_cast<double>(step % 5), 3};
  Shape shape = param.shape();
  shape[0] = static_cast<int64_t>(ids.size());
  return Tensor::SparseRows(RandomTensor(shape, 1000 + step),
                            HostTensor(DataType::kI64, {shape[0]}, ids), param.dim(0));
}

// Runs `steps` updates of `op` on the CPU and the GPU, each with a fresh random gradient from
// `make_grad`, and compares every state input (the in-place outputs) after each step.
void CompareSteps(const std::string& op, std::vector<Tensor> state, int grad_index, int lr_index,
                  const AttrMap& attrs, int num_outputs, const std::vector<int>& in_place,
                  int steps = 4, Tensor (*make_grad)(const Tensor&, int) = &DenseGrad) {
  std::vector<Tensor> device;
  for (const Tensor& t : state) device.push_back(Upload(t));
  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE(op + " step " + std::to_string(step));
    const Tensor grad = make_grad(state[0], step);
    state[grad_index] = grad;
    device[grad_index] = Upload(grad);
    state[lr_index] = HostTensor(DataType::kF32, {1}, {0.01 * (step + 1)});
    device[lr_index] = Upload(state[lr_index]);
    ASSERT_TRUE(RunKernel(op, state, attrs, num_outputs).ok());
    absl::StatusOr<std::vector<Tensor>> out = RunCudaKernel(op, device, attrs, num_outputs);
    ASSERT_TRUE(out.ok()) << out.status();
    for (size_t o = 0; o < in_place.size(); ++o) {
      // The output is the input's own buffer, updated.
      EXPECT_EQ((*out)[o].raw_data(), device[in_place[o]].raw_data());
      ExpectNear(state[in_place[o]], Download(device[in_place[o]]),
                 "input " + std::to_string(in_place[o]), 1e-6, 1e-5);
    }
  }
}

TEST_F(CudaOptimizerTest, UpdatesMatchTheCpuOverSeveralSteps) {
  const Shape shape = {33, 17};
  const Tensor undefined;
  CompareSteps("fleet.sgd", {RandomTensor(shape, 1), undefined, undefined}, 1, 2,
               {{"weight_decay", F(0.01f)}}, 1, {0});
  for (int nesterov = 0; nesterov < 2; ++nesterov) {
    CompareSteps("fleet.momentum",
                 {RandomTensor(shape, 1), undefined, RandomTensor(shape, 2), undefined}, 1, 3,
                 {{"mu", F(0.9f)}, {"use_nesterov", I(nesterov)}, {"weight_decay", F(0.001f)}}, 2,
                 {0, 2});
  }
  for (const char* adam : {"fleet.adam", "fleet.adamw"}) {
    CompareSteps(adam,
                 {RandomTensor(shape, 1), undefined, undefined, RandomTensor(shape, 2, 0, 0.1f),
                  RandomTensor(shape, 3, 0, 0.1f), HostTensor(DataType::kF32, {1}, {0.9}),
                  HostTensor(DataType::kF32, {1}, {0.999})},
                 1, 2, {{"weight_decay", F(0.01f)}}, 5, {0, 3, 4, 5, 6});
  }
  CompareSteps("fleet.adagrad",
               {RandomTensor(shape, 1), undefined, RandomTensor(shape, 2, 0, 0.1f), undefined}, 1,
               3, {{"epsilon", F(1e-6f)}}, 2, {0, 2});
  // An empty parameter still advances Adam's powers.
  CompareSteps(
      "fleet.adam",
      {RandomTensor({0}, 1), undefined, undefined, RandomTensor({0}, 2), RandomTensor({0}, 3),
       HostTensor(DataType::kF32, {1}, {0.9}), HostTensor(DataType::kF32, {1}, {0.999})},
      1, 2, {}, 5, {0, 3, 4, 5, 6}, 2);
}

// An embedding table's sparse rows: repeated ids added up, only the named rows updated (their
// state too), as the CPU's lazy updates do.
TEST_F(CudaOptimizerTest, SparseRowsUpdateOnlyTheirRowsAsOnTheCpu) {
  const Shape shape = {9, 6};
  const Tensor undefined;
  CompareSteps("fleet.sgd", {RandomTensor(shape, 1), undefined, undefined}, 1, 2,
               {{"weight_decay", F(0.01f)}}, 1, {0}, 4, &SparseGrad);
  CompareSteps("fleet.momentum",
               {RandomTensor(shape, 1), undefined, RandomTensor(shape, 2), undefined}, 1, 3,
               {{"mu", F(0.9f)}}, 2, {0, 2}, 4, &SparseGrad);
  for (const char* adam : {"fleet.adam", "fleet.adamw"}) {
    CompareSteps(adam,
                 {RandomTensor(shape, 1), undefined, undefined, RandomTensor(shape, 2, 0, 0.1f),
                  RandomTensor(shape, 3, 0, 0.1f), HostTensor(DataType::kF32, {1}, {0.9}),
                  HostTensor(DataType::kF32, {1}, {0.999})},
                 1, 2, {{"weight_decay", F(0.01f)}}, 5, {0, 3, 4, 5, 6}, 4, &SparseGrad);
  }
  CompareSteps("fleet.adagrad",
               {RandomTensor(shape, 1), undefined, RandomTensor(shape, 2, 0, 0.1f), undefined}, 1,
               3, {}, 2, {0, 2}, 4, &SparseGrad);
  // Rows that do not fit the table are refused, as on the CPU.
  const Tensor lr = HostTensor(DataType::kF32, {1}, {0.1});
  const Tensor narrow =
      Tensor::SparseRows(RandomTensor({2, 5}, 4), HostTensor(DataType::kI64, {2}, {0, 1}), 9);
  ExpectSameError("fleet.sgd", {RandomTensor(shape, 1), narrow, lr}, {});
}

TEST_F(CudaOptimizerTest, ShapeErrorsMatchTheCpu) {
  const Tensor lr = HostTensor(DataType::kF32, {1}, {0.1});
  ExpectSameError("fleet.sgd", {RandomTensor({3}, 1), RandomTensor({4}, 2), lr}, {});
  ExpectSameError("fleet.sgd", {RandomTensor({3}, 1), RandomTensor({3}, 2), RandomTensor({2}, 3)},
                  {});
  ExpectSameError("fleet.momentum",
                  {RandomTensor({3}, 1), RandomTensor({3}, 2), RandomTensor({2}, 3), lr}, {}, 2);
  ExpectSameError("fleet.adam",
                  {RandomTensor({3}, 1), RandomTensor({3}, 2), lr, RandomTensor({3}, 3),
                   RandomTensor({3}, 4), RandomTensor({2}, 5), RandomTensor({1}, 6)},
                  {}, 5);
}

}  // namespace
}  // namespace fleet::testing
