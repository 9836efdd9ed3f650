#include "runtime/ps/server_core.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/status_macros.h"
#include "runtime/ps/shard_checkpoint.h"
#include "runtime/ps/sharding.h"

namespace fleet::ps {

struct ServerCore::Block {
  int64_t id = 0;
  std::mutex mu;  // value, states, updates
  Tensor value;
  std::vector<Tensor> states;
  int64_t updates = 0;
};

// Sync mode: one step's gradients summed over the workers that pushed it.
struct ServerCore::StepSums {
  std::map<int64_t, std::vector<float>> dense;  // block id -> sum
  // table id -> (id -> row sum)
  std::map<int64_t, std::unordered_map<int64_t, std::vector<float>>> sparse;
};

namespace {

// Rows of one SparseRows message with repeated ids added up, in order of first appearance.
struct UniqueRows {
  std::vector<int64_t> ids;
  std::vector<float> values;
};

UniqueRows MergeRows(const proto::SparseRows& rows, int64_t dim) {
  const int64_t n = static_cast<int64_t>(rows.ids().size() / sizeof(int64_t));
  std::vector<int64_t> ids(n);
  // An empty vector's data() may be null, which memcpy must not get even for 0 bytes.
  if (n > 0) std::memcpy(ids.data(), rows.ids().data(), n * sizeof(int64_t));
  const float* src = reinterpret_cast<const float*>(rows.values().data());
  UniqueRows out;
  std::unordered_map<int64_t, int64_t> slot;
  slot.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    auto [it, inserted] = slot.emplace(ids[i], static_cast<int64_t>(out.ids.size()));
    if (inserted) {
      out.ids.push_back(ids[i]);
      out.values.insert(out.values.end(), src + i * dim, src + (i + 1) * dim);
    } else {
      float* dst = out.values.data() + it->second * dim;
      for (int64_t j = 0; j < dim; ++j) dst[j] += src[i * dim + j];
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<SyncMode> ParseSyncMode(std::string_view mode) {
  if (mode == "sync") return SyncMode::kSync;
  if (mode == "async") return SyncMode::kAsync;
  if (mode == "half_async") return SyncMode::kHalfAsync;
  if (mode == "geo") return SyncMode::kGeo;
  return absl::InvalidArgumentError(absl::StrCat("sync mode \"", std::string(mode),
                                                 "\" is not one of: sync, async, half_async, geo"));
}

std::string_view SyncModeName(SyncMode mode) {
  switch (mode) {
    case SyncMode::kSync:
      return "sync";
    case SyncMode::kAsync:
      return "async";
    case SyncMode::kHalfAsync:
      return "half_async";
    case SyncMode::kGeo:
      return "geo";
  }
  return "sync";
}

absl::StatusOr<std::unique_ptr<ServerCore>> ServerCore::Create(ServerCoreOptions options,
                                                               std::vector<DenseBlockSpec> blocks,
                                                               std::vector<SparseTableSpec> tables,
                                                               UpdateRule* rule) {
  if (options.num_workers < 1 || options.num_servers < 1 || options.server < 0 ||
      options.server >= options.num_servers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server ", options.server, " of ", options.num_servers, " with ", options.num_workers,
        " workers; expected at least one worker and 0 <= server < servers"));
  }
  std::unique_ptr<ServerCore> core(new ServerCore(options, rule));
  for (DenseBlockSpec& spec : blocks) {
    if (spec.value.dtype() != DataType::kF32 || spec.value.rank() < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "block ", spec.block_id, " is ", spec.value.TypeString(), "; expected f32 rows"));
    }
    auto block = std::make_unique<Block>();
    block->id = spec.block_id;
    block->value = std::move(spec.value);
    block->states = std::move(spec.states);
    if (!core->blocks_.emplace(spec.block_id, std::move(block)).second) {
      return absl::InvalidArgumentError(absl::StrCat("block ", spec.block_id, " given twice"));
    }
  }
  for (SparseTableSpec& spec : tables) {
    const int64_t id = spec.table_id;
    absl::StatusOr<std::unique_ptr<SparseTable>> table = SparseTable::Create(std::move(spec));
    if (!table.ok()) return table.status();
    if (!core->tables_.emplace(id, *std::move(table)).second) {
      return absl::InvalidArgumentError(absl::StrCat("table ", id, " given twice"));
    }
  }
  return core;
}

