// The pass registry: built-ins from passes/passes.def, plugin loading, and name lookup with
// "did you mean" hints.
#include "passes/registry.h"

#include <dlfcn.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "passes/builtin_passes.h"
#include "passes/plugin_api.h"

namespace fleet {

namespace {

bool IsKebabCase(std::string_view name) {
  if (name.empty() || name.front() == '-' || name.back() == '-') return false;
  char prev = 0;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || (c == '-' && prev == '-')) return false;
    prev = c;
  }
  return true;
}

// What the host hands a plugin's fleet_register_passes: passes are staged here and added to
// the registry only when the whole registration succeeds.
struct PluginLoad {
  std::string path;
  const PassRegistry* registry = nullptr;
  std::vector<PassInfo> staged;
  std::string error;  // first failure, "" while all is well
};

int AddPluginPassThunk(FleetPassRegistrar* self, uint32_t plugin_abi_version, const char* name,
                       const char* description, FleetPassFactory create) {
  auto* load = static_cast<PluginLoad*>(self->host);
  if (!load->error.empty()) return 1;
  if (plugin_abi_version != FLEET_PASS_PLUGIN_ABI_VERSION) {
    load->error = absl::StrCat("plugin was built for pass plugin ABI version ", plugin_abi_version,
                               "; this Fleet has version ", FLEET_PASS_PLUGIN_ABI_VERSION,
                               " (hint: rebuild the plugin against this Fleet's headers)");
    return 1;
  }
  if (name == nullptr || create == nullptr) {
    load->error = "plugin added a pass without a name or factory";
    return 1;
  }
  std::string pass_name(name);
  if (!IsKebabCase(pass_name)) {
    load->error = absl::StrCat("plugin pass name '", pass_name,
                               "' is not kebab-case (lower-case words joined by '-')");
    return 1;
  }
  if (const PassInfo* existing = load->registry->Find(pass_name)) {
    load->error =
        absl::StrCat("pass '", pass_name, "' is already registered (", existing->origin, ")");
    return 1;
  }
  for (const PassInfo& p : load->staged) {
    if (p.name == pass_name) {
      load->error = absl::StrCat("plugin adds pass '", pass_name, "' twice");
      return 1;
    }
  }
  PassInfo info;
  info.name = pass_name;
  info.description = description ? description : "";
  info.origin = load->path;
  info.create = [create]() { return std::unique_ptr<Pass>(static_cast<Pass*>(create())); };
  load->staged.push_back(std::move(info));
  return 0;
}

void FailThunk(FleetPassRegistrar* self, const char* message) {
  auto* load = static_cast<PluginLoad*>(self->host);
  if (load->error.empty()) {
    load->error = message && *message ? message : "plugin reported a failure without a message";
  }
}

}  // namespace

PassRegistry PassRegistry::WithBuiltins() {
  PassRegistry registry;
#define FLEET_PASS(name, factory)                                                         \
  {                                                                                       \
    std::unique_ptr<Pass> probe = factory();                                              \
    registry.passes_.push_back(                                                           \
        {name, std::string(probe->description()), "built-in", [] { return factory(); }}); \
  }
#include "passes/passes.def"
#undef FLEET_PASS
  return registry;
}

absl::Status PassRegistry::Add(std::string name, std::string description, std::string origin,
                               PassFactory create) {
  if (!IsKebabCase(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("pass name '", name, "' is not kebab-case (lower-case words joined by '-')"));
  }
  if (const PassInfo* existing = Find(name)) {
    return absl::AlreadyExistsError(
        absl::StrCat("pass '", name, "' is already registered (", existing->origin, ")"));
  }
  passes_.push_back(
      {std::move(name), std::move(description), std::move(origin), std::move(create)});
  return absl::OkStatus();
}

