// Gradient checks: the gradients the autodiff pass builds against central finite differences.
//
//   EXPECT_GRADIENTS_MATCH(R"(fleet.program v1 opset=17
//   block 0 {
//     var %x : f64[2,3] parameter
//     var %y : f64[2,3] fetch
//     (Y: %y) = Tanh(X: %x)
//   })");
//
// Every f64 var flagged `parameter` is differentiated; every fetched f64 var is an output. The
// check builds the scalar L = sum_k sum(w_k * y_k) with random weights w_k (so every output
// element matters, each differently), runs the autodiff pass and the executor for dL/dx, and
// compares every element with (L(x + eps) - L(x - eps)) / (2 eps) computed by running the
// forward program, and with the gradients computed on 4 intra-op threads. Inputs not given in
// GradCheckOptions::values are drawn uniformly from [low, high]; integer inputs (indices,
// shapes) must be given. Sparse-rows gradients are compared after adding their rows into a
// dense table.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executor/executor.h"
#include "executor/scope.h"
#include "gtest/gtest.h"
#include "ir/grad_builder.h"
#include "ir/text_format.h"
#include "ir/verify.h"
#include "kernels/cpu/register.h"
#include "passes/builtin_passes.h"
#include "passes/pass.h"

namespace fleet::testing_util {

struct GradCheckOptions {
  uint64_t seed = 1;
  double eps = 1e-6;
  double rtol = 1e-5;
  double atol = 1e-7;
  double low = -1.0;
  double high = 1.0;
  // Fixed input values by var name: integer inputs, or floats placed away from kinks.
  std::map<std::string, TensorValue> values;
};

// Number of gradient elements compared by all checks of this test binary.
inline int64_t& GradCheckCount() {
  static int64_t count = 0;
  return count;
}

// Prints the count when the test binary ends, for reports ("grad checks: N elements ...").
class GradCheckReport : public ::testing::Environment {
 public:
  void TearDown() override {
    std::printf("grad checks: %lld gradient elements compared with finite differences\n",
                static_cast<long long>(GradCheckCount()));
  }
};
inline ::testing::Environment* const kGradCheckReport =
    ::testing::AddGlobalTestEnvironment(new GradCheckReport);

inline const KernelTable& GradCheckKernels() {
  static const KernelTable* table = [] {
    auto* t = new KernelTable();
    RegisterCpuKernels(*t);
    return t;
  }();
  return *table;
}

// An f64 value of `shape`, uniform in [low, high].
inline TensorValue RandomF64(const std::vector<int64_t>& shape, double low, double high,
                             std::mt19937_64& rng) {
  std::uniform_real_distribution<double> dist(low, high);
  TensorValue v;
  v.dtype = DataType::kF64;
  v.shape = shape;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<double> data(n);
  for (double& x : data) x = dist(rng);
  v.bytes.assign(reinterpret_cast<const char*>(data.data()), n * sizeof(double));
  return v;
}

// Adds L = sum_k ReduceSum(y_k * w_k) to `program` (w_k feeds filled in `inputs`); returns L.
inline std::string AppendWeightedSumLoss(Program& program, std::map<std::string, TensorValue>& inputs,
                                         std::mt19937_64& rng) {
  Block& block = program.main();
  std::vector<std::string> outputs;
  for (const Var& v : block.vars()) {
    if (v.Has(kVarFetch) && v.dtype == DataType::kF64) outputs.push_back(v.name);
  }
  EXPECT_FALSE(outputs.empty()) << "the program fetches no f64 output";
  std::vector<std::string> sums;
  for (const std::string& y : outputs) {
    const std::optional<std::vector<int64_t>> shape = block.FindVar(y)->shape;
    EXPECT_TRUE(shape.has_value()) << "output '" << y << "' needs a static shape";
    if (!shape) continue;
    Var w{y + ".w", DataType::kF64, shape, VarKind::kDense, kVarFeed};
    Var prod{y + ".wy", DataType::kF64, shape, VarKind::kDense, 0};
    Var sum{y + ".sum", DataType::kF64, std::vector<int64_t>{}, VarKind::kDense, 0};
    block.AddVar(w);
    block.AddVar(prod);
    block.AddVar(sum);
    inputs[w.name] = RandomF64(*shape, -1.0, 1.0, rng);
    Op mul;
    mul.type = "Mul";
    mul.inputs = {{"A", {y}}, {"B", {w.name}}};
    mul.outputs = {{"C", {prod.name}}};
    block.ops.push_back(mul);
    Op reduce;
    reduce.type = "ReduceSum";
    reduce.inputs = {{"data", {prod.name}}};
    reduce.outputs = {{"reduced", {sum.name}}};
    reduce.attrs["keepdims"] = AttrValue(int64_t{0});
    block.ops.push_back(reduce);
    sums.push_back(sum.name);
  }
  std::string loss = sums[0];
  if (sums.size() > 1) {
    loss = "grad_check.loss";
    block.AddVar(Var{loss, DataType::kF64, std::vector<int64_t>{}, VarKind::kDense, 0});
    Op sum;
    sum.type = "Sum";
    sum.inputs = {{"data_0", sums}};
    sum.outputs = {{"sum", {loss}}};
    block.ops.push_back(sum);
  }
  block.ops.back().role |= kRoleLoss;
  block.FindVar(loss)->flags |= kVarFetch;
  return loss;
}

// Runs `program` once with `inputs` and returns the named results.
inline std::map<std::string, Tensor> RunForCheck(const Program& program,
                                                 const std::map<std::string, TensorValue>& inputs,
                                                 const std::vector<std::string>& wanted,
                                                 int num_threads = 1) {
  std::map<std::string, Tensor> out;
  ExecutorOptions options;
  options.num_threads = num_threads;
  auto exec = Executor::Create(program, GradCheckKernels(), options);
  EXPECT_TRUE(exec.ok()) << exec.status();
  if (!exec.ok()) return out;
  Scope scope;
  for (const auto& [name, value] : inputs) scope.Set(name, Tensor::FromValue(value));
  absl::Status s = (*exec)->Run(scope);
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok()) return out;
  for (const std::string& name : wanted) {
    const Tensor* t = scope.Find(name);
    EXPECT_NE(t, nullptr) << "no value for '" << name << "'";
    if (t != nullptr) out[name] = *t;
  }
  return out;
}