ServerCore::ServerCore(ServerCoreOptions options, UpdateRule* rule)
    : options_(options),
      rule_(rule),
      done_(options.num_workers, false),
      lost_(options.num_workers, false),
      last_seen_(options.num_workers, absl::Now()),
      pushed_(options.num_workers, false),
      sums_(std::make_unique<StepSums>()),
      last_pushed_step_(options.num_workers, -1) {}

ServerCore::~ServerCore() = default;

absl::Status ServerCore::CheckWorker(int worker) const {
  if (worker < 0 || worker >= options_.num_workers) {
    return absl::InvalidArgumentError(absl::StrCat("worker ", worker, " is not one of the job's ",
                                                   options_.num_workers, " workers"));
  }
  return absl::OkStatus();
}

void ServerCore::SeenLocked(int worker) { last_seen_[worker] = absl::Now(); }

absl::Status ServerCore::ValidatePush(const proto::PushRequest& request) const {
  std::set<int64_t> seen;
  for (const proto::DenseBlock& block : request.dense()) {
    auto it = blocks_.find(block.block_id());
    if (it == blocks_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("block ", block.block_id(), " is not held by server ", options_.server));
    }
    if (!seen.insert(block.block_id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("block ", block.block_id(), " appears twice in one push"));
    }
    const size_t want = it->second->value.nbytes();
    if (block.values().size() != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          "block ", block.block_id(), ": ", block.values().size(), " bytes of gradient; the block ",
          it->second->value.TypeString(), " takes ", want));
    }
  }
  if (options_.mode == SyncMode::kSync && seen.size() != blocks_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("a sync push must carry all ", blocks_.size(),
                                                   " blocks of server ", options_.server,
                                                   "; it carries ", seen.size()));
  }
  for (const proto::SparseRows& rows : request.sparse()) {
    auto it = tables_.find(rows.table_id());
    if (it == tables_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown table ", rows.table_id()));
    }
    const int64_t dim = it->second->dim();
    if (rows.ids().size() % sizeof(int64_t) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", rows.table_id(), ": ", rows.ids().size(), " bytes of ids; not whole i64s"));
    }
    const int64_t n = static_cast<int64_t>(rows.ids().size() / sizeof(int64_t));
    if (rows.values().size() != static_cast<size_t>(n * dim) * sizeof(float)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", rows.table_id(), ": ", rows.values().size(), " bytes of values for ", n,
          " ids; rows of ", dim, " f32 take ", n * dim * sizeof(float)));
    }
    for (int64_t i = 0; i < n; ++i) {
      int64_t id;
      std::memcpy(&id, rows.ids().data() + i * sizeof(int64_t), sizeof(id));
      const int owner = ServerOfRow(id, options_.num_servers);
      if (owner != options_.server) {
        return absl::InvalidArgumentError(absl::StrCat("table ", rows.table_id(), ": row ", id,
                                                       " belongs to server ", owner, ", not ",
                                                       options_.server));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ServerCore::ApplyBlock(Block& block, const float* grad) {
  std::lock_guard<std::mutex> lock(block.mu);
  UpdateTensors t;
  t.param = block.value;
  t.grad = Tensor(DataType::kF32, block.value.shape());
  std::memcpy(t.grad.data<float>(), grad, t.grad.nbytes());
  t.states = block.states;
  absl::Status status = rule_->Apply(block.updates, t);
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("block ", block.id, ": update: ", status.message()));
  }
  if (t.param.shape() != block.value.shape() || t.states.size() != block.states.size()) {
    return absl::InternalError(absl::StrCat("block ", block.id, ": the update rule gave back ",
                                            t.param.TypeString(), " for ",
                                            block.value.TypeString()));
  }
  block.value = std::move(t.param);
  block.states = std::move(t.states);
  ++block.updates;
  return absl::OkStatus();
}

absl::Status ServerCore::ApplySparse(int64_t table_id, const std::vector<int64_t>& ids,
                                     const std::vector<float>& grads) {
  return tables_.at(table_id)->Update(ids.data(), static_cast<int64_t>(ids.size()), grads.data(),
                                      *rule_);
}

absl::Status ServerCore::ApplyAsync(const proto::PushRequest& request) {
  for (const proto::DenseBlock& block : request.dense()) {
    FLEET_RETURN_IF_ERROR(ApplyBlock(*blocks_.at(block.block_id()),
                                     reinterpret_cast<const float*>(block.values().data())));
  }
  for (const proto::SparseRows& rows : request.sparse()) {
    UniqueRows merged = MergeRows(rows, tables_.at(rows.table_id())->dim());
    FLEET_RETURN_IF_ERROR(ApplySparse(rows.table_id(), merged.ids, merged.values));
  }
  return absl::OkStatus();
}

