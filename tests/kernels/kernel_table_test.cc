#include "executor/kernel.h"
#include "gtest/gtest.h"

namespace fleet {
namespace {

absl::Status Noop(KernelContext&) { return absl::OkStatus(); }
absl::Status Other(KernelContext&) { return absl::OkStatus(); }

TEST(KernelTableTest, FindsByDtypeAndSaysWhatExists) {
  KernelTable table;
  table.Add("Relu", Device::kCpu, {DataType::kF32, DataType::kF16}, Noop);
  table.AddAnyType("Shape", Device::kCpu, Other);
  EXPECT_TRUE(table.Find("Relu", Device::kCpu, DataType::kF32).ok());
  EXPECT_EQ(*table.Find("Shape", Device::kCpu, DataType::kI64), &Other);
  auto missing = table.Find("Relu", Device::kCpu, DataType::kF64);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(missing.status().message(), "no kernel for Relu(f64) on cpu; have f32, f16");
  EXPECT_EQ(table.Find("Nope", Device::kCpu, DataType::kF32).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(table.Find("Relu", Device::kCuda, DataType::kF32).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(KernelTableTest, SaysWhichDevicesHaveKernelsOfAnOp) {
  KernelTable table;
  table.Add("Relu", Device::kCpu, {DataType::kF32}, Noop);
  table.AddAnyType("Shape", Device::kCuda, Other);
  table.SetTraits("Gemm", Device::kCuda, KernelTraits::Aliases({{0, 0}}));  // traits alone
  EXPECT_TRUE(table.HasKernels("Relu", Device::kCpu));
  EXPECT_FALSE(table.HasKernels("Relu", Device::kCuda));
  EXPECT_TRUE(table.HasKernels("Shape", Device::kCuda));
  EXPECT_FALSE(table.HasKernels("Gemm", Device::kCuda));
  EXPECT_FALSE(table.HasKernels("Nope", Device::kCpu));
}

}  // namespace
}  // namespace fleet
