// Finite-difference checks of the Conv and pooling rules: strides, pads, dilations, groups
// (grouped and depthwise), auto_pad, bias, 1-D and 3-D windows; MaxPool, AveragePool (with and
// without count_include_pad, ceil_mode) and the global pools. Inputs are small (the check runs
// the forward twice per element).
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/grad/grad_check.h"

namespace fleet {
namespace {

using testing_util::ExpectGradientsMatch;

// Y = Conv(X, W[, B]) with every input a parameter.
std::string ConvProgram(const std::string& x, const std::string& w, const std::string& y,
                        const std::string& attrs, bool bias) {
  const std::string b =
      bias ? absl::StrCat("  var %b : f64[", w.substr(1, w.find(',') - 1), "] parameter\n") : "";
  return absl::StrCat("fleet.program v1 opset=17\nblock 0 {\n  var %x : f64", x,
                      " parameter\n  var %w : f64", w, " parameter\n", b, "  var %y : f64", y,
                      " fetch\n  (Y: %y) = Conv(X: %x, W: %w", bias ? ", B: %b" : "", ") {", attrs,
                      "}\n}");
}

TEST(ConvGrad, Plain3x3WithBias) {
  ExpectGradientsMatch(
      ConvProgram("[2,2,5,5]", "[3,2,3,3]", "[2,3,3,3]", "kernel_shape = [3, 3]", true));
}

TEST(ConvGrad, Stride2AndPads) {
  ExpectGradientsMatch(ConvProgram("[1,2,6,5]", "[2,2,3,3]", "[1,2,3,3]",
                                   "strides = [2, 2], pads = [1, 1, 1, 1]", true));
}

TEST(ConvGrad, AsymmetricPadsAndStrides) {
  ExpectGradientsMatch(ConvProgram("[1,1,5,6]", "[2,1,2,3]", "[1,2,3,2]",
                                   "strides = [2, 3], pads = [0, 1, 1, 0]", false));
}

TEST(ConvGrad, Dilation) {
  ExpectGradientsMatch(ConvProgram("[1,2,6,6]", "[2,2,2,2]", "[1,2,7,4]",
                                   "dilations = [1, 2], pads = [1, 0, 1, 0]", false));
}

TEST(ConvGrad, TwoGroups) {
  ExpectGradientsMatch(ConvProgram("[2,4,4,4]", "[4,2,3,3]", "[2,4,2,2]", "group = 2", true));
}

TEST(ConvGrad, Depthwise) {
  ExpectGradientsMatch(ConvProgram("[2,3,5,5]", "[3,1,3,3]", "[2,3,3,3]",
                                   "group = 3, strides = [2, 2], pads = [1, 1, 1, 1]", true));
}

TEST(ConvGrad, DepthwiseWithMultiplier) {
  ExpectGradientsMatch(ConvProgram("[1,2,4,4]", "[4,1,2,2]", "[1,4,3,3]", "group = 2", false));
}

TEST(ConvGrad, PointwiseManyImages) {
  // 1x1 kernel, unit strides: the image is the column matrix; small planes make several
  // images share one GEMM.
  ExpectGradientsMatch(ConvProgram("[5,3,2,2]", "[2,3,1,1]", "[5,2,2,2]", "", true));
}

TEST(ConvGrad, AutoPadSameUpper) {
  ExpectGradientsMatch(ConvProgram("[1,2,5,5]", "[2,2,2,2]", "[1,2,3,3]",
                                   "auto_pad = \"SAME_UPPER\", strides = [2, 2]", false));
}

TEST(ConvGrad, OneDAndThreeD) {
  ExpectGradientsMatch(ConvProgram("[2,2,7]", "[3,2,3]", "[2,3,2]",
                                   "strides = [2], pads = [1, 0], dilations = [2]", true));
  ExpectGradientsMatch(ConvProgram("[1,2,3,4,4]", "[2,2,2,2,2]", "[1,2,3,2,2]",
                                   "strides = [1, 2, 2], pads = [0, 1, 0, 1, 0, 0]", true));
}

std::string PoolProgram(const std::string& op, const std::string& x, const std::string& y,
                        const std::string& attrs) {
  return absl::StrCat("fleet.program v1 opset=17\nblock 0 {\n  var %x : f64", x,
                      " parameter\n  var %y : f64", y, " fetch\n  (Y: %y) = ", op, "(X: %x) {",
                      attrs, "}\n}");
}

TEST(PoolGrad, MaxPoolWithPadsAndStrides) {
  // Random inputs have no ties, so each window's maximum is unique.
  ExpectGradientsMatch(PoolProgram("MaxPool", "[2,2,5,5]", "[2,2,3,3]",
                                   "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]"));
}

TEST(PoolGrad, MaxPoolCeilModeAndDilation) {
  ExpectGradientsMatch(PoolProgram("MaxPool", "[1,2,6,6]", "[1,2,3,3]",
                                   "kernel_shape = [2, 2], strides = [2, 2], dilations = [1, 2], "
                                   "ceil_mode = 1"));
}

TEST(PoolGrad, MaxPoolOverlappingWindowsOneD) {
  ExpectGradientsMatch(
      PoolProgram("MaxPool", "[2,3,7]", "[2,3,6]", "kernel_shape = [2], pads = [0, 0]"));
}

TEST(PoolGrad, AveragePoolExcludingPad) {
  ExpectGradientsMatch(PoolProgram("AveragePool", "[2,2,5,5]", "[2,2,3,3]",
                                   "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]"));
}

TEST(PoolGrad, AveragePoolIncludingPadWithCeilMode) {
  ExpectGradientsMatch(PoolProgram("AveragePool", "[1,2,5,6]", "[1,2,3,4]",
                                   "kernel_shape = [3, 2], strides = [2, 2], pads = [1, 1, 0, 0], "
                                   "count_include_pad = 1, ceil_mode = 1"));
}

TEST(PoolGrad, AveragePoolThreeD) {
  ExpectGradientsMatch(PoolProgram("AveragePool", "[1,2,3,4,4]", "[1,2,2,2,2]",
                                   "kernel_shape = [2, 3, 3], strides = [1, 2, 2], "
                                   "pads = [0, 1, 1, 0, 1, 1]"));
}

TEST(PoolGrad, GlobalPools) {
  ExpectGradientsMatch(PoolProgram("GlobalAveragePool", "[2,3,3,4]", "[2,3,1,1]", ""));
  ExpectGradientsMatch(PoolProgram("GlobalMaxPool", "[2,3,3,4]", "[2,3,1,1]", ""));
}

TEST(PoolGrad, ConvReluPoolChain) {
  // A small conv net: Conv -> MaxPool -> GlobalAveragePool, gradients through both pools.
  ExpectGradientsMatch(R"(fleet.program v1 opset=17
block 0 {
  var %x : f64[2,2,6,6] parameter
  var %w : f64[3,2,3,3] parameter
  var %b : f64[3] parameter
  var %c : f64[2,3,6,6]
  var %p : f64[2,3,3,3]
  var %y : f64[2,3,1,1] fetch
  (Y: %c) = Conv(X: %x, W: %w, B: %b) {pads = [1, 1, 1, 1]}
  (Y: %p) = MaxPool(X: %c) {kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]}
  (Y: %y) = GlobalAveragePool(X: %p)
})");
}

}  // namespace
}  // namespace fleet
