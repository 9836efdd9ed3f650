// fleet.memcpy onto the GPU from pinned memory (the reader's batches on a GPU run): the copy is
// enqueued without waiting, gives the bytes the synchronous copy from pageable memory gives,
// and its pinned source is held, so not reused, until the stream has passed the copy.
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "executor/cuda/cuda_api.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace fleet::testing {
namespace {

// Stalls the stream at a host function until the gate opens (at the latest when it is
// destroyed, or after 30 s), so work queued after it is certainly still pending.
class StreamGate {
 public:
  explicit StreamGate(cudaStream_t stream) : stream_(stream) {
    EXPECT_EQ(cudaLaunchHostFunc(stream_, &Wait, this), cudaSuccess);
  }
  ~StreamGate() {
    Open();
    cudaStreamSynchronize(stream_);  // the host function is done with `this`
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Whether the stream has gone past the gate.
  bool passed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return passed_;
  }

 private:
  // Runs on a CUDA runtime thread; calls no CUDA API.
  static void CUDART_CB Wait(void* self) {
    auto* gate = static_cast<StreamGate*>(self);
    std::unique_lock<std::mutex> lock(gate->mu_);
    gate->cv_.wait_for(lock, std::chrono::seconds(30), [gate] { return gate->open_; });
    gate->passed_ = true;
  }

  cudaStream_t stream_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  bool passed_ = false;
};

class CudaUploadTest : public CudaTest {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    if (IsSkipped()) return;
    gpu_ = TestGpu();
    ASSERT_TRUE(gpu_->Synchronize().ok());
    ASSERT_EQ(gpu_->uploads_in_flight(), 0u);
  }

  absl::StatusOr<Tensor> Memcpy(const Tensor& x) {
    absl::StatusOr<std::vector<Tensor>> out = RunCudaKernel("fleet.memcpy", {x}, {}, 1);
    if (!out.ok()) return out.status();
    return (*out)[0];
  }

  CudaDevice* gpu_ = nullptr;
};

TEST_F(CudaUploadTest, PinnedAndPageableUploadsGiveTheSameBytes) {
  const std::vector<Tensor> cases = {RandomTensor({3, 5, 7}, 1), RandomTensor({256, 64}, 2),
                                     RandomLabels({33}, 3, 1000)};
  for (const Tensor& x : cases) {
    SCOPED_TRACE(x.TypeString());
    const Tensor pinned = x.Clone(gpu_->pinned_host_allocator());
    ASSERT_TRUE(pinned.host_accessible());
    absl::StatusOr<Tensor> from_pinned = Memcpy(pinned);
    absl::StatusOr<Tensor> from_pageable = Memcpy(x);
    ASSERT_TRUE(from_pinned.ok()) << from_pinned.status();
    ASSERT_TRUE(from_pageable.ok()) << from_pageable.status();
    EXPECT_EQ(from_pinned->device().ToString(), "cuda:0");
    ExpectNear(x, Download(*from_pinned), "from pinned memory", 0, 0);
    ExpectNear(x, Download(*from_pageable), "from pageable memory", 0, 0);
  }
  EXPECT_TRUE(gpu_->Synchronize().ok());
  EXPECT_EQ(gpu_->uploads_in_flight(), 0u);  // the stream has passed them all: released
}

TEST_F(CudaUploadTest, APageableSourceIsCopiedBeforeTheKernelReturns) {
  absl::StatusOr<Tensor> up = Memcpy(RandomTensor({8, 8}, 4));
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(gpu_->uploads_in_flight(), 0u);  // nothing to hold: the copy is done
}

TEST_F(CudaUploadTest, APinnedSourceIsHeldAndNotReusedUntilTheCopyHasReadIt) {
  const Tensor expected = RandomTensor({256, 64}, 5);
  Tensor first;
  Tensor second;
  {
    StreamGate gate(static_cast<cudaStream_t>(gpu_->stream()));
    const void* source = nullptr;
    {
      const Tensor pinned = expected.Clone(gpu_->pinned_host_allocator());
      source = pinned.raw_data();
      absl::StatusOr<Tensor> up = Memcpy(pinned);
      ASSERT_TRUE(up.ok()) << up.status();
      first = *up;
      EXPECT_FALSE(gate.passed()) << "the upload waited for the stream";
      EXPECT_EQ(gpu_->uploads_in_flight(), 1u);
    }  // the host lets go of the source; the device still holds it
    // The next batch of the same size gets other memory while the copy is pending: overwriting
    // it cannot change what the first copy reads.
    Tensor next(DataType::kF32, {256, 64}, gpu_->pinned_host_allocator());
    EXPECT_NE(next.raw_data(), source);
    std::memset(next.raw_data(), 0xff, next.nbytes());
    absl::StatusOr<Tensor> up = Memcpy(next);
    ASSERT_TRUE(up.ok()) << up.status();
    second = *up;
    EXPECT_EQ(gpu_->uploads_in_flight(), 2u);  // the first copy has not run: still held
    EXPECT_FALSE(gate.passed());
  }  // the gate opens
  ASSERT_TRUE(gpu_->Synchronize().ok());
  EXPECT_EQ(gpu_->uploads_in_flight(), 0u);
  ExpectNear(expected, Download(first), "first upload", 0, 0);
  const Tensor downloaded = Download(second);
  std::vector<unsigned char> bytes(downloaded.nbytes());
  std::memcpy(bytes.data(), downloaded.raw_data(), bytes.size());
  EXPECT_EQ(bytes, std::vector<unsigned char>(bytes.size(), 0xff));
}

}  // namespace
}  // namespace fleet::testing
