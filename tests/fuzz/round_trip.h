// The text form's round-trip property (ir/text_format.h), shared by the program fuzz targets:
// printing a program and parsing the text back must succeed and print the same text again.
// A violation prints both texts and aborts, so libFuzzer saves the input as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ir/program.h"
#include "ir/text_format.h"

namespace fleet::fuzz {

inline void CheckTextRoundTrip(const Program& program) {
  const std::string first = PrintProgram(program);
  auto reparsed = ParseProgramText(first, "printed.txt");
  if (!reparsed.ok()) {
    std::fprintf(stderr, "round trip: the printed text does not parse: %s\n--- text ---\n%s\n",
                 std::string(reparsed.status().message()).c_str(), first.c_str());
    std::abort();
  }
  const std::string second = PrintProgram(*reparsed);
  if (second != first) {
    std::fprintf(stderr,
                 "round trip: print(parse(print(p))) != print(p)\n--- first ---\n%s\n"
                 "--- second ---\n%s\n",
                 first.c_str(), second.c_str());
    std::abort();
  }
}

}  // namespace fleet::fuzz
