// The CUDA kernels of the CNN training program against the CPU kernels, on random inputs:
// convolutions and their gradients (cuDNN), max and global average pooling and their
// gradients, and the view ops, which must hand back their input's memory.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/cuda/cuda_test_util.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet::testing {
namespace {

using Shape = std::vector<int64_t>;

class CudaConvTest : public CudaTest {};

std::vector<ConvCase> ConvCases() {
  return {
      {{2, 3, 8, 8}, {4, 3, 3, 3}, {{"pads", V({1, 1, 1, 1})}}},                // the CNN's
      {{2, 4, 9, 7}, {6, 2, 3, 3}, {{"group", I(2)}, {"strides", V({2, 2})}}},  // groups, stride
      {{1, 3, 10, 10}, {2, 3, 3, 3}, {{"dilations", V({2, 2})}, {"pads", V({2, 2, 2, 2})}}},
      {{2, 4, 6, 6}, {4, 1, 3, 3}, {{"group", I(4)}, {"pads", V({1, 1, 1, 1})}}},  // depthwise
      {{2, 3, 5, 5}, {5, 3, 1, 1}, {}},                                            // 1x1
      {{2, 3, 12}, {4, 3, 5}, {{"pads", V({2, 2})}, {"strides", V({2})}}},         // 1-D
      {{1, 2, 4, 5, 6}, {3, 2, 3, 3, 3}, {{"pads", V({1, 1, 1, 1, 1, 1})}}},       // 3-D
      {{1, 1, 1, 1}, {1, 1, 1, 1}, {}},                                            // size 1
      {{2, 3, 6, 6}, {4, 3, 3, 3}, {{"auto_pad", AttrValue(std::string("SAME_UPPER"))}}},
  };
}

TEST_F(CudaConvTest, ForwardWithAndWithoutBias) {
  uint32_t seed = 1;
  for (const ConvCase& c : ConvCases()) {
    SCOPED_TRACE(ShapeString(c.x) + " * " + ShapeString(c.w));
    const Tensor x = RandomTensor(c.x, seed++);
    const Tensor w = RandomTensor(c.w, seed++);
    ExpectSameAsCpu("Conv", {x, w}, c.attrs);
    ExpectSameAsCpu("Conv", {x, w, RandomTensor({c.w[0]}, seed++)}, c.attrs);
  }
}

TEST_F(CudaConvTest, GradientsOfInputFilterAndBias) {
  uint32_t seed = 100;
  for (const ConvCase& c : ConvCases()) {
    SCOPED_TRACE(ShapeString(c.x) + " * " + ShapeString(c.w));
    const Tensor x = RandomTensor(c.x, seed++);
    const Tensor w = RandomTensor(c.w, seed++);
    absl::StatusOr<std::vector<Tensor>> y = RunKernel("Conv", {x, w}, c.attrs, 1);
    ASSERT_TRUE(y.ok()) << y.status();
    const Tensor dy = RandomTensor((*y)[0].shape(), seed++);
    ExpectSameAsCpu("fleet.conv_grad_input", {x, w, dy}, c.attrs, 1, 1e-4, 1e-4);
    ExpectSameAsCpu("fleet.conv_grad_filter", {x, w, dy}, c.attrs, 2, 1e-4, 1e-4);
  }
}

TEST_F(CudaConvTest, ShapeErrorsMatchTheCpuAndAsymmetricPadsAreRefused) {
  const Tensor x = RandomTensor({1, 3, 6, 6}, 1);
  ExpectSameError("Conv", {x, RandomTensor({4, 2, 3, 3}, 2)}, {});
  ExpectSameError("Conv", {x, RandomTensor({4, 3, 3, 3}, 2), RandomTensor({3}, 3)}, {});
  ExpectSameError("Conv", {x, RandomTensor({4, 3, 3, 3}, 2)}, {{"group", I(2)}});
  ExpectSameError("fleet.conv_grad_input",
                  {x, RandomTensor({4, 3, 3, 3}, 2), RandomTensor({1, 4, 5, 5}, 3)}, {});
  absl::StatusOr<std::vector<Tensor>> odd =
      RunOnGpu("Conv", {x, RandomTensor({4, 3, 2, 2}, 2)},
               {{"auto_pad", AttrValue(std::string("SAME_UPPER"))}}, 1);
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().code(), absl::StatusCode::kUnimplemented) << odd.status();
}

