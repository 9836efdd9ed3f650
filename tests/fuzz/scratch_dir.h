// A per-process scratch folder for fuzz targets whose readers take a path, not bytes: each input
// is written to a file there before the reader opens it. Created on first use under $TMPDIR (or
// /tmp) and removed at exit, so parallel fuzzing jobs never share files.
//
// Not thread-safe: libFuzzer calls a target from one thread.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

namespace fleet::fuzz {

// The folder, created on the first call; the same path for the life of the process.
inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path d = std::filesystem::path(tmp != nullptr && *tmp ? tmp : "/tmp") /
                              ("fleet-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(ScratchDir(), ignored);
    });
    return d;
  }();
  return dir;
}

// Writes `bytes` to ScratchDir()/name (replacing it) and returns the full path.
inline std::string WriteScratchFile(const std::string& name, std::string_view bytes) {
  const std::filesystem::path path = ScratchDir() / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  return path.string();
}

}  // namespace fleet::fuzz
