// Einsum: parses the equation (explicit or implicit output, '...' broadcasting,
// repeated labels for diagonals) and evaluates it by folding the operands left
// to right. Each step sums out the labels no one needs any more, lays both
// sides out as [batch, rows, contracted] and [batch, contracted, cols], and
// runs one GEMM per batch entry; the last result is summed and permuted into
// the output's label order.
//
// Operands are "views": unique labels with dims and element strides into some
// buffer, so a diagonal (repeated label) is a stride sum and a broadcast
// ellipsis dim a zero stride.
#include "kernels/cpu/einsum.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu/gemm.h"

namespace fleet::cpu {
namespace {

// Letters are labelled by their character code (so sorting them matches NumPy's
// implicit output order); ellipsis dims by kEllipsisLabel + position.
constexpr int kEllipsisLabel = 256;

struct Equation {
  std::vector<std::vector<int>> inputs;  // labels per input axis (may repeat)
  std::vector<int> output;
};

// One term of the equation: letters and at most one "...", expanded for an
// operand of `rank` given the largest ellipsis rank `max_ell`. Returns "" or an
// error message.
std::string ExpandTerm(const std::string& term, int rank, int max_ell, bool is_output,
                       std::vector<int>* labels) {
  labels->clear();
  int letters = 0;
  bool ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    char c = term[i];
    if (c == '.') {
      if (ellipsis || term.compare(i, 3, "...") != 0) return "has a '.' that is not one '...'";
      ellipsis = true;
      i += 2;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      ++letters;
    } else {
      return absl::StrCat("has the character '", std::string(1, c), "'; expected letters");
    }
  }
  int ell_rank = is_output ? max_ell : rank - letters;
  if (!is_output) {
    if (ellipsis ? ell_rank < 0 : ell_rank != 0) {
      return absl::StrCat("has ", letters, " labels but the input has rank ", rank);
    }
  }
  for (size_t i = 0; i < term.size(); ++i) {
    if (term[i] == '.') {
      for (int j = 0; j < ell_rank; ++j) labels->push_back(kEllipsisLabel + max_ell - ell_rank + j);
      i += 2;
    } else {
      labels->push_back(static_cast<unsigned char>(term[i]));
    }
  }
  return "";
}

absl::Status ParseEquation(KernelContext& ctx, const std::string& raw, Equation* eq) {
  std::string s;
  for (char c : raw) {
    if (c != ' ') s += c;
  }
  auto bad = [&](const std::string& why) {
    return ctx.InvalidArgument(absl::StrCat("equation '", raw, "' ", why));
  };
  size_t arrow = s.find("->");
  std::string lhs = s.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (static_cast<int>(terms.size()) != ctx.num_inputs()) {
    return bad(absl::StrCat("has ", terms.size(), " input terms; the op has ", ctx.num_inputs(),
                            " inputs"));
  }
  int max_ell = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    int letters = 0;
    for (char c : terms[i]) letters += c != '.';
    if (terms[i].find("...") != std::string::npos) {
      max_ell = std::max(max_ell, ctx.input(static_cast<int>(i)).rank() - letters);
    }
  }
  if (max_ell > kEllipsisLabel / 4) {
    return bad(absl::StrCat("covers ", max_ell, " dims with '...'; at most ", kEllipsisLabel / 4,
                            " are supported"));
  }
  eq->inputs.resize(terms.size());
  for (size_t i = 0; i < terms.size(); ++i) {
    std::string err =
        ExpandTerm(terms[i], ctx.input(static_cast<int>(i)).rank(), max_ell, false, &eq->inputs[i]);
    if (!err.empty()) return bad(absl::StrCat("term ", i, " '", terms[i], "' ", err));
  }
  if (arrow != std::string::npos) {
    std::string rhs = s.substr(arrow + 2);
    std::string err = ExpandTerm(rhs, 0, max_ell, true, &eq->output);
    if (!err.empty()) return bad(absl::StrCat("output '", rhs, "' ", err));
    for (size_t i = 0; i < eq->output.size(); ++i) {
      int l = eq->output[i];
      if (std::count(eq->output.begin(), eq->output.end(), l) > 1) {
        return bad("repeats a label in the output");
      }
      bool found = l >= kEllipsisLabel;
      for (const auto& in : eq->inputs) found |= std::count(in.begin(), in.end(), l) > 0;
      if (!found) {
        return bad(absl::StrCat("has output label '", std::string(1, static_cast<char>(l)),
                                "' that no input has"));
      }
    }
  } else {
    // Implicit output: ellipsis dims, then the letters used exactly once, in
    // character order.
    for (int j = 0; j < max_ell; ++j) eq->output.push_back(kEllipsisLabel + j);
    std::vector<int> count(kEllipsisLabel, 0);
    for (const auto& in : eq->inputs) {
      for (int l : in) {
        if (l < kEllipsisLabel) ++count[l];
      }
    }
    for (int l = 0; l < kEllipsisLabel; ++l) {
      if (count[l] == 1) eq->output.push_back(l);
    }
  }
  return absl::OkStatus();
}

