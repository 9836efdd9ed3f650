// The order in which GlooCommunicator's allreduce and reduce add the ranks' values, element by
// element, so that another transport (ShmCommunicator) can add them the same way and end with
// results that are bitwise equal to Gloo's. Floating-point addition is commutative but not
// associative: (a + b) + c may differ from a + (b + c) in the last bit, so "the same sum" means the
// same tree.
//
// GlooCommunicator cuts a bucket into pieces of at most kGlooPieceBytes and runs one Gloo
// allreduce per piece, bcube for pieces up to kGlooBcubeMaxBytes, ring above (kAuto). Within a
// piece, Gloo's ring cuts the elements into n chunks (whole segments of at most 1 MiB); chunk c
// travels the ring from rank c-1 down to rank c, each rank adding its own value in front:
//   chunk c:  x[c] + (x[c+1] + (... + (x[c-2] + x[c-1])))          (ranks modulo n)
// Gloo's reduce (GlooCommunicator::Reduce) is the ring's first half, reduce-scatter, with the
// same tree per chunk but chunks of its own size, then a gather of the chunks to the root.
// Gloo's bcube reduces within groups, step by step (groups of 2 while the rank count is even,
// then one group of the rest); at each step a rank adds its group peers' partial sums to its own,
// in the order of the peers' positions in the group. With 4 ranks that is (x0 + x1) + (x2 + x3).
//
// Internal to runtime/collective; verified against Gloo itself by the shared-memory tests.
// Thread safety: plain values and pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ir/dtype.h"
#include "runtime/collective/gloo_communicator.h"

namespace fleet {

// GlooCommunicator's allreduce reduces a bucket in pieces of at most this many bytes ...
inline constexpr size_t kGlooPieceBytes = size_t{64} << 20;
// ... each with bcube up to this many bytes (log(n) steps) and the ring above (2(n-1) steps,
// bandwidth-bound, pipelined in segments).
inline constexpr size_t kGlooBcubeMaxBytes = size_t{1} << 20;

// The algorithm GlooCommunicator runs for a piece of `bytes` when `requested`: kBcube or kRing.
AllReduceAlgorithm GlooAlgorithmFor(AllReduceAlgorithm requested, size_t bytes);

// One way of adding the values of n ranks: additions in order, each `lhs + rhs`. Operand k < n is
// rank k's value; operand n + i is the result of addition i. The last addition gives the sum.
struct SumTree {
  std::vector<std::array<int, 2>> adds;
  bool operator==(const SumTree& other) const { return adds == other.adds; }
};

// Elements [begin, end) of a bucket are added by trees[tree].
struct SumRun {
  int64_t begin = 0;
  int64_t end = 0;
  int tree = 0;
};

// The trees of one bucket and the runs of elements each adds, in element order, covering the
// bucket without gaps.
struct SumOrder {
  int ranks = 1;
  std::vector<SumTree> trees;
  std::vector<SumRun> runs;
};

// How GlooCommunicator (with `requested`) adds the `ranks` values of each of `elements` elements
// of `element_size` bytes. ranks >= 2.
SumOrder GlooSumOrder(int ranks, int64_t elements, size_t element_size,
                      AllReduceAlgorithm requested);

// How GlooCommunicator's reduce adds them: Gloo's ring reduce-scatter in every piece of at most
// kGlooPieceBytes, whatever the size. ranks >= 2.
SumOrder GlooReduceSumOrder(int ranks, int64_t elements, size_t element_size);

// Adds elements [first, first + count) of a bucket of `dtype` (f32 or f64) in `order`:
// dst[i] = the sum over ranks k of srcs[k][i], each as its run's tree says. srcs[k] points at
// rank k's element `first`; dst may be one of the srcs (element i is written after element i of
// every src was read).
void SumInOrder(const SumOrder& order, DataType dtype, int64_t first, int64_t count,
                const void* const* srcs, void* dst);

}  // namespace fleet
