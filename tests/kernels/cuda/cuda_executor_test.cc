// A small MLP training program (forward, loss, backward, learning-rate schedule, SGD, step
// counter) run by the executor with every op on cuda:0, against the same program on the CPU:
// the kernels' traits, the executor's early releases of intermediates (reused by the caching
// allocator in stream order) and the in-place updates must give the CPU's losses and weights.
#include <memory>
#include <string>
#include <vector>

#include "executor/executor.h"
#include "executor/scope.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"
#include "kernels/cpu/register.h"
#include "kernels/cuda/register.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace fleet::testing {
namespace {

constexpr char kMlpProgram[] = R"(
fleet.program v1 opset=17
block 0 {
  var %w1 : f32[16,8] persistable
  var %b1 : f32[16] persistable
  var %w2 : f32[4,16] persistable
  var %b2 : f32[4] persistable
  var %x : f32[32,8] feed
  var %label : i64[32] feed
  var %h : f32[32,16]
  var %r : f32[32,16]
  var %logits : f32[32,4]
  var %loss : f32[] fetch
  var %dloss : f32[]
  var %dlogits : f32[32,4]
  var %dr : f32[32,16]
  var %dw2 : f32[4,16]
  var %db2 : f32[4]
  var %dh : f32[32,16]
  var %dw1 : f32[16,8]
  var %db1 : f32[16]
  var %lr : f32[1] persistable
  var %step : i64[1] persistable
  (Y: %h) = Gemm(A: %x, B: %w1, C: %b1) {transB = 1}
  (Y: %r) = Relu(X: %h)
  (Y: %logits) = Gemm(A: %r, B: %w2, C: %b2) {transB = 1}
  (output: %loss) = SoftmaxCrossEntropyLoss(scores: %logits, labels: %label) {reduction = "mean"}
  (Out: %dloss) = fleet.fill_like(X: %loss) {value = 1.0}
  (ScoresGrad: %dlogits) = fleet.softmax_ce_grad(Scores: %logits, Labels: %label, Weights: [], OutGrad: %dloss, LogProbGrad: []) {reduction = "mean"}
  (Y: %dr) = Gemm(A: %dlogits, B: %w2) {transA = 0, transB = 0}
  (Y: %dw2) = Gemm(A: %dlogits, B: %r) {transA = 1, transB = 0}
  (Out: %db2) = fleet.reduce_to_like(X: %dlogits, Like: %b2)
  (XGrad: %dh) = fleet.relu_grad(Out: %r, OutGrad: %dr)
  (Y: %dw1) = Gemm(A: %dh, B: %x) {transA = 1, transB = 0}
  (Out: %db1) = fleet.reduce_to_like(X: %dh, Like: %b1)
  (LearningRate: %lr) = fleet.lr_schedule(Step: %step) {base_lr = 0.5, decay = "cosine", decay_steps = 10, min_lr = 0.05, warmup_steps = 2}
  (ParamOut: %w1) = fleet.sgd(Param: %w1, Grad: %dw1, LearningRate: %lr)
  (ParamOut: %b1) = fleet.sgd(Param: %b1, Grad: %db1, LearningRate: %lr)
  (ParamOut: %w2) = fleet.sgd(Param: %w2, Grad: %dw2, LearningRate: %lr)
  (ParamOut: %b2) = fleet.sgd(Param: %b2, Grad: %db2, LearningRate: %lr)
  (Out: %step) = fleet.increment(X: %step)
}
)";

class CudaExecutorTest : public CudaTest {};

TEST_F(CudaExecutorTest, TrainingStepsOnTheGpuMatchTheCpu) {
  absl::StatusOr<Program> program = ParseProgramText(kMlpProgram, "mlp.txt");
  ASSERT_TRUE(program.ok()) << program.status();
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  RegisterCudaKernels(kernels);

  ExecutorOptions cpu_options;
  ExecutorOptions gpu_options;
  gpu_options.device = DeviceId(Device::kCuda, 0);
  gpu_options.devices = {TestGpu()->context()};
  gpu_options.env = TestEnvShared();
  auto cpu = Executor::Create(*program, kernels, cpu_options);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  auto gpu = Executor::Create(*program, kernels, gpu_options);
  ASSERT_TRUE(gpu.ok()) << gpu.status();

  Scope cpu_scope, gpu_scope;
  auto set = [&](const std::string& name, const Tensor& host) {
    cpu_scope.Set(name, host.Clone());
    gpu_scope.Set(name, Upload(host));
  };
  set("w1", RandomTensor({16, 8}, 1, -0.5f, 0.5f));
  set("b1", RandomTensor({16}, 2, -0.1f, 0.1f));
  set("w2", RandomTensor({4, 16}, 3, -0.5f, 0.5f));
  set("b2", RandomTensor({4}, 4, -0.1f, 0.1f));
  set("lr", HostTensor(DataType::kF32, {1}, {0}));
  set("step", HostTensor(DataType::kI64, {1}, {0}));
  for (int step = 0; step < 6; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    set("x", RandomTensor({32, 8}, 100 + step));
    set("label", RandomLabels({32}, 200 + step, 4));
    ASSERT_TRUE((*cpu)->Run(cpu_scope).ok());
    absl::Status ran = (*gpu)->Run(gpu_scope);
    ASSERT_TRUE(ran.ok()) << ran;
    ASSERT_EQ(gpu_scope.Find("loss")->device().ToString(), "cuda:0");
    ExpectNear(*cpu_scope.Find("loss"), Download(*gpu_scope.Find("loss")), "loss", 1e-5, 1e-4);
  }
  for (const char* name : {"w1", "b1", "w2", "b2", "lr", "step"}) {
    ExpectNear(*cpu_scope.Find(name), Download(*gpu_scope.Find(name)), name, 1e-5, 1e-4);
  }
  // The weights moved: the comparison is not of untouched initial values.
  const Tensor initial = RandomTensor({16, 8}, 1, -0.5f, 0.5f);
  EXPECT_NE(initial.data<float>()[0], cpu_scope.Find("w1")->data<float>()[0]);
}

}  // namespace
}  // namespace fleet::testing
