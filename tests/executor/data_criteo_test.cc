// The Criteo TSV dataset: dense log transform, hashed ids, labels, missing fields, several
// files, malformed lines reported as file:line (also through the prefetch thread).
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/data/criteo_dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/executor/data_test_util.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A line with label `label`, I_j = `base` + j (j = 1..13, I5 missing) and C_s = hex(`base` * 100
// + s) (C7 missing).
std::string Line(int label, int base) {
  std::vector<std::string> f = {std::to_string(label)};
  for (int j = 1; j <= 13; ++j) f.push_back(j == 5 ? "" : std::to_string(base + j));
  for (int s = 1; s <= 26; ++s) {
    char hex[32];
    std::snprintf(hex, sizeof(hex), "%08x", base * 100 + s);
    f.push_back(s == 7 ? "" : hex);
  }
  return absl::StrJoin(f, "\t") + "\n";
}

// Values pinned from models/criteo_synth.py's hash_ids (the generator and the reader must agree):
//   hash_ids(1, [0x68fd1e64, 0, 2**64-1], 1000) -> [217, 894, 244]
//   hash_ids(26, [0x68fd1e64], 1000) -> [396];  hash_ids(3, [0xabc], 7) -> [5]
TEST(CriteoDatasetTest, HashIdsMatchTheGenerator) {
  EXPECT_EQ(CriteoHashId(1, 0x68fd1e64, 1000), 217);
  EXPECT_EQ(CriteoHashId(1, 0, 1000), 894);
  EXPECT_EQ(CriteoHashId(1, ~uint64_t{0}, 1000), 244);
  EXPECT_EQ(CriteoHashId(26, 0x68fd1e64, 1000), 396);
  EXPECT_EQ(CriteoHashId(3, 0xabc, 7), 5);
}

TEST(CriteoDatasetTest, ParsesDenseIdsAndLabels) {
  TempDir dir("criteo");
  const std::string path = dir.Write("day_0.tsv", Line(1, 0) + Line(0, 3) + Line(1, -4));
  auto ds = OpenCriteoDataset(path);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->num_records(), 3);
  EXPECT_EQ((*ds)->tensor_names().size(), 28u);
  auto batches = ReadBatches(*ds, 2);
  ASSERT_EQ(batches.size(), 2u);
  const Batch& b = batches[0];
  ASSERT_EQ(b.tensors.at("dense").TypeString(), "f32[2,13]");
  std::vector<float> dense = Values<float>(b.tensors.at("dense"));
  EXPECT_FLOAT_EQ(dense[0], std::log1p(1.0f));         // record 0, I1 = 1
  EXPECT_FLOAT_EQ(dense[4], 0.0f);                     // I5 missing
  EXPECT_FLOAT_EQ(dense[13 + 12], std::log1p(16.0f));  // record 1, I13 = 16
  EXPECT_EQ(b.tensors.at("label").TypeString(), "f32[2]");
  EXPECT_THAT(Values<float>(b.tensors.at("label")), ElementsAre(1.0f, 0.0f));
  EXPECT_EQ(b.tensors.at("C1").TypeString(), "i64[2]");
  EXPECT_THAT(Values<int64_t>(b.tensors.at("C1")),
              ElementsAre(CriteoHashId(1, 1, 1000), CriteoHashId(1, 301, 1000)));
  EXPECT_THAT(Values<int64_t>(b.tensors.at("C26")),
              ElementsAre(CriteoHashId(26, 26, 1000), CriteoHashId(26, 326, 1000)));
  EXPECT_THAT(Values<int64_t>(b.tensors.at("C7")), ElementsAre(0, 0));  // missing -> 0
  // Record 2: base -4 gives I1..I4 <= 0 -> 0 (negative counts are clamped), I5 missing.
  std::vector<float> last = Values<float>(batches[1].tensors.at("dense"));
  EXPECT_THAT(std::vector<float>(last.begin(), last.begin() + 5), ElementsAre(0, 0, 0, 0, 0));
  EXPECT_FLOAT_EQ(last[5], std::log1p(2.0f));
  EXPECT_EQ(batches[1].size, 1);
}

