// A parameter server's part of a checkpoint: one folder per server (pserver.<i> inside the
// job's checkpoint folder) holding .npy files and manifest.json:
//
//   {"format": "fleet.ps_shard", "version": 1, "server": 0, "num_servers": 2,
//    "applied_step": 199,
//    "blocks": [{"id": 3, "updates": 200, "value": "block.3.npy",
//                "states": ["block.3.state0.npy"]}, ...],
//    "tables": [{"id": 0, "updates": 200, "ids": "table.0.ids.npy",
//                "rows": "table.0.rows.npy", "whole": ["table.0.whole0.npy"]}, ...]}
//
// A table's rows file is [n, dim * (1 + rowwise states)]: each row's values, then its states.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/ps/server_core.h"

namespace fleet::ps {

// The folder of server `server`'s part inside checkpoint `dir`.
std::string ShardFolder(const std::string& dir, int server);

// Writes `contents` into `folder` (created, with its parents; files in it are replaced).
absl::Status WriteShard(const std::string& folder, int server, int num_servers,
                        const ServerCore::Contents& contents);

// Reads the shard in `folder`. NOT_FOUND when it has no manifest; INVALID_ARGUMENT naming the
// file when it is not a shard of server `server` of `num_servers`, or a file is unreadable.
absl::StatusOr<ServerCore::Contents> ReadShard(const std::string& folder, int server,
                                               int num_servers);

}  // namespace fleet::ps
