// The CUDA kernels the transformer, ResNet-18 and the CTR-DNN add to the MLP's and CNN's, against
// the CPU kernels on random inputs: MatMul's gradients (batched, broadcast, 1-D), Neg,
// fleet.grad_sum (dense, mixed, all sparse), Concat and its gradient, an embedding table's
// sparse-rows gradient, and fleet.multi_update (one launch per 16 parameters) against the CPU's
// updates one by one; the optimizers' sparse updates are in cuda_vs_cpu_test.cc.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/cuda/cuda_test_util.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet::testing {
namespace {

using Shape = std::vector<int64_t>;

// Sparse rows of a table of `height` rows of `width`: these ids, random values.
Tensor SparseRows(const std::vector<double>& ids, int64_t width, int64_t height, uint32_t seed) {
  const auto n = static_cast<int64_t>(ids.size());
  return Tensor::SparseRows(RandomTensor({n, width}, seed), HostTensor(DataType::kI64, {n}, ids),
                            height);
}

// Expects both sparse-rows tensors to hold the same rows in the same order.
void ExpectSameRows(const Tensor& expected, const Tensor& actual, const std::string& what) {
  ASSERT_TRUE(actual.is_sparse_rows()) << what;
  EXPECT_EQ(expected.sparse_height(), actual.sparse_height()) << what;
  ExpectNear(expected.rows(), actual.rows(), what + " ids", 0, 0);
  ExpectNear(expected, actual, what + " values", 0, 0);
}

class CudaModelOpsTest : public CudaTest {};

TEST_F(CudaModelOpsTest, MatMulGradientsMatchTheCpu) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {4, 5}},                // plain
      {{2, 3, 4}, {4, 5}},             // a shared weight: one GEMM each way
      {{2, 3, 4}, {2, 4, 5}},          // both batched: strided batched
      {{3, 4}, {2, 4, 5}},             // A shared across B's batch: accumulated
      {{2, 1, 3, 4}, {1, 3, 4, 5}},    // batch dims broadcast both ways
      {{2, 4, 8, 16}, {2, 4, 16, 8}},  // attention scores' shapes
      {{4}, {4, 5}},                   // 1-D A
      {{3, 4}, {4}},                   // 1-D B
      {{4}, {4}},                      // dot product
      {{0, 4}, {4, 5}},                // empty
      {{3, 0}, {0, 5}},                // K = 0
  };
  uint32_t seed = 10;
  for (const auto& [a_shape, b_shape] : cases) {
    SCOPED_TRACE(ShapeString(a_shape) + " x " + ShapeString(b_shape));
    const Tensor a = RandomTensor(a_shape, seed++);
    const Tensor b = RandomTensor(b_shape, seed++);
    absl::StatusOr<std::vector<Tensor>> y = RunKernel("MatMul", {a, b}, {}, 1);
    ASSERT_TRUE(y.ok()) << y.status();
    const Tensor dy = RandomTensor((*y)[0].shape(), seed++);
    ExpectSameAsCpu("fleet.matmul_grad_a", {a, b, dy}, {});
    ExpectSameAsCpu("fleet.matmul_grad_b", {a, b, dy}, {});
  }
  ExpectSameError("fleet.matmul_grad_a",
                  {RandomTensor({3, 4}, 1), RandomTensor({4, 5}, 2), RandomTensor({3, 4}, 3)}, {});
  ExpectSameError("fleet.matmul_grad_b",
                  {RandomTensor({3, 4}, 1), RandomTensor({5, 2}, 2), RandomTensor({3, 2}, 3)}, {});
}

