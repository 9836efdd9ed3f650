// Factories of the built-in passes listed in passes/passes.def (declared by X-macro).
#pragma once

#include <memory>

#include "passes/pass.h"

namespace fleet {

#define FLEET_PASS(name, factory) std::unique_ptr<Pass> factory();
#include "passes/passes.def"
#undef FLEET_PASS

}  // namespace fleet
