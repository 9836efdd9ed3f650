// OpenDataset's format detection and CheckDatasetProvides.
#include "executor/data/open.h"
#include "executor/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/executor/data_test_util.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

std::string CriteoLine() {
  std::string line = "1";
  for (int i = 0; i < 13; ++i) line += "\t" + std::to_string(i);
  for (int i = 0; i < 26; ++i) line += "\tabcdef01";
  return line + "\n";
}

TEST(OpenDatasetTest, DetectsNpyCriteoAndMultiSlot) {
  TempDir npy("open");
  ASSERT_TRUE(WriteNpy(npy.File("x.npy"), Tensor::Zeros(DataType::kF32, {4, 2})).ok());
  DataSpec spec;
  spec.path = npy.path();
  auto a = OpenDataset(spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->tensor_names(), std::vector<std::string>{"x"});

  TempDir text("open");
  spec.path = text.Write("day.tsv", CriteoLine() + CriteoLine());
  auto b = OpenDataset(spec);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->num_records(), 2);
  EXPECT_EQ((*b)->tensor_names().size(), 28u);

  spec.path = text.Write("slots.txt", "1 5 2 1 2\n");
  spec.slots = "label:int64,ids:int64:var";
  auto c = OpenDataset(spec);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->tensor_names(), (std::vector<std::string>{"ids", "ids.lengths", "label"}));
}

TEST(OpenDatasetTest, UnknownOrUndetectableFormatsAreErrors) {
  TempDir dir("open");
  DataSpec spec;
  spec.path = dir.Write("x.txt", "1 2 3\n");
  auto a = OpenDataset(spec);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().message(), HasSubstr("cannot tell the data format"));
  spec.format = "parquet";
  auto b = OpenDataset(spec);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.status().message(), HasSubstr("unknown data format 'parquet'"));
}

TEST(OpenDatasetTest, CheckDatasetProvidesNamesMissingFeeds) {
  TempDir dir("open");
  ASSERT_TRUE(WriteNpy(dir.File("x.npy"), Tensor::Zeros(DataType::kF32, {4, 2})).ok());
  ASSERT_TRUE(WriteNpy(dir.File("label.npy"), Tensor::Zeros(DataType::kI64, {4})).ok());
  DataSpec spec;
  spec.path = dir.path();
  auto ds = OpenDataset(spec);
  ASSERT_TRUE(ds.ok());
  EXPECT_TRUE(CheckDatasetProvides(**ds, spec.path, {"x", "label"}).ok());
  absl::Status s = CheckDatasetProvides(**ds, spec.path, {"x", "image", "label"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("no tensor image that the program feeds; it has label, x"));
}

}  // namespace
}  // namespace fleet
