// How the ps strategy lays dense parameters out over the parameter servers: each parameter is
// cut along its first dimension into row blocks, and each block goes to one server chosen by a
// stable hash of its name. Trainer and server programs are transpiled from the same inputs, so
// both must be a pure function of (parameter name, shape, server count, minimum block size):
// nothing here depends on the process, the platform or the order of calls.
//
//   for (const RowBlock& b : CutRows({273, 400}, /*servers=*/2, kDefaultMinBlockSize))
//     server = BlockServer("fc1.weight", index, 2);   // index = position of b in the list
//
// Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace fleet::distributed {

// The smallest block, in elements, when the strategy sets none (Paddle's min_block_size).
inline constexpr int64_t kDefaultMinBlockSize = 8192;

// Rows [begin, begin + rows) of a parameter's first dimension.
struct RowBlock {
  int64_t begin = 0;
  int64_t rows = 0;

  bool operator==(const RowBlock& other) const {
    return begin == other.begin && rows == other.rows;
  }
};

// Cuts a parameter of static `shape` (every dim >= 0) into blocks as Paddle's slice_variable
// does: n = max(1, min(servers, numel / min_block_size, dim0)) blocks of ceil(dim0 / n) rows,
// the last one smaller when the rows do not divide evenly (so there may be fewer than n). A
// rank-0 parameter is one block of 1 row; a parameter with no elements is one block of all its
// rows. `servers` and `min_block_size` must be >= 1.
std::vector<RowBlock> CutRows(const std::vector<int64_t>& shape, int64_t servers,
                              int64_t min_block_size);

// 64-bit FNV-1a of `bytes` (offset basis 14695981039346656037, prime 1099511628211).
uint64_t Fnv1a64(std::string_view bytes);

// The server of block `index` (0-based, within its parameter) of parameter `param`:
// Fnv1a64(param + "." + decimal index) mod servers. `servers` must be >= 1.
int64_t BlockServer(std::string_view param, int64_t index, int64_t servers);

}  // namespace fleet::distributed
