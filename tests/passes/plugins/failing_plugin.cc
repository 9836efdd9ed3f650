// A pass plugin whose registration reports a failure: the loader must pass the message on.
#include "passes/plugin_api.h"

extern "C" int fleet_register_passes(FleetPassRegistrar* registrar) {
  registrar->fail(registrar, "needs option FOO set in the environment");
  return 1;
}
