// Row blocks of dense parameters and their servers (ps_layout.h).
#include "passes/distributed/ps_layout.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace fleet::distributed {

std::vector<RowBlock> CutRows(const std::vector<int64_t>& shape, int64_t servers,
                              int64_t min_block_size) {
  if (shape.empty()) return {RowBlock{0, 1}};
  const int64_t dim0 = shape[0];
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  const int64_t n = std::max<int64_t>(1, std::min({servers, numel / min_block_size, dim0}));
  if (n == 1) return {RowBlock{0, dim0}};
  const int64_t rows = (dim0 + n - 1) / n;
  std::vector<RowBlock> blocks;
  for (int64_t begin = 0; begin < dim0; begin += rows) {
    blocks.push_back(RowBlock{begin, std::min(rows, dim0 - begin)});
  }
  return blocks;
}

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

int64_t BlockServer(std::string_view param, int64_t index, int64_t servers) {
  const std::string key = absl::StrCat(std::string(param), ".", index);
  return static_cast<int64_t>(Fnv1a64(key) % static_cast<uint64_t>(servers));
}

}  // namespace fleet::distributed
