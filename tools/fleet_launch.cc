// fleet-launch: starts the processes of a distributed job on this node, gives each its role
// through the environment, prefixes their output with the role, and ends when the job does.
//
//   fleet-launch --nproc 2 [--log-dir logs/] -- fleet-run job/ --data train/
//   fleet-launch --workers 2 --servers 2 -- fleet-run job/ --data train/
//
// The plan (runtime/launch/launch_plan.h) turns the flags into roles; the supervisor
// (runtime/launch/supervisor.h) runs them. docs/launch.md describes both.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "runtime/launch/free_ports.h"
#include "runtime/launch/launch_plan.h"
#include "runtime/launch/supervisor.h"
#include "tools/version.h"

extern char** environ;

int main(int argc, char** argv) {
  CLI::App app{
      "fleet-launch: start the processes of a distributed job on this node, each with its role\n"
      "in the environment (Paddle's and torchrun's variables, and FLEET_ROLE=worker.N or\n"
      "server.N), and wait for the job to end. Every line a process prints is shown with its\n"
      "role in front: [worker.1] ...  The exit code is 0 when every worker exits with 0, else\n"
      "that of the first process to fail (128 + signal when killed), after stopping the others."};
  fleet::launch::LaunchOptions options;
  std::string servers_endpoints, workers_endpoints, log_dir;
  double server_grace = 30, stop_grace = 10;
  std::vector<std::string> command;
  app.add_option("--nproc", options.nproc,
                 "collective job: the number of worker processes (ranks) on this node")
      ->check(CLI::Range(1, 4096));
  std::string gpus;
  app.add_option("--gpus", gpus,
                 "collective job: one worker process per GPU of this list (e.g. 0,1), each "
                 "seeing only its GPU (CUDA_VISIBLE_DEVICES) and training on it (FLEET_DEVICE)");
  app.add_option("--workers", options.workers,
                 "parameter-server job: the number of workers (trainers); needs --servers")
      ->check(CLI::Range(1, 4096));
  app.add_option("--servers", options.servers,
                 "parameter-server job: the number of parameter servers; needs --workers")
      ->check(CLI::Range(1, 4096));
  app.add_option("--workers-endpoints", workers_endpoints,
                 "every worker's host:port, comma-separated, for the whole job; this node starts "
                 "the entries on --host (a collective job without --servers-endpoints)");
  app.add_option("--servers-endpoints", servers_endpoints,
                 "every server's host:port, comma-separated, for the whole job; needs "
                 "--workers-endpoints");
  app.add_option("--nnodes", options.nnodes,
                 "collective job over several nodes: the number of nodes, each running "
                 "fleet-launch with the same --nproc and --master")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--node-rank", options.node_rank,
                 "this node's index, 0..NNODES-1; its ranks are NODE_RANK*NPROC and on")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--master", options.master,
                 "with --nnodes > 1: host:port where rank 0 serves the rendezvous (on node 0)");
  app.add_option("--host", options.host,
                 "this node's address: the host of the endpoints it picks, and which entries of "
                 "--*-endpoints it starts")
      ->capture_default_str();
  app.add_option("--log-dir", log_dir,
                 "also write each process's output, without the prefix, to LOG_DIR/worker.N.log "
                 "and LOG_DIR/server.N.log (created if missing)");
  app.add_option("--server-grace", server_grace,
                 "seconds the servers get to exit by themselves after the last worker finished; "
                 "then they are stopped (SIGTERM) and it is reported")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stop-grace", stop_grace,
                 "seconds between SIGTERM and SIGKILL when processes are stopped")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("command", command, "the program every process runs, and its arguments");
  app.footer(
      "Examples:\n"
      "  fleet-launch --nproc 2 --log-dir logs/ -- fleet-run job/ --data train/\n"
      "  fleet-launch --gpus 0,1 -- fleet-run job/ --data train/   (one rank per GPU)\n"
      "      two collective ranks on 127.0.0.1; logs/worker.0.log, logs/worker.1.log\n"
      "  fleet-launch --workers 2 --servers 2 -- fleet-run job/ --data train/\n"
      "      a parameter-server job: server.0, server.1, worker.0, worker.1 on free ports\n"
      "  fleet-launch --servers-endpoints 10.0.0.1:6000,10.0.0.2:6000 \\\n"
      "               --workers-endpoints 10.0.0.3:6001,10.0.0.4:6001 --host 10.0.0.3 -- ...\n"
      "      the same job over hosts: run it on every host with that host's --host\n"
      "  fleet-launch --nnodes 2 --node-rank 0 --master 10.0.0.1:29500 --nproc 2 -- ...\n"
      "      ranks 0 and 1 of 4; node 1 runs the same with --node-rank 1\n"
      "Ports are picked free on --host (bind port 0). Each process gets, besides what\n"
      "fleet-launch inherited (role variables removed): FLEET_ROLE; Paddle's TRAINING_ROLE,\n"
      "PADDLE_PSERVERS_IP_PORT_LIST, PADDLE_TRAINERS_NUM, PADDLE_TRAINER_ID,\n"
      "PADDLE_TRAINER_ENDPOINTS, PADDLE_CURRENT_ENDPOINT, POD_IP, PADDLE_PORT (those that apply);\n"
      "torchrun's RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT\n"
      "(workers). Processes run in their own process groups and die with fleet-launch; SIGINT\n"
      "and SIGTERM are forwarded to them. See docs/launch.md.");
  app.set_version_flag("--version", [] { return fleet::VersionText("fleet-launch"); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "fleet-launch: error: " << e.what() << " (see fleet-launch --help)\n";
    return 2;
  }
  if (command.empty()) {
    std::cerr << "fleet-launch: error: no command given (usage: fleet-launch FLAGS -- COMMAND "
                 "[ARGS...]; see fleet-launch --help)\n";
    return 2;
  }
  if (!servers_endpoints.empty()) options.server_endpoints = {servers_endpoints};
  if (!workers_endpoints.empty()) options.worker_endpoints = {workers_endpoints};
  if (!gpus.empty()) options.gpus = absl::StrSplit(gpus, ',');

  absl::StatusOr<fleet::launch::LaunchPlan> plan =
      fleet::launch::PlanLaunch(options, fleet::launch::PickFreePorts);
  if (!plan.ok()) {
    std::cerr << "fleet-launch: error: " << plan.status().message() << "\n";
    return 2;
  }
  fleet::launch::SupervisorOptions run;
  run.command = command;
  for (char** e = environ; *e != nullptr; ++e) run.inherited_env.emplace_back(*e);
  run.log_dir = log_dir;
  run.server_grace = std::chrono::milliseconds(static_cast<int64_t>(server_grace * 1000));
  run.stop_grace = std::chrono::milliseconds(static_cast<int64_t>(stop_grace * 1000));
  std::cerr << "fleet-launch: " << plan->summary << "\n";
  absl::StatusOr<int> code = fleet::launch::Supervise(*plan, run);
  if (!code.ok()) {
    std::cerr << "fleet-launch: error: " << code.status().message() << "\n";
    return 1;
  }
  return *code;
}