TEST_F(CudaConvTest, APlanIsKeptPerShapeInTheOpsState) {
  // Two shapes through one op's state, alternately: each run matches the CPU.
  std::unique_ptr<KernelState> state;
  const Tensor w = RandomTensor({4, 3, 3, 3}, 1);
  const Tensor dw = Upload(w);
  const AttrMap attrs = {{"pads", V({1, 1, 1, 1})}};
  for (int round = 0; round < 2; ++round) {
    for (int64_t batch : {2, 5}) {
      const Tensor x = RandomTensor({batch, 3, 6, 6}, 10 + batch + round);
      absl::StatusOr<std::vector<Tensor>> gpu =
          RunCudaKernel("Conv", {Upload(x), dw}, attrs, 1, &state);
      ASSERT_TRUE(gpu.ok()) << gpu.status();
      absl::StatusOr<std::vector<Tensor>> cpu = RunKernel("Conv", {x, w}, attrs, 1);
      ASSERT_TRUE(cpu.ok()) << cpu.status();
      ExpectNear((*cpu)[0], Download((*gpu)[0]), "Conv batch " + std::to_string(batch));
    }
  }
  EXPECT_NE(state, nullptr);
}

class CudaPoolTest : public CudaTest {};

TEST_F(CudaPoolTest, MaxPoolAndItsGradient) {
  const std::vector<std::pair<Shape, AttrMap>> cases = {
      {{2, 3, 8, 8}, {{"kernel_shape", V({2, 2})}, {"strides", V({2, 2})}}},  // the CNN's
      {{2, 3, 7, 7},
       {{"kernel_shape", V({3, 3})},
        {"strides", V({2, 2})},
        {"pads", V({1, 1, 1, 1})}}},  // overlapping
      {{1, 2, 9, 9}, {{"kernel_shape", V({3, 3})}, {"strides", V({2, 2})}, {"ceil_mode", I(1)}}},
      {{1, 2, 9, 9}, {{"kernel_shape", V({2, 2})}, {"dilations", V({2, 2})}}},
      {{2, 3, 10}, {{"kernel_shape", V({3})}}},             // 1-D
      {{1, 2, 4, 4, 4}, {{"kernel_shape", V({2, 2, 2})}}},  // 3-D
      {{0, 3, 4, 4}, {{"kernel_shape", V({2, 2})}}},        // empty
  };
  uint32_t seed = 200;
  for (const auto& [shape, attrs] : cases) {
    SCOPED_TRACE(ShapeString(shape));
    const Tensor x = RandomTensor(shape, seed++);
    ExpectSameAsCpu("MaxPool", {x}, attrs, 1);
    ExpectSameAsCpu("MaxPool", {x}, attrs, 2);  // with Indices
    absl::StatusOr<std::vector<Tensor>> y = RunKernel("MaxPool", {x}, attrs, 1);
    ASSERT_TRUE(y.ok()) << y.status();
    ExpectSameAsCpu("fleet.max_pool_grad", {x, RandomTensor((*y)[0].shape(), seed++)}, attrs);
  }
  // Ties: the first maximum of each window takes the gradient, as on the CPU.
  const Tensor flat = HostTensor(DataType::kF32, {1, 1, 2, 4}, {1, 1, 2, 2, 1, 1, 2, 2});
  const AttrMap pool = {{"kernel_shape", V({2, 2})}, {"strides", V({1, 1})}};
  ExpectSameAsCpu("MaxPool", {flat}, pool, 2);
  ExpectSameAsCpu("fleet.max_pool_grad", {flat, RandomTensor({1, 1, 1, 3}, 1)}, pool);
  ExpectSameError("fleet.max_pool_grad", {flat, RandomTensor({1, 1, 2, 2}, 1)}, pool);
  ExpectSameError("MaxPool", {flat}, {});
}

