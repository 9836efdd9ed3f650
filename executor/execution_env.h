// ExecutionEnv: the runtime objects kernels may reach (a communicator, a parameter-server
// client, a per-rank random source), looked up by type.
//
// A runtime builds one env per process or per rank, installs it through ExecutorOptions::env,
// and a kernel asks for what it needs:
//
//   Communicator* comm = ctx.env().Get<Communicator>();
//   if (comm == nullptr) return ctx.FailedPrecondition("no communicator in the environment");
//
// so no kernel needs a process-wide global, and ranks run as threads in one process each with
// its own env. The env shares ownership of its services.
//
// Thread safety: fill the env before executors use it; after that it is read-only and Get may
// be called from any thread. Each service documents its own thread safety.
#pragma once

#include <memory>
#include <typeindex>
#include <utility>
#include <vector>

namespace fleet {

class ExecutionEnv {
 public:
  // Installs (or replaces) the service of type T.
  template <typename T>
  void Set(std::shared_ptr<T> service) {
    for (auto& [type, held] : services_) {
      if (type == std::type_index(typeid(T))) {
        held = std::move(service);
        return;
      }
    }
    services_.emplace_back(std::type_index(typeid(T)), std::move(service));
  }

  // The service of type T, or nullptr when none is installed.
  template <typename T>
  T* Get() const {
    for (const auto& [type, held] : services_) {
      if (type == std::type_index(typeid(T))) return static_cast<T*>(held.get());
    }
    return nullptr;
  }

  // An env with no services (what kernels see when the executor was given none).
  static const ExecutionEnv& Empty() {
    static const ExecutionEnv* const empty = new ExecutionEnv();
    return *empty;
  }

 private:
  // A handful of services: a vector scan beats a map.
  std::vector<std::pair<std::type_index, std::shared_ptr<void>>> services_;
};

}  // namespace fleet
