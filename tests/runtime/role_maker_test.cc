// Role makers: every maker on well-formed variables, and each malformed or missing variable
// giving an INVALID_ARGUMENT that names it, its value and the maker.
#include "runtime/role_maker.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fleet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Vars = std::map<std::string, std::string>;

// Vars `base` with `changes` applied; a change to "<unset>" removes the variable.
Vars With(Vars base, const Vars& changes) {
  for (const auto& [k, v] : changes) {
    if (v == "<unset>") {
      base.erase(k);
    } else {
      base[k] = v;
    }
  }
  return base;
}

absl::StatusOr<Role> Paddle(const Vars& vars) {
  return PaddleCloudRoleMaker(MapEnvironment(vars)).Generate();
}
absl::StatusOr<Role> TorchRun(const Vars& vars) {
  return TorchRunRoleMaker(MapEnvironment(vars)).Generate();
}
absl::StatusOr<Role> Mpi(const Vars& vars) { return MpiRoleMaker(MapEnvironment(vars)).Generate(); }

// An INVALID_ARGUMENT (or `code`) whose message holds every fragment.
void ExpectError(const absl::StatusOr<Role>& role, std::initializer_list<const char*> fragments,
                 absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  ASSERT_FALSE(role.ok()) << role->DebugString();
  EXPECT_EQ(role.status().code(), code) << role.status();
  for (const char* f : fragments) EXPECT_THAT(std::string(role.status().message()), HasSubstr(f));
}

// ---- Paddle, parameter-server mode ----

const Vars kPsTrainer = {
    {"TRAINING_ROLE", "TRAINER"},
    {"PADDLE_PSERVERS_IP_PORT_LIST", "10.0.0.1:6000,10.0.0.2:6000,10.0.0.1:6001"},
    {"PADDLE_TRAINERS_NUM", "3"},
    {"PADDLE_TRAINER_ID", "2"},
    {"PADDLE_TRAINER_ENDPOINTS", "10.0.0.3:7000,10.0.0.4:7000,10.0.0.3:7001"},
};
const Vars kPsServer = With(kPsTrainer, {{"TRAINING_ROLE", "PSERVER"},
                                         {"PADDLE_TRAINER_ID", "<unset>"},
                                         {"POD_IP", "10.0.0.1"},
                                         {"PADDLE_PORT", "6001"}});

TEST(PaddleCloudRoleMakerTest, Trainer) {
  auto role = Paddle(kPsTrainer);
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_TRUE(role->is_worker());
  EXPECT_EQ(role->index, 2);
  EXPECT_EQ(role->num_workers, 3);
  EXPECT_EQ(role->num_servers, 3);
  EXPECT_THAT(role->server_endpoints,
              ElementsAre("10.0.0.1:6000", "10.0.0.2:6000", "10.0.0.1:6001"));
  EXPECT_THAT(role->worker_endpoints,
              ElementsAre("10.0.0.3:7000", "10.0.0.4:7000", "10.0.0.3:7001"));
  EXPECT_EQ(role->endpoint, "10.0.0.3:7001");
  EXPECT_EQ(role->master, "10.0.0.3:7000");
  EXPECT_EQ(role->local_rank, 1);  // the second trainer on 10.0.0.3
  EXPECT_EQ(role->maker, "PaddleCloudRoleMaker, TRAINING_ROLE=TRAINER");
  EXPECT_EQ(role->Name(), "worker.2");
}

TEST(PaddleCloudRoleMakerTest, TrainerWithoutEndpointListKnowsNoEndpoints) {
  auto role = Paddle(With(kPsTrainer, {{"PADDLE_TRAINER_ENDPOINTS", "<unset>"}}));
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_EQ(role->index, 2);
  EXPECT_TRUE(role->worker_endpoints.empty());
  EXPECT_EQ(role->endpoint, "");
  EXPECT_EQ(role->master, "");
  EXPECT_EQ(role->local_rank, 0);
  // PADDLE_CURRENT_ENDPOINT then gives the trainer's own.
  auto current = Paddle(With(kPsTrainer, {{"PADDLE_TRAINER_ENDPOINTS", "<unset>"},
                                          {"PADDLE_CURRENT_ENDPOINT", "10.0.0.9:1"}}));
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->endpoint, "10.0.0.9:1");
}

