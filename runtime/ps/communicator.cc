#include "runtime/ps/communicator.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fleet::ps {
namespace {

// Adds `from`'s f32 bytes into `into`'s.
void AddBytes(const std::string& from, std::string* into) {
  float* dst = reinterpret_cast<float*>(into->data());
  const float* src = reinterpret_cast<const float*>(from.data());
  const size_t n = std::min(from.size(), into->size()) / sizeof(float);
  for (size_t i = 0; i < n; ++i) dst[i] += src[i];
}

// Multiplies `bytes`' f32 values by `scale`.
void Scale(float scale, std::string* bytes) {
  float* v = reinterpret_cast<float*>(bytes->data());
  for (size_t i = 0; i < bytes->size() / sizeof(float); ++i) v[i] *= scale;
}

// The steps' requests to one server merged into one: dense blocks averaged, each table's rows
// merged by id and divided by the number of steps (as Paddle's communicator merges), so a deep
// queue does not multiply the step the servers take. The step number is the last step's.
proto::PushRequest Merge(const std::vector<const proto::PushRequest*>& steps) {
  proto::PushRequest out;
  out.set_worker(steps.back()->worker());
  out.set_step(steps.back()->step());
  std::map<int64_t, proto::DenseBlock*> dense;
  struct Table {
    int64_t dim = 0;
    std::vector<int64_t> ids;
    std::vector<float> values;
    std::unordered_map<int64_t, size_t> slot;
  };
  std::map<int64_t, Table> tables;
  for (const proto::PushRequest* step : steps) {
    for (const proto::DenseBlock& block : step->dense()) {
      auto [it, inserted] = dense.try_emplace(block.block_id(), nullptr);
      if (inserted) {
        it->second = out.add_dense();
        *it->second = block;
      } else {
        AddBytes(block.values(), it->second->mutable_values());
      }
    }
    for (const proto::SparseRows& rows : step->sparse()) {
      const size_t n = rows.ids().size() / sizeof(int64_t);
      if (n == 0) continue;
      Table& table = tables[rows.table_id()];
      table.dim = static_cast<int64_t>(rows.values().size() / sizeof(float) / n);
      const int64_t* ids = reinterpret_cast<const int64_t*>(rows.ids().data());
      const float* values = reinterpret_cast<const float*>(rows.values().data());
      for (size_t r = 0; r < n; ++r) {
        auto [it, inserted] = table.slot.try_emplace(ids[r], table.ids.size());
        const float* row = values + r * table.dim;
        if (inserted) {
          table.ids.push_back(ids[r]);
          table.values.insert(table.values.end(), row, row + table.dim);
        } else {
          float* dst = table.values.data() + it->second * table.dim;
          for (int64_t j = 0; j < table.dim; ++j) dst[j] += row[j];
        }
      }
    }
  }
  const float scale = 1.0f / static_cast<float>(steps.size());
  for (auto& [id, block] : dense) Scale(scale, block->mutable_values());
  for (auto& [table_id, table] : tables) {
    for (float& v : table.values) v *= scale;
    proto::SparseRows* rows = out.add_sparse();
    rows->set_table_id(table_id);
    rows->set_ids(table.ids.data(), table.ids.size() * sizeof(int64_t));
    rows->set_values(table.values.data(), table.values.size() * sizeof(float));
  }
  return out;
}

}  // namespace

AsyncCommunicator::AsyncCommunicator(PsClient* client, CommunicatorOptions options)
    : client_(client), options_(options) {
  sender_ = std::thread([this] { SendLoop(); });
}

AsyncCommunicator::~AsyncCommunicator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  sender_.join();
}

absl::Status AsyncCommunicator::Enqueue(std::vector<proto::PushRequest> requests) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!error_.ok()) return error_;
  const bool room = changed_.wait_for(lock, absl::ToChronoMilliseconds(options_.timeout), [&] {
    return static_cast<int>(queue_.size()) < options_.max_queued_steps || !error_.ok();
  });
  if (!error_.ok()) return error_;
  if (!room) {
    return absl::DeadlineExceededError(absl::StrCat("the gradient queue stayed full for ",
                                                    absl::FormatDuration(options_.timeout),
                                                    " (the servers take no pushes)"));
  }
  queue_.push_back(std::move(requests));
  ++queued_total_;
  changed_.notify_all();
  return absl::OkStatus();
}

absl::Status AsyncCommunicator::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t target = queued_total_;
  const bool done = changed_.wait_for(lock, absl::ToChronoMilliseconds(options_.timeout),
                                      [&] { return sent_total_ >= target || !error_.ok(); });
  if (!error_.ok()) return error_;
  if (!done) {
    return absl::DeadlineExceededError(absl::StrCat("queued gradients were not sent within ",
                                                    absl::FormatDuration(options_.timeout)));
  }
  return absl::OkStatus();
}

void AsyncCommunicator::TrackDense(std::vector<proto::PullDenseRequest> requests, int64_t every,
                                   int64_t warmup) {
  std::lock_guard<std::mutex> lock(mu_);
  tracked_ = std::move(requests);
  pull_every_ = std::max<int64_t>(every, 1);
  pull_warmup_ = std::max<int64_t>(warmup, 0);
}

std::shared_ptr<const std::vector<proto::PullDenseReply>> AsyncCommunicator::LatestDense(
    int64_t* version) {
  std::lock_guard<std::mutex> lock(mu_);
  if (latest_version_ <= *version) return nullptr;
  *version = latest_version_;
  return latest_;
}

int64_t AsyncCommunicator::steps_sent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sent_total_;
}

int64_t AsyncCommunicator::sends() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sends_;
}

int64_t AsyncCommunicator::pulls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pulls_;
}

absl::Status AsyncCommunicator::SendMerged(std::vector<std::vector<proto::PushRequest>>& steps) {
  if (steps.size() == 1) return client_->Push(steps.front());  // nothing to merge or copy
  const size_t servers = steps.front().size();
  std::vector<proto::PushRequest> merged(servers);
  for (size_t s = 0; s < servers; ++s) {
    std::vector<const proto::PushRequest*> parts;
    for (const auto& step : steps) parts.push_back(&step[s]);
    merged[s] = parts.size() == 1 ? *parts[0] : Merge(parts);
  }
  return client_->Push(merged);
}

void AsyncCommunicator::SendLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    changed_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::vector<std::vector<proto::PushRequest>> steps;
    while (!queue_.empty() && static_cast<int>(steps.size()) < options_.max_merged_steps) {
      steps.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    // Pulls after each of the warm-up's sends, then after the sends numbered pull_every_,
    // 2 * pull_every_, ...
    const bool pull =
        !tracked_.empty() && (sends_ < pull_warmup_ || (sends_ + 1) % pull_every_ == 0);
    std::vector<proto::PullDenseRequest> tracked;
    if (pull) tracked = tracked_;
    changed_.notify_all();  // room in the queue
    lock.unlock();
    absl::Status status = SendMerged(steps);
    std::vector<proto::PullDenseReply> pulled;
    if (status.ok() && pull) status = client_->PullDense(tracked, &pulled);
    lock.lock();
    sent_total_ += static_cast<int64_t>(steps.size());
    ++sends_;
    if (!status.ok() && error_.ok()) error_ = status;
    if (status.ok() && pull) {
      latest_ = std::make_shared<const std::vector<proto::PullDenseReply>>(std::move(pulled));
      ++latest_version_;
      ++pulls_;
    }
    changed_.notify_all();
  }
}

}  // namespace fleet::ps
