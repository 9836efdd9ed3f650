/* Pass plugins: how a shared library adds passes to Fleet.
 *
 * A plugin is a shared library that exports one C function,
 *
 *   extern "C" int fleet_register_passes(FleetPassRegistrar* registrar);
 *
 * which the loader (LoadPassPlugin in passes/registry.h) calls once after dlopen(). The function
 * adds each of its passes with registrar->add_pass and returns 0, or reports a problem with
 * registrar->fail and returns non-zero. The registrar is a plain C struct so that the entry
 * point has one stable, unmangled shape; the passes themselves are C++ classes (fleet::Pass)
 * compiled against the same public headers as the host, so a plugin must be built with the same
 * Fleet version (checked through FLEET_PASS_PLUGIN_ABI_VERSION) and the same C++ standard
 * library as the tool that loads it.
 *
 * C++ plugins normally use the helper at the end of this header:
 *
 *   extern "C" int fleet_register_passes(FleetPassRegistrar* registrar) {
 *     return fleet::AddPluginPass<MyPass>(registrar);
 *   }
 *
 * The plugin calls into the host for everything else (op schemas, the text printer, Status):
 * build it as a MODULE library that does not link Fleet's libraries; the tools export their
 * symbols for it. See docs/writing-a-pass.md.
 */
#ifndef FLEET_PASSES_PLUGIN_API_H_
#define FLEET_PASSES_PLUGIN_API_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised whenever fleet::Pass, fleet::PassContext or the IR structs change layout. A plugin
 * built for another version is refused at load time. */
#define FLEET_PASS_PLUGIN_ABI_VERSION 3

/* The exported entry point's name, for dlsym. */
#define FLEET_PASS_PLUGIN_ENTRY "fleet_register_passes"

/* Creates a new pass object: a `fleet::Pass*` allocated with `new`, owned by the caller. */
typedef void* (*FleetPassFactory)(void);

typedef struct FleetPassRegistrar FleetPassRegistrar;
struct FleetPassRegistrar {
  /* The host's FLEET_PASS_PLUGIN_ABI_VERSION. */
  uint32_t host_abi_version;
  /* Host data; plugins do not touch it. */
  void* host;
  /* Adds a pass named `name` (kebab-case, unique among built-ins and loaded plugins),
   * described by `description` (may be NULL). `plugin_abi_version` is the plugin's
   * FLEET_PASS_PLUGIN_ABI_VERSION. Returns 0 when added; non-zero when refused (version
   * mismatch, bad or duplicate name), after recording why for the loader's error message. */
  int (*add_pass)(FleetPassRegistrar* self, uint32_t plugin_abi_version, const char* name,
                  const char* description, FleetPassFactory create);
  /* Records why registration failed; the loader puts `message` in its error. */
  void (*fail)(FleetPassRegistrar* self, const char* message);
};

/* The one symbol a plugin exports. Returns 0 on success. */
typedef int (*FleetRegisterPassesFn)(FleetPassRegistrar* registrar);

#ifdef __cplusplus
} /* extern "C" */

#include <string>

#include "passes/pass.h"

namespace fleet {

// Adds pass class T (default-constructible, derived from fleet::Pass) through `registrar`,
// under T's name() and description(). Returns add_pass's result, so calls chain with ||:
//   return AddPluginPass<A>(r) || AddPluginPass<B>(r);
template <typename T>
int AddPluginPass(FleetPassRegistrar* registrar) {
  T probe;
  const std::string name(probe.name());
  const std::string description(probe.description());
  return registrar->add_pass(registrar, FLEET_PASS_PLUGIN_ABI_VERSION, name.c_str(),
                             description.c_str(),
                             []() -> void* { return static_cast<Pass*>(new T()); });
}

}  // namespace fleet
#endif /* __cplusplus */

#endif /* FLEET_PASSES_PLUGIN_API_H_ */