TEST(PaddleCloudRoleMakerTest, ServerFindsItsIndexByPodIpAndPort) {
  auto role = Paddle(kPsServer);
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_TRUE(role->is_server());
  EXPECT_EQ(role->index, 2);
  EXPECT_EQ(role->endpoint, "10.0.0.1:6001");
  EXPECT_EQ(role->local_rank, 1);  // the second server on 10.0.0.1
  EXPECT_EQ(role->num_workers, 3);
  EXPECT_EQ(role->Name(), "server.2");
  auto first = Paddle(With(kPsServer, {{"PADDLE_PORT", "6000"}}));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->index, 0);
  EXPECT_EQ(first->local_rank, 0);
}

TEST(PaddleCloudRoleMakerTest, TrainerIdThatIsNotAnIntegerIsNamed) {
  ExpectError(Paddle(With(kPsTrainer, {{"PADDLE_TRAINER_ID", "x"}})),
              {"PADDLE_TRAINER_ID=\"x\": not an integer (PaddleCloudRoleMaker, "
               "TRAINING_ROLE=TRAINER)"});
}

TEST(PaddleCloudRoleMakerTest, ParameterServerErrors) {
  struct Case {
    Vars vars;
    std::initializer_list<const char*> fragments;
  };
  const Case cases[] = {
      {With(kPsTrainer, {{"TRAINING_ROLE", "BOSS"}}),
       {"TRAINING_ROLE=\"BOSS\": expected TRAINER or PSERVER"}},
      {With(kPsTrainer, {{"PADDLE_PSERVERS_IP_PORT_LIST", "<unset>"}}),
       {"PADDLE_PSERVERS_IP_PORT_LIST is not set", "TRAINING_ROLE=TRAINER; hint:"}},
      {With(kPsTrainer, {{"PADDLE_PSERVERS_IP_PORT_LIST", ""}}),
       {"PADDLE_PSERVERS_IP_PORT_LIST=\"\": the list is empty"}},
      {With(kPsTrainer, {{"PADDLE_PSERVERS_IP_PORT_LIST", "10.0.0.1:6000,10.0.0.2"}}),
       {"PADDLE_PSERVERS_IP_PORT_LIST=\"10.0.0.1:6000,10.0.0.2\": entry 2 \"10.0.0.2\": "
        "expected host:port"}},
      {With(kPsTrainer, {{"PADDLE_TRAINERS_NUM", "<unset>"}}), {"PADDLE_TRAINERS_NUM is not set"}},
      {With(kPsTrainer, {{"PADDLE_TRAINERS_NUM", "two"}}),
       {"PADDLE_TRAINERS_NUM=\"two\": not an integer"}},
      {With(kPsTrainer, {{"PADDLE_TRAINERS_NUM", "0"}}),
       {"PADDLE_TRAINERS_NUM=0: out of range; expected >= 1"}},
      {With(kPsTrainer, {{"PADDLE_TRAINER_ID", "<unset>"}}), {"PADDLE_TRAINER_ID is not set"}},
      {With(kPsTrainer, {{"PADDLE_TRAINER_ID", "3"}}),
       {"PADDLE_TRAINER_ID=3: out of range; expected 0..2 since PADDLE_TRAINERS_NUM=3"}},
      {With(kPsTrainer, {{"PADDLE_TRAINER_ID", "-1"}}),
       {"PADDLE_TRAINER_ID=-1: out of range; expected 0..2"}},
      {With(kPsTrainer, {{"PADDLE_TRAINERS_NUM", "2"}, {"PADDLE_TRAINER_ID", "1"}}),
       {"PADDLE_TRAINER_ENDPOINTS has 3 entries; expected 2 since PADDLE_TRAINERS_NUM=2"}},
      {With(kPsTrainer, {{"PADDLE_CURRENT_ENDPOINT", "10.0.0.3:7000"}}),
       {"PADDLE_CURRENT_ENDPOINT=10.0.0.3:7000 is not trainer 2's entry 10.0.0.3:7001"}},
      {With(kPsTrainer,
            {{"PADDLE_TRAINER_ENDPOINTS", "10.0.0.1:6000,10.0.0.4:7000,10.0.0.3:7001"}}),
       {"endpoint 10.0.0.1:6000 is given to both server.0 and worker.0"}},
      {With(kPsServer, {{"POD_IP", "<unset>"}}),
       {"POD_IP is not set (PaddleCloudRoleMaker, TRAINING_ROLE=PSERVER; hint:"}},
      {With(kPsServer, {{"PADDLE_PORT", "<unset>"}}), {"PADDLE_PORT is not set"}},
      {With(kPsServer, {{"PADDLE_PORT", "70000"}}),
       {"PADDLE_PORT=70000: out of range; expected 1..65535"}},
      {With(kPsServer, {{"POD_IP", "a:b"}}), {"POD_IP=\"a:b\" with PADDLE_PORT=6001"}},
      {With(kPsServer, {{"PADDLE_PORT", "6002"}}),
       {"this server's POD_IP:PADDLE_PORT 10.0.0.1:6002 is not in "
        "PADDLE_PSERVERS_IP_PORT_LIST=10.0.0.1:6000,10.0.0.2:6000,10.0.0.1:6001",
        "(PaddleCloudRoleMaker, TRAINING_ROLE=PSERVER)"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.vars));
    ExpectError(Paddle(c.vars), c.fragments);
  }
  ExpectError(Paddle(With(kPsTrainer, {{"TRAINING_ROLE", "HETER_TRAINER"}})),
              {"HETER_TRAINER: heterogeneous trainers are not supported"},
              absl::StatusCode::kUnimplemented);
}

