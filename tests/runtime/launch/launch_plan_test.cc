// fleet-launch's plans: which processes a node starts and the role variables of each, checked by
// reading every child's variables back through the role makers (the launcher and the makers must
// agree), and one error naming the flag for each bad combination of flags.
#include "runtime/launch/launch_plan.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fleet::launch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Ports 40000, 40001, ... on the asked host, recording the requests.
struct FakePorts {
  std::vector<std::pair<std::string, int>> requests;
  PortPicker picker() {
    return [this](const std::string& host, int count) -> absl::StatusOr<std::vector<int>> {
      requests.emplace_back(host, count);
      std::vector<int> ports;
      for (int i = 0; i < count; ++i) ports.push_back(40000 + i);
      return ports;
    };
  }
};

Role RoleOf(const PlannedChild& child) {
  auto role = RoleFromEnvironment(MapEnvironment(child.env));
  EXPECT_TRUE(role.ok()) << child.name << ": " << role.status();
  return role.ok() ? *role : Role{};
}

Role TorchRoleOf(const PlannedChild& child) {
  auto role = TorchRunRoleMaker(MapEnvironment(child.env)).Generate();
  EXPECT_TRUE(role.ok()) << child.name << ": " << role.status();
  return role.ok() ? *role : Role{};
}

std::vector<std::string> Names(const LaunchPlan& plan) {
  std::vector<std::string> names;
  for (const PlannedChild& c : plan.children) names.push_back(c.name);
  return names;
}

TEST(LaunchPlanTest, CollectiveOnOneNode) {
  FakePorts ports;
  LaunchOptions o;
  o.nproc = 3;
  auto plan = PlanLaunch(o, ports.picker());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(ports.requests, ElementsAre(std::make_pair(std::string("127.0.0.1"), 3)));
  EXPECT_THAT(Names(*plan), ElementsAre("worker.0", "worker.1", "worker.2"));
  EXPECT_EQ(plan->summary, "collective: 3 workers on 127.0.0.1, master 127.0.0.1:40000");
  const PlannedChild& w1 = plan->children[1];
  EXPECT_EQ(w1.endpoint, "127.0.0.1:40001");
  EXPECT_EQ(w1.env.at("FLEET_ROLE"), "worker.1");
  EXPECT_EQ(w1.env.at("FLEET_HOST"), "127.0.0.1");
  EXPECT_EQ(w1.env.at("PADDLE_TRAINER_ENDPOINTS"),
            "127.0.0.1:40000,127.0.0.1:40001,127.0.0.1:40002");
  EXPECT_EQ(w1.env.at("MASTER_ADDR"), "127.0.0.1");
  EXPECT_EQ(w1.env.at("MASTER_PORT"), "40000");
  EXPECT_EQ(w1.env.at("LOCAL_WORLD_SIZE"), "3");
  EXPECT_EQ(w1.env.count("TRAINING_ROLE"), 0u);
  for (int i = 0; i < 3; ++i) {
    Role paddle = RoleOf(plan->children[i]);
    Role torch = TorchRoleOf(plan->children[i]);
    EXPECT_EQ(paddle.maker, "PaddleCloudRoleMaker, collective");
    for (const Role& r : {paddle, torch}) {
      EXPECT_TRUE(r.is_worker());
      EXPECT_EQ(r.index, i);
      EXPECT_EQ(r.num_workers, 3);
      EXPECT_EQ(r.local_rank, i);
      EXPECT_EQ(r.master, "127.0.0.1:40000");
    }
    EXPECT_EQ(paddle.endpoint, absl::StrCat("127.0.0.1:", 40000 + i));
  }
}

TEST(LaunchPlanTest, GpusStartOneProcessPerGpuSeeingOnlyIt) {
  FakePorts ports;
  LaunchOptions o;
  o.gpus = {"2", "0"};
  auto plan = PlanLaunch(o, ports.picker());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Names(*plan), ElementsAre("worker.0", "worker.1"));
  EXPECT_EQ(plan->children[0].env.at("CUDA_VISIBLE_DEVICES"), "2");
  EXPECT_EQ(plan->children[1].env.at("CUDA_VISIBLE_DEVICES"), "0");
  for (const PlannedChild& child : plan->children) {
    EXPECT_EQ(child.env.at("FLEET_DEVICE"), "cuda:0");
    EXPECT_EQ(child.env.at("WORLD_SIZE"), "2");
  }
  // --nproc may be given too, if it agrees.
  o.nproc = 2;
  EXPECT_TRUE(PlanLaunch(o, ports.picker()).ok());
  // Without --gpus, no GPU variable is set.
  LaunchOptions cpu;
  cpu.nproc = 1;
  auto cpu_plan = PlanLaunch(cpu, ports.picker());
  ASSERT_TRUE(cpu_plan.ok());
  EXPECT_EQ(cpu_plan->children[0].env.count("CUDA_VISIBLE_DEVICES"), 0u);
  EXPECT_EQ(cpu_plan->children[0].env.count("FLEET_DEVICE"), 0u);
}