template <typename T>
struct View {
  std::vector<int> labels;  // unique
  std::vector<int64_t> dims;
  std::vector<int64_t> strides;
  const T* data = nullptr;

  int Find(int label) const {
    auto it = std::find(labels.begin(), labels.end(), label);
    return it == labels.end() ? -1 : static_cast<int>(it - labels.begin());
  }
};

std::string LabelName(int l) {
  return l >= kEllipsisLabel ? absl::StrCat("...[", l - kEllipsisLabel, "]")
                             : std::string(1, static_cast<char>(l));
}

// Writes into `out` (contiguous over `order`, a subset of v's labels) the sum
// of v over the labels not in `order`. `out` is overwritten.
template <typename T>
void SumInto(const View<T>& v, const std::vector<int>& order, T* out) {
  const int r = static_cast<int>(v.labels.size());
  std::vector<int64_t> dst_stride(r, 0);
  int64_t out_numel = 1;
  for (int i = static_cast<int>(order.size()); i-- > 0;) {
    dst_stride[v.Find(order[i])] = out_numel;
    out_numel *= v.dims[v.Find(order[i])];
  }
  std::fill(out, out + out_numel, T{0});
  int64_t numel = 1;
  for (int64_t d : v.dims) numel *= d;
  if (numel == 0) return;
  if (r == 0) {
    out[0] = v.data[0];
    return;
  }
  const int64_t inner = v.dims[r - 1], ss = v.strides[r - 1], ds = dst_stride[r - 1];
  std::vector<int64_t> idx(r, 0);
  int64_t src = 0, dst = 0;
  for (int64_t outer = numel / inner; outer > 0; --outer) {
    const T* sp = v.data + src;
    T* dp = out + dst;
    if (ds == 0) {
      T acc{0};
      for (int64_t j = 0; j < inner; ++j) acc += sp[j * ss];
      *dp += acc;
    } else {
      for (int64_t j = 0; j < inner; ++j) dp[j * ds] += sp[j * ss];
    }
    for (int d = r - 2; d >= 0; --d) {
      src += v.strides[d];
      dst += dst_stride[d];
      if (++idx[d] < v.dims[d]) break;
      src -= v.strides[d] * v.dims[d];
      dst -= dst_stride[d] * v.dims[d];
      idx[d] = 0;
    }
  }
}

// A contiguous view of v over `order` (summing the other labels), in new
// storage when needed.
template <typename T>
View<T> Contiguous(const View<T>& v, const std::vector<int>& order,
                   std::deque<std::vector<T>>* storage) {
  View<T> out;
  out.labels = order;
  int64_t numel = 1;
  bool same = order.size() == v.labels.size();
  for (int i = static_cast<int>(order.size()); i-- > 0;) {
    int p = v.Find(order[i]);
    out.dims.insert(out.dims.begin(), v.dims[p]);
    out.strides.insert(out.strides.begin(), numel);
    same &= v.strides[p] == numel || v.dims[p] == 1;
    numel *= v.dims[p];
  }
  if (same) {
    out.data = v.data;
    return out;
  }
  storage->emplace_back(static_cast<size_t>(numel));
  SumInto(v, order, storage->back().data());
  out.data = storage->back().data();
  return out;
}