// ---- Paddle, collective mode ----

const Vars kCollective = {
    {"PADDLE_TRAINER_ENDPOINTS", "10.0.0.1:6170,10.0.0.2:6170,10.0.0.1:6171"},
    {"PADDLE_TRAINER_ID", "2"},
    {"PADDLE_CURRENT_ENDPOINT", "10.0.0.1:6171"},
    {"PADDLE_TRAINERS_NUM", "3"},
};

TEST(PaddleCloudRoleMakerTest, Collective) {
  auto role = Paddle(kCollective);
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_TRUE(role->is_worker());
  EXPECT_EQ(role->index, 2);
  EXPECT_EQ(role->num_workers, 3);
  EXPECT_EQ(role->num_servers, 0);
  EXPECT_EQ(role->endpoint, "10.0.0.1:6171");
  EXPECT_EQ(role->master, "10.0.0.1:6170");
  EXPECT_EQ(role->local_rank, 1);
  EXPECT_EQ(role->maker, "PaddleCloudRoleMaker, collective");
}

TEST(PaddleCloudRoleMakerTest, CollectiveOfOneMayLeaveOutTheId) {
  auto role = Paddle({{"PADDLE_TRAINER_ENDPOINTS", "127.0.0.1:6170"}});
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_EQ(role->index, 0);
  EXPECT_EQ(role->num_workers, 1);
  EXPECT_EQ(role->endpoint, "127.0.0.1:6170");
}

