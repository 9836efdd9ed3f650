// DataReader: batching, epochs, seeded shuffling and the bounded prefetch queue.
#include "executor/data/reader.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

// How long the producer sleeps at most before re-checking for shutdown while the queue is full.
constexpr auto kProducerPoll = std::chrono::milliseconds(50);

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

int64_t ShardRecords(int64_t records, int num_shards) { return records / num_shards; }

std::vector<int64_t> ShuffledOrder(int64_t n, uint64_t seed, int epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::mt19937_64 rng(SplitMix64(seed ^ SplitMix64(static_cast<uint64_t>(epoch))));
  for (int64_t i = n - 1; i > 0; --i) {
    // Unbiased draw in [0, i] by rejection (std::uniform_int_distribution is not portable).
    const uint64_t range = static_cast<uint64_t>(i) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t r;
    do {
      r = rng();
    } while (r >= limit);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(r % range)]);
  }
  return order;
}

absl::StatusOr<std::unique_ptr<DataReader>> DataReader::Create(
    std::shared_ptr<const Dataset> dataset, const ReaderOptions& options) {
  if (dataset == nullptr) return absl::InvalidArgumentError("data reader: no dataset");
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("data reader: batch size ", options.batch_size, "; expected >= 1"));
  }
  if (options.epochs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data reader: epochs ", options.epochs, "; expected >= 0"));
  }
  if (options.prefetch < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data reader: prefetch ", options.prefetch, "; expected >= 0"));
  }
  if (options.num_shards < 1 || options.shard_index < 0 ||
      options.shard_index >= options.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat("data reader: shard ", options.shard_index,
                                                   " of ", options.num_shards,
                                                   "; expected 0 <= shard < shards"));
  }
  if (options.start_step < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data reader: start step ", options.start_step, "; expected >= 0"));
  }
  if (options.wait_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("data reader: wait timeout must be positive");
  }
  if (options.batch_allocator != nullptr && !options.batch_allocator->host_accessible()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data reader: the batch allocator holds ", options.batch_allocator->device().ToString(),
        " memory; expected host-accessible memory (the dataset gathers on the host)"));
  }
  return std::unique_ptr<DataReader>(new DataReader(std::move(dataset), options));
}

DataReader::DataReader(std::shared_ptr<const Dataset> dataset, const ReaderOptions& options)
    : dataset_(std::move(dataset)), options_(options) {
  next_step_ = options_.start_step;
  end_step_ = options_.start_step + batches_per_epoch() * options_.epochs;
  if (options_.prefetch > 0 && end_step_ > next_step_) {
    producer_ = std::thread([this] { ProducerLoop(); });
  }
}

DataReader::~DataReader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  not_full_.notify_all();
  not_empty_.notify_all();
  if (producer_.joinable()) producer_.join();
}

int64_t DataReader::num_records() const {
  return ShardRecords(dataset_->num_records(), options_.num_shards);
}

int64_t DataReader::batches_per_epoch() const {
  const int64_t n = num_records();
  const int64_t b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

const std::vector<int64_t>& DataReader::OrderFor(int epoch) {
  if (epoch != order_epoch_) {
    const int64_t n = dataset_->num_records();
    const int shards = options_.num_shards;
    if (options_.shuffle) {
      order_ = ShuffledOrder(n, options_.seed, epoch);
    } else if (order_epoch_ < 0) {
      order_.resize(static_cast<size_t>(n));
      std::iota(order_.begin(), order_.end(), int64_t{0});
    }
    if (shards > 1 && (options_.shuffle || order_epoch_ < 0)) {
      // Positions shard_index, shard_index + shards, ... of the whole order.
      const int64_t kept = ShardRecords(n, shards);
      for (int64_t k = 0; k < kept; ++k) {
        order_[static_cast<size_t>(k)] =
            order_[static_cast<size_t>(k * shards + options_.shard_index)];
      }
      order_.resize(static_cast<size_t>(kept));
    }
    order_epoch_ = epoch;
  }
  return order_;
}

absl::Status DataReader::MakeBatch(int64_t step, Batch& batch) {
  const int64_t per_epoch = batches_per_epoch();
  const int epoch = static_cast<int>(step / per_epoch);
  const int64_t index = step % per_epoch;
  const std::vector<int64_t>& order = OrderFor(epoch);
  const int64_t begin = index * options_.batch_size;
  const int64_t end = std::min<int64_t>(begin + options_.batch_size, num_records());
  batch = Batch();
  batch.size = end - begin;
  batch.epoch = epoch;
  batch.index = index;
  FLEET_RETURN_IF_ERROR(dataset_->Gather(
      absl::MakeConstSpan(order.data() + begin, static_cast<size_t>(end - begin)), batch));
  return options_.batch_allocator != nullptr ? MoveToBatchAllocator(batch) : absl::OkStatus();
}

absl::Status DataReader::MoveToBatchAllocator(Batch& batch) const {
  Allocator* to = options_.batch_allocator;
  for (auto& [name, tensor] : batch.tensors) {
    if (tensor.buffer() == nullptr || tensor.buffer()->allocator() == to) continue;
    // Allocators throw when their memory is exhausted; on the prefetch thread that must become
    // an error the consumer sees, not a terminate.
    try {
      tensor = tensor.Clone(to);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "data reader: no memory left in the batch allocator for '", name, "' (",
          tensor.TypeString(), ") of epoch ", batch.epoch + 1, ", batch ", batch.index + 1));
    }
  }
  return absl::OkStatus();
}

void DataReader::ProducerLoop() {
  for (int64_t step = options_.start_step; step < end_step_; ++step) {
    Item item;
    item.status = MakeBatch(step, item.batch);
    const bool failed = !item.status.ok();
    std::unique_lock<std::mutex> lock(mu_);
    // Bounded waits: re-check for shutdown even if a notification is missed.
    while (!stop_ && queue_.size() >= static_cast<size_t>(options_.prefetch)) {
      not_full_.wait_for(lock, kProducerPoll);
    }
    if (stop_) return;
    queue_.push_back(std::move(item));
    lock.unlock();
    not_empty_.notify_one();
    if (failed) return;
  }
}

absl::StatusOr<bool> DataReader::Next(Batch& batch) {
  if (failed_ || next_step_ >= end_step_) return false;
  if (options_.prefetch == 0) {
    absl::Status status = MakeBatch(next_step_, batch);
    if (!status.ok()) {
      failed_ = true;
      return status;
    }
    ++next_step_;
    return true;
  }
  Item item;
  {
    std::unique_lock<std::mutex> lock(mu_);
    const auto deadline =
        std::chrono::steady_clock::now() +
        // Capped at a day so an infinite timeout does not overflow the clock's range.
        absl::ToChronoMilliseconds(std::min(options_.wait_timeout, absl::Hours(24)));
    while (queue_.empty()) {
      if (not_empty_.wait_until(lock, deadline) == std::cv_status::timeout && queue_.empty()) {
        failed_ = true;
        return absl::DeadlineExceededError(
            absl::StrCat("data reader: no batch from the prefetch thread within ",
                         absl::FormatDuration(options_.wait_timeout), " (batch ", next_step_,
                         " of ", end_step_, ")"));
      }
    }
    item = std::move(queue_.front());
    queue_.pop_front();
  }
  not_full_.notify_one();
  if (!item.status.ok()) {
    failed_ = true;
    return item.status;
  }
  batch = std::move(item.batch);
  ++next_step_;
  return true;
}

}  // namespace fleet
