// ListDataSources (what a data argument names), ShardFiles (a worker's files of several) and
// OpenDataset over a list of files.
#include "executor/data/data_files.h"

#include <set>

#include "executor/data/open.h"
#include "executor/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/executor/data_test_util.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> Names(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("part-" + std::to_string(i) + ".tsv");
  return out;
}

TEST(ShardFilesTest, FileJGoesToWorkerJModN) {
  const std::vector<std::string> files = Names(6);
  auto w0 = ShardFiles(files, 0, 2);
  auto w1 = ShardFiles(files, 1, 2);
  ASSERT_TRUE(w0.ok() && w1.ok());
  EXPECT_THAT(w0->files, ElementsAre("part-0.tsv", "part-2.tsv", "part-4.tsv"));
  EXPECT_THAT(w1->files, ElementsAre("part-1.tsv", "part-3.tsv", "part-5.tsv"));
  EXPECT_EQ(w1->description,
            "worker 1 of 2 reads 3 of 6 files: part-1.tsv, part-3.tsv, part-5.tsv");
}

TEST(ShardFilesTest, EveryFileGoesToExactlyOneWorker) {
  for (int n_files = 1; n_files <= 9; ++n_files) {
    for (int workers = 1; workers <= n_files; ++workers) {
      const std::vector<std::string> files = Names(n_files);
      std::multiset<std::string> seen;
      size_t fewest = files.size(), most = 0;
      for (int w = 0; w < workers; ++w) {
        auto shard = ShardFiles(files, w, workers);
        ASSERT_TRUE(shard.ok()) << shard.status();
        for (const std::string& f : shard->files) {
          // The file's own index, from its name, is w mod workers.
          EXPECT_EQ(std::stoi(f.substr(5)) % workers, w) << f;
          seen.insert(f);
        }
        fewest = std::min(fewest, shard->files.size());
        most = std::max(most, shard->files.size());
      }
      EXPECT_EQ(seen, std::multiset<std::string>(files.begin(), files.end()))
          << n_files << " files, " << workers << " workers";
      EXPECT_GE(fewest, 1u);
      EXPECT_LE(most - fewest, 1u);  // shares differ by at most one file
    }
  }
}

TEST(ShardFilesTest, UnevenSharesAndLongListsAreDescribed) {
  auto w0 = ShardFiles(Names(5), 0, 2);
  ASSERT_TRUE(w0.ok());
  EXPECT_EQ(w0->description,
            "worker 0 of 2 reads 3 of 5 files: part-0.tsv, part-2.tsv, part-4.tsv");
  auto one = ShardFiles(Names(20), 1, 2);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->files.size(), 10u);
  EXPECT_THAT(one->description, HasSubstr("reads 10 of 20 files: part-1.tsv, part-3.tsv"));
  EXPECT_THAT(one->description, HasSubstr("part-15.tsv ... and 2 more"));
  EXPECT_THAT(one->description, Not(HasSubstr("part-17.tsv")));
}

TEST(ShardFilesTest, FewerFilesThanWorkersIsRefused) {
  auto s = ShardFiles(Names(2), 2, 3);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(),
              HasSubstr("worker 2 of 3: the data has 2 files for 3 workers; expected at least "
                        "one file per worker"));
  EXPECT_THAT(s.status().message(), HasSubstr("hint: split the data into at least 3 files"));
  EXPECT_EQ(ShardFiles(Names(4), 2, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ShardFiles(Names(4), -1, 2).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ListDataSourcesTest, FileFolderAndList) {
  TempDir dir("sources");
  const std::string b = dir.Write("b.tsv", "x\n");
  const std::string a = dir.Write("a.tsv", "x\n");
  dir.Write(".hidden", "x\n");
  TempDir more("sources");
  const std::string c = more.Write("c.txt", "x\n");

  auto file = ListDataSources(b);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT(*file, ElementsAre(b));
  auto folder = ListDataSources(dir.path());
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_THAT(*folder, ElementsAre(a, b));  // sorted by name, hidden files skipped
  // A list keeps its order; its folders are expanded in place.
  auto list = ListDataSources(c + "," + dir.path() + "," + a);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(*list, ElementsAre(c, a, b, a));
}

TEST(ListDataSourcesTest, NpyFolderIsOneSource) {
  TempDir npy("sources");
  ASSERT_TRUE(WriteNpy(npy.File("x.npy"), Tensor::Zeros(DataType::kF32, {4, 2})).ok());
  ASSERT_TRUE(WriteNpy(npy.File("label.npy"), Tensor::Zeros(DataType::kI64, {4})).ok());
  auto one = ListDataSources(npy.path());
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_THAT(*one, ElementsAre(npy.path()));
  EXPECT_TRUE(IsNpyFolder(npy.path()));

  TempDir text("sources");
  const std::string t = text.Write("a.tsv", "x\n");
  EXPECT_FALSE(IsNpyFolder(text.path()));
  EXPECT_FALSE(IsNpyFolder(t));
  auto mixed = ListDataSources(t + "," + npy.path());
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mixed.status().message(), HasSubstr("is a folder of .npy files"));
}

TEST(ListDataSourcesTest, BadEntriesAreNamed) {
  TempDir dir("sources");
  const std::string a = dir.Write("a.tsv", "x\n");
  auto empty_entry = ListDataSources(a + ",," + a);
  ASSERT_FALSE(empty_entry.ok());
  EXPECT_THAT(empty_entry.status().message(), HasSubstr("an empty entry"));
  auto missing = ListDataSources(a + "," + dir.File("nope.tsv"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.tsv: no such file or directory"));
}

std::string MultiSlotLines(int first, int count) {
  std::string out;
  for (int i = first; i < first + count; ++i) out += "1 " + std::to_string(i) + "\n";
  return out;
}

TEST(OpenDatasetTest, ListOfFilesAndAWorkersShare) {
  TempDir dir("sources");
  const std::string a = dir.Write("a.txt", MultiSlotLines(0, 3));
  const std::string b = dir.Write("b.txt", MultiSlotLines(3, 2));
  const std::string c = dir.Write("c.txt", MultiSlotLines(5, 4));
  DataSpec spec;
  spec.slots = "id:int64";
  spec.path = c + "," + a;
  auto listed = OpenDataset(spec);
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::vector<Batch> batches = ReadBatches(*listed, 100);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_THAT(Values<int64_t>(batches[0].tensors.at("id")), ElementsAre(5, 6, 7, 8, 0, 1, 2));

  // A worker's share replaces what the path names: all records of its files, in order.
  spec.path = dir.path();
  auto sources = ListDataSources(spec.path);
  ASSERT_TRUE(sources.ok());
  auto shard = ShardFiles(*sources, 0, 2);
  ASSERT_TRUE(shard.ok());
  spec.files = shard->files;
  auto share = OpenDataset(spec);
  ASSERT_TRUE(share.ok()) << share.status();
  batches = ReadBatches(*share, 100);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_THAT(Values<int64_t>(batches[0].tensors.at("id")), ElementsAre(0, 1, 2, 5, 6, 7, 8));
}

}  // namespace
}  // namespace fleet
