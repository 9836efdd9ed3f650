// The default entry points of Pass (passes/pass.h): a job runs its main program, a program
// runs every block.
#include "passes/pass.h"

#include "absl/strings/str_cat.h"

namespace fleet {

absl::StatusOr<bool> Pass::RunOnJob(Job& job, PassContext& ctx) {
  Program* main = job.Find(kMainProgram);
  if (main == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the job has no program \"", kMainProgram, "\" to run on"));
  }
  return Run(*main, ctx);
}

absl::StatusOr<bool> Pass::Run(Program& program, PassContext& ctx) {
  bool changed = false;
  // Blocks are indexed after their parents (the verifier checks it), so a rewrite of a parent
  // is done before its children are visited. A pass may append blocks; they are visited too.
  for (size_t b = 0; b < program.blocks.size(); ++b) {
    absl::StatusOr<bool> block_changed = RunOnBlock(program, static_cast<int>(b), ctx);
    if (!block_changed.ok()) return block_changed.status();
    changed |= *block_changed;
  }
  return changed;
}

absl::StatusOr<bool> Pass::RunOnBlock(Program&, int, PassContext&) {
  return absl::UnimplementedError(
      absl::StrCat("pass '", std::string(name()),
                   "' has no one-program form: it overrides neither Run nor RunOnBlock (run it "
                   "over a whole job)"));
}

}  // namespace fleet
