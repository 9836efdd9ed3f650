// Finite-difference checks of the activation and unary math gradient rules, and of Clip, Cast,
// Identity and Dropout. Inputs of ops with kinks are fixed away from them.
#include "tests/grad/grad_check.h"
#include "tests/grad/grad_values.h"

namespace fleet {
namespace {

using testing_util::Bool;
using testing_util::ExpectGradientsMatch;
using testing_util::F64;
using testing_util::GradCheckOptions;

// y = op(x) over f64[2,3], slots named as ONNX names them.
std::string Unary(const std::string& op, const std::string& in, const std::string& out,
                  const std::string& attrs = "") {
  return absl::StrCat(
      "fleet.program v1 opset=17\nblock 0 {\n  var %x : f64[2,3] parameter\n"
      "  var %y : f64[2,3] fetch\n  (",
      out, ": %y) = ", op, "(", in, ": %x)", attrs.empty() ? "" : absl::StrCat(" {", attrs, "}"),
      "\n}\n");
}

GradCheckOptions Range(double low, double high) {
  GradCheckOptions opts;
  opts.low = low;
  opts.high = high;
  return opts;
}

GradCheckOptions Values(const std::vector<double>& x) {
  GradCheckOptions opts;
  opts.values["x"] = F64({2, 3}, x);
  return opts;
}

// Both signs, none near 0.
const std::vector<double> kSigned = {-0.9, 0.4, -0.3, 0.8, 1.2, -0.05};

TEST(ActivationGrad, Relu) { ExpectGradientsMatch(Unary("Relu", "X", "Y"), Values(kSigned)); }

TEST(ActivationGrad, LeakyRelu) {
  ExpectGradientsMatch(Unary("LeakyRelu", "X", "Y"), Values(kSigned));
  ExpectGradientsMatch(Unary("LeakyRelu", "X", "Y", "alpha = 0.3"), Values(kSigned));
}

TEST(ActivationGrad, Elu) {
  ExpectGradientsMatch(Unary("Elu", "X", "Y"), Values(kSigned));
  ExpectGradientsMatch(Unary("Elu", "X", "Y", "alpha = 0.5"), Values(kSigned));
}

TEST(ActivationGrad, Selu) {
  ExpectGradientsMatch(Unary("Selu", "X", "Y"), Values(kSigned));
  ExpectGradientsMatch(Unary("Selu", "X", "Y", "alpha = 1.5, gamma = 0.8"), Values(kSigned));
}

TEST(ActivationGrad, Celu) {
  ExpectGradientsMatch(Unary("Celu", "X", "Y"), Values(kSigned));
  ExpectGradientsMatch(Unary("Celu", "X", "Y", "alpha = 0.7"), Values(kSigned));
}

TEST(ActivationGrad, Sigmoid) { ExpectGradientsMatch(Unary("Sigmoid", "X", "Y"), Range(-3, 3)); }

TEST(ActivationGrad, Tanh) { ExpectGradientsMatch(Unary("Tanh", "input", "output"), Range(-2, 2)); }

TEST(ActivationGrad, HardSigmoid) {
  // Kinks where alpha x + beta is 0 or 1: x = -2.5, 2.5 (defaults); -4/3, 2 (0.3, 0.4).
  const std::vector<double> x = {-3.0, -1.0, 0.2, 1.5, 2.7, -0.4};
  ExpectGradientsMatch(Unary("HardSigmoid", "X", "Y"), Values(x));
  ExpectGradientsMatch(Unary("HardSigmoid", "X", "Y", "alpha = 0.3, beta = 0.4"), Values(x));
}

TEST(ActivationGrad, HardSwish) {
  ExpectGradientsMatch(Unary("HardSwish", "X", "Y"), Values({-4.0, -2.0, -0.5, 0.7, 2.5, 4.0}));
}

TEST(ActivationGrad, Softplus) { ExpectGradientsMatch(Unary("Softplus", "X", "Y"), Range(-3, 3)); }

TEST(ActivationGrad, Softsign) {
  ExpectGradientsMatch(Unary("Softsign", "input", "output"), Values(kSigned));
}

TEST(ActivationGrad, Erf) { ExpectGradientsMatch(Unary("Erf", "input", "output"), Range(-2, 2)); }

TEST(ActivationGrad, Exp) { ExpectGradientsMatch(Unary("Exp", "input", "output"), Range(-2, 2)); }

TEST(ActivationGrad, Log) { ExpectGradientsMatch(Unary("Log", "input", "output"), Range(0.3, 3)); }

TEST(ActivationGrad, Sqrt) { ExpectGradientsMatch(Unary("Sqrt", "X", "Y"), Range(0.3, 3)); }

TEST(ActivationGrad, Reciprocal) {
  ExpectGradientsMatch(Unary("Reciprocal", "X", "Y"), Values({-2.0, -0.7, 0.5, 0.9, 1.6, -0.4}));
}

TEST(ActivationGrad, Neg) { ExpectGradientsMatch(Unary("Neg", "X", "Y")); }

TEST(ActivationGrad, Abs) { ExpectGradientsMatch(Unary("Abs", "X", "Y"), Values(kSigned)); }

TEST(ActivationGrad, Sin) { ExpectGradientsMatch(Unary("Sin", "input", "output"), Range(-3, 3)); }

TEST(ActivationGrad, Cos) { ExpectGradientsMatch(Unary("Cos", "input", "output"), Range(-3, 3)); }

TEST(ActivationGrad, Identity) { ExpectGradientsMatch(Unary("Identity", "input", "output")); }

// Through f32 and back: the f32 rounding of the forward makes finite differences noisy, so the
// check compares at f32 precision.
TEST(ActivationGrad, CastThroughF32) {
  GradCheckOptions opts;
  opts.eps = 1e-2;
  opts.rtol = 1e-3;
  opts.atol = 1e-4;
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3] parameter
  var %h : f32[2,3]
  var %s : f32[2,3]
  var %y : f64[2,3] fetch
  (output: %h) = Cast(input: %x) {to = 1}
  (C: %s) = Mul(A: %h, B: %h)
  (output: %y) = Cast(input: %s) {to = 11}
})",
                       opts);
}

