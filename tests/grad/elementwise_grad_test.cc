// Finite-difference checks of the binary and variadic elementwise gradient rules (Add, Sub, Div,
// Pow, PRelu, Where, Mean, Max, Min), with broadcasting on either side.
#include "tests/grad/grad_check.h"
#include "tests/grad/grad_values.h"

namespace fleet {
namespace {

using testing_util::Bool;
using testing_util::ExpectGradientsMatch;
using testing_util::F64;
using testing_util::GradCheckOptions;

// C = op(A, B) with A and B parameters of the given shapes.
std::string Binary(const std::string& op, const std::string& a, const std::string& b,
                   const std::string& c) {
  return absl::StrCat("fleet.program v1 opset=17\nblock 0 {\n  var %a : f64[", a,
                      "] parameter\n  var %b : f64[", b, "] parameter\n  var %c : f64[", c,
                      "] fetch\n  (C: %c) = ", op, "(A: %a, B: %b)\n}\n");
}

TEST(ElementwiseGrad, AddSameShape) { ExpectGradientsMatch(Binary("Add", "2,3", "2,3", "2,3")); }

TEST(ElementwiseGrad, AddBroadcastsABias) {
  ExpectGradientsMatch(Binary("Add", "4,3", "3", "4,3"));
}

TEST(ElementwiseGrad, AddBroadcastsBothSides) {
  ExpectGradientsMatch(Binary("Add", "2,1,3", "4,1", "2,4,3"));
}

TEST(ElementwiseGrad, AddBroadcastsAChannelBias) {
  ExpectGradientsMatch(Binary("Add", "2,3,2,2", "3,1,1", "2,3,2,2"));
}

TEST(ElementwiseGrad, AddBroadcastsAColumnAndAScalar) {
  ExpectGradientsMatch(Binary("Add", "3,1", "", "3,1"));
  ExpectGradientsMatch(Binary("Add", "3,4", "3,1", "3,4"));
}

TEST(ElementwiseGrad, SubSameShape) { ExpectGradientsMatch(Binary("Sub", "2,3", "2,3", "2,3")); }

TEST(ElementwiseGrad, SubBroadcastsTheSubtrahend) {
  ExpectGradientsMatch(Binary("Sub", "2,3,4", "3,1", "2,3,4"));
}

TEST(ElementwiseGrad, SubBroadcastsTheMinuend) {
  ExpectGradientsMatch(Binary("Sub", "4", "3,4", "3,4"));
}

TEST(ElementwiseGrad, DivSameShape) {
  GradCheckOptions opts;
  opts.values["b"] = F64({2, 3}, {0.5, -0.8, 1.2, 2.0, -1.5, 0.9});
  ExpectGradientsMatch(Binary("Div", "2,3", "2,3", "2,3"), opts);
}

TEST(ElementwiseGrad, DivByABroadcastRow) {
  GradCheckOptions opts;
  opts.values["b"] = F64({3}, {0.7, -1.3, 2.1});
  ExpectGradientsMatch(Binary("Div", "4,3", "3", "4,3"), opts);
}

TEST(ElementwiseGrad, DivOfABroadcastNumerator) {
  GradCheckOptions opts;
  opts.low = 0.5;
  opts.high = 2.0;
  ExpectGradientsMatch(Binary("Div", "1,3", "2,3", "2,3"), opts);
}

TEST(ElementwiseGrad, DivByAConstantScalarOnlyDifferentiatesA) {
  GradCheckOptions opts;
  opts.values["s"] = F64({}, {1.7});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[2,3] parameter
  var %s : f64[] feed
  var %c : f64[2,3] fetch
  (C: %c) = Div(A: %a, B: %s)
})",
                       opts);
}

std::string Pow(const std::string& x, const std::string& y, const std::string& z) {
  return absl::StrCat("fleet.program v1 opset=17\nblock 0 {\n  var %x : f64[", x,
                      "] parameter\n  var %y : f64[", y, "] parameter\n  var %z : f64[", z,
                      "] fetch\n  (Z: %z) = Pow(X: %x, Y: %y)\n}\n");
}

TEST(ElementwiseGrad, PowBothInputs) {
  GradCheckOptions opts;
  opts.low = 0.5;
  opts.high = 1.8;
  ExpectGradientsMatch(Pow("2,3", "2,3", "2,3"), opts);
}

TEST(ElementwiseGrad, PowBroadcastsTheExponent) {
  GradCheckOptions opts;
  opts.low = 0.5;
  opts.high = 1.8;
  ExpectGradientsMatch(Pow("2,3", "3", "2,3"), opts);
  ExpectGradientsMatch(Pow("3", "2,3", "2,3"), opts);
}

TEST(ElementwiseGrad, PowWithAnIntegerExponentOfANegativeBase) {
  GradCheckOptions opts;
  opts.values["n"] = testing_util::I64({}, {3});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3] parameter
  var %n : i64[] feed
  var %z : f64[2,3] fetch
  (Z: %z) = Pow(X: %x, Y: %n)
})",
                       opts);
}

std::string PRelu(const std::string& slope) {
  return absl::StrCat(
      "fleet.program v1 opset=17\nblock 0 {\n  var %x : f64[2,3,2] parameter\n"
      "  var %s : f64[",
      slope, "] parameter\n  var %y : f64[2,3,2] fetch\n  (Y: %y) = PRelu(X: %x, slope: %s)\n}\n");
}

