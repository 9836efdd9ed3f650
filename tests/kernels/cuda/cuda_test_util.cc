#include "tests/kernels/cuda/cuda_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "executor/half.h"
#include "kernels/cuda/register.h"
#include "tests/kernels/kernel_test_util.h"

namespace fleet::testing {
namespace {

struct Gpu {
  std::shared_ptr<ExecutionEnv> env;
  CudaDevice* device = nullptr;
};

const Gpu& TheGpu() {
  static const Gpu* gpu = [] {
    auto* g = new Gpu();
    if (CudaDeviceCount() == 0) return g;
    CudaDeviceOptions options;
    options.allow_tf32 = false;
    absl::StatusOr<std::unique_ptr<CudaDevice>> opened = CudaDevice::Open(0, options);
    if (!opened.ok()) {
      ADD_FAILURE() << "a CUDA device exists but cannot be opened: " << opened.status();
      return g;
    }
    g->device = opened->get();
    auto devices = std::make_shared<CudaDevices>();
    devices->Add(*std::move(opened));
    g->env = std::make_shared<ExecutionEnv>();
    g->env->Set(devices);
    return g;
  }();
  return *gpu;
}

template <typename T>
void Fill(Tensor* t, const std::vector<double>& values) {
  for (size_t i = 0; i < values.size(); ++i) t->data<T>()[i] = static_cast<T>(values[i]);
}

double ValueAt(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kF32:
      return t.data<float>()[i];
    case DataType::kF64:
      return t.data<double>()[i];
    case DataType::kI64:
      return static_cast<double>(t.data<int64_t>()[i]);
    case DataType::kI32:
      return t.data<int32_t>()[i];
    case DataType::kF16:
      return HalfToFloat(t.data<uint16_t>()[i]);
    case DataType::kBool:
      return t.data<bool>()[i] ? 1 : 0;
    default:
      ADD_FAILURE() << "no comparison for " << t.TypeString();
      return 0;
  }
}

}  // namespace

const KernelTable& CudaKernels() {
  static const KernelTable* table = [] {
    auto* t = new KernelTable();
    RegisterCudaKernels(*t);
    return t;
  }();
  return *table;
}

CudaDevice* TestGpu() { return TheGpu().device; }
const ExecutionEnv* TestEnv() { return TheGpu().env.get(); }
std::shared_ptr<const ExecutionEnv> TestEnvShared() { return TheGpu().env; }

Tensor RandomTensor(std::vector<int64_t> shape, uint32_t seed, float lo, float hi) {
  Tensor t(DataType::kF32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

Tensor RandomLabels(std::vector<int64_t> shape, uint32_t seed, int64_t classes, DataType dtype) {
  Tensor t(dtype, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, classes - 1);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dtype == DataType::kI32) {
      t.data<int32_t>()[i] = static_cast<int32_t>(dist(rng));
    } else {
      t.data<int64_t>()[i] = dist(rng);
    }
  }
  return t;
}

Tensor HostTensor(DataType dtype, std::vector<int64_t> shape, const std::vector<double>& values) {
  Tensor t(dtype, std::move(shape));
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel());
  switch (dtype) {
    case DataType::kF32:
      Fill<float>(&t, values);
      break;
    case DataType::kF64:
      Fill<double>(&t, values);
      break;
    case DataType::kI64:
      Fill<int64_t>(&t, values);
      break;
    case DataType::kI32:
      Fill<int32_t>(&t, values);
      break;
    case DataType::kF16:
      for (size_t i = 0; i < values.size(); ++i) {
        t.data<uint16_t>()[i] = FloatToHalf(static_cast<float>(values[i]));
      }
      break;
    case DataType::kBool:
      Fill<bool>(&t, values);
      break;
    default:
      ADD_FAILURE() << "HostTensor: unsupported dtype";
  }
  return t;
}

Tensor Upload(const Tensor& host) {
  return host.defined() ? host.Clone(TestGpu()->allocator()) : Tensor();
}

Tensor Download(const Tensor& device) {
  EXPECT_TRUE(TestGpu()->Synchronize().ok());
  return device.defined() ? device.Clone(CpuAllocator()) : Tensor();
}

