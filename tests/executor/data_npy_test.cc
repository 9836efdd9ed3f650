// The .npy directory dataset: memory-mapped columns, batching, shuffle, mismatched counts.
#include "executor/data/npy_dataset.h"
#include "executor/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/executor/data_test_util.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// x f32[n,2] = {10r, 10r+1}, label i64[n] = r.
void WriteColumns(const TempDir& dir, int64_t n) {
  Tensor x(DataType::kF32, {n, 2});
  Tensor label(DataType::kI64, {n});
  for (int64_t r = 0; r < n; ++r) {
    x.data<float>()[2 * r] = static_cast<float>(10 * r);
    x.data<float>()[2 * r + 1] = static_cast<float>(10 * r + 1);
    label.data<int64_t>()[r] = r;
  }
  ASSERT_TRUE(WriteNpy(dir.File("x.npy"), x).ok());
  ASSERT_TRUE(WriteNpy(dir.File("label.npy"), label).ok());
}

TEST(NpyDatasetTest, MapNpyViewsTheFile) {
  TempDir dir("npyds");
  WriteColumns(dir, 3);
  auto t = MapNpy(dir.File("x.npy"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->TypeString(), "f32[3,2]");
  EXPECT_THAT(Values<float>(*t), ElementsAre(0, 1, 10, 11, 20, 21));
}

TEST(NpyDatasetTest, BatchesRowsOfEveryFile) {
  TempDir dir("npyds");
  WriteColumns(dir, 5);
  auto ds = OpenNpyDataset(dir.path());
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->num_records(), 5);
  EXPECT_THAT((*ds)->tensor_names(), ElementsAre("label", "x"));
  for (int prefetch : {0, 2}) {
    auto batches = ReadBatches(*ds, 2, 2, prefetch);
    ASSERT_EQ(batches.size(), 6u);
    EXPECT_EQ(batches[1].tensors.at("x").TypeString(), "f32[2,2]");
    EXPECT_THAT(Values<float>(batches[1].tensors.at("x")), ElementsAre(20, 21, 30, 31));
    EXPECT_THAT(Values<int64_t>(batches[2].tensors.at("label")), ElementsAre(4));
    EXPECT_EQ(batches[2].tensors.at("x").TypeString(), "f32[1,2]");
    EXPECT_EQ(batches[5].epoch, 1);
  }
}

TEST(NpyDatasetTest, ShuffleKeepsRowsTogether) {
  TempDir dir("npyds");
  WriteColumns(dir, 20);
  auto ds = OpenNpyDataset(dir.path());
  ASSERT_TRUE(ds.ok());
  auto a = ReadBatches(*ds, 4, 1, 2, true, 5);
  auto b = ReadBatches(*ds, 4, 1, 0, true, 5);
  auto c = ReadBatches(*ds, 4, 1, 2, true, 6);
  std::vector<int64_t> la, lb, lc;
  for (size_t i = 0; i < a.size(); ++i) {
    auto labels = Values<int64_t>(a[i].tensors.at("label"));
    auto xs = Values<float>(a[i].tensors.at("x"));
    for (size_t k = 0; k < labels.size(); ++k) EXPECT_EQ(xs[2 * k], 10.0f * labels[k]);
    la.insert(la.end(), labels.begin(), labels.end());
    auto l2 = Values<int64_t>(b[i].tensors.at("label"));
    lb.insert(lb.end(), l2.begin(), l2.end());
    auto l3 = Values<int64_t>(c[i].tensors.at("label"));
    lc.insert(lc.end(), l3.begin(), l3.end());
  }
  EXPECT_EQ(la, lb);
  EXPECT_NE(la, lc);
}

TEST(NpyDatasetTest, NamedInputsPickFilesAndReportMissingOnes) {
  TempDir dir("npyds");
  WriteColumns(dir, 3);
  auto only_x = OpenNpyDataset(dir.path(), {"x"});
  ASSERT_TRUE(only_x.ok()) << only_x.status();
  EXPECT_THAT((*only_x)->tensor_names(), ElementsAre("x"));
  auto missing = OpenNpyDataset(dir.path(), {"x", "dense"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no file dense.npy"));
}

TEST(NpyDatasetTest, MismatchedFirstDimsNameBothFilesAndCounts) {
  TempDir dir("npyds");
  WriteColumns(dir, 4);
  Tensor short_label(DataType::kI64, {3});
  for (int i = 0; i < 3; ++i) short_label.data<int64_t>()[i] = i;
  ASSERT_TRUE(WriteNpy(dir.File("label.npy"), short_label).ok());
  auto ds = OpenNpyDataset(dir.path());
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ds.status().message(), HasSubstr("x.npy holds 4 records"));
  EXPECT_THAT(ds.status().message(), HasSubstr("label.npy holds 3"));
}

TEST(NpyDatasetTest, BadDirectoryAndBadFiles) {
  TempDir dir("npyds");
  auto empty = OpenNpyDataset(dir.path());
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("no data files ending in .npy"));
  dir.Write("x.npy", "not numpy");
  auto bad = OpenNpyDataset(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("x.npy: not an .npy file"));
  ASSERT_TRUE(WriteNpy(dir.File("x.npy"), Tensor::Scalar<float>(DataType::kF32, 1.0f)).ok());
  auto scalar = OpenNpyDataset(dir.path());
  ASSERT_FALSE(scalar.ok());
  EXPECT_THAT(scalar.status().message(), HasSubstr("scalar"));
  EXPECT_FALSE(OpenNpyDataset(dir.File("nope")).ok());
}

}  // namespace
}  // namespace fleet
