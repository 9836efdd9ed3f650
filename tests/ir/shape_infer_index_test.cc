// Shape inference of the joining, cutting, indexing and reducing ops (ir/shape_infer_index.cc,
// ir/shape_infer_reduce.cc): Concat, Split, Slice with ONNX's clamping, Gather, GatherElements,
// TopK, OneHot, Range, and the reductions with axes, keepdims and noop_with_empty_axes.
#include <cstdint>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ir/shape_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::InferLastOp;
using testing_util::InferY;
using testing_util::MakeProgram;

absl::StatusOr<std::string> Concat(const std::string& a, const std::string& b, int axis) {
  return InferY("var %a : " + a + "\nvar %b : " + b +
                "\nvar %y : undef\n(concat_result: %y) = Concat(inputs: [%a, %b]) {axis = " +
                std::to_string(axis) + "}");
}

TEST(IndexOpInferTest, Concat) {
  EXPECT_EQ(*Concat("f32[2,3]", "f32[2,5]", 1), "f32[2,8]");
  EXPECT_EQ(*Concat("f32[2,3]", "f32[4,3]", -2), "f32[6,3]");
  EXPECT_EQ(*Concat("f32[?,3]", "f32[2,?]", 1), "f32[2,?]");
  EXPECT_EQ(*Concat("f32", "f32[2,5]", 1), "f32[2,?]");
  EXPECT_THAT(Concat("f32[2,3]", "f32[4,5]", 1).status().message(),
              HasSubstr("input 'inputs[1]' [4,5] differs from 'inputs[0]' in dim 0 (4 vs 2)"));
  EXPECT_THAT(Concat("f32[2,3]", "f32[2,3,1]", 0).status().message(),
              HasSubstr("input 'inputs[1]' [2,3,1] has rank 3; 'inputs[0]' has rank 2"));
}

TEST(IndexOpInferTest, Split) {
  auto even =
      InferLastOp(MakeProgram("var %x : f32[6,4]\nvar %a : undef\nvar %b : undef\nvar %c : undef\n"
                              "(outputs: [%a, %b, %c]) = Split(input: %x)"));
  ASSERT_TRUE(even.ok()) << even.status();
  EXPECT_EQ((*even)["a"], "f32[2,4]");
  EXPECT_EQ((*even)["c"], "f32[2,4]");
  auto sized = InferLastOp(MakeProgram(
      "var %x : f32[3,6]\nvar %s : i64[2] persistable init\nvar %a : undef\nvar %b : undef\n"
      "(outputs: [%a, %b]) = Split(input: %x, split: %s) {axis = 1}",
      {{"s", {1, 5}}}));
  ASSERT_TRUE(sized.ok()) << sized.status();
  EXPECT_EQ((*sized)["a"], "f32[3,1]");
  EXPECT_EQ((*sized)["b"], "f32[3,5]");
  auto bad = InferLastOp(MakeProgram(
      "var %x : f32[3,6]\nvar %s : i64[2] persistable init\nvar %a : undef\nvar %b : undef\n"
      "(outputs: [%a, %b]) = Split(input: %x, split: %s) {axis = 1}",
      {{"s", {1, 4}}}));
  EXPECT_THAT(bad.status().message(), HasSubstr("input 'split' sums to 5; dim 1 of 'input'"));
}

absl::StatusOr<std::string> Slice(const std::string& x, std::vector<int64_t> starts,
                                  std::vector<int64_t> ends, std::vector<int64_t> axes,
                                  std::vector<int64_t> steps) {
  const std::string n = std::to_string(starts.size());
  return InferY("var %x : " + x + "\nvar %s : i64[" + n + "] persistable init\nvar %e : i64[" + n +
                    "] persistable init\nvar %a : i64[" + n + "] persistable init\nvar %t : i64[" +
                    n +
                    "] persistable init\nvar %y : undef\n"
                    "(output: %y) = Slice(data: %x, starts: %s, ends: %e, axes: %a, steps: %t)",
                {{"s", starts}, {"e", ends}, {"a", axes}, {"t", steps}});
}

TEST(IndexOpInferTest, SliceClampsAsOnnxDoes) {
  // numpy: a[1:8:2] has 4 elements; a[-5:1000] of 20 has 5.
  EXPECT_EQ(*Slice("f32[10,20]", {1, -5}, {8, 1000}, {0, 1}, {2, 1}), "f32[4,5]");
  // a[9:-1000:-1] of 10 has all 10; a[-1:-3:-1] has 2.
  EXPECT_EQ(*Slice("f32[10]", {-1}, {-1000}, {0}, {-1}), "f32[10]");
  EXPECT_EQ(*Slice("f32[10]", {-1}, {-3}, {0}, {-1}), "f32[2]");
  // Extreme steps: a[9::-huge] and a[0::huge] take one element.
  EXPECT_EQ(*Slice("f32[10]", {-1}, {std::numeric_limits<int64_t>::min()}, {0},
                   {std::numeric_limits<int64_t>::min()}),
            "f32[1]");
  EXPECT_EQ(*Slice("f32[10]", {0}, {std::numeric_limits<int64_t>::max()}, {0},
                   {std::numeric_limits<int64_t>::max()}),
            "f32[1]");
  // Empty and unknown dims.
  EXPECT_EQ(*Slice("f32[10,?]", {5, 0}, {2, 3}, {0, 1}, {1, 1}), "f32[0,?]");
  EXPECT_THAT(Slice("f32[10]", {0}, {5}, {0}, {0}).status().message(),
              HasSubstr("input 'steps' has a 0 for axis 0"));
  EXPECT_THAT(Slice("f32[10]", {0}, {5}, {1}, {1}).status().message(),
              HasSubstr("axis 1 is out of range for rank 1"));
}

