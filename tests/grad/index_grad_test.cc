// Finite-difference checks of the indexing ops' gradient rules (passes/training/grad_index.cc):
// Gather on an embedding table (sparse rows: repeated, negative and 2-D indices, a table read
// twice, the CTR pattern Gather -> Concat), dense Gather on other axes and on activations, and
// GatherElements. The harness adds sparse rows into a dense table before comparing.
#include "executor/executor.h"
#include "tests/grad/grad_check.h"
#include "tests/grad/grad_values.h"

namespace fleet {
namespace {

using testing_util::ExpectGradientsMatch;
using testing_util::GradCheckOptions;
using testing_util::I64;

TEST(IndexGrad, EmbeddingRowsWithRepeatedAndNegativeIndices) {
  GradCheckOptions opts;
  opts.values["ids"] = I64({2, 3}, {1, 4, 1, -1, 0, 4});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %table : f64[5,3] parameter
  var %ids : i64[2,3] feed
  var %y : f64[2,3,3] fetch
  (output: %y) = Gather(data: %table, indices: %ids) {axis = 0}
})",
                       opts);
}

TEST(IndexGrad, EmbeddingWithI32IndicesAndNegativeAxis) {
  GradCheckOptions opts;
  opts.values["ids"] = testing_util::ValueOf<int32_t>(DataType::kI32, {4}, {2, -3, 2, 0});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %table : f64[3,2,2] parameter
  var %ids : i32[4] feed
  var %y : f64[4,2,2] fetch
  (output: %y) = Gather(data: %table, indices: %ids) {axis = -3}
})",
                       opts);
}

TEST(IndexGrad, EmbeddingWithAScalarIndex) {
  GradCheckOptions opts;
  opts.values["id"] = I64({}, {2});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %table : f64[4,3] parameter
  var %id : i64[] feed
  var %y : f64[3] fetch
  (output: %y) = Gather(data: %table, indices: %id)
})",
                       opts);
}

TEST(IndexGrad, TableReadByTwoGathersAddsSparseRows) {
  GradCheckOptions opts;
  opts.values["a"] = I64({3}, {0, 2, 2});
  opts.values["b"] = I64({2}, {2, 3});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %table : f64[4,2] parameter
  var %a : i64[3] feed
  var %b : i64[2] feed
  var %ya : f64[3,2] fetch
  var %yb : f64[2,2] fetch
  (output: %ya) = Gather(data: %table, indices: %a)
  (output: %yb) = Gather(data: %table, indices: %b)
})",
                       opts);
}

TEST(IndexGrad, CtrEmbeddingsConcatenatedWithDenseFeatures) {
  GradCheckOptions opts;
  opts.values["c1"] = I64({3}, {0, 5, 5});
  opts.values["c2"] = I64({3}, {3, -1, 1});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %emb1 : f64[6,2] parameter
  var %emb2 : f64[4,3] parameter
  var %w : f64[1,7] parameter
  var %c1 : i64[3] feed
  var %c2 : i64[3] feed
  var %dense : f64[3,2] feed
  var %e1 : f64[3,2]
  var %e2 : f64[3,3]
  var %h : f64[3,7]
  var %y : f64[3,7] fetch
  (output: %e1) = Gather(data: %emb1, indices: %c1) {axis = 0}
  (output: %e2) = Gather(data: %emb2, indices: %c2) {axis = 0}
  (concat_result: %h) = Concat(inputs: [%e1, %dense, %e2]) {axis = 1}
  (C: %y) = Mul(A: %h, B: %w)
})",
                       opts);
}

TEST(IndexGrad, DenseGatherOnAxisOne) {
  GradCheckOptions opts;
  opts.values["ids"] = I64({2, 2}, {3, 0, -1, 3});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,4,3] parameter
  var %ids : i64[2,2] feed
  var %y : f64[2,2,2,3] fetch
  (output: %y) = Gather(data: %x, indices: %ids) {axis = 1}
})",
                       opts);
}

TEST(IndexGrad, DenseGatherOfAnActivationWithRepeats) {
  // The data is not a parameter, so the gradient stays dense.
  GradCheckOptions opts;
  opts.values["ids"] = I64({5}, {1, 1, 0, -2, 2});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,2] parameter
  var %w : f64[3,2] parameter
  var %ids : i64[5] feed
  var %h : f64[3,2]
  var %y : f64[5,2] fetch
  (C: %h) = Mul(A: %x, B: %w)
  (output: %y) = Gather(data: %h, indices: %ids)
})",
                       opts);
}

TEST(IndexGrad, DenseGatherWithWideRows) {
  // Rows wider than one column block of the kernel.
  GradCheckOptions opts;
  opts.values["ids"] = I64({3}, {1, 0, 1});
  opts.eps = 1e-5;
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,600] parameter
  var %w : f64[2,600] parameter
  var %ids : i64[3] feed
  var %h : f64[2,600]
  var %y : f64[3,600] fetch
  (C: %h) = Mul(A: %x, B: %w)
  (output: %y) = Gather(data: %h, indices: %ids)
})",
                       opts);
}

