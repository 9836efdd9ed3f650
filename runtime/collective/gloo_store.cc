#include "runtime/collective/gloo_store.h"

#include <gloo/common/error.h>

#include "absl/strings/str_cat.h"

namespace fleet {

void GlooStore::Throw(absl::Status status) {
  if (error_.ok()) error_ = status;
  throw gloo::Exception(std::string(status.message()));
}

void GlooStore::set(const std::string& key, const std::vector<char>& data) {
  absl::Status status =
      store_.Set(absl::StrCat(prefix_, "/", key), std::string_view(data.data(), data.size()));
  if (!status.ok()) Throw(std::move(status));
}

std::vector<char> GlooStore::get(const std::string& key) {
  wait({key}, get_timeout_);
  absl::StatusOr<std::string> value = store_.Get(absl::StrCat(prefix_, "/", key));
  if (!value.ok()) Throw(value.status());
  return std::vector<char>(value->begin(), value->end());
}

void GlooStore::wait(const std::vector<std::string>& keys) { wait(keys, get_timeout_); }

void GlooStore::wait(const std::vector<std::string>& keys,
                     const std::chrono::milliseconds& timeout) {
  std::vector<std::string> full;
  full.reserve(keys.size());
  for (const std::string& k : keys) full.push_back(absl::StrCat(prefix_, "/", k));
  absl::Status status = store_.Wait(full, timeout);
  if (!status.ok()) Throw(std::move(status));
}

}  // namespace fleet
