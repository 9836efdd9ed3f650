// Helpers for the pass tests: programs from text, and the paths of the test plugins.
#pragma once

#include <string>

#include "gtest/gtest.h"
#include "ir/program.h"
#include "ir/text_format.h"

namespace fleet {
namespace testing_util {

// Parses a text program; fails the test (and returns an empty program) when it does not parse.
inline Program ParseOrDie(const std::string& text) {
  absl::StatusOr<Program> p = ParseProgramText(text, "test.txt");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : Program();
}

// MatMul(x[4,3], w[3,5]) + b[5] -> z, fetched: the case the example plugin fuses.
inline constexpr char kMatMulAddProgram[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[4,3] feed
  var %w : f32[3,5] feed
  var %b : f32[5] feed
  var %y : f32[4,5]
  var %z : f32[4,5] fetch
  (Y: %y) = MatMul(A: %x, B: %w) name="fc1"
  (C: %z) = Add(A: %y, B: %b)
}
)";

}  // namespace testing_util
}  // namespace fleet
