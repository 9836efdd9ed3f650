#include "tools/inference_pipeline.h"

#include "ir/status_macros.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"

namespace fleet {

absl::Status OptimizeForInference(Program& program) {
  PassRegistry registry = PassRegistry::WithBuiltins();
  PassManager manager;
  FLEET_RETURN_IF_ERROR(manager.AddPipeline(kInferencePipeline, registry));
  PassContext ctx;
  return manager.Run(program, ctx).status();
}

}  // namespace fleet
