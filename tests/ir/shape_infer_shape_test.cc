// Shape inference of the data-movement ops (ir/shape_infer_shape.cc): Reshape with a constant
// shape (0 copies a dim, -1 is inferred; a shape that is not a constant gives the rank only),
// Flatten, Transpose, Squeeze/Unsqueeze, Expand, Tile, Pad, Shape and ConstantOfShape, with the
// errors for shapes that cannot work.
#include <cstdint>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ir/shape_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::InferY;

absl::StatusOr<std::string> Reshape(const std::string& data, std::vector<int64_t> shape,
                                    const std::string& attrs = "") {
  return InferY("var %x : " + data + "\nvar %s : i64[" + std::to_string(shape.size()) +
                    "] persistable init\nvar %y : undef\n"
                    "(reshaped: %y) = Reshape(data: %x, shape: %s) " +
                    attrs,
                {{"s", shape}});
}

TEST(ShapeOpInferTest, ReshapeWithAConstantShape) {
  EXPECT_EQ(*Reshape("f32[2,3,4]", {0, -1}), "f32[2,12]");
  EXPECT_EQ(*Reshape("f32[2,3,4]", {-1, 4}), "f32[6,4]");
  EXPECT_EQ(*Reshape("f32[2,3,4]", {4, 0, 2}), "f32[4,3,2]");  // 0 copies dim 1 (3)
  // The transformer's head split: the batch stays unknown, 0 copies it.
  EXPECT_EQ(*Reshape("f32[?,32,64]", {0, 0, 4, 16}), "f32[?,32,4,16]");
  // -1 with an unknown element count is unknown.
  EXPECT_EQ(*Reshape("f32[?,32,64]", {-1, 64}), "f32[?,64]");
  EXPECT_EQ(*Reshape("f32[2,0]", {0, 5}, "{allowzero = 1}"), "f32[0,5]");
}

TEST(ShapeOpInferTest, ReshapeWithoutAConstantShapeKnowsOnlyTheRank) {
  EXPECT_EQ(*InferY("var %x : f32[2,3,4]\nvar %s : i64[3] feed\nvar %y : undef\n"
                    "(reshaped: %y) = Reshape(data: %x, shape: %s)"),
            "f32[?,?,?]");
  // A value given by the text form alone (no bytes) is no constant either.
  EXPECT_EQ(*InferY("var %x : f32[2,3,4]\nvar %s : i64[2] persistable init\nvar %y : undef\n"
                    "(reshaped: %y) = Reshape(data: %x, shape: %s)"),
            "f32[?,?]");
}

TEST(ShapeOpInferTest, ReshapeErrors) {
  EXPECT_THAT(Reshape("f32[2,3,4]", {-1, -1}).status().message(),
              HasSubstr("input 'shape' [-1,-1] has more than one -1"));
  EXPECT_THAT(Reshape("f32[2,3,4]", {5, 5}).status().message(),
              HasSubstr("input 'data' [2,3,4] (24 elements) cannot be reshaped to [5,5] "
                        "(25 elements)"));
  EXPECT_THAT(Reshape("f32[2,3,4]", {-1, 5}).status().message(),
              HasSubstr("(24 elements) cannot be reshaped to [-1,5]"));
  EXPECT_THAT(Reshape("f32[2,3]", {0, 0, 0}).status().message(),
              HasSubstr("copies dim 2 of 'data' [2,3], which has rank 2"));
}

TEST(ShapeOpInferTest, FlattenAndTranspose) {
  const std::string x = "var %x : f32[2,3,4,5]\nvar %y : undef\n";
  EXPECT_EQ(*InferY(x + "(output: %y) = Flatten(input: %x) {axis = 2}"), "f32[6,20]");
  EXPECT_EQ(*InferY(x + "(output: %y) = Flatten(input: %x) {axis = 0}"), "f32[1,120]");
  EXPECT_EQ(*InferY(x + "(output: %y) = Flatten(input: %x) {axis = -1}"), "f32[24,5]");
  EXPECT_EQ(*InferY("var %x : f32[?,16,1,1]\nvar %y : undef\n(output: %y) = Flatten(input: %x)"),
            "f32[?,16]");
  EXPECT_EQ(*InferY(x + "(transposed: %y) = Transpose(data: %x) {perm = [0, 2, 1, 3]}"),
            "f32[2,4,3,5]");
  EXPECT_EQ(*InferY(x + "(transposed: %y) = Transpose(data: %x)"), "f32[5,4,3,2]");
  EXPECT_THAT(
      InferY(x + "(transposed: %y) = Transpose(data: %x) {perm = [0, 1, 1, 3]}").status().message(),
      HasSubstr("attribute 'perm' [0,1,1,3] is not a permutation of the 4 dims"));
}