TEST_F(CudaModelOpsTest, NegAndGradSum) {
  for (const Shape& s : {Shape{64, 128}, Shape{7}, Shape{0, 3}, Shape{}}) {
    ExpectSameAsCpu("Neg", {RandomTensor(s, 1)}, {});
  }
  const Shape shape = {6, 5};
  ExpectSameAsCpu("fleet.grad_sum", {RandomTensor(shape, 1)}, {});
  ExpectSameAsCpu("fleet.grad_sum", {RandomTensor(shape, 1), RandomTensor(shape, 2)}, {});
  ExpectSameAsCpu("fleet.grad_sum",
                  {RandomTensor(shape, 1), RandomTensor(shape, 2), RandomTensor(shape, 3)}, {});
  // A table read densely and by a lookup: the lookup's rows (ids repeat) go into the sum.
  ExpectSameAsCpu(
      "fleet.grad_sum",
      {SparseRows({4, 0, 4}, 5, 6, 4), RandomTensor(shape, 5), SparseRows({1}, 5, 6, 6)}, {});
  // Two lookups of one table: their rows, concatenated.
  const std::vector<Tensor> lookups = {SparseRows({4, 0, 4}, 5, 6, 7), SparseRows({2, 4}, 5, 6, 8)};
  absl::StatusOr<std::vector<Tensor>> cpu = RunKernel("fleet.grad_sum", lookups, {}, 1);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  absl::StatusOr<std::vector<Tensor>> gpu = RunOnGpu("fleet.grad_sum", lookups, {}, 1);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  ExpectSameRows((*cpu)[0], (*gpu)[0], "grad_sum of two lookups");
  ExpectSameError("fleet.grad_sum", {RandomTensor(shape, 1), RandomTensor({5, 6}, 2)}, {});
  ExpectSameError("fleet.grad_sum", {RandomTensor(shape, 1), SparseRows({1}, 5, 7, 3)}, {});
}

TEST_F(CudaModelOpsTest, ConcatAndItsGradient) {
  struct Case {
    std::vector<Shape> inputs;
    int64_t axis;
  };
  const std::vector<Case> cases = {
      {{{8, 10}, {8, 13}, {8, 10}}, 1},  // the CTR-DNN's embeddings and dense features
      {{{2, 3, 4}, {5, 3, 4}}, 0},
      {{{2, 3, 4}, {2, 1, 4}, {2, 2, 4}}, -2},
      {{{2, 3}, {2, 0}, {2, 1}}, 1},  // an empty piece
      {{{4}}, 0},
  };
  uint32_t seed = 300;
  for (const Case& c : cases) {
    SCOPED_TRACE("axis " + std::to_string(c.axis) + ", first " + ShapeString(c.inputs[0]));
    std::vector<Tensor> inputs;
    for (const Shape& s : c.inputs) inputs.push_back(RandomTensor(s, seed++));
    const AttrMap attrs = {{"axis", I(c.axis)}};
    ExpectSameAsCpu("Concat", inputs, attrs, 1, 0, 0);
    absl::StatusOr<std::vector<Tensor>> y = RunKernel("Concat", inputs, attrs, 1);
    ASSERT_TRUE(y.ok()) << y.status();
    std::vector<Tensor> grad_inputs = {RandomTensor((*y)[0].shape(), seed++)};
    grad_inputs.insert(grad_inputs.end(), inputs.begin(), inputs.end());
    const int n = static_cast<int>(inputs.size());
    ExpectSameAsCpu("fleet.concat_grad", grad_inputs, attrs, n, 0, 0);
    if (n > 1) {  // only the last input's gradient
      AttrMap select = attrs;
      select["select"] = AttrValue(std::vector<int64_t>{n - 1});
      ExpectSameAsCpu("fleet.concat_grad", grad_inputs, select, 1, 0, 0);
    }
  }
  ExpectSameError("Concat", {RandomTensor({2, 3}, 1), RandomTensor({3, 3}, 2)}, {{"axis", I(1)}});
  ExpectSameError("fleet.concat_grad",
                  {RandomTensor({2, 5}, 1), RandomTensor({2, 3}, 2), RandomTensor({2, 3}, 3)},
                  {{"axis", I(1)}}, 2);
}

