// The MultiSlot text dataset: slot config parsing, scalar / fixed / variable-length slots,
// malformed records reported as file:line.
#include "executor/data/multislot_dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/executor/data_test_util.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kConfig[] = "label:int64, dense:float:3, ids:uint64:var";

TEST(MultiSlotDatasetTest, ParsesTheSlotConfig) {
  auto slots = ParseSlotSpecs(kConfig);
  ASSERT_TRUE(slots.ok()) << slots.status();
  ASSERT_EQ(slots->size(), 3u);
  EXPECT_EQ((*slots)[0].name, "label");
  EXPECT_TRUE((*slots)[0].scalar);
  EXPECT_EQ((*slots)[1].dtype, DataType::kF32);
  EXPECT_EQ((*slots)[1].dim, 3);
  EXPECT_EQ((*slots)[2].dim, -1);
  EXPECT_TRUE((*slots)[2].is_unsigned);
  for (const char* bad :
       {"", "x", "x:double", "x:float:0", "x:float:abc", "x:int64,x:float", "x:float:1:2"}) {
    auto s = ParseSlotSpecs(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_THAT(ParseSlotSpecs("x:double").status().message(), HasSubstr("unknown type 'double'"));
}

TEST(MultiSlotDatasetTest, BatchesScalarFixedAndVariableSlots) {
  TempDir dir("multislot");
  const std::string path = dir.Write("data.txt",
                                     "1 1 3 0.5 1.5 2.5 2 17 4081\n"
                                     "1 0 3 -1 0 1e2 0\n"
                                     "1 1 3 7 8 9 3 1 2 3\r\n");
  auto slots = ParseSlotSpecs(kConfig);
  ASSERT_TRUE(slots.ok());
  auto ds = OpenMultiSlotDataset(path, *slots);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_THAT((*ds)->tensor_names(), ElementsAre("dense", "ids", "ids.lengths", "label"));
  for (int prefetch : {0, 1}) {
    auto batches = ReadBatches(*ds, 2, 1, prefetch);
    ASSERT_EQ(batches.size(), 2u);
    const auto& t = batches[0].tensors;
    EXPECT_EQ(t.at("label").TypeString(), "i64[2]");
    EXPECT_THAT(Values<int64_t>(t.at("label")), ElementsAre(1, 0));
    EXPECT_EQ(t.at("dense").TypeString(), "f32[2,3]");
    EXPECT_THAT(Values<float>(t.at("dense")), ElementsAre(0.5f, 1.5f, 2.5f, -1.0f, 0.0f, 100.0f));
    EXPECT_EQ(t.at("ids").TypeString(), "i64[2]");
    EXPECT_THAT(Values<int64_t>(t.at("ids")), ElementsAre(17, 4081));
    EXPECT_THAT(Values<int64_t>(t.at("ids.lengths")), ElementsAre(2, 0));
    const auto& last = batches[1].tensors;
    EXPECT_THAT(Values<int64_t>(last.at("ids")), ElementsAre(1, 2, 3));
    EXPECT_THAT(Values<int64_t>(last.at("ids.lengths")), ElementsAre(3));
  }
}

TEST(MultiSlotDatasetTest, ShuffleIsSeeded) {
  TempDir dir("multislot");
  std::string text;
  for (int i = 0; i < 30; ++i)
    text += "1 " + std::to_string(i) + " 3 0 0 0 1 " + std::to_string(i) + "\n";
  const std::string path = dir.Write("data.txt", text);
  auto ds = OpenMultiSlotDataset(path, *ParseSlotSpecs(kConfig));
  ASSERT_TRUE(ds.ok());
  auto labels = [](const std::vector<Batch>& bs) {
    std::vector<int64_t> all;
    for (const Batch& b : bs) {
      auto v = Values<int64_t>(b.tensors.at("label"));
      auto ids = Values<int64_t>(b.tensors.at("ids"));
      EXPECT_EQ(v, ids);  // slots of one record stay together
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  EXPECT_EQ(labels(ReadBatches(*ds, 4, 1, 2, true, 3)), labels(ReadBatches(*ds, 4, 1, 0, true, 3)));
  EXPECT_NE(labels(ReadBatches(*ds, 4, 1, 2, true, 3)), labels(ReadBatches(*ds, 4, 1, 2, true, 4)));
}

TEST(MultiSlotDatasetTest, MalformedRecordsGiveFileAndLine) {
  struct Case {
    std::string line;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"1 1 2 0.5 1.5 1 4", "slot 'dense' has 2 values; expected 3"},
      {"1 1 3 0.5 1.5", "slot 'dense' ends after 2 of 3 values"},
      {"1 1 3 0.5 x 1.5 1 4", "slot 'dense' value 2 is 'x'; expected a float"},
      {"1 1 3 0 0 0 1 -4", "slot 'ids' value 1 is '-4'; expected a non-negative integer"},
      {"1 1 3 0 0 0", "ends before slot 'ids' (slot 3 of 3)"},
      {"1 1 3 0 0 0 1 4 9", "has more values after the last slot 'ids' ('9')"},
      {"a 1 3 0 0 0 1 4", "slot 'label': count is 'a'"},
  };
  auto slots = ParseSlotSpecs(kConfig);
  ASSERT_TRUE(slots.ok());
  for (const Case& c : cases) {
    TempDir dir("multislot");
    dir.Write("a.txt", "1 1 3 0 0 0 1 4\n");
    const std::string path = dir.Write("b.txt", "1 0 3 0 0 0 0\n" + c.line + "\n");
    auto ds = OpenMultiSlotDataset(dir.path(), *slots);
    ASSERT_TRUE(ds.ok());
    for (int prefetch : {0, 2}) {
      absl::Status s = FirstError(*ds, 2, prefetch);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.line;
      EXPECT_THAT(s.message(), HasSubstr(path + ":2: " + c.message));
    }
  }
}

}  // namespace
}  // namespace fleet
