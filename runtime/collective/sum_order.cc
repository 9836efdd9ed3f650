// Gloo's order of additions (sum_order.h), worked out the way Gloo's allreduce.cc and reduce.cc
// lay out their ring segments and bcube groups, and the loops that add in that order.
#include "runtime/collective/sum_order.h"

#include <gloo/allreduce.h>

#include <algorithm>
#include <memory>

namespace fleet {
namespace {

size_t RoundUp(size_t value, size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// An addition tree while it is built: a leaf (a rank) or the sum of two trees.
struct Expr {
  int rank = -1;
  std::shared_ptr<const Expr> lhs, rhs;
};
using ExprPtr = std::shared_ptr<const Expr>;

ExprPtr Leaf(int rank) {
  auto e = std::make_shared<Expr>();
  e->rank = rank;
  return e;
}

ExprPtr Add(ExprPtr lhs, ExprPtr rhs) {
  auto e = std::make_shared<Expr>();
  e->lhs = std::move(lhs);
  e->rhs = std::move(rhs);
  return e;
}

// Appends the additions of `e` to `tree` (operands first); returns the operand that holds it.
int Flatten(const Expr& e, int ranks, SumTree& tree) {
  if (e.rank >= 0) return e.rank;
  const int lhs = Flatten(*e.lhs, ranks, tree);
  const int rhs = Flatten(*e.rhs, ranks, tree);
  tree.adds.push_back({lhs, rhs});
  return ranks + static_cast<int>(tree.adds.size()) - 1;
}

// The index of `tree` in `order`, adding it when new.
int TreeIndex(SumOrder& order, SumTree tree) {
  for (size_t i = 0; i < order.trees.size(); ++i) {
    if (order.trees[i] == tree) return static_cast<int>(i);
  }
  order.trees.push_back(std::move(tree));
  return static_cast<int>(order.trees.size()) - 1;
}

void AddRun(SumOrder& order, int64_t begin, int64_t end, const Expr& sum) {
  if (begin >= end) return;
  SumTree tree;
  Flatten(sum, order.ranks, tree);
  const int index = TreeIndex(order, std::move(tree));
  if (!order.runs.empty() && order.runs.back().tree == index && order.runs.back().end == begin) {
    order.runs.back().end = end;
  } else {
    order.runs.push_back(SumRun{begin, end, index});
  }
}

// The elements of each of the n chunks of Gloo's allreduce ring over `count` elements: whole
// segments of at most kMaxSegmentSize bytes, at least two per chunk (gloo/allreduce.cc).
int64_t AllReduceRingChunk(int64_t count, size_t element_size, size_t n) {
  const size_t total = static_cast<size_t>(count) * element_size;
  const size_t max_segment =
      element_size *
      std::max(size_t{1}, gloo::detail::AllreduceOptionsImpl::kMaxSegmentSize / element_size);
  const size_t segments = RoundUp(std::max((total + max_segment - 1) / max_segment, n * 2), n);
  const size_t segment_bytes = RoundUp((total + segments - 1) / segments, element_size);
  return static_cast<int64_t>(segments / n * segment_bytes / element_size);
}

// Gloo's reduce cuts its segments its own way (gloo/reduce.cc): a segment is a 2n-th of the
// buffer, at most ReduceOptions::kMaxSegmentSize (protected there, so restated here), and the
// segment count a multiple of n, at least 2n.
constexpr size_t kGlooReduceMaxSegmentBytes = size_t{1} << 20;

int64_t ReduceRingChunk(int64_t count, size_t element_size, size_t n) {
  const size_t total = static_cast<size_t>(count) * element_size;
  const size_t max_segment =
      element_size * std::max(size_t{1}, kGlooReduceMaxSegmentBytes / element_size);
  const size_t segment_bytes =
      RoundUp(std::min((total + 2 * n - 1) / (2 * n), max_segment), element_size);
  const size_t segments = RoundUp(std::max((total + segment_bytes - 1) / segment_bytes, n * 2), n);
  return static_cast<int64_t>(segments / n * segment_bytes / element_size);
}

// Gloo's ring over elements [first, first + count) in chunks of `chunk` elements: chunk c ends
// on rank c, the partial sum arriving from rank c + 1 added behind each rank's own value.
void RingRuns(SumOrder& order, int64_t first, int64_t count, int64_t chunk) {
  const int ranks = order.ranks;
  for (int c = 0; c < ranks; ++c) {
    ExprPtr sum = Add(Leaf((c + ranks - 2) % ranks), Leaf((c + ranks - 1) % ranks));
    for (int k = 3; k <= ranks; ++k) sum = Add(Leaf((c + ranks - k) % ranks), sum);
    const int64_t begin = std::min<int64_t>(c * chunk, count);
    const int64_t end = std::min<int64_t>((c + 1) * chunk, count);
    AddRun(order, first + begin, first + end, *sum);
  }
}

// Gloo's bcube over elements [first, first + count): groups of 2 while the rank count divides,
// then one group of what is left; in each group every rank keeps a chunk of the group's part of
// the buffer and adds its peers' partial sums to its own, peers in group order.
void BcubeRuns(SumOrder& order, int64_t first, int64_t count) {
  const int n = order.ranks;
  std::vector<int> group_sizes;
  for (int rest = n; rest > 1;) {
    const int g = rest % 2 == 0 ? 2 : rest;
    group_sizes.push_back(g);
    rest /= g;
  }
  std::vector<ExprPtr> sum(n);
  std::vector<int64_t> offset(n, 0), length(n, count);
  for (int r = 0; r < n; ++r) sum[r] = Leaf(r);
  int distance = 1;
  for (const int g : group_sizes) {
    std::vector<ExprPtr> next(n);
    for (int r = 0; r < n; ++r) {
      const int position = (r / distance) % g;
      const int base = r - position * distance;
      next[r] = sum[r];
      for (int i = 0; i < g; ++i) {
        if (base + i * distance != r) next[r] = Add(next[r], sum[base + i * distance]);
      }
      const int64_t chunk = (length[r] + g - 1) / g;
      offset[r] += position * chunk;
      length[r] = std::min(chunk, std::max<int64_t>(0, length[r] - position * chunk));
    }
    sum = std::move(next);
    distance *= g;
  }
  std::vector<int> by_offset(n);
  for (int r = 0; r < n; ++r) by_offset[r] = r;
  std::sort(by_offset.begin(), by_offset.end(),
            [&](int a, int b) { return offset[a] < offset[b]; });
  for (const int r : by_offset) {
    AddRun(order, first + offset[r], first + offset[r] + length[r], *sum[r]);
  }
}

// The vector loop: a fixed count lets the compiler vectorise it without a scalar tail.
template <typename T, int64_t kCount>
void AddFixed(const T* a, const T* b, T* out) {
#pragma GCC ivdep
  for (int64_t j = 0; j < kCount; ++j) out[j] = a[j] + b[j];
}

template <typename T>
void AddAny(const T* a, const T* b, T* out, int64_t count) {
  for (int64_t j = 0; j < count; ++j) out[j] = a[j] + b[j];
}

// Elements in flight per addition: the partial sums of a block stay in L1.
constexpr int64_t kBlock = 1024;

template <typename T>
void SumTreeOver(const SumTree& tree, int ranks, const T* const* srcs, T* dst, int64_t count,
                 std::vector<T>& scratch) {
  const size_t adds = tree.adds.size();
  if (scratch.size() < adds * kBlock) scratch.resize(adds * kBlock);
  for (int64_t at = 0; at < count; at += kBlock) {
    const int64_t len = std::min(kBlock, count - at);
    auto operand = [&](int k) -> const T* {
      return k < ranks ? srcs[k] + at : scratch.data() + (k - ranks) * kBlock;
    };
    for (size_t i = 0; i < adds; ++i) {
      const T* a = operand(tree.adds[i][0]);
      const T* b = operand(tree.adds[i][1]);
      T* out = i + 1 == adds ? dst + at : scratch.data() + i * kBlock;
      if (len == kBlock) {
        AddFixed<T, kBlock>(a, b, out);
      } else {
        AddAny(a, b, out, len);
      }
    }
  }
}

template <typename T>
void SumTyped(const SumOrder& order, int64_t first, int64_t count, const void* const* srcs,
              void* dst) {
  const int n = order.ranks;
  auto run = std::upper_bound(order.runs.begin(), order.runs.end(), first,
                              [](int64_t e, const SumRun& r) { return e < r.end; });
  std::vector<const T*> at(n);
  std::vector<T> scratch;
  for (int64_t done = 0; done < count && run != order.runs.end(); ++run) {
    const int64_t begin = first + done;
    const int64_t end = std::min(run->end, first + count);
    for (int k = 0; k < n; ++k) at[k] = static_cast<const T*>(srcs[k]) + done;
    SumTreeOver(order.trees[run->tree], n, at.data(), static_cast<T*>(dst) + done, end - begin,
                scratch);
    done += end - begin;
  }
}

}  // namespace

AllReduceAlgorithm GlooAlgorithmFor(AllReduceAlgorithm requested, size_t bytes) {
  if (requested != AllReduceAlgorithm::kAuto) return requested;
  return bytes <= kGlooBcubeMaxBytes ? AllReduceAlgorithm::kBcube : AllReduceAlgorithm::kRing;
}

SumOrder GlooSumOrder(int ranks, int64_t elements, size_t element_size,
                      AllReduceAlgorithm requested) {
  SumOrder order;
  order.ranks = ranks;
  const int64_t piece = static_cast<int64_t>(kGlooPieceBytes / element_size);
  for (int64_t first = 0; first < elements; first += piece) {
    const int64_t count = std::min(piece, elements - first);
    if (GlooAlgorithmFor(requested, count * element_size) == AllReduceAlgorithm::kBcube) {
      BcubeRuns(order, first, count);
    } else {
      RingRuns(order, first, count,
               AllReduceRingChunk(count, element_size, static_cast<size_t>(ranks)));
    }
  }
  return order;
}

SumOrder GlooReduceSumOrder(int ranks, int64_t elements, size_t element_size) {
  SumOrder order;
  order.ranks = ranks;
  const int64_t piece = static_cast<int64_t>(kGlooPieceBytes / element_size);
  for (int64_t first = 0; first < elements; first += piece) {
    const int64_t count = std::min(piece, elements - first);
    RingRuns(order, first, count, ReduceRingChunk(count, element_size, static_cast<size_t>(ranks)));
  }
  return order;
}

void SumInOrder(const SumOrder& order, DataType dtype, int64_t first, int64_t count,
                const void* const* srcs, void* dst) {
  if (dtype == DataType::kF64) {
    SumTyped<double>(order, first, count, srcs, dst);
  } else {
    SumTyped<float>(order, first, count, srcs, dst);
  }
}

}  // namespace fleet
