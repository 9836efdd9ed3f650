// Helpers for the data reader tests: a fresh temporary directory and a file writer.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "executor/data/reader.h"
#include "gtest/gtest.h"

namespace fleet {

// A directory under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ = (std::filesystem::temp_directory_path() /
             ("fleet_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // Writes `text` to `name` in the directory and returns its path.
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream out(File(name), std::ios::binary);
    out << text;
    return File(name);
  }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

// Reads every batch of `ds` with `options`; fails the test on an error.
inline std::vector<Batch> ReadBatches(std::shared_ptr<const Dataset> ds,
                                      const ReaderOptions& options) {
  auto reader = DataReader::Create(std::move(ds), options);
  EXPECT_TRUE(reader.ok()) << reader.status();
  std::vector<Batch> out;
  if (!reader.ok()) return out;
  Batch batch;
  while (true) {
    auto more = (*reader)->Next(batch);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    out.push_back(batch);
  }
  return out;
}

// The same with the options most tests vary.
inline std::vector<Batch> ReadBatches(std::shared_ptr<const Dataset> ds, int64_t batch_size,
                                      int epochs = 1, int prefetch = 2, bool shuffle = false,
                                      uint64_t seed = 0) {
  ReaderOptions o;
  o.batch_size = batch_size;
  o.epochs = epochs;
  o.prefetch = prefetch;
  o.shuffle = shuffle;
  o.seed = seed;
  return ReadBatches(std::move(ds), o);
}

// The first error a full read meets (OK when none).
inline absl::Status FirstError(std::shared_ptr<const Dataset> ds, int64_t batch_size,
                               int prefetch) {
  ReaderOptions o;
  o.batch_size = batch_size;
  o.prefetch = prefetch;
  auto reader = DataReader::Create(std::move(ds), o);
  if (!reader.ok()) return reader.status();
  Batch batch;
  while (true) {
    auto more = (*reader)->Next(batch);
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
  }
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

}  // namespace fleet