TEST_F(CudaModelOpsTest, AnEmbeddingsSparseRowsGradient) {
  const Tensor table = RandomTensor({10, 4}, 1);
  for (const Tensor& indices :
       {HostTensor(DataType::kI64, {3, 5}, {0, 9, 3, 3, 1, 2, 2, 2, 7, 0, 5, 6, 4, 8, 1}),
        HostTensor(DataType::kI32, {4}, {-1, 0, 4, -10}), HostTensor(DataType::kI64, {0}, {})}) {
    SCOPED_TRACE(indices.TypeString());
    absl::StatusOr<std::vector<Tensor>> y = RunKernel("Gather", {table, indices}, {}, 1);
    ASSERT_TRUE(y.ok()) << y.status();
    const std::vector<Tensor> inputs = {RandomTensor((*y)[0].shape(), 2), indices, table};
    absl::StatusOr<std::vector<Tensor>> cpu = RunKernel("fleet.gather_grad_sparse", inputs, {}, 1);
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    absl::StatusOr<std::vector<Tensor>> gpu = RunOnGpu("fleet.gather_grad_sparse", inputs, {}, 1);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    ExpectSameRows((*cpu)[0], (*gpu)[0], "gather_grad_sparse");
  }
  ExpectSameError("fleet.gather_grad_sparse",
                  {RandomTensor({3, 4}, 2), HostTensor(DataType::kI64, {3}, {0, 1, 2}), table},
                  {{"axis", I(1)}});
  ExpectSameError("fleet.gather_grad_sparse",
                  {RandomTensor({2, 4}, 2), HostTensor(DataType::kI64, {3}, {0, 1, 2}), table}, {});
}

// fleet.multi_update of 20 parameters (two launches) of each update, over three steps: every
// parameter and state as the CPU leaves them.
TEST_F(CudaModelOpsTest, MultiUpdateMatchesTheCpu) {
  struct Case {
    const char* update;
    int states;
    AttrMap attrs;
  };
  const std::vector<Case> cases = {
      {"fleet.sgd", 0, {{"weight_decay", AttrValue(0.01f)}}},
      {"fleet.momentum", 1, {{"use_nesterov", AttrValue(int64_t{1})}}},
      {"fleet.adam", 4, {{"beta1", AttrValue(0.8f)}}},
      {"fleet.adamw", 4, {}},
      {"fleet.adagrad", 1, {{"epsilon", AttrValue(1e-5f)}}},
  };
  const int n = 20;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.update);
    AttrMap attrs = c.attrs;
    attrs["update"] = AttrValue(std::string(c.update));
    // Param[n], State[n * states], Grad[n], LearningRate: the parameters of various sizes.
    std::vector<Tensor> host;
    for (int i = 0; i < n; ++i) host.push_back(RandomTensor({1 + 37 * i % 300}, 10 + i));
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < c.states; ++k) {
        const bool power = k >= 2;  // Adam's beta powers
        host.push_back(power ? HostTensor(DataType::kF32, {1}, {k == 2 ? 0.8 : 0.999})
                             : RandomTensor(host[i].shape(), 100 + i * 4 + k, 0, 0.1f));
      }
    }
    for (int i = 0; i < n; ++i) host.push_back(Tensor());
    host.push_back(HostTensor(DataType::kF32, {1}, {0.05}));
    std::vector<Tensor> device;
    for (const Tensor& t : host) device.push_back(Upload(t));
    const int grads = n * (c.states + 1);
    const int outputs = n * (c.states + 1);
    for (int step = 0; step < 3; ++step) {
      SCOPED_TRACE(step);
      for (int i = 0; i < n; ++i) {
        host[grads + i] = RandomTensor(host[i].shape(), 1000 * step + i);
        device[grads + i] = Upload(host[grads + i]);
      }
      ASSERT_TRUE(RunKernel("fleet.multi_update", host, attrs, outputs).ok());
      absl::StatusOr<std::vector<Tensor>> out =
          RunCudaKernel("fleet.multi_update", device, attrs, outputs);
      ASSERT_TRUE(out.ok()) << out.status();
      for (int j = 0; j < outputs; ++j) {
        EXPECT_EQ((*out)[j].raw_data(), device[j].raw_data()) << j;  // in place
        ExpectNear(host[j], Download(device[j]), "operand " + std::to_string(j), 1e-6, 1e-5);
      }
    }
  }
}

}  // namespace
}  // namespace fleet::testing