TEST_F(CudaPoolTest, GlobalAveragePoolAndItsGradient) {
  for (const Shape& shape : {Shape{4, 8, 7, 7}, Shape{2, 3, 5}, Shape{3, 2}, Shape{0, 4, 2, 2}}) {
    SCOPED_TRACE(ShapeString(shape));
    const Tensor x = RandomTensor(shape, 1);
    ExpectSameAsCpu("GlobalAveragePool", {x}, {});
    Shape out(shape.size(), 1);
    out[0] = shape[0];
    out[1] = shape[1];
    ExpectSameAsCpu("fleet.global_avg_pool_grad", {x, RandomTensor(out, 2)}, {});
  }
  ExpectSameError("fleet.global_avg_pool_grad",
                  {RandomTensor({2, 3, 4, 4}, 1), RandomTensor({2, 2, 1, 1}, 2)}, {});
}

class CudaBatchNormTest : public CudaTest {};

TEST_F(CudaBatchNormTest, TrainingStatisticsGradientAndInference) {
  for (const Shape& shape : {Shape{8, 4, 5, 5}, Shape{16, 3}, Shape{2, 6, 7}, Shape{1, 2, 1, 1}}) {
    SCOPED_TRACE(ShapeString(shape));
    const int64_t c = shape[1];
    const Tensor x = RandomTensor(shape, 1, -2.f, 3.f);
    const Tensor scale = RandomTensor({c}, 2, 0.5f, 1.5f);
    const Tensor bias = RandomTensor({c}, 3);
    const Tensor mean = RandomTensor({c}, 4);
    const Tensor var = RandomTensor({c}, 5, 0.5f, 2.f);
    const AttrMap attrs = {{"epsilon", AttrValue(1e-5f)}, {"momentum", AttrValue(0.9f)}};
    ExpectSameAsCpu("fleet.batch_norm_train", {x, scale, bias, mean, var}, attrs, 5, 1e-5, 1e-4);
    absl::StatusOr<std::vector<Tensor>> train =
        RunKernel("fleet.batch_norm_train", {x, scale, bias, mean, var}, attrs, 5);
    ASSERT_TRUE(train.ok()) << train.status();
    ExpectSameAsCpu("fleet.batch_norm_grad",
                    {x, scale, (*train)[3], (*train)[4], RandomTensor(shape, 6)}, attrs, 3, 1e-4,
                    1e-4);
    ExpectSameAsCpu("BatchNormalization", {x, scale, bias, mean, var}, attrs, 3);
  }
  const Tensor x = RandomTensor({2, 3, 4}, 1);
  const Tensor ok = RandomTensor({3}, 2);
  ExpectSameError("fleet.batch_norm_train", {x, ok, RandomTensor({4}, 3), ok, ok}, {}, 5);
  ExpectSameError("fleet.batch_norm_grad", {x, ok, ok, ok, RandomTensor({2, 3}, 4)}, {}, 3);
  ExpectSameError("BatchNormalization", {RandomTensor({3}, 1), ok, ok, ok, ok}, {});
}

class CudaViewTest : public CudaTest {};

TEST_F(CudaViewTest, ViewsShareTheDeviceMemoryOfTheirInput) {
  const Tensor x = RandomTensor({2, 3, 4}, 1);
  const Tensor dx = Upload(x);
  struct Case {
    const char* op;
    std::vector<Tensor> extra;  // inputs after X, as the host holds them
    AttrMap attrs;
  };
  const std::vector<Case> cases = {
      {"Flatten", {}, {{"axis", I(1)}}},
      {"Reshape", {HostTensor(DataType::kI64, {2}, {4, -1})}, {}},
      {"Unsqueeze", {HostTensor(DataType::kI64, {1}, {0})}, {}},
      {"Identity", {}, {}},
      {"fleet.reshape_like", {RandomTensor({6, 4}, 2)}, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    std::vector<Tensor> host = {x};
    host.insert(host.end(), c.extra.begin(), c.extra.end());
    ExpectSameAsCpu(c.op, host, c.attrs);
    // On the device: the output is X's own memory, reshaped.
    std::vector<Tensor> device = {dx};
    const std::vector<int>& stay = CudaKernels().Traits(c.op, Device::kCuda).host_inputs;
    for (size_t i = 0; i < c.extra.size(); ++i) {
      const bool on_host =
          std::find(stay.begin(), stay.end(), static_cast<int>(i + 1)) != stay.end();
      device.push_back(on_host ? c.extra[i] : Upload(c.extra[i]));
    }
    absl::StatusOr<std::vector<Tensor>> out = RunCudaKernel(c.op, device, c.attrs, 1);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].raw_data(), dx.raw_data());
  }
}

}  // namespace
}  // namespace fleet::testing