template <typename T>
absl::StatusOr<View<T>> Contract(const View<T>& a, const View<T>& b, const std::vector<int>& keep,
                                 std::deque<std::vector<T>>* storage, ThreadPool* pool) {
  auto in = [](const std::vector<int>& s, int l) {
    return std::find(s.begin(), s.end(), l) != s.end();
  };
  std::vector<int> batch, rows, cols, contracted;
  std::vector<int64_t> dim_of(kEllipsisLabel * 2, 0);
  for (size_t i = 0; i < a.labels.size(); ++i) {
    int l = a.labels[i];
    dim_of[l] = a.dims[i];
    bool in_b = b.Find(l) >= 0;
    if (in_b && in(keep, l))
      batch.push_back(l);
    else if (in_b)
      contracted.push_back(l);
    else if (in(keep, l))
      rows.push_back(l);  // labels only in `a` and unused are summed
  }
  for (size_t i = 0; i < b.labels.size(); ++i) {
    int l = b.labels[i];
    dim_of[l] = b.dims[i];
    if (a.Find(l) < 0 && in(keep, l)) cols.push_back(l);
  }
  auto prod = [&](const std::vector<int>& ls) {
    int64_t p = 1;
    for (int l : ls) p *= dim_of[l];
    return p;
  };
  std::vector<int> a_order = batch, b_order = batch;
  a_order.insert(a_order.end(), rows.begin(), rows.end());
  a_order.insert(a_order.end(), contracted.begin(), contracted.end());
  b_order.insert(b_order.end(), contracted.begin(), contracted.end());
  b_order.insert(b_order.end(), cols.begin(), cols.end());
  View<T> ac = Contiguous(a, a_order, storage);
  View<T> bc = Contiguous(b, b_order, storage);
  const int64_t nb = prod(batch), m = prod(rows), n = prod(cols), k = prod(contracted);
  if (!GemmDimsFit(m, n, k)) {
    return absl::InvalidArgumentError(
        "Einsum operands exceed the 32-bit limit of the BLAS backend");
  }
  storage->emplace_back(static_cast<size_t>(nb * m * n));
  T* out = storage->back().data();
  for (int64_t t = 0; t < nb; ++t) {
    GemmRowMajor<T>(false, false, m, n, k, 1.0, ac.data + t * m * k, std::max<int64_t>(k, 1),
                    bc.data + t * k * n, std::max<int64_t>(n, 1), 0.0, out + t * m * n,
                    std::max<int64_t>(n, 1), pool);
  }
  View<T> r;
  r.labels = batch;
  r.labels.insert(r.labels.end(), rows.begin(), rows.end());
  r.labels.insert(r.labels.end(), cols.begin(), cols.end());
  int64_t stride = 1;
  r.dims.resize(r.labels.size());
  r.strides.resize(r.labels.size());
  for (size_t i = r.labels.size(); i-- > 0;) {
    r.dims[i] = dim_of[r.labels[i]];
    r.strides[i] = stride;
    stride *= r.dims[i];
  }
  r.data = out;
  return r;
}