TEST(IndexOpInferTest, SliceWithoutConstantBoundsKnowsTheRank) {
  EXPECT_EQ(*InferY("var %x : f32[4,5]\nvar %s : i64[1] feed\nvar %e : i64[1] feed\n"
                    "var %y : undef\n(output: %y) = Slice(data: %x, starts: %s, ends: %e)"),
            "f32[?,?]");
}

TEST(IndexOpInferTest, GatherFamily) {
  EXPECT_EQ(*InferY("var %d : f32[100,16]\nvar %i : i64[?,5]\nvar %y : undef\n"
                    "(output: %y) = Gather(data: %d, indices: %i)"),
            "f32[?,5,16]");
  EXPECT_EQ(*InferY("var %d : f32[3,4,5]\nvar %i : i64[2]\nvar %y : undef\n"
                    "(output: %y) = Gather(data: %d, indices: %i) {axis = 1}"),
            "f32[3,2,5]");
  EXPECT_EQ(*InferY("var %d : f32[100]\nvar %i : i64[]\nvar %y : undef\n"
                    "(output: %y) = Gather(data: %d, indices: %i)"),
            "f32[]");
  EXPECT_EQ(*InferY("var %d : f32[3,4]\nvar %i : i64[3,2]\nvar %y : undef\n"
                    "(output: %y) = GatherElements(data: %d, indices: %i) {axis = 1}"),
            "f32[3,2]");
  EXPECT_THAT(InferY("var %d : f32[3,4]\nvar %i : i64[2]\nvar %y : undef\n"
                     "(output: %y) = Gather(data: %d, indices: %i) {axis = 2}")
                  .status()
                  .message(),
              HasSubstr("axis 2 is out of range for rank 2"));
}

TEST(IndexOpInferTest, TopKOneHotRange) {
  auto topk = InferLastOp(MakeProgram(
      "var %x : f32[4,10]\nvar %k : i64[1] persistable init\nvar %v : undef\nvar %i : undef\n"
      "(Values: %v, Indices: %i) = TopK(X: %x, K: %k)",
      {{"k", {3}}}));
  ASSERT_TRUE(topk.ok()) << topk.status();
  EXPECT_EQ((*topk)["v"], "f32[4,3]");
  EXPECT_EQ((*topk)["i"], "i64[4,3]");
  EXPECT_EQ(*InferY("var %i : i64[?]\nvar %d : i64[1] persistable init\nvar %v : f32[2]\n"
                    "var %y : undef\n(output: %y) = OneHot(indices: %i, depth: %d, values: %v)",
                    {{"d", {7}}}),
            "f32[?,7]");
  // Range(0, 10, 3) = [0, 3, 6, 9]
  EXPECT_EQ(*InferY("var %a : i64[1] persistable init\nvar %b : i64[1] persistable init\n"
                    "var %c : i64[1] persistable init\nvar %y : undef\n"
                    "(output: %y) = Range(start: %a, limit: %b, delta: %c)",
                    {{"a", {0}}, {"b", {10}}, {"c", {3}}}),
            "i64[4]");
}

absl::StatusOr<std::string> Reduce(const std::string& op, const std::string& x,
                                   const std::string& attrs) {
  return InferY("var %x : " + x + "\nvar %y : undef\n(reduced: %y) = " + op + "(data: %x) " +
                attrs);
}

TEST(ReduceInferTest, AxesKeepdimsAndEmptyAxes) {
  EXPECT_EQ(*Reduce("ReduceMean", "f32[?,32,64]", "{axes = [1], keepdims = 0}"), "f32[?,64]");
  EXPECT_EQ(*Reduce("ReduceMean", "f32[?,32,64]", "{axes = [-1]}"), "f32[?,32,1]");
  EXPECT_EQ(*Reduce("ReduceMax", "f32[2,3,4]", ""), "f32[1,1,1]");
  EXPECT_EQ(*Reduce("ReduceMax", "f32[2,3,4]", "{keepdims = 0}"), "f32[]");
  EXPECT_EQ(*Reduce("ReduceSum", "f32[2,3]", "{noop_with_empty_axes = 1}"), "f32[2,3]");
  EXPECT_EQ(*InferY("var %x : f32[2,3,4]\nvar %a : i64[2] persistable init\nvar %y : undef\n"
                    "(reduced: %y) = ReduceSum(data: %x, axes: %a) {keepdims = 0}",
                    {{"a", {0, -1}}}),
            "f32[3]");
  // Axes that are not a constant: with keepdims the rank is known, without it nothing is.
  EXPECT_EQ(*InferY("var %x : f32[2,3]\nvar %a : i64[1] feed\nvar %y : undef\n"
                    "(reduced: %y) = ReduceSum(data: %x, axes: %a)"),
            "f32[?,?]");
  EXPECT_EQ(*Reduce("ArgMax", "f32[5,7]", "{axis = 1, keepdims = 0}"), "i64[5]");
  EXPECT_THAT(Reduce("ReduceMean", "f32[2,3]", "{axes = [2]}").status().message(),
              HasSubstr("axis 2 is out of range for rank 2"));
}

}  // namespace
}  // namespace fleet
