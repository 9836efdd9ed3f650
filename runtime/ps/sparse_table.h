// One server's part of a sparse table: rows keyed by 64-bit id, created on first touch, held in
// shards that each have their own lock, so lookups of different shards never wait for each
// other. Memory grows with the rows touched, not with any declared vocabulary.
//
// A row holds the table's `dim` values followed by one `dim`-wide slice per rowwise optimizer
// state (Adagrad's accumulator, Adam's moments). Whole states (Adam's beta powers) belong to the
// table. Updates run one at a time per table (the update rule is one prepared block), while
// lookups go on beside them.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/tensor.h"
#include "runtime/ps/row_init.h"
#include "runtime/ps/update_rule.h"

namespace fleet::ps {

struct SparseTableSpec {
  int64_t table_id = 0;
  int64_t dim = 0;
  // The model's own table [height, dim] (f32), or empty: rows with an id below its height start
  // as the model's row, others from `row_init`.
  Tensor model_rows;
  RowInit row_init;
  // Per state of the update rule, in its order: rowwise or whole, and a rowwise state's start.
  std::vector<bool> state_rowwise;
  std::vector<float> state_init;
  // The whole states' values (one tensor per state whose state_rowwise is false).
  std::vector<Tensor> whole_states;
};

class SparseTable {
 public:
  static constexpr int kShards = 16;

  // INVALID_ARGUMENT when the spec is inconsistent (dim < 1, model rows of another width, state
  // lists of different lengths, whole states that do not match).
  static absl::StatusOr<std::unique_ptr<SparseTable>> Create(SparseTableSpec spec);

  int64_t table_id() const { return spec_.table_id; }
  int64_t dim() const { return spec_.dim; }

  // Copies rows `ids[0..n)` into `out` (n * dim floats), creating missing rows.
  void Lookup(const int64_t* ids, int64_t n, float* out);

  // Applies one update to rows `ids[0..n)` (distinct) with gradient rows `grad` (n * dim),
  // creating missing rows; the rule sees the rows gathered into [n, dim] tensors. n may be 0
  // (the whole states still advance, as in single-machine training where every step updates
  // every table).
  absl::Status Update(const int64_t* ids, int64_t n, const float* grad, UpdateRule& rule);

  // Every row (ids [n] i64, rows [n, dim * (1 + rowwise states)] f32: the values, then each
  // rowwise state), the whole states and the updates applied so far: a consistent copy (taken
  // between updates).
  struct Contents {
    Tensor ids;
    Tensor rows;
    std::vector<Tensor> whole_states;
    int64_t updates = 0;
  };
  Contents Export() const;
  // Replaces every row, the whole states and the update count with `contents` (as Export gives
  // them). INVALID_ARGUMENT when the shapes do not fit this table.
  absl::Status Import(const Contents& contents);

  // Rows held, and the bytes their values and states take (without the index).
  int64_t num_rows() const;
  int64_t row_bytes() const;
  // The whole states as they are now.
  std::vector<Tensor> whole_states() const;

 private:
  struct Shard {
    mutable std::mutex mu;
    absl::flat_hash_map<int64_t, int64_t> index;  // id -> row
    std::vector<float> values;                    // row r at r * stride
  };

  explicit SparseTable(SparseTableSpec spec);
  // The row of `id` in `shard` (locked by the caller), created when missing.
  float* RowLocked(Shard& shard, int64_t id);

  SparseTableSpec spec_;
  int num_rowwise_ = 0;
  int64_t stride_ = 0;  // floats per row: dim * (1 + rowwise states)
  Shard shards_[kShards];
  mutable std::mutex update_mu_;  // one update at a time; also guards whole states and updates_
  int64_t updates_ = 0;           // updates applied so far (the rule's step)
};

}  // namespace fleet::ps
