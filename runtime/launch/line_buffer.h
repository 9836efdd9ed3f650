// Cuts a child's output stream into whole lines, so that the launcher can prefix each line with
// the child's role and write it in one piece: lines of different children never interleave
// mid-line, however the bytes arrive.
//
// Thread safety: none; one per stream. Ownership: holds the unfinished line.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace fleet::launch {

class LineBuffer {
 public:
  // Receives one line without its '\n'.
  using Emit = std::function<void(std::string_view line)>;

  // A line longer than `max_line` bytes is emitted in pieces of that size, so that a child that
  // never writes a newline cannot make the launcher hold unbounded memory.
  explicit LineBuffer(size_t max_line = 64 * 1024) : max_line_(max_line) {}

  // Adds bytes; emits every line they complete.
  void Append(std::string_view data, const Emit& emit);
  // Emits the unfinished last line, if any (at the end of the stream).
  void Flush(const Emit& emit);

 private:
  size_t max_line_;
  std::string pending_;
};

}  // namespace fleet::launch