absl::Status PassRegistry::LoadPlugin(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": pass plugin not found (no such file)"));
  }
  // dlopen searches the library path for names without a slash; a user means the file here.
  std::string open_path = path.find('/') == std::string::npos ? "./" + path : path;
  void* handle = dlopen(open_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": cannot load pass plugin: ", why ? why : "unknown dlopen error",
        " (hint: build it against this Fleet's headers, without linking Fleet's libraries)"));
  }
  dlerror();
  void* symbol = dlsym(handle, FLEET_PASS_PLUGIN_ENTRY);
  if (symbol == nullptr) {
    dlclose(handle);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a Fleet pass plugin: it does not export '",
                     FLEET_PASS_PLUGIN_ENTRY, "' (hint: define extern \"C\" int ",
                     FLEET_PASS_PLUGIN_ENTRY, "(FleetPassRegistrar*), see passes/plugin_api.h)"));
  }
  PluginLoad load;
  load.path = path;
  load.registry = this;
  FleetPassRegistrar registrar{FLEET_PASS_PLUGIN_ABI_VERSION, &load, &AddPluginPassThunk,
                               &FailThunk};
  int rc = reinterpret_cast<FleetRegisterPassesFn>(symbol)(&registrar);
  if (load.error.empty() && rc != 0) {
    load.error = absl::StrCat(FLEET_PASS_PLUGIN_ENTRY, " returned ", rc);
  }
  if (load.error.empty() && load.staged.empty()) load.error = "plugin registered no passes";
  if (!load.error.empty()) {
    // The library stays loaded: a failed registration may have left static state behind
    // that refers to it.
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot register pass plugin: ", load.error));
  }
  for (PassInfo& info : load.staged) passes_.push_back(std::move(info));
  return absl::OkStatus();
}

const PassInfo* PassRegistry::Find(std::string_view name) const {
  for (const PassInfo& p : passes_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<const PassInfo*> PassRegistry::List() const {
  std::vector<const PassInfo*> out;
  for (const PassInfo& p : passes_) out.push_back(&p);
  std::sort(out.begin(), out.end(),
            [](const PassInfo* a, const PassInfo* b) { return a->name < b->name; });
  return out;
}

absl::StatusOr<std::unique_ptr<Pass>> PassRegistry::Create(std::string_view name) const {
  if (const PassInfo* info = Find(name)) {
    std::unique_ptr<Pass> pass = info->create();
    if (pass == nullptr) {
      return absl::InternalError(
          absl::StrCat("factory of pass '", info->name, "' (", info->origin, ") returned null"));
    }
    return pass;
  }
  // Suggest the closest names: within a third of the name's length (at least 2 edits), or
  // those that start with what was typed.
  size_t best = std::string_view::npos;
  std::vector<std::string> suggestions;
  for (const PassInfo* p : List()) {
    size_t d = EditDistance(name, p->name);
    size_t limit = std::max<size_t>(2, name.size() / 3);
    bool prefix = name.size() >= 3 && p->name.compare(0, name.size(), name) == 0;
    if (prefix) d = std::min(d, limit);
    if (d > limit) continue;
    if (d < best) {
      best = d;
      suggestions.clear();
    }
    if (d == best) suggestions.push_back(absl::StrCat("'", p->name, "'"));
  }
  std::string hint;
  if (!suggestions.empty()) {
    hint = absl::StrCat(" (hint: did you mean ", absl::StrJoin(suggestions, " or "), "?)");
  } else {
    std::vector<std::string> names;
    for (const PassInfo* p : List()) names.push_back(p->name);
    hint = absl::StrCat(" (known passes: ", absl::StrJoin(names, ", "), ")");
  }
  return absl::NotFoundError(absl::StrCat("unknown pass '", std::string(name), "'", hint));
}

absl::Status LoadPassPlugin(const std::string& path, PassRegistry& registry) {
  return registry.LoadPlugin(path);
}

absl::StatusOr<std::vector<std::string>> ParsePipeline(std::string_view pipeline) {
  std::vector<std::string> names;
  absl::string_view text(pipeline.data(), pipeline.size());
  if (absl::StripAsciiWhitespace(text).empty()) return names;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    absl::string_view name = absl::StripAsciiWhitespace(part);
    if (name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("pipeline '", std::string(pipeline),
                                                     "' has an empty pass name; expected a,b,c"));
    }
    names.emplace_back(name);
  }
  return names;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace fleet
