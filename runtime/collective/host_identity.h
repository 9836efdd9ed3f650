// Whether the ranks of a group run on one host, where they can share memory: each rank publishes
// what identifies its host through the group's store and compares it with the others'.
//
// Two ranks share a host for this purpose when they have the same host name, the same boot id
// (/proc/sys/kernel/random/boot_id, new at every boot, so two machines with one name differ), the
// same PID namespace (a rank reaches another's memory and checks it is alive by its PID), the
// same network namespace (containers, or a test's simulated hosts, that are given networks of
// their own are meant to talk over them) and the same user (who may open another's memory
// through /proc). Internal to runtime/collective.
// Thread safety: free functions; the store is used as Store allows.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/collective/store.h"

namespace fleet {

// This process's host identity:
// "host worker-3, boot 8c1f..., pid:[4026531836], net:[4026531840], uid 1000".
std::string HostIdentity();

// Sets "<prefix>/host/<rank>" to `identity` and waits up to `timeout` for every rank's; returns
// the identities by rank. DEADLINE_EXCEEDED names the store's missing keys.
absl::StatusOr<std::vector<std::string>> ExchangeHostIdentities(Store& store,
                                                                const std::string& prefix, int rank,
                                                                int size,
                                                                const std::string& identity,
                                                                std::chrono::milliseconds timeout);

// The first rank whose identity differs from rank 0's, or -1 when every rank is on rank 0's host.
int FirstRankOnAnotherHost(const std::vector<std::string>& identities);

}  // namespace fleet
