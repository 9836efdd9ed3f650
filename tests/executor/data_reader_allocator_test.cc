// ReaderOptions::batch_allocator: batch tensors land in the given host-accessible allocator
// (a GPU run's pinned memory), with the same values as without it, prefetched or not; the copy
// is made on the prefetch thread; a device allocator is refused and an exhausted one is an
// error, not a crash.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "executor/data/reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/executor/data_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

// Host memory from the C heap that counts its allocations and remembers the threads that made
// them; `fail` makes every allocation fail.
class CountingAllocator final : public Allocator {
 public:
  explicit CountingAllocator(bool fail = false)
      : Allocator(DeviceId(Device::kCpu), /*host_accessible=*/true), fail_(fail) {}

  int allocations() const { return allocations_.load(); }
  bool allocated_on(std::thread::id thread) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::thread::id t : threads_) {
      if (t == thread) return true;
    }
    return false;
  }

 protected:
  void* AllocateRaw(size_t bytes) override {
    if (fail_) return nullptr;
    ++allocations_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads_.push_back(std::this_thread::get_id());
    }
    return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  }
  void FreeRaw(void* data, size_t /*bytes*/) override { std::free(data); }

 private:
  bool fail_;
  std::atomic<int> allocations_{0};
  mutable std::mutex mu_;
  std::vector<std::thread::id> threads_;
};

// Stands in for a GPU's memory: not host-accessible, never allocated from.
class DeviceMemory final : public Allocator {
 public:
  DeviceMemory() : Allocator(DeviceId(Device::kCuda, 0), /*host_accessible=*/false) {}

 protected:
  void* AllocateRaw(size_t /*bytes*/) override { return nullptr; }
  void FreeRaw(void* /*data*/, size_t /*bytes*/) override {}
};

// Record r is "x" f32[B,3] = {r, r + 0.5, -r} and "y" i64[B] = 10 * r, in host memory.
class TwoColumns final : public Dataset {
 public:
  explicit TwoColumns(int64_t n) : n_(n) {}
  int64_t num_records() const override { return n_; }
  std::vector<std::string> tensor_names() const override { return {"x", "y"}; }
  absl::Status Gather(absl::Span<const int64_t> rows, Batch& batch) const override {
    const int64_t b = static_cast<int64_t>(rows.size());
    Tensor x(DataType::kF32, {b, 3});
    Tensor y(DataType::kI64, {b});
    for (int64_t i = 0; i < b; ++i) {
      const float r = static_cast<float>(rows[static_cast<size_t>(i)]);
      x.data<float>()[3 * i] = r;
      x.data<float>()[3 * i + 1] = r + 0.5f;
      x.data<float>()[3 * i + 2] = -r;
      y.data<int64_t>()[i] = 10 * rows[static_cast<size_t>(i)];
    }
    batch.tensors["x"] = x;
    batch.tensors["y"] = y;
    return absl::OkStatus();
  }

 private:
  int64_t n_;
};

ReaderOptions Options(int prefetch, Allocator* batch_allocator) {
  ReaderOptions o;
  o.batch_size = 4;
  o.epochs = 2;
  o.shuffle = true;
  o.seed = 3;
  o.prefetch = prefetch;
  o.batch_allocator = batch_allocator;
  return o;
}

std::vector<Batch> ReadAll(const ReaderOptions& options) {
  return ReadBatches(std::make_shared<TwoColumns>(10), options);
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(DataReaderAllocatorTest, BatchesLandInTheAllocatorWithTheSameValues) {
  for (int prefetch : {0, 2}) {
    SCOPED_TRACE(prefetch);
    CountingAllocator pinned;
    const std::vector<Batch> plain = ReadAll(Options(prefetch, nullptr));
    {
      const std::vector<Batch> batches = ReadAll(Options(prefetch, &pinned));
      ASSERT_EQ(batches.size(), plain.size());
      ASSERT_EQ(batches.size(), 6u);  // 3 batches (4, 4, 2) per epoch
      for (size_t i = 0; i < batches.size(); ++i) {
        EXPECT_EQ(batches[i].size, plain[i].size);
        EXPECT_EQ(batches[i].epoch, plain[i].epoch);
        EXPECT_EQ(batches[i].index, plain[i].index);
        ASSERT_EQ(batches[i].tensors.size(), 2u);
        for (const auto& [name, tensor] : batches[i].tensors) {
          SCOPED_TRACE(name);
          EXPECT_EQ(tensor.buffer()->allocator(), &pinned);
          EXPECT_EQ(plain[i].tensors.at(name).buffer()->allocator(), CpuAllocator());
          EXPECT_TRUE(SameBytes(tensor, plain[i].tensors.at(name)));
        }
      }
      EXPECT_EQ(pinned.allocations(), 12);  // two tensors per batch, nothing else
    }
    EXPECT_EQ(pinned.stats().current_bytes, 0);  // every batch gave its memory back
  }
}

TEST(DataReaderAllocatorTest, ThePrefetchThreadMakesTheCopies) {
  CountingAllocator pinned;
  ASSERT_EQ(ReadAll(Options(2, &pinned)).size(), 6u);
  EXPECT_GT(pinned.allocations(), 0);
  EXPECT_FALSE(pinned.allocated_on(std::this_thread::get_id()));
}

TEST(DataReaderAllocatorTest, RejectsDeviceMemory) {
  DeviceMemory gpu;
  auto reader = DataReader::Create(std::make_shared<TwoColumns>(10), Options(2, &gpu));
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().message(), HasSubstr("cuda:0 memory; expected host-accessible"));
}

TEST(DataReaderAllocatorTest, AnExhaustedAllocatorIsAnErrorOnTheBatchThatNeededIt) {
  for (int prefetch : {0, 2}) {
    SCOPED_TRACE(prefetch);
    CountingAllocator full(/*fail=*/true);
    auto reader = DataReader::Create(std::make_shared<TwoColumns>(10), Options(prefetch, &full));
    ASSERT_TRUE(reader.ok()) << reader.status();
    Batch batch;
    auto more = (*reader)->Next(batch);
    ASSERT_FALSE(more.ok());
    EXPECT_EQ(more.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(more.status().message(), HasSubstr("no memory left in the batch allocator for"));
    auto after = (*reader)->Next(batch);
    ASSERT_TRUE(after.ok());
    EXPECT_FALSE(*after);
  }
}

}  // namespace
}  // namespace fleet