absl::Status ServerCore::AddToStepLocked(const proto::PushRequest& request) {
  for (const proto::DenseBlock& block : request.dense()) {
    std::vector<float>& sum = sums_->dense[block.block_id()];
    const float* g = reinterpret_cast<const float*>(block.values().data());
    const size_t n = block.values().size() / sizeof(float);
    if (sum.empty()) {
      sum.assign(g, g + n);
    } else {
      for (size_t i = 0; i < n; ++i) sum[i] += g[i];
    }
  }
  for (const proto::SparseRows& rows : request.sparse()) {
    const int64_t dim = tables_.at(rows.table_id())->dim();
    UniqueRows merged = MergeRows(rows, dim);
    auto& table_sums = sums_->sparse[rows.table_id()];
    for (size_t r = 0; r < merged.ids.size(); ++r) {
      const float* g = merged.values.data() + r * dim;
      auto [it, inserted] = table_sums.emplace(merged.ids[r], std::vector<float>());
      if (inserted) {
        it->second.assign(g, g + dim);
      } else {
        for (int64_t j = 0; j < dim; ++j) it->second[j] += g[j];
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ServerCore::ApplyStepLocked() {
  const int contributors = static_cast<int>(std::count(pushed_.begin(), pushed_.end(), true));
  const float scale = 1.0f / static_cast<float>(contributors);
  absl::Status status;
  for (auto& [id, block] : blocks_) {
    std::vector<float>& sum = sums_->dense[id];
    for (float& v : sum) v *= scale;
    if (status.ok()) status = ApplyBlock(*block, sum.data());
  }
  // Every table advances every step, touched rows or not, as one process's tables do.
  for (auto& [table_id, table] : tables_) {
    std::vector<int64_t> ids;
    std::vector<float> grads;
    auto found = sums_->sparse.find(table_id);
    if (found != sums_->sparse.end()) {
      // Sorted ids: the update sees the same rows in the same order whatever the arrival order.
      std::vector<std::pair<int64_t, std::vector<float>*>> rows;
      for (auto& [row_id, g] : found->second) rows.emplace_back(row_id, &g);
      std::sort(rows.begin(), rows.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& [row_id, g] : rows) {
        ids.push_back(row_id);
        for (float v : *g) grads.push_back(v * scale);
      }
    }
    if (status.ok()) status = ApplySparse(table_id, ids, grads);
  }
  applied_step_ = collecting_step_;
  collecting_step_ = applied_step_ + 1;
  std::fill(pushed_.begin(), pushed_.end(), false);
  sums_ = std::make_unique<StepSums>();
  if (!status.ok() && failure_.ok()) failure_ = status;
  changed_.notify_all();
  return status;
}

int ServerCore::LiveWorkersLocked() const {
  int live = 0;
  for (int w = 0; w < options_.num_workers; ++w) live += !done_[w] && !lost_[w];
  return live;
}

void ServerCore::CheckHeartbeatsLocked() {
  const absl::Time now = absl::Now();
  for (int w = 0; w < options_.num_workers; ++w) {
    if (done_[w] || lost_[w] || now - last_seen_[w] <= options_.heartbeat_timeout) continue;
    lost_[w] = true;
    std::string message =
        absl::StrCat("worker ", w, " sent nothing for ",
                     absl::FormatDuration(absl::Trunc(now - last_seen_[w], absl::Seconds(1))),
                     " (heartbeat timeout ", absl::FormatDuration(options_.heartbeat_timeout),
                     "): presumed dead");
    lost_messages_.push_back(message);
    if (options_.mode == SyncMode::kSync && failure_.ok()) {
      failure_ =
          absl::AbortedError(absl::StrCat("server ", options_.server, ": ", message,
                                          "; sync training cannot go on without its gradients"));
    }
    changed_.notify_all();
  }
}

absl::Status ServerCore::Push(const proto::PushRequest& request) {
  FLEET_RETURN_IF_ERROR(CheckWorker(request.worker()));
  if (request.step() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("step ", request.step(), " is negative"));
  }
  FLEET_RETURN_IF_ERROR(ValidatePush(request));
  const int w = request.worker();
  std::unique_lock<std::mutex> lock(mu_);
  SeenLocked(w);
  if (!failure_.ok()) return failure_;
  if (stopped_) return absl::CancelledError("the server is stopping");
  if (done_[w] || lost_[w]) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker ", w, done_[w] ? " already said it is done" : " was presumed lost"));
  }
  if (options_.mode != SyncMode::kSync) {
    lock.unlock();
    return ApplyAsync(request);
  }
  const int64_t step = request.step();
  if (last_pushed_step_[w] == step) return absl::OkStatus();  // a retry
  if (collecting_step_ < 0) collecting_step_ = step;
  if (step != collecting_step_) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker ", w, " pushed step ", step, " while server ", options_.server,
                     " collects step ", collecting_step_, " (workers out of step)"));
  }
  FLEET_RETURN_IF_ERROR(AddToStepLocked(request));
  pushed_[w] = true;
  last_pushed_step_[w] = step;
  for (int v = 0; v < options_.num_workers; ++v) {
    if (!done_[v] && !lost_[v] && !pushed_[v]) return absl::OkStatus();
  }
  return ApplyStepLocked();
}

