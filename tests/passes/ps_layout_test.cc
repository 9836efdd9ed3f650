// The dense layout of the ps strategy (passes/distributed/ps_layout.h): how parameters are cut
// into row blocks and which server owns each block. The expected hashes are the published
// FNV-1a 64 test vectors and values computed independently in Python:
//
//   def fnv1a64(s):
//       h = 14695981039346656037
//       for c in s.encode():
//           h = ((h ^ c) * 1099511628211) % 2**64
//       return h
//   fnv1a64("fc1.weight.0") == 0x97d58a881810f46b; fnv1a64("fc1.weight.1") == 0x97d589881810f2b8
#include "passes/distributed/ps_layout.h"

#include <vector>

#include "gtest/gtest.h"

namespace fleet::distributed {
namespace {

std::vector<RowBlock> Blocks(std::vector<std::pair<int64_t, int64_t>> ranges) {
  std::vector<RowBlock> out;
  for (const auto& [begin, rows] : ranges) out.push_back(RowBlock{begin, rows});
  return out;
}

TEST(PsLayoutTest, Fnv1a64MatchesPublishedVectors) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ull);
}

TEST(PsLayoutTest, BlockServerHashesNameDotIndex) {
  EXPECT_EQ(Fnv1a64("fc1.weight.0"), 0x97d58a881810f46bull);
  EXPECT_EQ(Fnv1a64("fc1.weight.1"), 0x97d589881810f2b8ull);
  // 0x97d58a881810f46b mod 2, 3, 7 = 1, 0, 4; 0x97d589881810f2b8 mod 2, 3, 7 = 0, 2, 1.
  EXPECT_EQ(BlockServer("fc1.weight", 0, 2), 1);
  EXPECT_EQ(BlockServer("fc1.weight", 0, 3), 0);
  EXPECT_EQ(BlockServer("fc1.weight", 0, 7), 4);
  EXPECT_EQ(BlockServer("fc1.weight", 1, 2), 0);
  EXPECT_EQ(BlockServer("fc1.weight", 1, 3), 2);
  EXPECT_EQ(BlockServer("fc1.weight", 1, 7), 1);
  EXPECT_EQ(BlockServer("anything", 5, 1), 0);
}

TEST(PsLayoutTest, CutsLikeSliceVariable) {
  // CTR-DNN's fc1.weight: 109200 elements, two servers: two blocks, the last one row smaller.
  EXPECT_EQ(CutRows({273, 400}, 2, kDefaultMinBlockSize), Blocks({{0, 137}, {137, 136}}));
  // A 1-D parameter is cut by elements too.
  EXPECT_EQ(CutRows({400}, 2, 100), Blocks({{0, 200}, {200, 200}}));
  // ceil(10 / 4) = 3 rows: four blocks, the last of one row; with 9 rows only three blocks.
  EXPECT_EQ(CutRows({10, 4}, 4, 1), Blocks({{0, 3}, {3, 3}, {6, 3}, {9, 1}}));
  EXPECT_EQ(CutRows({9, 4}, 4, 1), Blocks({{0, 3}, {3, 3}, {6, 3}}));
}

TEST(PsLayoutTest, FewerRowsThanServersGivesOneRowEach) {
  EXPECT_EQ(CutRows({3, 10000}, 8, 1), Blocks({{0, 1}, {1, 1}, {2, 1}}));
}

TEST(PsLayoutTest, BlocksAreAtLeastMinBlockSize) {
  // 1000 elements, blocks of at least 8192: one block.
  EXPECT_EQ(CutRows({100, 10}, 4, kDefaultMinBlockSize), Blocks({{0, 100}}));
  // 1000 elements, at least 400 each: two blocks although four servers.
  EXPECT_EQ(CutRows({100, 10}, 4, 400), Blocks({{0, 50}, {50, 50}}));
}

TEST(PsLayoutTest, RankZeroAndEmptyParameters) {
  EXPECT_EQ(CutRows({}, 4, 1), Blocks({{0, 1}}));
  EXPECT_EQ(CutRows({0, 5}, 4, 1), Blocks({{0, 0}}));
}

}  // namespace
}  // namespace fleet::distributed
