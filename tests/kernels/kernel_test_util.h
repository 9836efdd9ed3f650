// Helpers for kernel unit tests: build tensors from literals and run one registered CPU kernel.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/kernel.h"
#include "kernels/cpu/register.h"

namespace fleet::testing {

template <typename T>
Tensor MakeTensor(DataType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  Tensor t(dtype, std::move(shape));
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

template <typename T>
std::vector<T> ToVector(const Tensor& t) {
  const T* p = t.data<T>();
  return std::vector<T>(p, p + t.numel());
}

inline const KernelTable& CpuKernels() {
  static const KernelTable* table = [] {
    auto* t = new KernelTable();
    RegisterCpuKernels(*t);
    return t;
  }();
  return *table;
}

// Runs the CPU kernel of `op_type` keyed on the dtype of input `key` (as the executor would).
// Undefined tensors in `inputs` stand for absent optional inputs.
inline absl::StatusOr<std::vector<Tensor>> RunKernel(const std::string& op_type,
                                                     const std::vector<Tensor>& inputs,
                                                     const AttrMap& attrs, int num_outputs,
                                                     ThreadPool* pool = nullptr,
                                                     const ExecutionEnv* env = nullptr) {
  const KernelTable& table = CpuKernels();
  int key = table.KeyInput(op_type, Device::kCpu);
  DataType dtype = key >= 0 && key < static_cast<int>(inputs.size()) ? inputs[key].dtype()
                                                                       : DataType::kUndefined;
  auto fn = table.Find(op_type, Device::kCpu, dtype);
  if (!fn.ok()) return fn.status();
  std::vector<const Tensor*> in;
  for (const Tensor& t : inputs) in.push_back(&t);
  std::vector<Tensor> out(num_outputs);
  std::string description = "op (" + op_type + ")";
  KernelContext ctx(description, &attrs, in, &out, pool, KernelRunInfo{nullptr, 0, nullptr, env});
  absl::Status s = (*fn)(ctx);
  if (!s.ok()) return s;
  return out;
}

}  // namespace fleet::testing
