// Tests for weights packed once and cached in kernel state (kernels/cpu/packed_weights.h): Gemm,
// MatMul, Conv and ConvTranspose given a state slot and constant weights must compute what they
// compute without (the uncached path is checked against references in matmul_test and
// conv_test), over repeated runs, and must re-pack when the weights tensor is replaced.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet {
namespace {

using ::fleet::testing::CpuKernels;
using ::fleet::testing::ToVector;

Tensor RandomTensor(std::vector<int64_t> shape, uint64_t seed) {
  Tensor t(DataType::kF32, std::move(shape));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// Runs op once; `state` null: no caching. Input 1 is marked constant.
std::vector<float> Run(const std::string& op, const std::vector<Tensor>& inputs,
                       const AttrMap& attrs, std::unique_ptr<KernelState>* state,
                       ThreadPool* pool) {
  auto fn = CpuKernels().Find(op, Device::kCpu, DataType::kF32);
  EXPECT_TRUE(fn.ok()) << fn.status();
  std::vector<const Tensor*> in;
  for (const Tensor& t : inputs) in.push_back(&t);
  std::vector<Tensor> out(1);
  KernelRunInfo info;
  info.state = state;
  info.constant_inputs = state != nullptr ? uint64_t{1} << 1 : 0;
  KernelContext ctx("op (" + op + ")", &attrs, in, &out, pool, info);
  absl::Status s = (*fn)(ctx);
  EXPECT_TRUE(s.ok()) << s;
  return ToVector<float>(out[0]);
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-4f * (1.0f + std::abs(want[i]))) << "at " << i;
  }
}

// Runs `op` uncached, then three times cached (first run packs, the others reuse), then with
// the weights replaced by another tensor of the same shape.
void CheckCaching(const std::string& op, std::vector<Tensor> inputs, const AttrMap& attrs,
                  int threads) {
  SCOPED_TRACE(op);
  ThreadPool pool(threads);
  std::unique_ptr<KernelState> state;
  const std::vector<float> want = Run(op, inputs, attrs, nullptr, &pool);
  for (int i = 0; i < 3; ++i) ExpectClose(Run(op, inputs, attrs, &state, &pool), want);
  EXPECT_NE(state, nullptr);
  inputs[1] = RandomTensor(inputs[1].shape(), 99);
  const std::vector<float> want2 = Run(op, inputs, attrs, nullptr, &pool);
  ExpectClose(Run(op, inputs, attrs, &state, &pool), want2);
}

TEST(PackedWeightsTest, Gemm) {
  for (int threads : {1, 2}) {
    for (int64_t batch : {1, 3, 64}) {
      CheckCaching(
          "Gemm",
          {RandomTensor({batch, 300}, 1), RandomTensor({70, 300}, 2), RandomTensor({70}, 3)},
          {{"transB", int64_t{1}}}, threads);
      CheckCaching("Gemm", {RandomTensor({batch, 300}, 1), RandomTensor({300, 70}, 2)},
                   {{"alpha", 0.5f}}, threads);
      CheckCaching("Gemm", {RandomTensor({300, batch}, 1), RandomTensor({300, 130}, 2)},
                   {{"transA", int64_t{1}}}, threads);
    }
  }
}

TEST(PackedWeightsTest, MatMul) {
  for (int threads : {1, 2}) {
    CheckCaching("MatMul", {RandomTensor({4, 32, 128}, 1), RandomTensor({128, 200}, 2)}, {},
                 threads);
    CheckCaching("MatMul", {RandomTensor({1, 128}, 1), RandomTensor({128, 50}, 2)}, {}, threads);
  }
}

TEST(PackedWeightsTest, Conv) {
  for (int threads : {1, 2}) {
    CheckCaching("Conv", {RandomTensor({2, 8, 12, 12}, 1), RandomTensor({20, 8, 3, 3}, 2)},
                 {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}, threads);
    CheckCaching("Conv", {RandomTensor({3, 8, 5, 5}, 1), RandomTensor({12, 4, 3, 3}, 2)},
                 {{"group", int64_t{2}}}, threads);
    CheckCaching("Conv", {RandomTensor({1, 16, 40, 40}, 1), RandomTensor({24, 16, 1, 1}, 2)}, {},
                 threads);
    CheckCaching("ConvTranspose", {RandomTensor({2, 6, 5, 5}, 1), RandomTensor({6, 4, 3, 3}, 2)},
                 {{"group", int64_t{2}}, {"strides", std::vector<int64_t>{2, 2}}}, threads);
  }
}

TEST(PackedWeightsTest, NotCachedWhenNotConstant) {
  // A state slot but no constant input: nothing is cached.
  auto fn = CpuKernels().Find("Gemm", Device::kCpu, DataType::kF32);
  ASSERT_TRUE(fn.ok());
  Tensor a = RandomTensor({2, 3}, 1), b = RandomTensor({3, 4}, 2);
  std::vector<const Tensor*> in = {&a, &b};
  std::vector<Tensor> out(1);
  std::unique_ptr<KernelState> state;
  KernelRunInfo info;
  info.state = &state;
  AttrMap attrs;
  KernelContext ctx("op (Gemm)", &attrs, in, &out, nullptr, info);
  ASSERT_TRUE((*fn)(ctx).ok());
  EXPECT_EQ(state, nullptr);
}

}  // namespace
}  // namespace fleet
