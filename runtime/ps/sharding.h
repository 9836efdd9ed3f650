// Which server holds a sparse row, and which shard of that server's table: a function of the id
// alone, the same in every process and on every run (never std::hash, which may differ between
// builds), so a worker and the servers agree without talking about it.
#pragma once

#include <cstdint>

namespace fleet::ps {

// SplitMix64's finaliser: spreads ids that differ in a few low bits (consecutive indices) or
// high bits (hashed features) over all 64 bits.
inline uint64_t MixId(int64_t id) {
  uint64_t z = static_cast<uint64_t>(id) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The server (0..num_servers-1) that holds row `id` of every table.
inline int ServerOfRow(int64_t id, int num_servers) {
  return static_cast<int>(MixId(id) % static_cast<uint64_t>(num_servers));
}

// The shard (0..num_shards-1) of a server's table that holds row `id`. Uses the high bits, which
// ServerOfRow's modulo does not fix, so a server's rows spread over all its shards.
inline int ShardOfRow(int64_t id, int num_shards) {
  return static_cast<int>((MixId(id) >> 40) % static_cast<uint64_t>(num_shards));
}

}  // namespace fleet::ps
