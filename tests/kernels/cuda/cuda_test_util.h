// The harness of the CUDA kernel tests: runs an op's CUDA kernel on cuda:0 (inputs uploaded,
// outputs downloaded after the stream's work) and its CPU kernel on the same inputs, and
// compares every output within f32 tolerance. TF32 is off on the test device, so cuBLAS and
// cuDNN compute in full f32 and the CPU kernel is a fair reference.
//
// Every test fixture derives from CudaTest, whose SetUp skips the test (GTEST_SKIP, reported as
// skipped by CTest) where no GPU exists.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/cuda/cuda_device.h"
#include "executor/execution_env.h"
#include "executor/kernel.h"
#include "gtest/gtest.h"

namespace fleet::testing {

// The CUDA kernels' table (RegisterCudaKernels), built once.
const KernelTable& CudaKernels();

// cuda:0 opened with TF32 off, and an env holding it; null where there is no GPU.
CudaDevice* TestGpu();
const ExecutionEnv* TestEnv();
std::shared_ptr<const ExecutionEnv> TestEnvShared();

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (TestGpu() == nullptr) GTEST_SKIP() << "no CUDA device: " << CudaUnavailableReason();
  }
};

// A host f32 tensor of `shape` with values uniform in [lo, hi), reproducible from `seed`.
Tensor RandomTensor(std::vector<int64_t> shape, uint32_t seed, float lo = -1.f, float hi = 1.f);
// A host i64 (or i32) tensor of `shape` with values uniform in [0, classes).
Tensor RandomLabels(std::vector<int64_t> shape, uint32_t seed, int64_t classes,
                    DataType dtype = DataType::kI64);
// A host tensor with these values (f16: rounded to nearest even; bool: != 0).
Tensor HostTensor(DataType dtype, std::vector<int64_t> shape, const std::vector<double>& values);

Tensor Upload(const Tensor& host);      // onto cuda:0 (undefined stays undefined)
Tensor Download(const Tensor& device);  // after the stream's work (undefined stays undefined)

// Runs the CUDA kernel of `op_type` on device tensors, keyed like the executor keys it;
// `state` (may be null) is the op's state slot, kept across calls by the caller.
absl::StatusOr<std::vector<Tensor>> RunCudaKernel(const std::string& op_type,
                                                  const std::vector<Tensor>& device_inputs,
                                                  const AttrMap& attrs, int num_outputs,
                                                  std::unique_ptr<KernelState>* state = nullptr);

// Uploads the host inputs (but those the kernel declares host inputs), runs the CUDA kernel,
// synchronises and downloads the outputs.
absl::StatusOr<std::vector<Tensor>> RunOnGpu(const std::string& op_type,
                                             const std::vector<Tensor>& host_inputs,
                                             const AttrMap& attrs, int num_outputs);

// Expects `actual` to have the dtype and shape of `expected` and every value within
// atol + rtol * |expected| (NaN matches NaN, inf the same inf; f16 compares its f32 values, bool 0
// and 1). `what` names the output in failures.
void ExpectNear(const Tensor& expected, const Tensor& actual, const std::string& what,
                double atol = 1e-5, double rtol = 1e-4);

// Runs the op on the CPU and on the GPU with the same inputs and compares all outputs.
void ExpectSameAsCpu(const std::string& op_type, const std::vector<Tensor>& inputs,
                     const AttrMap& attrs, int num_outputs = 1, double atol = 1e-5,
                     double rtol = 1e-4);

// Attribute values, short for the tables of cases.
using Ints = std::vector<int64_t>;
inline AttrValue I(int64_t v) { return AttrValue(v); }
inline AttrValue F(float v) { return AttrValue(v); }
inline AttrValue V(Ints v) { return AttrValue(std::move(v)); }

// A convolution to compare: input and filter shapes and the Conv attributes.
struct ConvCase {
  std::vector<int64_t> x, w;
  AttrMap attrs;
};

// Runs the op on both and expects the same status code from each (not OK), with the CPU's
// message found in the GPU's (the same check, the same words).
void ExpectSameError(const std::string& op_type, const std::vector<Tensor>& inputs,
                     const AttrMap& attrs, int num_outputs = 1);

}  // namespace fleet::testing
