// Shape inference of the matrix products:
//   MatMul: numpy matmul. 1-D operands are promoted ([K] as [1,K] on the left, [K,1] on the
//           right) and the promoted dim dropped again; the batch dims broadcast.
//   Gemm:   A [M,K] (transA: [K,M]) times B [K,N] (transB: [N,K]) is [M,N]; C broadcasts to
//           [M,N] (unidirectionally).
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ir/shape_infer.h"
#include "ir/status_macros.h"

namespace fleet {
namespace {

absl::Status InnerMismatch(const InferContext& ctx, int64_t k_a, int64_t k_b) {
  return ShapeError(absl::StrCat("inputs 'A' ", TypeString(ctx.InputType("A")), " and 'B' ",
                                 TypeString(ctx.InputType("B")),
                                 " cannot be multiplied: inner dims ", k_a, " vs ", k_b));
}

absl::Status InferMatMul(InferContext& ctx) {
  const DataType dtype =
      ctx.InputDtype("A") != DataType::kUndefined ? ctx.InputDtype("A") : ctx.InputDtype("B");
  const Shape* a = ctx.InputShape("A");
  const Shape* b = ctx.InputShape("B");
  for (const auto& [slot, s] : {std::pair{"A", a}, std::pair{"B", b}}) {
    if (s != nullptr && s->empty()) {
      return ShapeError(absl::StrCat("input '", slot, "' is a scalar; MatMul needs rank >= 1"));
    }
  }
  if (a == nullptr || b == nullptr) {
    ctx.SetOutput("Y", dtype, std::nullopt);
    return absl::OkStatus();
  }
  const int64_t k_a = a->back();
  const int64_t k_b = b->size() == 1 ? (*b)[0] : (*b)[b->size() - 2];
  if (k_a >= 0 && k_b >= 0 && k_a != k_b) return InnerMismatch(ctx, k_a, k_b);
  const Shape batch_a(a->begin(), a->end() - std::min<size_t>(a->size(), 2));
  const Shape batch_b(b->begin(), b->end() - std::min<size_t>(b->size(), 2));
  FLEET_ASSIGN_OR_RETURN(Shape out,
                         BroadcastKnown(batch_a, batch_b, "A (batch dims)", "B (batch dims)"));
  if (a->size() >= 2) out.push_back((*a)[a->size() - 2]);
  if (b->size() >= 2) out.push_back(b->back());
  ctx.SetOutput("Y", dtype, std::move(out));
  return absl::OkStatus();
}

absl::Status InferGemm(InferContext& ctx) {
  const DataType dtype =
      ctx.InputDtype("A") != DataType::kUndefined ? ctx.InputDtype("A") : ctx.InputDtype("B");
  const Shape* a = ctx.InputShape("A");
  const Shape* b = ctx.InputShape("B");
  for (const auto& [slot, s] : {std::pair{"A", a}, std::pair{"B", b}}) {
    if (s != nullptr && s->size() != 2) {
      return ShapeError(absl::StrCat("input '", slot, "' ", DimsString(*s), " has rank ", s->size(),
                                     "; Gemm needs rank 2"));
    }
  }
  const bool ta = ctx.Int("transA", 0) != 0, tb = ctx.Int("transB", 0) != 0;
  const int64_t m = a != nullptr ? (*a)[ta ? 1 : 0] : -1;
  const int64_t k_a = a != nullptr ? (*a)[ta ? 0 : 1] : -1;
  const int64_t k_b = b != nullptr ? (*b)[tb ? 1 : 0] : -1;
  const int64_t n = b != nullptr ? (*b)[tb ? 0 : 1] : -1;
  if (k_a >= 0 && k_b >= 0 && k_a != k_b) {
    return ShapeError(absl::StrCat("inputs 'A' ", TypeString(ctx.InputType("A")),
                                   ta ? " (transposed)" : "", " and 'B' ",
                                   TypeString(ctx.InputType("B")), tb ? " (transposed)" : "",
                                   " cannot be multiplied: inner dims ", k_a, " vs ", k_b));
  }
  Shape y = {m, n};
  if (const Shape* c = ctx.InputShape("C")) {
    absl::StatusOr<Shape> with_c = BroadcastKnown(y, *c, "A*B", "C");
    if (!with_c.ok() || with_c->size() != 2 ||
        !Compatible({DataType::kUndefined, *with_c}, {DataType::kUndefined, y})) {
      return ShapeError(absl::StrCat("input 'C' ", DimsString(*c),
                                     " does not broadcast to the product's shape ", DimsString(y)));
    }
    // An unknown M or N that C fixes (C [4,1] with an unknown M gives M = 4).
    y = *std::move(with_c);
  }
  ctx.SetOutput("Y", dtype, std::move(y));
  return absl::OkStatus();
}

}  // namespace

void AddMatrixInference(InferTable& table) {
  table.emplace_back("MatMul", InferMatMul);
  table.emplace_back("Gemm", InferGemm);
}

}  // namespace fleet
