// Runs everywhere, GPU or not: RegisterCudaKernels fills the table with every op the MLP and CNN
// training programs use (and those the other models add), under Device::kCuda, with the memory
// traits of the CPU kernels (the executor plans in-place writes and views from them, so they must
// agree).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/cuda/cuda_test_util.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet::testing {
namespace {

// The ops of `fleet-transpile tests/training/data/{mlp,cnn}.onnx --strategy single` with the
// sgd, momentum and adam optimizers (and adagrad, adamw), then the further ones covered
// (activations, softmax, transpose, reductions, normalisations, gather), then mixed precision's
// (f16 GEMMs and convolutions, casts, loss scaling), and the key dtype of each.
const std::vector<std::pair<std::string, DataType>>& TrainingOps() {
  static const auto* ops = new std::vector<std::pair<std::string, DataType>>{
      {"Gemm", DataType::kF32},
      {"MatMul", DataType::kF32},
      {"Relu", DataType::kF32},
      {"fleet.relu_grad", DataType::kF32},
      {"Add", DataType::kF32},
      {"Sub", DataType::kF32},
      {"Mul", DataType::kF32},
      {"Div", DataType::kF32},
      {"fleet.reduce_to_like", DataType::kF32},
      {"SoftmaxCrossEntropyLoss", DataType::kF32},
      {"fleet.softmax_ce_grad", DataType::kF32},
      {"fleet.fill_like", DataType::kF32},
      {"fleet.fill_constant", DataType::kUndefined},
      {"fleet.increment", DataType::kI64},
      {"fleet.lr_schedule", DataType::kI64},
      {"fleet.sgd", DataType::kF32},
      {"fleet.momentum", DataType::kF32},
      {"fleet.adam", DataType::kF32},
      {"fleet.adamw", DataType::kF32},
      {"fleet.adagrad", DataType::kF32},
      {"fleet.memcpy", DataType::kF32},
      {"Conv", DataType::kF32},
      {"fleet.conv_grad_input", DataType::kF32},
      {"fleet.conv_grad_filter", DataType::kF32},
      {"MaxPool", DataType::kF32},
      {"fleet.max_pool_grad", DataType::kF32},
      {"GlobalAveragePool", DataType::kF32},
      {"fleet.global_avg_pool_grad", DataType::kF32},
      {"Flatten", DataType::kF32},
      {"Reshape", DataType::kF32},
      {"Squeeze", DataType::kF32},
      {"Unsqueeze", DataType::kF32},
      {"Identity", DataType::kF32},
      {"fleet.reshape_like", DataType::kF32},
      {"Sigmoid", DataType::kF32},
      {"Tanh", DataType::kF32},
      {"fleet.sigmoid_grad", DataType::kF32},
      {"fleet.tanh_grad", DataType::kF32},
      {"Erf", DataType::kF32},
      {"fleet.erf_grad", DataType::kF32},
      {"Softmax", DataType::kF32},
      {"LogSoftmax", DataType::kF32},
      {"fleet.softmax_grad", DataType::kF32},
      {"fleet.log_softmax_grad", DataType::kF32},
      {"Transpose", DataType::kF32},
      {"ReduceSum", DataType::kF32},
      {"ReduceMean", DataType::kF32},
      {"fleet.expand_like", DataType::kF32},
      {"LayerNormalization", DataType::kF32},
      {"fleet.layer_norm_grad", DataType::kF32},
      {"BatchNormalization", DataType::kF32},
      {"fleet.batch_norm_train", DataType::kF32},
      {"fleet.batch_norm_grad", DataType::kF32},
      {"Gather", DataType::kF32},
      {"fleet.gather_grad", DataType::kF32},
      // The transformer's, ResNet-18's and the CTR-DNN's.
      {"fleet.matmul_grad_a", DataType::kF32},
      {"fleet.matmul_grad_b", DataType::kF32},
      {"Neg", DataType::kF32},
      {"fleet.grad_sum", DataType::kF32},
      {"Concat", DataType::kF32},
      {"fleet.concat_grad", DataType::kF32},
      {"fleet.gather_grad_sparse", DataType::kF32},
      {"fleet.multi_update", DataType::kF32},
      {"fleet.conditional_block", DataType::kBool},
      // Mixed precision (the amp pass's): the casts, f16 and bf16 GEMMs and convolutions, loss
      // scaling.
      {"Cast", DataType::kF32},
      {"Cast", DataType::kF16},
      {"CastLike", DataType::kF32},
      {"Gemm", DataType::kF16},
      {"MatMul", DataType::kF16},
      {"fleet.matmul_grad_a", DataType::kF16},
      {"fleet.matmul_grad_b", DataType::kF16},
      {"Conv", DataType::kF16},
      {"fleet.conv_grad_input", DataType::kF16},
      {"fleet.conv_grad_filter", DataType::kF16},
      {"Cast", DataType::kBF16},
      {"Gemm", DataType::kBF16},
      {"MatMul", DataType::kBF16},
      {"fleet.matmul_grad_a", DataType::kBF16},
      {"fleet.matmul_grad_b", DataType::kBF16},
      {"Conv", DataType::kBF16},
      {"fleet.conv_grad_input", DataType::kBF16},
      {"fleet.conv_grad_filter", DataType::kBF16},
      {"fleet.check_finite_and_unscale", DataType::kF32},
      {"fleet.update_loss_scaling", DataType::kF32},
  };
  return *ops;
}

TEST(CudaRegistrationTest, EveryTrainingOpHasACudaKernelWithTheCpuTraits) {
  const KernelTable& cuda = CudaKernels();
  const KernelTable& cpu = CpuKernels();
  for (const auto& [op, dtype] : TrainingOps()) {
    SCOPED_TRACE(op);
    absl::StatusOr<KernelFn> fn = cuda.Find(op, Device::kCuda, dtype);
    ASSERT_TRUE(fn.ok()) << fn.status();
    EXPECT_EQ(cuda.KeyInput(op, Device::kCuda), cpu.KeyInput(op, Device::kCpu));
    const KernelTraits& mine = cuda.Traits(op, Device::kCuda);
    const KernelTraits& theirs = cpu.Traits(op, Device::kCpu);
    EXPECT_EQ(mine.in_place, theirs.in_place);
    if (op != "fleet.memcpy") {
      EXPECT_EQ(mine.aliases, theirs.aliases);
    }
    EXPECT_EQ(mine.inputs_anywhere, theirs.inputs_anywhere);
    // Compute kernels stay on the stream: nothing for the executor to wait for.
    EXPECT_FALSE(mine.async);
  }
  // A copy onto the GPU of what is already there hands it over (state kept on the device).
  EXPECT_EQ(cuda.Traits("fleet.memcpy", Device::kCuda).aliases,
            (std::vector<std::pair<int, int>>{{0, 0}}));
  // The views read their shape and axes inputs on the host.
  EXPECT_EQ(cuda.Traits("Reshape", Device::kCuda).host_inputs, std::vector<int>{1});
  EXPECT_EQ(cuda.Traits("Unsqueeze", Device::kCuda).host_inputs, std::vector<int>{1});
  EXPECT_TRUE(cuda.Traits("Conv", Device::kCuda).host_inputs.empty());
  // Loss scaling writes the gradients, the scale and the step counts in place, all on the
  // device.
  EXPECT_EQ(cuda.Traits("fleet.update_loss_scaling", Device::kCuda).in_place,
            (std::vector<std::pair<int, int>>{{1, 0}, {2, 1}, {3, 2}}));
  EXPECT_EQ(cuda.KeyInput("fleet.update_loss_scaling", Device::kCuda), 1);
  EXPECT_TRUE(cuda.Traits("fleet.check_finite_and_unscale", Device::kCuda).host_inputs.empty());
  // LocalSGD's conditional block reads its condition on the host.
  EXPECT_EQ(cuda.Traits("fleet.conditional_block", Device::kCuda).host_inputs, std::vector<int>{0});
  // The table holds CUDA kernels only; the CPU's are registered separately.
  EXPECT_FALSE(cuda.Find("Relu", Device::kCpu, DataType::kF32).ok());
}

TEST(CudaRegistrationTest, AnOpWithoutACudaKernelSaysSo) {
  absl::StatusOr<KernelFn> fn = CudaKernels().Find("Relu", Device::kCuda, DataType::kF64);
  ASSERT_FALSE(fn.ok());
  EXPECT_NE(std::string(fn.status().message()).find("f32"), std::string::npos) << fn.status();
}

}  // namespace
}  // namespace fleet::testing
