// Allocators: buffers know their device, peak and current bytes are tracked per allocator, and
// Zeros/FromValue/Clone/ToValue and kernel outputs respect the device, copying through the
// device's functions (shown with a test device whose memory the host cannot read directly).
#include "executor/allocator.h"

#include <cstring>
#include <vector>

#include "executor/kernel.h"
#include "executor/tensor.h"
#include "gtest/gtest.h"
#include "tests/executor/test_device.h"

namespace fleet {
namespace {

using testing::TestDeviceAllocator;

std::vector<float> HostValues(const Tensor& t) {
  Tensor host = t.Clone(CpuAllocator());
  return std::vector<float>(host.data<float>(), host.data<float>() + host.numel());
}

TEST(AllocatorTest, TracksCurrentAndPeakBytesPerAllocator) {
  TestDeviceAllocator device;
  Allocator* cpu = CpuAllocator();
  const int64_t cpu_before = cpu->stats().current_bytes;
  {
    Tensor a(DataType::kF32, {250}, &device);  // 1000 bytes
    {
      Tensor b(DataType::kF64, {375}, &device);  // 3000 bytes
      EXPECT_EQ(device.stats().current_bytes, 4000);
      EXPECT_EQ(device.stats().peak_bytes, 4000);
    }
    EXPECT_EQ(device.stats().current_bytes, 1000);
    EXPECT_EQ(device.stats().peak_bytes, 4000);
    device.ResetPeak();
    EXPECT_EQ(device.stats().peak_bytes, 1000);
    Tensor view = a.Reshaped({25, 10});  // a view allocates nothing
    EXPECT_EQ(device.stats().current_bytes, 1000);
  }
  EXPECT_EQ(device.stats().current_bytes, 0);
  // The host allocator counts its own bytes, not the device's.
  EXPECT_EQ(cpu->stats().current_bytes, cpu_before);
  {
    Tensor h(DataType::kF32, {100});
    EXPECT_EQ(cpu->stats().current_bytes, cpu_before + 400);
    EXPECT_GE(cpu->stats().peak_bytes, cpu_before + 400);
  }
  EXPECT_EQ(cpu->stats().current_bytes, cpu_before);
}

TEST(AllocatorTest, BuffersKnowTheirDevice) {
  TestDeviceAllocator device(DeviceId(Device::kCuda, 2));
  Tensor host(DataType::kF32, {2});
  Tensor on_device(DataType::kF32, {2}, &device);
  EXPECT_EQ(host.device(), DeviceId(Device::kCpu));
  EXPECT_TRUE(host.host_accessible());
  EXPECT_EQ(host.buffer()->allocator(), CpuAllocator());
  EXPECT_EQ(on_device.device().ToString(), "cuda:2");
  EXPECT_FALSE(on_device.host_accessible());
  EXPECT_EQ(on_device.buffer()->allocator(), &device);
  EXPECT_EQ(on_device.Reshaped({1, 2}).device().ToString(), "cuda:2");  // views keep it
  EXPECT_EQ(Tensor().device(), DeviceId(Device::kCpu));
  float outside[2] = {1, 2};
  EXPECT_EQ(Buffer::Wrap(outside, sizeof(outside), nullptr)->device(), DeviceId(Device::kCpu));
  EXPECT_EQ(Buffer::Wrap(outside, sizeof(outside), nullptr, &device)->device().ToString(),
            "cuda:2");
}

TEST(AllocatorTest, ZerosFromValueAndCloneCopyThroughTheDevice) {
  TestDeviceAllocator device;
  Tensor zeros = Tensor::Zeros(DataType::kF32, {3}, &device);
  EXPECT_EQ(device.copies_from_host, 1);
  // Stored the device's way (inverted), so not written by a host memset...
  unsigned char raw[12];
  std::memcpy(raw, zeros.raw_data(), sizeof(raw));
  for (unsigned char b : raw) EXPECT_EQ(b, 0xff);
  // ...and read back through the device's copy.
  EXPECT_EQ(HostValues(zeros), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(device.copies_to_host, 1);

  std::vector<float> values = {1.5f, -2.f, 3.f};
  TensorValue value{
      DataType::kF32, {3}, std::string(reinterpret_cast<const char*>(values.data()), 12)};
  Tensor from_value = Tensor::FromValue(value, &device);
  EXPECT_EQ(from_value.device().ToString(), "cuda:0");
  EXPECT_EQ(HostValues(from_value), values);
  EXPECT_EQ(from_value.ToValue().bytes, value.bytes);  // ToValue copies to the host too

  Tensor same_device = from_value.Clone();  // stays on the device
  EXPECT_EQ(same_device.device().ToString(), "cuda:0");
  EXPECT_EQ(device.copies_within, 1);
  EXPECT_EQ(HostValues(same_device), values);

  Tensor host = Tensor::FromValue(value);
  EXPECT_TRUE(host.host_accessible());
  Tensor uploaded = host.Clone(&device);
  EXPECT_EQ(uploaded.device().ToString(), "cuda:0");
  EXPECT_EQ(HostValues(uploaded), values);

  // Between two devices that cannot reach each other: through the host.
  TestDeviceAllocator other(DeviceId(Device::kCuda, 1));
  Tensor moved = uploaded.Clone(&other);
  EXPECT_EQ(moved.device().ToString(), "cuda:1");
  EXPECT_EQ(other.copies_from_host, 1);
  EXPECT_EQ(HostValues(moved), values);
}

TEST(AllocatorTest, KernelOutputsComeFromTheOpsDevice) {
  TestDeviceAllocator device;
  DeviceContext context{device.device(), &device, nullptr};
  std::vector<Tensor> outputs(1);
  KernelContext ctx("op 'k' (Test)", nullptr, {}, &outputs, nullptr,
                    KernelRunInfo{nullptr, 0, &context});
  EXPECT_EQ(ctx.device().device.ToString(), "cuda:0");
  Tensor* out = ctx.Output(0, DataType::kF32, {4});
  EXPECT_EQ(out->device().ToString(), "cuda:0");
  EXPECT_EQ(device.stats().current_bytes, 16);

  KernelContext host_ctx("op 'k' (Test)", nullptr, {}, &outputs, nullptr);
  EXPECT_EQ(host_ctx.device().allocator, CpuAllocator());
  EXPECT_TRUE(host_ctx.Output(0, DataType::kF32, {4})->host_accessible());
  EXPECT_EQ(device.stats().current_bytes, 0);  // the device output was replaced
}

}  // namespace
}  // namespace fleet
