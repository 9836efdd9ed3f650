// A pass plugin built for another plugin ABI version: loading it must fail with a clear error.
#include "passes/plugin_api.h"

extern "C" int fleet_register_passes(FleetPassRegistrar* registrar) {
  return registrar->add_pass(registrar, FLEET_PASS_PLUGIN_ABI_VERSION + 99, "future-pass",
                             "from the future", []() -> void* { return nullptr; });
}