TEST(LaunchPlanTest, CollectiveOverSeveralNodesMeetsAtTheMaster) {
  FakePorts ports;
  LaunchOptions o;
  o.nproc = 2;
  o.nnodes = 3;
  o.node_rank = 1;
  o.master = "10.0.0.1:29500";
  auto plan = PlanLaunch(o, ports.picker());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(Names(*plan), ElementsAre("worker.2", "worker.3"));
  EXPECT_EQ(plan->summary, "collective, node 1 of 3: workers 2..3 of 6, master 10.0.0.1:29500");
  for (int i = 0; i < 2; ++i) {
    const PlannedChild& c = plan->children[i];
    // No node knows the others' ports, so Paddle's list is not set and torchrun's names decide.
    EXPECT_EQ(c.env.count("PADDLE_TRAINER_ENDPOINTS"), 0u);
    EXPECT_EQ(c.env.at("PADDLE_TRAINER_ID"), std::to_string(2 + i));
    Role r = RoleOf(c);
    EXPECT_EQ(r.maker, "TorchRunRoleMaker");
    EXPECT_EQ(r.index, 2 + i);
    EXPECT_EQ(r.num_workers, 6);
    EXPECT_EQ(r.local_rank, i);
    EXPECT_EQ(r.master, "10.0.0.1:29500");
  }
}

TEST(LaunchPlanTest, ParameterServer) {
  FakePorts ports;
  LaunchOptions o;
  o.workers = 2;
  o.servers = 2;
  auto plan = PlanLaunch(o, ports.picker());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(ports.requests, ElementsAre(std::make_pair(std::string("127.0.0.1"), 4)));
  EXPECT_THAT(Names(*plan), ElementsAre("server.0", "server.1", "worker.0", "worker.1"));
  EXPECT_EQ(plan->summary, "parameter server: 2 workers, 2 servers on 127.0.0.1");
  const PlannedChild& s1 = plan->children[1];
  EXPECT_EQ(s1.env.at("TRAINING_ROLE"), "PSERVER");
  EXPECT_EQ(s1.env.at("POD_IP"), "127.0.0.1");
  EXPECT_EQ(s1.env.at("PADDLE_PORT"), "40001");
  EXPECT_EQ(s1.env.count("RANK"), 0u);  // torchrun has no servers
  Role server = RoleOf(s1);
  EXPECT_TRUE(server.is_server());
  EXPECT_EQ(server.index, 1);
  EXPECT_EQ(server.endpoint, "127.0.0.1:40001");
  EXPECT_THAT(server.server_endpoints, ElementsAre("127.0.0.1:40000", "127.0.0.1:40001"));
  EXPECT_THAT(server.worker_endpoints, ElementsAre("127.0.0.1:40002", "127.0.0.1:40003"));
  for (int i = 0; i < 2; ++i) {
    const PlannedChild& w = plan->children[2 + i];
    EXPECT_EQ(w.env.at("TRAINING_ROLE"), "TRAINER");
    Role paddle = RoleOf(w);
    Role torch = TorchRoleOf(w);
    EXPECT_EQ(paddle.maker, "PaddleCloudRoleMaker, TRAINING_ROLE=TRAINER");
    EXPECT_EQ(paddle.num_servers, 2);
    EXPECT_EQ(paddle.endpoint, absl::StrCat("127.0.0.1:", 40002 + i));
    for (const Role& r : {paddle, torch}) {
      EXPECT_TRUE(r.is_worker());
      EXPECT_EQ(r.index, i);
      EXPECT_EQ(r.num_workers, 2);
      EXPECT_EQ(r.master, "127.0.0.1:40002");
    }
  }
}

TEST(LaunchPlanTest, ExplicitEndpointsStartTheEntriesOfThisHost) {
  FakePorts ports;
  LaunchOptions o;
  o.server_endpoints = {"10.0.0.1:6000,10.0.0.2:6000"};
  o.worker_endpoints = {"10.0.0.2:7000,10.0.0.1:7000,10.0.0.2:7001"};
  o.host = "10.0.0.2";
  auto plan = PlanLaunch(o, ports.picker());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(ports.requests.empty());
  EXPECT_THAT(Names(*plan), ElementsAre("server.1", "worker.0", "worker.2"));
  EXPECT_EQ(plan->summary,
            "parameter server: server.1, worker.0, worker.2 of 3 workers, 2 servers (this host: "
            "10.0.0.2)");
  Role server = RoleOf(plan->children[0]);
  EXPECT_TRUE(server.is_server());
  EXPECT_EQ(server.index, 1);
  EXPECT_EQ(server.local_rank, 0);
  Role w2 = RoleOf(plan->children[2]);
  EXPECT_EQ(w2.index, 2);
  EXPECT_EQ(w2.local_rank, 1);  // the second worker on 10.0.0.2
  EXPECT_EQ(w2.endpoint, "10.0.0.2:7001");
  EXPECT_EQ(TorchRoleOf(plan->children[2]).local_rank, 1);
  EXPECT_EQ(plan->children[2].env.at("LOCAL_WORLD_SIZE"), "2");
  EXPECT_EQ(w2.master, "10.0.0.2:7000");

  // Workers only: a collective job.
  LaunchOptions c;
  c.worker_endpoints = {"127.0.0.1:7000,127.0.0.1:7001"};
  auto collective = PlanLaunch(c, ports.picker());
  ASSERT_TRUE(collective.ok()) << collective.status();
  EXPECT_EQ(RoleOf(collective->children[1]).maker, "PaddleCloudRoleMaker, collective");
}