GradCheckOptions PReluValues(const std::vector<int64_t>& slope_shape) {
  GradCheckOptions opts;
  opts.values["x"] =
      F64({2, 3, 2}, {-0.9, 0.4, -0.3, 0.8, 1.2, -0.7, 0.5, -1.1, -0.2, 0.6, 0.3, -0.5});
  std::vector<double> slope;
  int64_t n = 1;
  for (int64_t d : slope_shape) n *= d;
  for (int64_t i = 0; i < n; ++i) slope.push_back(0.1 + 0.2 * static_cast<double>(i));
  opts.values["s"] = F64(slope_shape, slope);
  return opts;
}

TEST(ElementwiseGrad, PReluWithAChannelSlope) {
  ExpectGradientsMatch(PRelu("3,1"), PReluValues({3, 1}));
}

TEST(ElementwiseGrad, PReluWithAScalarAndAFullSlope) {
  ExpectGradientsMatch(PRelu("1"), PReluValues({1}));
  ExpectGradientsMatch(PRelu("2,3,2"), PReluValues({2, 3, 2}));
}

TEST(ElementwiseGrad, WhereMasksBothBranches) {
  GradCheckOptions opts;
  opts.values["cond"] = Bool({2, 3}, {1, 0, 0, 1, 1, 0});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %cond : bool[2,3] feed
  var %x : f64[2,3] parameter
  var %y : f64[2,3] parameter
  var %out : f64[2,3] fetch
  (output: %out) = Where(condition: %cond, X: %x, Y: %y)
})",
                       opts);
}

TEST(ElementwiseGrad, WhereBroadcastsTheConditionAndBranches) {
  GradCheckOptions opts;
  opts.values["cond"] = Bool({3, 1}, {1, 0, 1});
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %cond : bool[3,1] feed
  var %x : f64[4] parameter
  var %y : f64[] parameter
  var %out : f64[3,4] fetch
  (output: %out) = Where(condition: %cond, X: %x, Y: %y)
})",
                       opts);
}

TEST(ElementwiseGrad, MeanOfThreeWithBroadcast) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[2,3] parameter
  var %b : f64[3] parameter
  var %c : f64[2,1] parameter
  var %y : f64[2,3] fetch
  (mean: %y) = Mean(data_0: [%a, %b, %c])
})");
}

std::string Variadic(const std::string& op, const std::string& out) {
  return absl::StrCat(
      "fleet.program v1 opset=17\nblock 0 {\n  var %a : f64[2,3] parameter\n"
      "  var %b : f64[3] parameter\n  var %c : f64[2,3] parameter\n"
      "  var %y : f64[2,3] fetch\n  (",
      out, ": %y) = ", op, "(data_0: [%a, %b, %c])\n}\n");
}

// Every element of a, b and c distinct, so each output element has one source.
GradCheckOptions DistinctValues() {
  GradCheckOptions opts;
  opts.values["a"] = F64({2, 3}, {0.1, 0.9, -0.4, 0.7, -0.8, 0.25});
  opts.values["b"] = F64({3}, {0.5, -0.2, 0.3});
  opts.values["c"] = F64({2, 3}, {-0.6, 0.4, 0.8, 0.2, -0.1, -0.9});
  return opts;
}

TEST(ElementwiseGrad, MaxOfThreeWithBroadcast) {
  ExpectGradientsMatch(Variadic("Max", "max"), DistinctValues());
}

TEST(ElementwiseGrad, MinOfThreeWithBroadcast) {
  ExpectGradientsMatch(Variadic("Min", "min"), DistinctValues());
}

TEST(ElementwiseGrad, MaxOfTwo) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[2,3] parameter
  var %b : f64[2,3] parameter
  var %y : f64[2,3] fetch
  (max: %y) = Max(data_0: [%a, %b])
})");
}

// Ties go to the first input: with a == c everywhere, c gets no gradient. (Finite differences
// cannot check a tie, so the gradient values are checked directly.)
TEST(ElementwiseGrad, MaxTieGoesToTheFirstInput) {
  absl::StatusOr<Program> parsed = ParseProgramText(R"(fleet.program v1 opset=17
block 0 {
  var %a : f64[3] parameter
  var %b : f64[3] parameter
  var %c : f64[3] parameter
  var %y : f64[3] fetch
  var %loss : f64[] fetch
  (max: %y) = Max(data_0: [%a, %b, %c])
  (reduced: %loss) = ReduceSum(data: %y) {keepdims = 0}
})",
                                                    "tie.txt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  Program p = *std::move(parsed);
  p.main().ops.back().role |= kRoleLoss;
  for (const char* v : {"a", "b", "c"}) p.main().FindVar(v)->flags |= kVarPersistable;
  PassContext ctx;
  ASSERT_TRUE(CreateAutodiffPass()->Run(p, ctx).ok());
  for (const char* v : {"a@GRAD", "b@GRAD", "c@GRAD"}) p.main().FindVar(v)->flags |= kVarFetch;
  std::map<std::string, TensorValue> in = {{"a", F64({3}, {1.0, 2.0, 0.5})},
                                           {"b", F64({3}, {0.0, 2.0, 0.7})},
                                           {"c", F64({3}, {1.0, 2.0, 0.7})}};
  std::map<std::string, Tensor> out =
      testing_util::RunForCheck(p, in, {"a@GRAD", "b@GRAD", "c@GRAD"});
  ASSERT_EQ(out.size(), 3u);
  const std::vector<std::vector<double>> want = {{1, 1, 0}, {0, 0, 1}, {0, 0, 0}};
  const char* names[] = {"a@GRAD", "b@GRAD", "c@GRAD"};
  for (int k = 0; k < 3; ++k) {
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(out[names[k]].data<double>()[i], want[k][i]) << names[k] << "[" << i << "]";
    }
  }
}

}  // namespace
}  // namespace fleet
