// A child for the fleet-launch tests: prints the role RoleFromEnvironment finds in the process's
// environment as NAME=value lines, or the error on stderr with exit code 1.
#include <iostream>

#include "absl/strings/str_join.h"
#include "runtime/role_maker.h"

int main() {
  absl::StatusOr<fleet::Role> role = fleet::RoleFromEnvironment(fleet::ProcessEnvironment());
  if (!role.ok()) {
    std::cerr << "role_probe: error: " << role.status().message() << "\n";
    return 1;
  }
  std::cout << "name=" << role->Name() << "\n"
            << "num_workers=" << role->num_workers << "\n"
            << "num_servers=" << role->num_servers << "\n"
            << "server_endpoints=" << absl::StrJoin(role->server_endpoints, ",") << "\n"
            << "worker_endpoints=" << absl::StrJoin(role->worker_endpoints, ",") << "\n"
            << "endpoint=" << role->endpoint << "\n"
            << "master=" << role->master << "\n"
            << "local_rank=" << role->local_rank << "\n"
            << "maker=" << role->maker << "\n";
  return 0;
}