TEST(PaddleCloudRoleMakerTest, CollectiveErrors) {
  struct Case {
    Vars vars;
    std::initializer_list<const char*> fragments;
  };
  const Case cases[] = {
      {With(kCollective, {{"PADDLE_TRAINER_ID", "<unset>"}}),
       {"PADDLE_TRAINER_ID is not set (PaddleCloudRoleMaker, collective; hint:"}},
      {With(kCollective, {{"PADDLE_TRAINER_ID", "3"}}),
       {"PADDLE_TRAINER_ID=3: out of range; expected 0..2 since PADDLE_TRAINER_ENDPOINTS has 3 "
        "entries"}},
      {With(kCollective, {{"PADDLE_TRAINERS_NUM", "4"}}),
       {"PADDLE_TRAINERS_NUM=4 but PADDLE_TRAINER_ENDPOINTS has 3 entries"}},
      {With(kCollective, {{"PADDLE_CURRENT_ENDPOINT", "10.0.0.2:6170"}}),
       {"PADDLE_CURRENT_ENDPOINT=10.0.0.2:6170 is not trainer 2's entry 10.0.0.1:6171"}},
      {With(kCollective, {{"PADDLE_CURRENT_ENDPOINT", "10.0.0.2"}}),
       {"PADDLE_CURRENT_ENDPOINT=\"10.0.0.2\": expected host:port"}},
      {With(kCollective, {{"PADDLE_TRAINING_ROLE", "PSERVER"}}),
       {"PADDLE_TRAINING_ROLE=\"PSERVER\": a collective job has only trainers"}},
      {With(kCollective, {{"PADDLE_TRAINER_ENDPOINTS", ""}}),
       {"PADDLE_TRAINER_ENDPOINTS=\"\": the list is empty"}},
      {With(kCollective, {{"PADDLE_TRAINER_ENDPOINTS", "10.0.0.1:6170,10.0.0.1:6170"}}),
       {"entry 2 \"10.0.0.1:6170\" is given twice"}},
      {{}, {"PADDLE_TRAINER_ENDPOINTS is not set (PaddleCloudRoleMaker, collective"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.vars));
    ExpectError(Paddle(c.vars), c.fragments);
  }
}

// ---- torchrun ----

const Vars kTorch = {{"RANK", "3"},
                     {"WORLD_SIZE", "4"},
                     {"LOCAL_RANK", "1"},
                     {"MASTER_ADDR", "10.0.0.1"},
                     {"MASTER_PORT", "29500"}};

TEST(TorchRunRoleMakerTest, Worker) {
  auto role = TorchRun(kTorch);
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_TRUE(role->is_worker());
  EXPECT_EQ(role->index, 3);
  EXPECT_EQ(role->num_workers, 4);
  EXPECT_EQ(role->num_servers, 0);
  EXPECT_EQ(role->local_rank, 1);
  EXPECT_EQ(role->master, "10.0.0.1:29500");
  EXPECT_TRUE(role->worker_endpoints.empty());
  EXPECT_EQ(role->endpoint, "");
  EXPECT_EQ(role->maker, "TorchRunRoleMaker");
}