template <typename T>
absl::Status EinsumKernel(KernelContext& ctx) {
  const int n = ctx.num_inputs();
  if (n == 0) return ctx.InvalidArgument("Einsum needs at least one input");
  for (int i = 0; i < n; ++i) {
    if (!ctx.has_input(i)) return ctx.InvalidArgument(absl::StrCat("input ", i, " is absent"));
    if (ctx.input(i).dtype() != ctx.input(0).dtype()) {
      return ctx.InvalidArgument(
          absl::StrCat("input ", i, " is ", ctx.input(i).TypeString(), "; expected ",
                       std::string(DataTypeName(ctx.input(0).dtype())), " like input 0"));
    }
  }
  if (!ctx.HasAttr("equation")) return ctx.InvalidArgument("missing attribute 'equation'");
  Equation eq;
  if (absl::Status s = ParseEquation(ctx, ctx.GetString("equation", ""), &eq); !s.ok()) return s;

  // Each label's size: letters must agree; ellipsis dims broadcast from 1.
  std::vector<int64_t> size(kEllipsisLabel * 2, -1);
  std::vector<View<T>> views(n);
  for (int i = 0; i < n; ++i) {
    const Tensor& t = ctx.input(i);
    View<T>& v = views[i];
    v.data = t.data<T>();
    int64_t stride = 1;
    std::vector<int64_t> strides(t.rank());
    for (int d = t.rank(); d-- > 0;) {
      strides[d] = stride;
      stride *= t.dim(d);
    }
    for (int d = 0; d < t.rank(); ++d) {
      int l = eq.inputs[i][d];
      int64_t dim = t.dim(d);
      int64_t& known = size[l];
      if (known < 0 || (l >= kEllipsisLabel && known == 1)) {
        known = dim;
      } else if (dim != known && !(l >= kEllipsisLabel && dim == 1)) {
        return ctx.InvalidArgument(absl::StrCat("input ", i, " ", t.TypeString(), " has size ", dim,
                                                " for label '", LabelName(l), "'; expected ",
                                                known));
      }
      int p = v.Find(l);
      if (p >= 0) {  // repeated label: the diagonal
        if (v.dims[p] != dim) {
          return ctx.InvalidArgument(absl::StrCat("input ", i, " ", t.TypeString(),
                                                  " repeats label '", LabelName(l),
                                                  "' over dims of different sizes"));
        }
        v.strides[p] += strides[d];
      } else {
        v.labels.push_back(l);
        v.dims.push_back(dim);
        v.strides.push_back(strides[d]);
      }
    }
  }
  for (auto& v : views) {  // stretch broadcast ellipsis dims
    for (size_t d = 0; d < v.labels.size(); ++d) {
      if (v.dims[d] == 1 && size[v.labels[d]] != 1) {
        v.dims[d] = size[v.labels[d]];
        v.strides[d] = 0;
      }
    }
  }
  std::vector<int64_t> out_shape;
  for (int l : eq.output) out_shape.push_back(size[l] < 0 ? 1 : size[l]);
  std::vector<int> out_labels;  // output labels that some input has (ellipsis may be absent)
  for (int l : eq.output) {
    if (size[l] >= 0) out_labels.push_back(l);
  }

  std::deque<std::vector<T>> storage;
  View<T> acc = views[0];
  for (int i = 1; i < n; ++i) {
    std::vector<int> keep = out_labels;
    for (int j = i + 1; j < n; ++j)
      keep.insert(keep.end(), views[j].labels.begin(), views[j].labels.end());
    absl::StatusOr<View<T>> next = Contract(acc, views[i], keep, &storage, ctx.pool());
    if (!next.ok()) return ctx.InvalidArgument(std::string(next.status().message()));
    acc = *std::move(next);
  }
  for (int l : out_labels) {
    if (acc.Find(l) < 0) return ctx.InvalidArgument("internal: output label lost");
  }
  Tensor* y = ctx.Output(0, ctx.input(0).dtype(), out_shape);
  SumInto(acc, out_labels, y->data<T>());
  return absl::OkStatus();
}

}  // namespace

void RegisterEinsumKernels(KernelTable& table) {
  table.Add("Einsum", Device::kCpu, {DataType::kF32}, &EinsumKernel<float>);
  table.Add("Einsum", Device::kCpu, {DataType::kF64}, &EinsumKernel<double>);
  table.Add("Einsum", Device::kCpu, {DataType::kI32}, &EinsumKernel<int32_t>);
  table.Add("Einsum", Device::kCpu, {DataType::kI64}, &EinsumKernel<int64_t>);
}

}  // namespace fleet::cpu
