// LineBuffer: whole lines out of arbitrarily cut chunks, the last unfinished line at the end,
// and overlong lines cut at the limit.
#include "runtime/launch/line_buffer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fleet::launch {
namespace {

using ::testing::ElementsAre;

struct Collect {
  std::vector<std::string> lines;
  LineBuffer::Emit emit() {
    return [this](std::string_view l) { lines.emplace_back(l); };
  }
};

TEST(LineBufferTest, JoinsChunksIntoLines) {
  LineBuffer buffer;
  Collect c;
  buffer.Append("he", c.emit());
  EXPECT_TRUE(c.lines.empty());
  buffer.Append("llo\nwor", c.emit());
  buffer.Append("ld\n\nthree\nfo", c.emit());
  EXPECT_THAT(c.lines, ElementsAre("hello", "world", "", "three"));
  buffer.Flush(c.emit());
  EXPECT_THAT(c.lines, ElementsAre("hello", "world", "", "three", "fo"));
  buffer.Flush(c.emit());  // nothing left
  EXPECT_EQ(c.lines.size(), 5u);
}

TEST(LineBufferTest, EveryByteSplitGivesTheSameLines) {
  const std::string text = "alpha\nbeta gamma\n\ndelta";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    LineBuffer buffer;
    Collect c;
    buffer.Append(std::string_view(text).substr(0, cut), c.emit());
    buffer.Append(std::string_view(text).substr(cut), c.emit());
    buffer.Flush(c.emit());
    EXPECT_THAT(c.lines, ElementsAre("alpha", "beta gamma", "", "delta")) << "cut " << cut;
  }
}

TEST(LineBufferTest, CutsOverlongLinesAtTheLimit) {
  LineBuffer buffer(4);
  Collect c;
  buffer.Append("abcdefghij\nxy", c.emit());
  buffer.Append("zw\n", c.emit());
  // A line of exactly the limit followed by its newline is one line, not two.
  buffer.Append("1234\n5\n", c.emit());
  EXPECT_THAT(c.lines, ElementsAre("abcd", "efgh", "ij", "xyzw", "1234", "5"));
}

}  // namespace
}  // namespace fleet::launch
