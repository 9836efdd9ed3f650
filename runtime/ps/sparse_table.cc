#include "runtime/ps/sparse_table.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "runtime/ps/sharding.h"

namespace fleet::ps {

absl::StatusOr<std::unique_ptr<SparseTable>> SparseTable::Create(SparseTableSpec spec) {
  const std::string where = absl::StrCat("table ", spec.table_id, ": ");
  if (spec.dim < 1) return absl::InvalidArgumentError(absl::StrCat(where, "width ", spec.dim));
  if (spec.model_rows.defined() &&
      (spec.model_rows.dtype() != DataType::kF32 || spec.model_rows.rank() != 2 ||
       spec.model_rows.dim(1) != spec.dim)) {
    return absl::InvalidArgumentError(absl::StrCat(where, "the model's table is ",
                                                   spec.model_rows.TypeString(),
                                                   "; expected f32[rows, ", spec.dim, "]"));
  }
  if (spec.state_rowwise.size() != spec.state_init.size()) {
    return absl::InvalidArgumentError(absl::StrCat(where, spec.state_rowwise.size(),
                                                   " state kinds but ", spec.state_init.size(),
                                                   " state starting values"));
  }
  const size_t whole = std::count(spec.state_rowwise.begin(), spec.state_rowwise.end(), false);
  if (spec.whole_states.size() != whole) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, spec.whole_states.size(), " whole states given; the rule has ", whole));
  }
  return std::unique_ptr<SparseTable>(new SparseTable(std::move(spec)));
}

SparseTable::SparseTable(SparseTableSpec spec) : spec_(std::move(spec)) {
  num_rowwise_ =
      static_cast<int>(std::count(spec_.state_rowwise.begin(), spec_.state_rowwise.end(), true));
  stride_ = spec_.dim * (1 + num_rowwise_);
}

float* SparseTable::RowLocked(Shard& shard, int64_t id) {
  auto [it, inserted] = shard.index.emplace(id, static_cast<int64_t>(shard.index.size()));
  const int64_t dim = spec_.dim;
  if (!inserted) return shard.values.data() + it->second * stride_;
  shard.values.resize(shard.values.size() + stride_);
  float* row = shard.values.data() + it->second * stride_;
  const Tensor& model = spec_.model_rows;
  if (model.defined() && id >= 0 && id < model.dim(0)) {
    std::memcpy(row, model.data<float>() + id * dim, dim * sizeof(float));
  } else {
    spec_.row_init.Fill(spec_.table_id, id, dim, row);
  }
  float* state = row + dim;
  for (size_t s = 0; s < spec_.state_rowwise.size(); ++s) {
    if (!spec_.state_rowwise[s]) continue;
    std::fill(state, state + dim, spec_.state_init[s]);
    state += dim;
  }
  return row;
}

void SparseTable::Lookup(const int64_t* ids, int64_t n, float* out) {
  const int64_t dim = spec_.dim;
  for (int64_t i = 0; i < n; ++i) {
    Shard& shard = shards_[ShardOfRow(ids[i], kShards)];
    std::lock_guard<std::mutex> lock(shard.mu);
    std::memcpy(out + i * dim, RowLocked(shard, ids[i]), dim * sizeof(float));
  }
}

absl::Status SparseTable::Update(const int64_t* ids, int64_t n, const float* grad,
                                 UpdateRule& rule) {
  const int64_t dim = spec_.dim;
  std::lock_guard<std::mutex> update_lock(update_mu_);
  UpdateTensors t;
  t.param = Tensor(DataType::kF32, {n, dim});
  t.grad = Tensor(DataType::kF32, {n, dim});
  if (n > 0) std::memcpy(t.grad.data<float>(), grad, n * dim * sizeof(float));
  std::vector<float*> rowwise;  // gathered rowwise states, in rule order
  size_t whole = 0;
  for (bool is_rowwise : spec_.state_rowwise) {
    if (is_rowwise) {
      t.states.emplace_back(DataType::kF32, std::vector<int64_t>{n, dim});
      rowwise.push_back(t.states.back().data<float>());
    } else {
      t.states.push_back(spec_.whole_states[whole++]);
    }
  }
  // Gather: the rows cannot change under us (updates are serialised), but lookups may create
  // rows in the same shard, so each access holds the shard's lock.
  auto for_each_row = [&](auto&& visit) {
    for (int64_t i = 0; i < n; ++i) {
      Shard& shard = shards_[ShardOfRow(ids[i], kShards)];
      std::lock_guard<std::mutex> lock(shard.mu);
      visit(i, RowLocked(shard, ids[i]));
    }
  };
  for_each_row([&](int64_t i, const float* row) {
    std::memcpy(t.param.data<float>() + i * dim, row, dim * sizeof(float));
    for (int s = 0; s < num_rowwise_; ++s) {
      std::memcpy(rowwise[s] + i * dim, row + (s + 1) * dim, dim * sizeof(float));
    }
  });
  absl::Status status = rule.Apply(updates_, t);
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("table ", spec_.table_id, ": update: ", status.message()));
  }
  if (t.param.numel() != n * dim || t.states.size() != spec_.state_rowwise.size()) {
    return absl::InternalError(absl::StrCat("table ", spec_.table_id,
                                            ": the update rule gave back ", t.param.TypeString(),
                                            " and ", t.states.size(), " states"));
  }
  std::vector<const float*> new_rowwise;
  whole = 0;
  for (size_t s = 0; s < t.states.size(); ++s) {
    if (spec_.state_rowwise[s]) {
      new_rowwise.push_back(t.states[s].data<float>());
    } else {
      spec_.whole_states[whole++] = t.states[s];
    }
  }
  for_each_row([&](int64_t i, float* row) {
    std::memcpy(row, t.param.data<float>() + i * dim, dim * sizeof(float));
    for (int s = 0; s < num_rowwise_; ++s) {
      std::memcpy(row + (s + 1) * dim, new_rowwise[s] + i * dim, dim * sizeof(float));
    }
  });
  ++updates_;
  return absl::OkStatus();
}