TEST(CriteoDatasetTest, OptionsRenameTensorsAndChangeTypes) {
  TempDir dir("criteo");
  const std::string path = dir.Write("a.tsv", Line(1, 0) + Line(0, 1));
  CriteoOptions o;
  o.dense_name = "dense_input";
  o.label_name = "click";
  o.label_dtype = DataType::kI64;
  o.table_size = 10;
  for (int s = 1; s <= 26; ++s) o.sparse_names.push_back(absl::StrCat("slot_", s));
  auto ds = OpenCriteoDataset(path, o);
  ASSERT_TRUE(ds.ok()) << ds.status();
  auto batches = ReadBatches(*ds, 8);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_THAT(Values<int64_t>(batches[0].tensors.at("click")), ElementsAre(1, 0));
  EXPECT_EQ(batches[0].tensors.at("dense_input").TypeString(), "f32[2,13]");
  for (int64_t id : Values<int64_t>(batches[0].tensors.at("slot_3"))) {
    EXPECT_GE(id, 1);
    EXPECT_LT(id, 10);
  }
  o.table_size = 1;
  EXPECT_FALSE(OpenCriteoDataset(path, o).ok());
}

TEST(CriteoDatasetTest, FilesWithoutLabels) {
  TempDir dir("criteo");
  std::string line = Line(0, 2);
  const std::string path = dir.Write("test.tsv", line.substr(2));  // drop "0\t"
  CriteoOptions o;
  o.label_name = "";
  auto ds = OpenCriteoDataset(path, o);
  ASSERT_TRUE(ds.ok());
  auto batches = ReadBatches(*ds, 4);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].tensors.count("label"), 0u);
  EXPECT_EQ(batches[0].tensors.size(), 27u);
}

TEST(CriteoDatasetTest, DirectoryReadsFilesInNameOrderWithEpochsAndShuffle) {
  TempDir dir("criteo");
  std::string a, b;
  for (int i = 0; i < 5; ++i) a += Line(i % 2, i);
  for (int i = 5; i < 9; ++i) b += Line(i % 2, i);
  dir.Write("part-1.tsv", b);
  dir.Write("part-0.tsv", a);
  auto ds = OpenCriteoDataset(dir.path());
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ((*ds)->num_records(), 9);
  auto in_order = ReadBatches(*ds, 4, 2, 0);
  ASSERT_EQ(in_order.size(), 6u);
  EXPECT_THAT(Values<int64_t>(in_order[2].tensors.at("C1")),
              ElementsAre(CriteoHashId(1, 801, 1000)));
  auto s1 = ReadBatches(*ds, 4, 1, 2, true, 1);
  auto s1b = ReadBatches(*ds, 4, 1, 0, true, 1);
  auto s2 = ReadBatches(*ds, 4, 1, 2, true, 2);
  auto ids = [](const std::vector<Batch>& bs) {
    std::vector<int64_t> all;
    for (const Batch& b : bs) {
      auto v = Values<int64_t>(b.tensors.at("C2"));
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  EXPECT_EQ(ids(s1), ids(s1b));
  EXPECT_NE(ids(s1), ids(s2));
}

TEST(CriteoDatasetTest, MalformedLinesGiveFileAndLine) {
  struct Case {
    std::string line;
    std::string message;
  };
  std::string good = Line(1, 0);
  std::string bad_int = good;
  bad_int.replace(bad_int.find("\t3\t"), 3, "\tx3\t");
  std::string bad_hex = good;
  bad_hex.replace(bad_hex.find("00000002"), 8, "0000zz02");
  const std::vector<Case> cases = {
      {"1\t2\t3\n", "has 3 tab-separated fields; expected 40"},
      {"2" + good.substr(1), "label is '2'; expected 0 or 1"},
      {bad_int, "integer feature I3 is 'x3'"},
      {bad_hex, "categorical feature C2 is '0000zz02'"},
      {good.substr(0, good.size() - 1) + "\textra\n", "has 41 tab-separated fields"},
  };
  for (const Case& c : cases) {
    TempDir dir("criteo");
    // Line 3 is the bad one (line 2 is empty and skipped, line numbers still count it).
    const std::string path = dir.Write("day.tsv", good + "\n" + c.line + good);
    auto ds = OpenCriteoDataset(path);
    ASSERT_TRUE(ds.ok());
    EXPECT_EQ((*ds)->num_records(), 3);
    for (int prefetch : {0, 2}) {
      absl::Status s = FirstError(*ds, 1, prefetch);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.line;
      EXPECT_THAT(s.message(), HasSubstr(path + ":3: " + c.message));
    }
  }
}

TEST(CriteoDatasetTest, MissingPathIsAnError) {
  auto ds = OpenCriteoDataset("/nonexistent/criteo");
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fleet