TEST(IndexGrad, GatherElementsAlongAxisOne) {
  GradCheckOptions opts;
  opts.values["ids"] = I64({2, 3}, {0, 2, 2, -1, 1, 1});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[3,3] parameter
  var %ids : i64[2,3] feed
  var %y : f64[2,3] fetch
  (output: %y) = GatherElements(data: %x, indices: %ids) {axis = 1}
})",
                       opts);
}

TEST(IndexGrad, GatherElementsAlongAxisZero) {
  GradCheckOptions opts;
  opts.values["ids"] = I64({2, 2, 1}, {1, 0, 1, 1});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3,2] parameter
  var %ids : i64[2,2,1] feed
  var %y : f64[2,2,1] fetch
  (output: %y) = GatherElements(data: %x, indices: %ids) {axis = 0}
})",
                       opts);
}

// Runs `text` (one op, every input fed from `inputs`) and returns its status.
absl::Status RunProgram(const std::string& text, const std::map<std::string, TensorValue>& inputs) {
  absl::StatusOr<Program> program = ParseProgramText(text, "test.txt");
  if (!program.ok()) return program.status();
  auto exec = Executor::Create(*program, testing_util::GradCheckKernels());
  if (!exec.ok()) return exec.status();
  Scope scope;
  for (const auto& [name, value] : inputs) scope.Set(name, Tensor::FromValue(value));
  return (*exec)->Run(scope);
}

TEST(IndexGrad, SparseGradientMarksTheTableAndSharesTheOutputGradient) {
  absl::StatusOr<Program> p = ParseProgramText(R"(fleet.program v1 opset=17
block 0 {
  var %table : f64[5,3] parameter persistable
  var %ids : i64[4] feed
  var %y : f64[4,3] fetch
  var %l : f64[] fetch
  (output: %y) = Gather(data: %table, indices: %ids)
  (reduced: %l) = ReduceSum(data: %y) {keepdims = 0} role=loss
})",
                                               "test.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  PassContext ctx;
  ASSERT_TRUE(CreateAutodiffPass()->Run(*p, ctx).ok());
  const Var* grad = p->main().FindVar("table@GRAD");
  ASSERT_NE(grad, nullptr);
  EXPECT_EQ(grad->kind, VarKind::kSparseRows);
  int sparse_ops = 0;
  for (const Op& op : p->main().ops) sparse_ops += op.type == "fleet.gather_grad_sparse";
  EXPECT_EQ(sparse_ops, 1);

  std::map<std::string, TensorValue> inputs;
  inputs["table"] = testing_util::F64({5, 3}, std::vector<double>(15, 1.0));
  inputs["ids"] = I64({4}, {4, -5, 4, 2});
  p->main().FindVar("table@GRAD")->flags |= kVarFetch;
  auto exec = Executor::Create(*p, testing_util::GradCheckKernels());
  ASSERT_TRUE(exec.ok()) << exec.status();
  Scope scope;
  for (const auto& [name, value] : inputs) scope.Set(name, Tensor::FromValue(value));
  ASSERT_TRUE((*exec)->Run(scope).ok());
  const Tensor* g = scope.Find("table@GRAD");
  ASSERT_NE(g, nullptr);
  ASSERT_TRUE(g->is_sparse_rows());
  EXPECT_EQ(g->sparse_height(), 5);
  EXPECT_EQ(g->TypeString(), "f64[4,3] rows of 5");
  const int64_t* rows = g->rows().data<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(rows, rows + 4), (std::vector<int64_t>{4, 0, 4, 2}));
}

TEST(IndexGrad, SparseGradRejectsAnIndexOutOfRange) {
  std::map<std::string, TensorValue> inputs;
  inputs["dy"] = testing_util::F64({2, 2}, {1, 2, 3, 4});
  inputs["ids"] = I64({2}, {1, 3});
  inputs["table"] = testing_util::F64({3, 2}, {0, 0, 0, 0, 0, 0});
  absl::Status s = RunProgram(R"(fleet.program v1 opset=17
block 0 {
  var %dy : f64[2,2] feed
  var %ids : i64[2] feed
  var %table : f64[3,2] feed
  var %g : f64[3,2] fetch
  (XGrad: %g) = fleet.gather_grad_sparse(OutGrad: %dy, Indices: %ids, Like: %table)
})",
                              inputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("index 3 at position 1"), std::string::npos) << s;
}

TEST(IndexGrad, DenseGradRejectsAMismatchedGradient) {
  std::map<std::string, TensorValue> inputs;
  inputs["dy"] = testing_util::F64({3, 2}, {1, 2, 3, 4, 5, 6});
  inputs["ids"] = I64({2}, {1, 0});
  inputs["x"] = testing_util::F64({3, 2}, {0, 0, 0, 0, 0, 0});
  absl::Status s = RunProgram(R"(fleet.program v1 opset=17
block 0 {
  var %dy : f64[3,2] feed
  var %ids : i64[2] feed
  var %x : f64[3,2] feed
  var %g : f64[3,2] fetch
  (XGrad: %g) = fleet.gather_grad(OutGrad: %dy, Indices: %ids, Like: %x) {axis = 0}
})",
                              inputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("does not match"), std::string::npos) << s;
}

}  // namespace
}  // namespace fleet
