// The pass registry: the built-in passes (passes/passes.def) plus passes loaded from plugins,
// looked up by their kebab-case names.
//
//   PassRegistry registry = PassRegistry::WithBuiltins();
//   FLEET_RETURN_IF_ERROR(registry.LoadPlugin("libmy_pass.so"));
//   FLEET_ASSIGN_OR_RETURN(std::unique_ptr<Pass> pass, registry.Create("my-pass"));
//
// An unknown name is NOT_FOUND with the closest known names as a hint:
//   unknown pass 'fuse-matmul' (hint: did you mean 'fuse-matmul-add'?)
// Not thread-safe while plugins load; Create may be called from any thread afterwards.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "passes/pass.h"

namespace fleet {

using PassFactory = std::function<std::unique_ptr<Pass>()>;

struct PassInfo {
  std::string name;
  std::string description;
  std::string origin;  // "built-in" or the plugin's path
  PassFactory create;
};

class PassRegistry {
 public:
  // An empty registry (tests); tools start from WithBuiltins().
  PassRegistry() = default;
  // The passes listed in passes/passes.def.
  static PassRegistry WithBuiltins();

  // Adds a pass. INVALID_ARGUMENT when `name` is not kebab-case ([a-z0-9]+ joined by '-');
  // ALREADY_EXISTS when the name is taken (naming who registered it).
  absl::Status Add(std::string name, std::string description, std::string origin,
                   PassFactory create);

  // Loads a plugin: dlopen()s `path` and calls its exported fleet_register_passes (see
  // passes/plugin_api.h). NOT_FOUND when the file does not exist; INVALID_ARGUMENT when it
  // cannot be loaded, lacks the entry point, was built for another FLEET_PASS_PLUGIN_ABI_VERSION,
  // or its registration fails. On error no pass of that plugin stays registered. The library
  // stays loaded for the life of the process (its passes' code lives there).
  absl::Status LoadPlugin(const std::string& path);

  // A new instance of the pass named `name`, or NOT_FOUND with a "did you mean" hint.
  absl::StatusOr<std::unique_ptr<Pass>> Create(std::string_view name) const;
  const PassInfo* Find(std::string_view name) const;
  // Every registered pass, sorted by name.
  std::vector<const PassInfo*> List() const;

 private:
  std::vector<PassInfo> passes_;
};

// Free-function spelling of PassRegistry::LoadPlugin.
absl::Status LoadPassPlugin(const std::string& path, PassRegistry& registry);

// Splits a pipeline "a,b,c" into pass names (spaces around names are ignored).
// INVALID_ARGUMENT on an empty element ("a,,b").
absl::StatusOr<std::vector<std::string>> ParsePipeline(std::string_view pipeline);

// Levenshtein distance, for "did you mean" hints.
size_t EditDistance(std::string_view a, std::string_view b);

}  // namespace fleet