TEST(LaunchPlanTest, BadFlagsNameTheFlag) {
  FakePorts ports;
  struct Case {
    LaunchOptions options;
    const char* message;
  };
  auto make = [](auto edit) {
    LaunchOptions o;
    edit(o);
    return o;
  };
  const Case cases[] = {
      {LaunchOptions{}, "no job given: use --nproc N"},
      {make([](LaunchOptions& o) { o.nproc = 2, o.workers = 1, o.servers = 1; }),
       "describe different jobs; give one of them"},
      {make([](LaunchOptions& o) { o.nproc = 2, o.worker_endpoints = {"h:1"}; }),
       "describe different jobs"},
      {make([](LaunchOptions& o) { o.nproc = -1; }), "--nproc -1: expected >= 1"},
      {make([](LaunchOptions& o) { o.nproc = 2, o.nnodes = 2; }), "--nnodes 2 needs --master"},
      {make([](LaunchOptions& o) { o.nproc = 2, o.nnodes = 2, o.node_rank = 2, o.master = "h:1"; }),
       "--node-rank 2: out of range for --nnodes 2; expected 0..1"},
      {make([](LaunchOptions& o) { o.nproc = 2, o.nnodes = 0; }), "--nnodes 0: expected >= 1"},
      {make([](LaunchOptions& o) { o.nproc = 2, o.nnodes = 2, o.master = "h"; }),
       "--master \"h\": expected host:port"},
      {make([](LaunchOptions& o) { o.nproc = 2, o.master = "h:1"; }),
       "--master: only with --nnodes > 1"},
      {make([](LaunchOptions& o) { o.workers = 2; }), "--workers 2 needs --servers N"},
      {make([](LaunchOptions& o) { o.servers = 2; }), "--servers 2 needs --workers N"},
      {make([](LaunchOptions& o) { o.workers = 2, o.servers = 1, o.nnodes = 2; }),
       "--nnodes, --node-rank and --master are for collective jobs"},
      {make([](LaunchOptions& o) { o.server_endpoints = {"h:1"}; }),
       "--servers-endpoints needs --workers-endpoints"},
      {make([](LaunchOptions& o) { o.worker_endpoints = {"127.0.0.1:1,127.0.0.1"}; }),
       "--workers-endpoints: entry 2 \"127.0.0.1\": expected host:port"},
      {make([](LaunchOptions& o) {
         o.server_endpoints = {"127.0.0.1:1"}, o.worker_endpoints = {"127.0.0.1:1"};
       }),
       "127.0.0.1:1 is in both --servers-endpoints and --workers-endpoints"},
      {make([](LaunchOptions& o) { o.worker_endpoints = {"10.0.0.1:1"}; }),
       "--host 127.0.0.1: no endpoint of --servers-endpoints or --workers-endpoints is on this "
       "host"},
      {make([](LaunchOptions& o) { o.nproc = 1, o.host = "a:b"; }), "--host \"a:b\""},
      {make([](LaunchOptions& o) {
         o.gpus = {"0", "1"}, o.nproc = 3;
       }),
       "--gpus lists 2 GPUs but --nproc is 3"},
      {make([](LaunchOptions& o) {
         o.gpus = {"0", "0"};
       }),
       "--gpus: GPU 0 is listed twice"},
      {make([](LaunchOptions& o) {
         o.gpus = {"0", ""};
       }),
       "--gpus: '' is not a GPU id"},
      {make([](LaunchOptions& o) { o.gpus = {"0"}, o.workers = 1, o.servers = 1; }),
       "--gpus starts collective processes"},
  };
  for (const Case& c : cases) {
    auto plan = PlanLaunch(c.options, ports.picker());
    ASSERT_FALSE(plan.ok()) << c.message;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(plan.status().message()), HasSubstr(c.message));
  }
}

TEST(LaunchPlanTest, PortPickerFailureIsReturned) {
  LaunchOptions o;
  o.nproc = 2;
  auto plan = PlanLaunch(o, [](const std::string&, int) -> absl::StatusOr<std::vector<int>> {
    return absl::UnavailableError("no ports");
  });
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kUnavailable);
}

TEST(LaunchPlanTest, ChildEnvironmentReplacesInheritedRoleVariables) {
  PlannedChild child;
  child.env = {{"FLEET_ROLE", "worker.0"}, {"RANK", "0"}};
  std::vector<std::string> env = ChildEnvironment(
      {"PATH=/usr/bin", "RANK=99", "OMPI_COMM_WORLD_RANK=3", "FLEET_ROLE=old", "X=a=b"}, child);
  EXPECT_THAT(env, ElementsAre("PATH=/usr/bin", "X=a=b", "FLEET_ROLE=worker.0", "RANK=0"));
}

}  // namespace
}  // namespace fleet::launch