TEST(TorchRunRoleMakerTest, OneProcessNeedsNoMaster) {
  auto role = TorchRun({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_EQ(role->num_workers, 1);
  EXPECT_EQ(role->local_rank, 0);
  EXPECT_EQ(role->master, "");
}

TEST(TorchRunRoleMakerTest, Errors) {
  struct Case {
    Vars vars;
    std::initializer_list<const char*> fragments;
  };
  const Case cases[] = {
      {With(kTorch, {{"RANK", "<unset>"}}), {"RANK is not set (TorchRunRoleMaker; hint:"}},
      {With(kTorch, {{"WORLD_SIZE", "<unset>"}}), {"WORLD_SIZE is not set"}},
      {With(kTorch, {{"RANK", "4"}}),
       {"RANK=4: out of range; expected 0..3 since WORLD_SIZE=4 (TorchRunRoleMaker)"}},
      {With(kTorch, {{"WORLD_SIZE", "0"}}), {"WORLD_SIZE=0: out of range; expected >= 1"}},
      {With(kTorch, {{"LOCAL_RANK", "one"}}), {"LOCAL_RANK=\"one\": not an integer"}},
      {With(kTorch, {{"MASTER_PORT", "<unset>"}}), {"MASTER_ADDR is set but MASTER_PORT is not"}},
      {With(kTorch, {{"MASTER_ADDR", "<unset>"}}), {"MASTER_PORT is set but MASTER_ADDR is not"}},
      {With(kTorch, {{"MASTER_PORT", "0"}}), {"MASTER_PORT=0: out of range; expected 1..65535"}},
      {With(kTorch, {{"MASTER_ADDR", "<unset>"}, {"MASTER_PORT", "<unset>"}}),
       {"no rendezvous master for 4 workers (TorchRunRoleMaker; hint: set MASTER_ADDR and "
        "MASTER_PORT)"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.vars));
    ExpectError(TorchRun(c.vars), c.fragments);
  }
}

// ---- MPI ----

TEST(MpiRoleMakerTest, OpenMpiWithFleetMaster) {
  auto role = Mpi({{"OMPI_COMM_WORLD_RANK", "5"},
                   {"OMPI_COMM_WORLD_SIZE", "8"},
                   {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                   {"FLEET_MASTER", "node0:29500"},
                   // MPICH's names are ignored when OpenMPI's are there.
                   {"PMI_RANK", "0"}});
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_EQ(role->index, 5);
  EXPECT_EQ(role->num_workers, 8);
  EXPECT_EQ(role->local_rank, 1);
  EXPECT_EQ(role->master, "node0:29500");
  EXPECT_EQ(role->maker, "MpiRoleMaker, OpenMPI");
}

TEST(MpiRoleMakerTest, MpichWithMasterAddrAndPort) {
  auto role = Mpi({{"PMI_RANK", "1"},
                   {"PMI_SIZE", "2"},
                   {"MPI_LOCALRANKID", "1"},
                   {"MASTER_ADDR", "10.0.0.1"},
                   {"MASTER_PORT", "29500"},
                   {"FLEET_MASTER", "10.0.0.1:29500"}});
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_EQ(role->index, 1);
  EXPECT_EQ(role->num_workers, 2);
  EXPECT_EQ(role->local_rank, 1);
  EXPECT_EQ(role->master, "10.0.0.1:29500");
  EXPECT_EQ(role->maker, "MpiRoleMaker, MPICH");
}

TEST(MpiRoleMakerTest, Errors) {
  ExpectError(Mpi({{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "2"}}),
              {"no rendezvous master for 2 workers (MpiRoleMaker, OpenMPI; hint: set "
               "FLEET_MASTER=host:port"});
  ExpectError(
      Mpi({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"FLEET_MASTER", "h:1"}}),
      {"OMPI_COMM_WORLD_RANK=2: out of range; expected 0..1 since "
       "OMPI_COMM_WORLD_SIZE=2 (MpiRoleMaker, OpenMPI)"});
  ExpectError(Mpi({{"OMPI_COMM_WORLD_RANK", "0"}, {"FLEET_MASTER", "h:1"}}),
              {"OMPI_COMM_WORLD_SIZE is not set (MpiRoleMaker, OpenMPI; hint: mpirun sets"});
  ExpectError(Mpi({{"PMI_RANK", "0"}, {"PMI_SIZE", "x"}}),
              {"PMI_SIZE=\"x\": not an integer (MpiRoleMaker, MPICH)"});
  ExpectError(Mpi({{"PMI_RANK", "0"},
                   {"PMI_SIZE", "2"},
                   {"MASTER_ADDR", "a"},
                   {"MASTER_PORT", "1"},
                   {"FLEET_MASTER", "b:1"}}),
              {"FLEET_MASTER=b:1 and MASTER_ADDR:MASTER_PORT=a:1 disagree"});
  ExpectError(Mpi({{"PMI_RANK", "0"}, {"PMI_SIZE", "2"}, {"FLEET_MASTER", "b"}}),
              {"FLEET_MASTER=\"b\": expected host:port"});
  // One process needs no master.
  auto single = Mpi({{"PMI_RANK", "0"}, {"PMI_SIZE", "1"}});
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_EQ(single->num_workers, 1);
}

// ---- user-defined ----

TEST(UserDefinedRoleMakerTest, ServerAndWorker) {
  UserDefinedRoleOptions o;
  o.kind = RoleKind::kServer;
  o.index = 1;
  o.num_workers = 2;
  o.server_endpoints = {"127.0.0.1:36011", "127.0.0.1:36012"};
  auto server = UserDefinedRoleMaker(o).Generate();
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(server->is_server());
  EXPECT_EQ(server->endpoint, "127.0.0.1:36012");
  EXPECT_EQ(server->local_rank, 1);
  EXPECT_EQ(server->num_workers, 2);
  EXPECT_EQ(server->num_servers, 2);
  EXPECT_EQ(server->master, "");  // a parameter-server job without worker endpoints

  UserDefinedRoleOptions w;
  w.index = 1;
  w.worker_endpoints = {"10.0.0.1:1", "10.0.0.2:1"};
  w.master = "10.0.0.9:29500";
  w.local_rank = 3;
  auto worker = UserDefinedRoleMaker(w).Generate();
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_TRUE(worker->is_worker());
  EXPECT_EQ(worker->num_workers, 2);
  EXPECT_EQ(worker->endpoint, "10.0.0.2:1");
  EXPECT_EQ(worker->master, "10.0.0.9:29500");
  EXPECT_EQ(worker->local_rank, 3);
  EXPECT_EQ(worker->maker, "UserDefinedRoleMaker");
}

TEST(UserDefinedRoleMakerTest, Errors) {
  auto error = [](UserDefinedRoleOptions o) { return UserDefinedRoleMaker(o).Generate(); };
  UserDefinedRoleOptions o;
  ExpectError(
      error(o),
      {"num_workers is 0 and worker_endpoints is empty; give either (UserDefinedRoleMaker)"});
  o.num_workers = -2;
  ExpectError(error(o), {"num_workers=-2; expected >= 1"});
  o.num_workers = 3;
  o.worker_endpoints = {"h:1", "h:2"};
  ExpectError(error(o), {"num_workers=3 but worker_endpoints has 2 entries"});
  o.num_workers = 0;
  o.index = 2;
  ExpectError(error(o), {"index=2 is out of range for a worker; expected 0..1"});
  o.index = 0;
  o.kind = RoleKind::kServer;
  ExpectError(error(o), {"a server needs server_endpoints; it is empty"});
  o.server_endpoints = {"h:1"};
  ExpectError(error(o), {"endpoint h:1 is given to both server.0 and worker.0"});
  o.server_endpoints = {"h"};
  ExpectError(error(o), {"server_endpoints[0] \"h\": expected host:port"});
  o.server_endpoints = {"h:3"};
  o.master = "h:x";
  ExpectError(error(o), {"master \"h:x\": port \"x\" is not a number"});
  o.master = "";
  EXPECT_TRUE(error(o).ok());
}

// ---- choosing the maker ----

TEST(RoleFromEnvironmentTest, NoVariablesIsWorkerZeroOfOne) {
  auto role = RoleFromEnvironment(MapEnvironment({{"HOME", "/root"}}));
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_TRUE(role->is_worker());
  EXPECT_EQ(role->index, 0);
  EXPECT_EQ(role->num_workers, 1);
  EXPECT_EQ(role->num_servers, 0);
  EXPECT_THAT(role->maker, HasSubstr("single process"));
}

TEST(RoleFromEnvironmentTest, PaddleComesBeforeTorchRunBeforeMpi) {
  Vars all = With(kPsServer, kTorch);
  all["OMPI_COMM_WORLD_RANK"] = "0";
  auto paddle = RoleFromEnvironment(MapEnvironment(all));
  ASSERT_TRUE(paddle.ok()) << paddle.status();
  EXPECT_EQ(paddle->maker, "PaddleCloudRoleMaker, TRAINING_ROLE=PSERVER");
  EXPECT_TRUE(paddle->is_server());

  auto collective = RoleFromEnvironment(MapEnvironment(With(kCollective, kTorch)));
  ASSERT_TRUE(collective.ok()) << collective.status();
  EXPECT_EQ(collective->maker, "PaddleCloudRoleMaker, collective");

  Vars torch_and_mpi = kTorch;
  torch_and_mpi["OMPI_COMM_WORLD_RANK"] = "0";
  auto torch = RoleFromEnvironment(MapEnvironment(torch_and_mpi));
  ASSERT_TRUE(torch.ok()) << torch.status();
  EXPECT_EQ(torch->maker, "TorchRunRoleMaker");
  EXPECT_EQ(torch->index, 3);

  auto mpi = RoleFromEnvironment(
      MapEnvironment({{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}, {"FLEET_MASTER", "h:1"}}));
  ASSERT_TRUE(mpi.ok()) << mpi.status();
  EXPECT_EQ(mpi->maker, "MpiRoleMaker, MPICH");
  // PADDLE_TRAINER_ID alone is no Paddle job: fleet-launch over several nodes sets it beside
  // torchrun's variables.
  auto torch_with_id =
      RoleFromEnvironment(MapEnvironment(With(kTorch, {{"PADDLE_TRAINER_ID", "3"}})));
  ASSERT_TRUE(torch_with_id.ok()) << torch_with_id.status();
  EXPECT_EQ(torch_with_id->maker, "TorchRunRoleMaker");
}

TEST(RoleFromEnvironmentTest, TheChosenMakersErrorIsReturnedWithoutFallingBack) {
  // torchrun's variables are fine, but Paddle's come first and are broken.
  ExpectError(RoleFromEnvironment(MapEnvironment(With(kTorch, {{"TRAINING_ROLE", "TRAINER"}}))),
              {"PADDLE_PSERVERS_IP_PORT_LIST is not set"});
  ExpectError(RoleFromEnvironment(MapEnvironment({{"WORLD_SIZE", "2"}})),
              {"RANK is not set (TorchRunRoleMaker"});
}

TEST(RoleFromEnvironmentTest, ProcessEnvironmentReadsGetenv) {
  setenv("FLEET_ROLE_MAKER_TEST_VAR", "v", 1);
  EXPECT_EQ(ProcessEnvironment()("FLEET_ROLE_MAKER_TEST_VAR"), "v");
  unsetenv("FLEET_ROLE_MAKER_TEST_VAR");
  EXPECT_EQ(ProcessEnvironment()("FLEET_ROLE_MAKER_TEST_VAR"), std::nullopt);
}

TEST(RoleTest, NameAndDebugString) {
  auto role = Paddle(kPsTrainer);
  ASSERT_TRUE(role.ok()) << role.status();
  EXPECT_EQ(role->DebugString(),
            "worker.2 of 3 workers, 3 servers; endpoint 10.0.0.3:7001; master 10.0.0.3:7000; "
            "local rank 1 (PaddleCloudRoleMaker, TRAINING_ROLE=TRAINER)");
  Role single;
  single.maker = "m";
  EXPECT_EQ(single.DebugString(),
            "worker.0 of 1 worker, 0 servers; endpoint unknown; master none; local rank 0 (m)");
}

TEST(RoleTest, RoleVariableNamesCoverEveryMakersVariables) {
  const std::vector<std::string>& names = RoleVariableNames();
  for (const char* v : {"TRAINING_ROLE", "PADDLE_TRAINER_ID", "POD_IP", "RANK", "MASTER_PORT",
                        "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "FLEET_MASTER", "FLEET_ROLE"}) {
    EXPECT_THAT(names, testing::Contains(v));
  }
}

}  // namespace
}  // namespace fleet