TEST(ShapeOpInferTest, SqueezeAndUnsqueeze) {
  auto squeeze = [](const std::string& x, std::vector<int64_t> axes) {
    return InferY("var %x : " + x + "\nvar %a : i64[" + std::to_string(axes.size()) +
                      "] persistable init\nvar %y : undef\n"
                      "(squeezed: %y) = Squeeze(data: %x, axes: %a)",
                  {{"a", axes}});
  };
  EXPECT_EQ(*squeeze("f32[3,1,4,1]", {1}), "f32[3,4,1]");
  EXPECT_EQ(*squeeze("f32[3,1,4,1]", {-1, 1}), "f32[3,4]");
  EXPECT_EQ(*InferY("var %x : f32[1,3,1]\nvar %y : undef\n(squeezed: %y) = Squeeze(data: %x)"),
            "f32[3]");
  // Without axes an unknown dim may or may not be 1: the rank is unknown.
  EXPECT_EQ(*InferY("var %x : f32[?,3]\nvar %y : undef\n(squeezed: %y) = Squeeze(data: %x)"),
            "f32[...]");
  EXPECT_THAT(squeeze("f32[3,2]", {1}).status().message(),
              HasSubstr("cannot squeeze dim 1 of 'data' [3,2]: it is 2, not 1"));
  auto unsqueeze = [](const std::string& x, std::vector<int64_t> axes) {
    return InferY("var %x : " + x + "\nvar %a : i64[" + std::to_string(axes.size()) +
                      "] persistable init\nvar %y : undef\n"
                      "(expanded: %y) = Unsqueeze(data: %x, axes: %a)",
                  {{"a", axes}});
  };
  EXPECT_EQ(*unsqueeze("f32[3,4]", {0, 3}), "f32[1,3,4,1]");
  EXPECT_EQ(*unsqueeze("f32[3,4]", {-1}), "f32[3,4,1]");
  EXPECT_EQ(*unsqueeze("f32[?]", {1}), "f32[?,1]");
  EXPECT_THAT(unsqueeze("f32[3]", {5}).status().message(),
              HasSubstr("axis 5 is out of range for rank 2"));
}

TEST(ShapeOpInferTest, ExpandTileAndPad) {
  auto with_ints = [](const std::string& op, const std::string& slots, const std::string& x,
                      std::vector<int64_t> v) {
    return InferY("var %x : " + x + "\nvar %v : i64[" + std::to_string(v.size()) +
                      "] persistable init\nvar %y : undef\n(output: %y) = " + op + "(" + slots +
                      ")",
                  {{"v", v}});
  };
  EXPECT_EQ(*with_ints("Expand", "input: %x, shape: %v", "f32[3,1]", {2, 3, 4}), "f32[2,3,4]");
  EXPECT_EQ(*with_ints("Expand", "input: %x, shape: %v", "f32[3,1]", {1, 1}), "f32[3,1]");
  EXPECT_THAT(with_ints("Expand", "input: %x, shape: %v", "f32[3,2]", {3, 4}).status().message(),
              HasSubstr("do not broadcast: 2 vs 4"));
  EXPECT_EQ(*with_ints("Tile", "input: %x, repeats: %v", "f32[2,3]", {2, 2}), "f32[4,6]");
  EXPECT_EQ(*with_ints("Tile", "input: %x, repeats: %v", "f32[?,3]", {2, 1}), "f32[?,3]");
  // pads = [begin..., end...]: dim 0 grows by 1 + 1, dim 1 by 0 + 2
  EXPECT_EQ(*with_ints("Pad", "data: %x, pads: %v", "f32[2,3]", {1, 0, 1, 2}), "f32[4,5]");
  EXPECT_THAT(with_ints("Pad", "data: %x, pads: %v", "f32[2,3]", {1, 2}).status().message(),
              HasSubstr("input 'pads' has 2 values; expected 4"));
}

TEST(ShapeOpInferTest, ShapeSizeAndConstantOfShape) {
  EXPECT_EQ(*InferY("var %x : f32[?,3,4]\nvar %y : undef\n(shape: %y) = Shape(data: %x)"),
            "i64[3]");
  EXPECT_EQ(*InferY("var %x : f32[?,3,4]\nvar %y : undef\n"
                    "(shape: %y) = Shape(data: %x) {start = 1}"),
            "i64[2]");
  EXPECT_EQ(*InferY("var %x : f32\nvar %y : undef\n(shape: %y) = Shape(data: %x)"), "i64[?]");
  EXPECT_EQ(*InferY("var %x : f32[2,2]\nvar %y : undef\n(size: %y) = Size(data: %x)"), "i64[]");
  EXPECT_EQ(*InferY("var %s : i64[2] persistable init\nvar %y : undef\n"
                    "(output: %y) = ConstantOfShape(input: %s)",
                    {{"s", {2, 3}}}),
            "f32[2,3]");
  EXPECT_EQ(*InferY("var %s : i64[2] feed\nvar %y : undef\n"
                    "(output: %y) = ConstantOfShape(input: %s) {value = dense<i64[1]>[0]}"),
            "i64[?,?]");
}

TEST(ShapeOpInferTest, SizesBeyondInt64AreUnknownNotWrappedAround) {
  // 2^32 * 2^32 does not fit: unknown. Reshape's element count overflows the same way.
  EXPECT_EQ(*InferY("var %x : f32[4294967296,2]\nvar %v : i64[2] persistable init\n"
                    "var %y : undef\n(output: %y) = Tile(input: %x, repeats: %v)",
                    {{"v", {4294967296, 1}}}),
            "f32[?,2]");
  EXPECT_EQ(*Reshape("f32[4294967296,4294967296]", {-1}), "f32[?]");
  EXPECT_EQ(*InferY("var %a : i64[] persistable init\nvar %b : i64[] persistable init\n"
                    "var %c : i64[] persistable init\nvar %y : undef\n"
                    "(output: %y) = Range(start: %a, limit: %b, delta: %c)",
                    {{"a", {std::numeric_limits<int64_t>::min()}},
                     {"b", {std::numeric_limits<int64_t>::max()}},
                     {"c", {1}}}),
            "i64[?]");
}

}  // namespace
}  // namespace fleet