int64_t SparseTable::num_rows() const {
  int64_t rows = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    rows += static_cast<int64_t>(shard.index.size());
  }
  return rows;
}

int64_t SparseTable::row_bytes() const { return num_rows() * stride_ * sizeof(float); }

std::vector<Tensor> SparseTable::whole_states() const {
  std::lock_guard<std::mutex> lock(update_mu_);
  return spec_.whole_states;
}

SparseTable::Contents SparseTable::Export() const {
  std::lock_guard<std::mutex> update_lock(update_mu_);
  Contents out;
  std::vector<std::unique_lock<std::mutex>> locks;
  int64_t n = 0;
  for (const Shard& shard : shards_) {
    locks.emplace_back(shard.mu);
    n += static_cast<int64_t>(shard.index.size());
  }
  out.ids = Tensor(DataType::kI64, {n});
  out.rows = Tensor(DataType::kF32, {n, stride_});
  int64_t* ids = out.ids.data<int64_t>();
  float* rows = out.rows.data<float>();
  int64_t r = 0;
  for (const Shard& shard : shards_) {
    for (const auto& [id, row] : shard.index) {
      ids[r] = id;
      std::memcpy(rows + r * stride_, shard.values.data() + row * stride_, stride_ * sizeof(float));
      ++r;
    }
  }
  for (const Tensor& state : spec_.whole_states) out.whole_states.push_back(state.Clone());
  out.updates = updates_;
  return out;
}

absl::Status SparseTable::Import(const Contents& contents) {
  const int64_t n = contents.ids.defined() ? contents.ids.numel() : 0;
  if (contents.ids.dtype() != DataType::kI64 || contents.rows.dtype() != DataType::kF32 ||
      contents.rows.rank() != 2 || contents.rows.dim(0) != n || contents.rows.dim(1) != stride_ ||
      contents.whole_states.size() != spec_.whole_states.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", spec_.table_id, ": saved rows ", contents.rows.TypeString(),
                     " with ", contents.ids.TypeString(), " ids and ", contents.whole_states.size(),
                     " whole states; this table takes f32[n, ", stride_, "] rows and ",
                     spec_.whole_states.size(), " whole states"));
  }
  for (size_t s = 0; s < spec_.whole_states.size(); ++s) {
    if (contents.whole_states[s].shape() != spec_.whole_states[s].shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", spec_.table_id, ": saved whole state ", s, " is ",
                       contents.whole_states[s].TypeString(), "; expected ",
                       spec_.whole_states[s].TypeString()));
    }
  }
  const int64_t* ids = contents.ids.data<int64_t>();
  absl::flat_hash_set<int64_t> seen;
  for (int64_t r = 0; r < n; ++r) {
    if (!seen.insert(ids[r]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", spec_.table_id, ": row ", ids[r], " saved twice"));
    }
  }
  std::lock_guard<std::mutex> update_lock(update_mu_);
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    shard.index.clear();
    shard.values.clear();
  }
  const float* rows = contents.rows.data<float>();
  for (int64_t r = 0; r < n; ++r) {
    Shard& shard = shards_[ShardOfRow(ids[r], kShards)];
    std::lock_guard<std::mutex> lock(shard.mu);
    shard.index.emplace(ids[r], static_cast<int64_t>(shard.index.size()));
    shard.values.insert(shard.values.end(), rows + r * stride_, rows + (r + 1) * stride_);
  }
  spec_.whole_states = contents.whole_states;
  updates_ = contents.updates;
  return absl::OkStatus();
}

}  // namespace fleet::ps
