// Data readers: a Dataset (random access to records, gathered into named tensors) and the
// DataReader that walks it in batches over epochs, optionally shuffled, optionally prefetched on
// a background thread.
//
// A Dataset holds or indexes its records; Gather builds one batch from a list of record
// indices. Formats: a directory of .npy files (npy_dataset.h), Criteo's raw TSV
// (criteo_dataset.h) and Paddle's MultiSlot text (multislot_dataset.h). DataReader is format
// agnostic: the batch with a given (epoch, index) is the same with prefetch on or off, so runs
// are reproducible record for record. It is device agnostic too: a GPU run hands it its pinned
// host allocator (ReaderOptions::batch_allocator) and gets batches it can upload asynchronously.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "executor/allocator.h"
#include "executor/tensor.h"

namespace fleet {

// One batch: `size` records as named tensors whose first dim is `size` (ragged slots add a
// values tensor of the total length and a lengths tensor of `size`; see multislot_dataset.h).
struct Batch {
  int64_t size = 0;
  int epoch = 0;      // 0-based epoch this batch belongs to
  int64_t index = 0;  // 0-based batch index within its epoch
  std::map<std::string, Tensor> tensors;
};

// Random access to records. Implementations are immutable after creation, so Gather may run on
// any thread (the prefetch thread) while the owner keeps the Dataset alive.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t num_records() const = 0;
  // Names of the tensors every batch holds, sorted.
  virtual std::vector<std::string> tensor_names() const = 0;
  // Gathers the records `rows` (each in [0, num_records())), in that order, into `batch`'s
  // tensors. A malformed record is INVALID_ARGUMENT "file:line: what is wrong".
  virtual absl::Status Gather(absl::Span<const int64_t> rows, Batch& batch) const = 0;
};

struct ReaderOptions {
  int64_t batch_size = 1;
  int epochs = 1;
  // Off by default so runs are reproducible record for record. When on, each epoch uses its own
  // permutation drawn from (seed, epoch) with a fully specified generator (mt19937_64 and our
  // own Fisher-Yates), so the order is the same on every platform.
  bool shuffle = false;
  uint64_t seed = 0;
  // Keep the last, smaller batch of an epoch unless this is set.
  bool drop_last = false;
  // Batches prepared ahead on a background thread; 0 gathers on the caller's thread.
  int prefetch = 2;
  // Where batch tensors live. Null: where the Dataset put them (host memory). Otherwise a
  // host-accessible allocator, such as a GPU's pinned host memory, that gets a copy of every
  // tensor right after the gather, on the thread that gathers (the prefetch thread when
  // prefetch > 0), so the training thread does not pay for it and its uploads can be
  // asynchronous DMA (PyTorch's pin_memory). The values are the same either way. The allocator
  // must outlive the reader and every batch it returned.
  Allocator* batch_allocator = nullptr;
  // Data parallelism: this reader yields shard `shard_index` of `num_shards`, the positions
  // shard_index, shard_index + num_shards, ... of each epoch's record order (shuffled or not).
  // So at every step the shards' batches together hold exactly the records of one unsharded
  // reader's batch at num_shards * batch_size. Every shard gets ShardRecords(N, num_shards)
  // records per epoch, so all take the same number of steps: the last N mod num_shards
  // records of each epoch's order are left out (the caller says so in its log).
  int shard_index = 0;
  int num_shards = 1;
  // A resumed run: the reader begins at this step, with the batch (epoch start_step / batches
  // per epoch, its position in that epoch's order) that an uninterrupted reader would give
  // there, then yields `epochs` epochs' worth of steps.
  int64_t start_step = 0;
  // Longest the consumer waits for the next prefetched batch before DEADLINE_EXCEEDED.
  absl::Duration wait_timeout = absl::Minutes(5);
};

// Walks a Dataset in batches. Not thread-safe: one consumer calls Next. The destructor stops
// and joins the prefetch thread, also when it is blocked on a full queue.
class DataReader {
 public:
  // Checks the options (batch_size >= 1, epochs >= 0, prefetch >= 0, timeout > 0, a
  // host-accessible batch allocator).
  static absl::StatusOr<std::unique_ptr<DataReader>> Create(std::shared_ptr<const Dataset> dataset,
                                                            const ReaderOptions& options);
  ~DataReader();
  DataReader(const DataReader&) = delete;
  DataReader& operator=(const DataReader&) = delete;

  // Fills `batch` with the next batch and returns true, or returns false after the last batch
  // of the last epoch. An error (a malformed record, also one met by the prefetch thread) is
  // returned once, on the call that would have produced the failing batch; the reader is done
  // after it.
  absl::StatusOr<bool> Next(Batch& batch);

  // Records per epoch this reader yields (its shard's).
  int64_t num_records() const;
  int64_t batches_per_epoch() const;
  const ReaderOptions& options() const { return options_; }

 private:
  DataReader(std::shared_ptr<const Dataset> dataset, const ReaderOptions& options);

  // Builds the batch at position `step` of the whole run (epoch-major).
  absl::Status MakeBatch(int64_t step, Batch& batch);
  // Replaces `batch`'s tensors by copies in options_.batch_allocator's memory.
  absl::Status MoveToBatchAllocator(Batch& batch) const;
  const std::vector<int64_t>& OrderFor(int epoch);
  void ProducerLoop();

  std::shared_ptr<const Dataset> dataset_;
  ReaderOptions options_;
  int64_t end_step_ = 0;   // the step after the last one it yields
  int64_t next_step_ = 0;  // consumer side: the next step Next returns
  bool failed_ = false;

  // The record order of the epoch last asked for; touched only by the thread that gathers.
  int order_epoch_ = -1;
  std::vector<int64_t> order_;

  // Prefetch queue.
  struct Item {
    absl::Status status;
    Batch batch;
  };
  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<Item> queue_;
  bool stop_ = false;
  std::thread producer_;
};

// Records per epoch of each of `num_shards` shards of `records` (ReaderOptions::num_shards).
int64_t ShardRecords(int64_t records, int num_shards);

// The permutation of [0, n) that shuffled epoch `epoch` uses with `seed` (exposed for tests).
std::vector<int64_t> ShuffledOrder(int64_t n, uint64_t seed, int epoch);

}  // namespace fleet
