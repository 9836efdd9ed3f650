// What fleet-run reports about a finished training run besides its "trained ..." line: in a
// data-parallel run, how much communication its training steps made and how much of it hid
// behind computation, as a line for people and, with --summary-out, as a JSON file for scripts
// (bench/collective_bench.py reads it).
//
//   fleet-run: allreduce: 480 calls, 1.20 GB; 3.10 s on the wire, 0.85 s waited for: 73% hidden
//   behind computation
//
// Every kind of collective the steps ran is listed (the reduce mode's broadcasts too; not the
// startup's broadcast). "On the wire" is the time the communicator's worker spent running them
// (waiting for late peers included); "waited for" is the time the training executor was blocked
// on them, plus all of the collectives its kernels wait for themselves (allgather of sparse
// rows, barriers: BlockingBusy). overlap = 1 - waited / busy, clamped to [0, 1]
// (runtime/collective/collective_stats.h).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "executor/training/train_loop.h"
#include "runtime/collective/collective_stats.h"
#include "runtime/ps/client.h"

namespace fleet {

// The line above (without "fleet-run: " and the newline) for the collectives of the training
// steps, `steps`, and the executor's waits.
std::string OverlapLine(const CommunicatorStats& steps, const WaitStats& waits);

// Where the run took place: rank `rank` of `world`; `comm` (the collectives of the training
// steps) is null for a run that does not communicate.
struct RunPlace {
  int rank = 0;
  int world = 1;
  const CommunicatorStats* comm = nullptr;
  const char* transport = nullptr;    // the communicator's: "shm" or "gloo"
  const ps::PsTraffic* ps = nullptr;  // a parameter-server worker's traffic in the steps
};

// Writes (replaces) `path` with one JSON object:
//   {"rank": 0, "world_size": 2, "first_step": 0, "steps": 12, "samples": 384, "seconds": 1.9,
//    "samples_per_sec": 202.1, "final_loss": 2.3, "metrics": {"accuracy": 0.1},
//    "executor": {"runs": 12, "waits": 12, "waited_sec": 0.2},
//    "transport": "shm",
//    "collectives": {"allreduce": {"calls": 12, "bytes": 5.3e7, "busy_sec": 0.9}, ...},
//    "overlap": 0.78, "parameter_server": {"calls": 48, "bytes_sent": 1.2e6,
//    "bytes_received": 1.1e6, "bytes_per_step": 1.9e5}}
// Samples and seconds are this process's; "transport", "collectives" (those of the training
// steps) and "overlap" (over all of them) are null without a communicator, "parameter_server"
// without parameter servers. Errors name the path.
absl::Status WriteRunSummary(const std::string& path, const TrainResult& result,
                             const RunPlace& place);

}  // namespace fleet
