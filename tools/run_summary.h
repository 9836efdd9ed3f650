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

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "executor/scope.h"
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
  // Mixed precision (fleet-transpile --amp): the loss scale at the end and the steps skipped
  // since the job began; null when the job is not mixed precision.
  struct Amp {
    double loss_scale = 0;
    int64_t skipped_steps = 0;
  };
  int rank = 0;
  int world = 1;
  const CommunicatorStats* comm = nullptr;
  const char* transport = nullptr;    // the communicator's: "shm" or "gloo"
  const ps::PsTraffic* ps = nullptr;  // a parameter-server worker's traffic in the steps
  const Amp* amp = nullptr;
};

// The mixed-precision state of a trained job's scope (the amp pass's loss scale and count of
// skipped steps, copied to the host), or nullopt when the job is not mixed precision.
std::optional<RunPlace::Amp> MixedPrecisionState(const Scope& state);

// "mixed precision fp16: 13 steps skipped since the job began (their gradients overflowed);
// loss scale now 4096" (without "fleet-run: ").
std::string MixedPrecisionLine(const RunPlace::Amp& amp);

// Writes (replaces) `path` with one JSON object:
//   {"rank": 0, "world_size": 2, "first_step": 0, "steps": 12, "samples": 384, "seconds": 1.9,
//    "samples_per_sec": 202.1, "final_loss": 2.3, "metrics": {"accuracy": 0.1},
//    "executor": {"runs": 12, "waits": 12, "waited_sec": 0.2},
//    "transport": "shm",
//    "collectives": {"allreduce": {"calls": 12, "bytes": 5.3e7, "busy_sec": 0.9}, ...},
//    "overlap": 0.78, "parameter_server": {"calls": 48, "bytes_sent": 1.2e6,
//    "bytes_received": 1.1e6, "bytes_per_step": 1.9e5},
//    "amp": {"loss_scale": 4096, "skipped_steps": 13}}
// Samples and seconds are this process's; "transport", "collectives" (those of the training
// steps) and "overlap" (over all of them) are null without a communicator, "parameter_server"
// without parameter servers, "amp" without mixed precision. Errors name the path.
absl::Status WriteRunSummary(const std::string& path, const TrainResult& result,
                             const RunPlace& place);

}  // namespace fleet