absl::Status ServerCore::PullDense(const proto::PullDenseRequest& request,
                                   proto::PullDenseReply* reply, absl::Time deadline) {
  FLEET_RETURN_IF_ERROR(CheckWorker(request.worker()));
  for (int64_t id : request.block_ids()) {
    if (!blocks_.count(id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("block ", id, " is not held by server ", options_.server));
    }
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    SeenLocked(request.worker());
    if (request.wait_for_step() && options_.mode == SyncMode::kSync) {
      while (applied_step_ < request.step() && failure_.ok() && !stopped_) {
        const absl::Time now = absl::Now();
        if (now >= deadline) {
          return absl::DeadlineExceededError(absl::StrCat(
              "server ", options_.server, ": step ", request.step(),
              " was not complete before the deadline (it waits for the workers that have not "
              "pushed it)"));
        }
        changed_.wait_for(lock,
                          absl::ToChronoMilliseconds(std::min(deadline - now, absl::Seconds(1))));
        CheckHeartbeatsLocked();
      }
      if (!failure_.ok()) return failure_;
      if (stopped_) return absl::CancelledError("the server is stopping");
    }
  }
  for (int64_t id : request.block_ids()) {
    Block& block = *blocks_.at(id);
    std::lock_guard<std::mutex> lock(block.mu);
    proto::DenseBlock* out = reply->add_dense();
    out->set_block_id(id);
    out->set_values(block.value.data<float>(), block.value.nbytes());
    for (int64_t d : block.value.shape()) out->add_shape(d);
  }
  return absl::OkStatus();
}

absl::Status ServerCore::PullSparse(const proto::PullSparseRequest& request,
                                    proto::PullSparseReply* reply) {
  FLEET_RETURN_IF_ERROR(CheckWorker(request.worker()));
  for (const proto::SparseRows& rows : request.tables()) {
    auto it = tables_.find(rows.table_id());
    if (it == tables_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown table ", rows.table_id()));
    }
    if (rows.ids().size() % sizeof(int64_t) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", rows.table_id(), ": ", rows.ids().size(), " bytes of ids; not whole i64s"));
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    SeenLocked(request.worker());
    if (!failure_.ok()) return failure_;
  }
  for (const proto::SparseRows& rows : request.tables()) {
    SparseTable& table = *tables_.at(rows.table_id());
    const int64_t n = static_cast<int64_t>(rows.ids().size() / sizeof(int64_t));
    std::vector<int64_t> ids(n);
    if (n > 0) std::memcpy(ids.data(), rows.ids().data(), rows.ids().size());
    for (int64_t id : ids) {
      const int owner = ServerOfRow(id, options_.num_servers);
      if (owner != options_.server) {
        return absl::InvalidArgumentError(absl::StrCat("table ", rows.table_id(), ": row ", id,
                                                       " belongs to server ", owner, ", not ",
                                                       options_.server));
      }
    }
    proto::SparseRows* out = reply->add_tables();
    out->set_table_id(rows.table_id());
    std::string* values = out->mutable_values();
    values->resize(static_cast<size_t>(n * table.dim()) * sizeof(float));
    table.Lookup(ids.data(), n, reinterpret_cast<float*>(values->data()));
  }
  return absl::OkStatus();
}

absl::Status ServerCore::Control(const proto::ControlRequest& request, proto::ControlReply* reply) {
  FLEET_RETURN_IF_ERROR(CheckWorker(request.worker()));
  reply->set_server(options_.server);
  reply->set_num_servers(options_.num_servers);
  reply->set_num_workers(options_.num_workers);
  if (request.kind() == proto::ControlRequest::SAVE) {
    if (request.path().empty()) return absl::InvalidArgumentError("SAVE without a path");
    return WriteShard(ShardFolder(request.path(), options_.server), options_.server,
                      options_.num_servers, Export());
  }
  std::lock_guard<std::mutex> lock(mu_);
  SeenLocked(request.worker());
  if (request.kind() == proto::ControlRequest::WORKER_DONE) {
    done_[request.worker()] = true;
    // The step may have been waiting only for this worker.
    if (options_.mode == SyncMode::kSync && failure_.ok() && LiveWorkersLocked() > 0 &&
        std::count(pushed_.begin(), pushed_.end(), true) > 0) {
      bool all = true;
      for (int w = 0; w < options_.num_workers; ++w) all &= done_[w] || lost_[w] || pushed_[w];
      if (all) FLEET_RETURN_IF_ERROR(ApplyStepLocked());
    }
    changed_.notify_all();
  }
  return absl::OkStatus();
}

absl::Status ServerCore::WaitUntilWorkersDone() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopped_ && LiveWorkersLocked() > 0 && failure_.ok()) {
    changed_.wait_for(lock, std::chrono::seconds(1));
    CheckHeartbeatsLocked();
  }
  return failure_;
}