// A dense f64 copy of a gradient (sparse rows added into a table of `like`'s shape).
inline std::vector<double> DenseGrad(const Tensor& grad, const std::vector<int64_t>& like) {
  int64_t n = 1;
  for (int64_t d : like) n *= d;
  std::vector<double> dense(n, 0.0);
  if (!grad.is_sparse_rows()) {
    EXPECT_EQ(grad.numel(), n) << "gradient " << grad.TypeString();
    for (int64_t i = 0; i < std::min(n, grad.numel()); ++i) dense[i] = grad.data<double>()[i];
    return dense;
  }
  const int64_t width = like.empty() || like[0] == 0 ? 0 : n / like[0];
  const int64_t* ids = grad.rows().data<int64_t>();
  for (int64_t r = 0; r < grad.rows().numel(); ++r) {
    EXPECT_TRUE(ids[r] >= 0 && ids[r] < like[0]) << "row id " << ids[r];
    if (ids[r] < 0 || ids[r] >= like[0]) continue;
    for (int64_t j = 0; j < width; ++j) dense[ids[r] * width + j] += grad.data<double>()[r * width + j];
  }
  return dense;
}

// The check described at the top of this file; failures name the var and element.
inline void ExpectGradientsMatch(const std::string& text, const GradCheckOptions& opts = {}) {
  absl::StatusOr<Program> parsed = ParseProgramText(text, "grad_check.txt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  Program forward = *std::move(parsed);
  std::mt19937_64 rng(opts.seed);

  std::map<std::string, TensorValue> inputs = opts.values;
  std::vector<std::string> params;
  std::set<std::string> written;
  for (const Op& op : forward.main().ops) {
    for (const std::string& o : op.OutputVars()) written.insert(o);
  }
  for (Var v : forward.main().vars()) {
    if (v.Has(kVarParameter) && v.dtype == DataType::kF64) {
      params.push_back(v.name);
      forward.main().FindVar(v.name)->flags |= kVarPersistable;
    }
    if (written.count(v.name) || inputs.count(v.name)) continue;
    ASSERT_EQ(v.dtype, DataType::kF64) << "input '" << v.name << "' needs a value in options";
    ASSERT_TRUE(v.shape.has_value()) << "input '" << v.name << "' needs a static shape";
    inputs[v.name] = RandomF64(*v.shape, opts.low, opts.high, rng);
  }
  ASSERT_FALSE(params.empty()) << "no f64 var is flagged `parameter`";
  const std::string loss = AppendWeightedSumLoss(forward, inputs, rng);

  Program backward = forward;
  PassContext ctx;
  absl::StatusOr<bool> ran = CreateAutodiffPass()->Run(backward, ctx);
  ASSERT_TRUE(ran.ok()) << ran.status();
  // The backward ops must fit their schemas (slot order, attributes, dtype groups).
  absl::Status valid = Verify(backward);
  ASSERT_TRUE(valid.ok()) << valid;
  std::vector<std::string> grads;
  for (const std::string& p : params) {
    Var* g = backward.main().FindVar(GradVarName(p));
    ASSERT_NE(g, nullptr) << "no gradient var for '" << p << "'";
    g->flags |= kVarFetch;
    grads.push_back(g->name);
  }
  std::map<std::string, Tensor> analytic = RunForCheck(backward, inputs, grads);
  ASSERT_EQ(analytic.size(), grads.size());
  // The kernels' multi-threaded paths give the same gradients (up to summation order).
  std::map<std::string, Tensor> threaded = RunForCheck(backward, inputs, grads, 4);
  ASSERT_EQ(threaded.size(), grads.size());

  for (size_t k = 0; k < params.size(); ++k) {
    const std::string& p = params[k];
    const std::vector<int64_t> shape = inputs[p].shape;
    std::vector<double> a = DenseGrad(analytic[grads[k]], shape);
    std::vector<double> t = DenseGrad(threaded[grads[k]], shape);
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_NEAR(t[i], a[i], 1e-10 * std::max(1.0, std::abs(a[i])))
          << "d loss / d " << p << "[" << i << "] on 4 threads";
    }
    for (size_t i = 0; i < a.size(); ++i) {
      auto at = [&](double delta) {
        std::map<std::string, TensorValue> moved = inputs;
        reinterpret_cast<double*>(moved[p].bytes.data())[i] += delta;
        std::map<std::string, Tensor> r = RunForCheck(forward, moved, {loss});
        return r.count(loss) ? *r[loss].data<double>() : NAN;
      };
      const double numeric = (at(opts.eps) - at(-opts.eps)) / (2 * opts.eps);
      const double tol = opts.atol + opts.rtol * std::max(std::abs(numeric), std::abs(a[i]));
      EXPECT_NEAR(a[i], numeric, tol) << "d loss / d " << p << "[" << i << "]";
      ++GradCheckCount();
    }
  }
}

}  // namespace fleet::testing_util
