// Rendezvous over any Store: each rank sets "<prefix>/arrived/<rank>" and waits for all of them.
#include "runtime/collective/store.h"

#include <unistd.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ir/status_macros.h"
#include "runtime/collective/timeout.h"

namespace fleet {

absl::Status Rendezvous(Store& store, const std::string& prefix, int rank, int size,
                        std::chrono::milliseconds timeout) {
  if (size < 1 || rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rendezvous: rank ", rank, " of ", size, " is not a rank (expected 0 <= rank < ", "size)"));
  }
  auto key_of = [&](int r) { return absl::StrCat(prefix, "/arrived/", r); };
  // The value says who came, for whoever reads the store while debugging.
  FLEET_RETURN_IF_ERROR(store.Set(key_of(rank), absl::StrCat("pid ", getpid())));
  std::vector<std::string> keys;
  std::map<std::string, int> rank_of;
  for (int r = 0; r < size; ++r) {
    keys.push_back(key_of(r));
    rank_of[keys.back()] = r;
  }
  std::vector<std::string> missing;
  absl::Status waited = store.Wait(keys, timeout, &missing);
  if (waited.ok() || !absl::IsDeadlineExceeded(waited) || missing.empty()) return waited;
  std::vector<int> absent;
  for (const std::string& key : missing) absent.push_back(rank_of[key]);
  return absl::DeadlineExceededError(absl::StrCat(
      "rendezvous at ", store.Describe(), " timed out after ", DurationText(timeout), ": ",
      absent.size() == 1 ? "rank " : "ranks ", absl::StrJoin(absent, ", "), " of ", size,
      " never arrived (hint: every rank must be started with the same store and world size; a "
      "rank that failed at start-up says why in its log)"));
}

}  // namespace fleet