void ServerCore::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  changed_.notify_all();
}

std::vector<std::string> ServerCore::LostWorkers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lost_messages_;
}

void ServerCore::Snapshot(std::vector<Tensor>* block_values,
                          std::vector<std::vector<Tensor>>* block_states,
                          std::vector<std::vector<Tensor>>* table_whole_states) const {
  for (const auto& [id, block] : blocks_) {
    std::lock_guard<std::mutex> lock(block->mu);
    block_values->push_back(block->value);
    block_states->push_back(block->states);
  }
  for (const auto& [id, table] : tables_) table_whole_states->push_back(table->whole_states());
}

ServerCore::Contents ServerCore::Export() const {
  std::lock_guard<std::mutex> lock(mu_);  // no sync step applies meanwhile
  Contents out;
  for (const auto& [id, block] : blocks_) {
    std::lock_guard<std::mutex> block_lock(block->mu);
    BlockContents b;
    b.block_id = id;
    // Copies: the update rule writes the block's buffers in place.
    b.value = block->value.Clone();
    for (const Tensor& state : block->states) b.states.push_back(state.Clone());
    b.updates = block->updates;
    out.blocks.push_back(std::move(b));
  }
  for (const auto& [id, table] : tables_) out.tables.emplace_back(id, table->Export());
  out.applied_step = applied_step_;
  return out;
}

absl::Status ServerCore::Import(const Contents& contents) {
  if (contents.blocks.size() != blocks_.size() || contents.tables.size() != tables_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the checkpoint holds ", contents.blocks.size(), " blocks and ", contents.tables.size(),
        " tables; server ", options_.server, " has ", blocks_.size(), " and ", tables_.size()));
  }
  for (const BlockContents& saved : contents.blocks) {
    auto it = blocks_.find(saved.block_id);
    if (it == blocks_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("the checkpoint holds block ", saved.block_id,
                                                     ", which server ", options_.server,
                                                     " does not have"));
    }
    const Block& block = *it->second;
    bool fits = saved.value.shape() == block.value.shape() &&
                saved.value.dtype() == block.value.dtype() &&
                saved.states.size() == block.states.size();
    for (size_t s = 0; fits && s < saved.states.size(); ++s) {
      fits = saved.states[s].shape() == block.states[s].shape();
    }
    if (!fits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "block ", saved.block_id, ": the checkpoint holds ", saved.value.TypeString(), " with ",
          saved.states.size(), " states; the server's is ", block.value.TypeString(), " with ",
          block.states.size()));
    }
  }
  for (const auto& [id, saved] : contents.tables) {
    if (!tables_.count(id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the checkpoint holds table ", id, ", which server ", options_.server, " does not have"));
    }
  }
  for (const auto& [id, saved] : contents.tables) {
    FLEET_RETURN_IF_ERROR(tables_.at(id)->Import(saved));
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const BlockContents& saved : contents.blocks) {
    Block& block = *blocks_.at(saved.block_id);
    std::lock_guard<std::mutex> block_lock(block.mu);
    block.value = saved.value;
    block.states = saved.states;
    block.updates = saved.updates;
  }
  applied_step_ = contents.applied_step;
  return absl::OkStatus();
}

int64_t ServerCore::sparse_rows() const {
  int64_t rows = 0;
  for (const auto& [id, table] : tables_) rows += table->num_rows();
  return rows;
}

int64_t ServerCore::sparse_bytes() const {
  int64_t bytes = 0;
  for (const auto& [id, table] : tables_) bytes += table->row_bytes();
  return bytes;
}

}  // namespace fleet::ps
