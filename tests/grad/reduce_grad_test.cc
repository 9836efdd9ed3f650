// Finite-difference checks of the reduction gradient rules: ReduceSumSquare, ReduceL1,
// ReduceL2, ReduceLogSumExp, ReduceMax and ReduceMin, over several axes and keepdims.
#include "tests/grad/grad_check.h"
#include "tests/grad/grad_values.h"

namespace fleet {
namespace {

using testing_util::ExpectGradientsMatch;
using testing_util::F64;
using testing_util::GradCheckOptions;

// y = op(x: f64[2,3,4]) with the given attributes and output shape.
std::string Reduce(const std::string& op, const std::string& attrs, const std::string& out) {
  return absl::StrCat(
      "fleet.program v1 opset=17\nblock 0 {\n  var %x : f64[2,3,4] parameter\n"
      "  var %y : f64[",
      out, "] fetch\n  (reduced: %y) = ", op, "(data: %x)",
      attrs.empty() ? "" : absl::StrCat(" {", attrs, "}"), "\n}\n");
}

// 24 distinct values of both signs, none near 0.
GradCheckOptions Distinct() {
  std::vector<double> x;
  for (int i = 0; i < 24; ++i) {
    const double v = 0.15 + 0.07 * ((i * 7) % 24);
    x.push_back(i % 3 == 1 ? -v : v);
  }
  GradCheckOptions opts;
  opts.values["x"] = F64({2, 3, 4}, x);
  return opts;
}

TEST(ReduceGrad, SumSquare) {
  ExpectGradientsMatch(Reduce("ReduceSumSquare", "axes = [1]", "2,1,4"));
  ExpectGradientsMatch(Reduce("ReduceSumSquare", "keepdims = 0", ""));
}

TEST(ReduceGrad, L1) {
  ExpectGradientsMatch(Reduce("ReduceL1", "axes = [0, 2], keepdims = 0", "3"), Distinct());
  ExpectGradientsMatch(Reduce("ReduceL1", "axes = [-1]", "2,3,1"), Distinct());
}

TEST(ReduceGrad, L2) {
  ExpectGradientsMatch(Reduce("ReduceL2", "axes = [2]", "2,3,1"));
  ExpectGradientsMatch(Reduce("ReduceL2", "axes = [0, 1], keepdims = 0", "4"));
}

TEST(ReduceGrad, LogSumExp) {
  ExpectGradientsMatch(Reduce("ReduceLogSumExp", "axes = [1]", "2,1,4"));
  ExpectGradientsMatch(Reduce("ReduceLogSumExp", "keepdims = 0", ""));
}

TEST(ReduceGrad, Max) {
  ExpectGradientsMatch(Reduce("ReduceMax", "axes = [1]", "2,1,4"), Distinct());
  ExpectGradientsMatch(Reduce("ReduceMax", "axes = [0, 2], keepdims = 0", "3"), Distinct());
  ExpectGradientsMatch(Reduce("ReduceMax", "keepdims = 0", ""), Distinct());
}

TEST(ReduceGrad, Min) {
  ExpectGradientsMatch(Reduce("ReduceMin", "axes = [2]", "2,3,1"), Distinct());
  ExpectGradientsMatch(Reduce("ReduceMin", "axes = [-3], keepdims = 0", "3,4"), Distinct());
}

// Ties go to the first element of each reduced set (row-major), the way ArgMax picks.
TEST(ReduceGrad, MaxTieGoesToTheFirstElement) {
  absl::StatusOr<Program> parsed = ParseProgramText(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3] parameter
  var %y : f64[2] fetch
  var %loss : f64[] fetch
  (reduced: %y) = ReduceMax(data: %x) {axes = [1], keepdims = 0}
  (reduced: %loss) = ReduceSum(data: %y) {keepdims = 0}
})",
                                                    "tie.txt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  Program p = *std::move(parsed);
  p.main().ops.back().role |= kRoleLoss;
  p.main().FindVar("x")->flags |= kVarPersistable;
  PassContext ctx;
  ASSERT_TRUE(CreateAutodiffPass()->Run(p, ctx).ok());
  p.main().FindVar("x@GRAD")->flags |= kVarFetch;
  std::map<std::string, Tensor> out = testing_util::RunForCheck(
      p, {{"x", F64({2, 3}, {1.0, 3.0, 3.0, 2.0, 2.0, 2.0})}}, {"x@GRAD"});
  ASSERT_EQ(out.size(), 1u);
  const std::vector<double> want = {0, 1, 0, 1, 0, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out["x@GRAD"].data<double>()[i], want[i]) << i;
}

}  // namespace
}  // namespace fleet