absl::StatusOr<std::vector<Tensor>> RunCudaKernel(const std::string& op_type,
                                                  const std::vector<Tensor>& device_inputs,
                                                  const AttrMap& attrs, int num_outputs,
                                                  std::unique_ptr<KernelState>* state) {
  const KernelTable& table = CudaKernels();
  const int key = table.KeyInput(op_type, Device::kCuda);
  const DataType dtype = key >= 0 && key < static_cast<int>(device_inputs.size())
                             ? device_inputs[key].dtype()
                             : DataType::kUndefined;
  absl::StatusOr<KernelFn> fn = table.Find(op_type, Device::kCuda, dtype);
  if (!fn.ok()) return fn.status();
  std::vector<const Tensor*> in;
  for (const Tensor& t : device_inputs) in.push_back(&t);
  std::vector<Tensor> out(num_outputs);
  const std::string description = "op (" + op_type + ")";
  const DeviceContext context = TestGpu()->context();
  KernelRunInfo info;
  info.state = state;
  info.device = &context;
  info.env = TestEnv();
  KernelContext ctx(description, &attrs, in, &out, nullptr, info);
  absl::Status status = (*fn)(ctx);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<Tensor>> RunOnGpu(const std::string& op_type,
                                             const std::vector<Tensor>& host_inputs,
                                             const AttrMap& attrs, int num_outputs) {
  // Inputs the kernel reads on the host stay there, as the executor leaves them.
  const std::vector<int>& stay = CudaKernels().Traits(op_type, Device::kCuda).host_inputs;
  std::vector<Tensor> device_inputs;
  for (size_t i = 0; i < host_inputs.size(); ++i) {
    const bool host = std::find(stay.begin(), stay.end(), static_cast<int>(i)) != stay.end();
    device_inputs.push_back(host ? host_inputs[i] : Upload(host_inputs[i]));
  }
  std::unique_ptr<KernelState> state;
  absl::StatusOr<std::vector<Tensor>> out =
      RunCudaKernel(op_type, device_inputs, attrs, num_outputs, &state);
  if (!out.ok()) return out.status();
  std::vector<Tensor> host;
  for (const Tensor& t : *out) host.push_back(Download(t));
  return host;
}

void ExpectNear(const Tensor& expected, const Tensor& actual, const std::string& what, double atol,
                double rtol) {
  ASSERT_EQ(expected.defined(), actual.defined()) << what;
  if (!expected.defined()) return;
  ASSERT_EQ(expected.dtype(), actual.dtype()) << what;
  ASSERT_EQ(expected.shape(), actual.shape())
      << what << ": " << expected.TypeString() << " vs " << actual.TypeString();
  int failures = 0;
  for (int64_t i = 0; i < expected.numel() && failures < 5; ++i) {
    const double e = ValueAt(expected, i), a = ValueAt(actual, i);
    if (std::isnan(e) && std::isnan(a)) continue;
    if (e == a) continue;  // infinities of one sign
    if (!(std::fabs(e - a) <= atol + rtol * std::fabs(e))) {
      ADD_FAILURE() << what << " element " << i << ": cpu " << e << ", cuda " << a;
      ++failures;
    }
  }
}

void ExpectSameAsCpu(const std::string& op_type, const std::vector<Tensor>& inputs,
                     const AttrMap& attrs, int num_outputs, double atol, double rtol) {
  absl::StatusOr<std::vector<Tensor>> cpu = RunKernel(op_type, inputs, attrs, num_outputs);
  ASSERT_TRUE(cpu.ok()) << "cpu " << op_type << ": " << cpu.status();
  absl::StatusOr<std::vector<Tensor>> gpu = RunOnGpu(op_type, inputs, attrs, num_outputs);
  ASSERT_TRUE(gpu.ok()) << "cuda " << op_type << ": " << gpu.status();
  ASSERT_EQ(cpu->size(), gpu->size());
  for (size_t i = 0; i < cpu->size(); ++i) {
    ExpectNear((*cpu)[i], (*gpu)[i], op_type + " output " + std::to_string(i), atol, rtol);
  }
}

void ExpectSameError(const std::string& op_type, const std::vector<Tensor>& inputs,
                     const AttrMap& attrs, int num_outputs) {
  absl::StatusOr<std::vector<Tensor>> cpu = RunKernel(op_type, inputs, attrs, num_outputs);
  ASSERT_FALSE(cpu.ok()) << "the CPU kernel of " << op_type << " accepted the inputs";
  absl::StatusOr<std::vector<Tensor>> gpu = RunOnGpu(op_type, inputs, attrs, num_outputs);
  ASSERT_FALSE(gpu.ok()) << "the CUDA kernel of " << op_type << " accepted the inputs";
  EXPECT_EQ(cpu.status().code(), gpu.status().code()) << cpu.status() << " vs " << gpu.status();
  EXPECT_NE(std::string(gpu.status().message()).find(std::string(cpu.status().message())),
            std::string::npos)
      << "cpu: " << cpu.status() << "\ncuda: " << gpu.status();
}

}  // namespace fleet::testing