std::string Clip(const std::string& min, const std::string& max) {
  return absl::StrCat(
      "fleet.program v1 opset=17\nblock 0 {\n  var %x : f64[2,3] parameter\n"
      "  var %lo : f64[] feed\n  var %hi : f64[] feed\n  var %y : f64[2,3] fetch\n"
      "  (output: %y) = Clip(input: %x, min: ",
      min, ", max: ", max, ")\n}\n");
}

GradCheckOptions ClipValues() {
  GradCheckOptions opts = Values({-0.9, 0.4, -0.3, 0.8, 1.2, -0.05});
  opts.values["lo"] = F64({}, {-0.5});
  opts.values["hi"] = F64({}, {0.6});
  return opts;
}

TEST(ActivationGrad, ClipBothBounds) { ExpectGradientsMatch(Clip("%lo", "%hi"), ClipValues()); }

TEST(ActivationGrad, ClipOneBound) {
  ExpectGradientsMatch(Clip("none", "%hi"), ClipValues());
  ExpectGradientsMatch(Clip("%lo", "none"), ClipValues());
}

TEST(ActivationGrad, ClipWithoutBoundsIsTheIdentity) {
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,3] parameter
  var %y : f64[2,3] fetch
  (output: %y) = Clip(input: %x)
})");
}

std::string Dropout(const std::string& ratio, const std::string& training, bool mask) {
  return absl::StrCat(
      "fleet.program v1 opset=17\nblock 0 {\n  var %x : f64[4,5] parameter\n"
      "  var %r : f64[] feed\n  var %t : bool[] feed\n  var %y : f64[4,5] fetch\n",
      mask ? "  var %m : bool[4,5]\n" : "", "  (output: %y", mask ? ", mask: %m" : "",
      ") = Dropout(data: %x, ratio: ", ratio, ", training_mode: ", training, ") {seed = 7}\n}\n");
}

GradCheckOptions DropoutValues(bool training) {
  GradCheckOptions opts;
  opts.values["r"] = F64({}, {0.3});
  opts.values["t"] = Bool({}, {static_cast<uint8_t>(training ? 1 : 0)});
  return opts;
}

TEST(ActivationGrad, DropoutTrainingWithAMaskOutput) {
  ExpectGradientsMatch(Dropout("%r", "%t", true), DropoutValues(true));
}

TEST(ActivationGrad, DropoutTrainingAddsTheMaskOutput) {
  ExpectGradientsMatch(Dropout("%r", "%t", false), DropoutValues(true));
  ExpectGradientsMatch(Dropout("none", "%t", false), DropoutValues(true));
}

TEST(ActivationGrad, DropoutInferenceIsTheIdentity) {
  ExpectGradientsMatch(Dropout("%r", "%t", false), DropoutValues(false));
  ExpectGradientsMatch(Dropout("%r", "none", false), DropoutValues(false));
}

}  // namespace
}  // namespace fleet
