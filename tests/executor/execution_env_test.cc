// The execution environment: kernels reach runtime objects through their context, each
// executor its own, with no process-wide globals.
#include "executor/execution_env.h"

#include <memory>
#include <string>

#include "executor/executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;

// What a communication kernel would reach: here only its rank.
struct FakeCommunicator {
  int64_t rank = 0;
};

// test.rank: Out = the rank of the executor's communicator.
absl::Status RankKernel(KernelContext& ctx) {
  FakeCommunicator* comm = ctx.env().Get<FakeCommunicator>();
  if (comm == nullptr) return ctx.FailedPrecondition("no communicator in the environment");
  *ctx.Output(0, DataType::kI64, {})->data<int64_t>() = comm->rank;
  return absl::OkStatus();
}

TEST(ExecutionEnvTest, GetFindsTheServiceOfEachTypeAndSetReplacesIt) {
  ExecutionEnv env;
  EXPECT_EQ(env.Get<FakeCommunicator>(), nullptr);
  auto first = std::make_shared<FakeCommunicator>();
  env.Set(first);
  env.Set(std::make_shared<std::string>("a PS client"));
  EXPECT_EQ(env.Get<FakeCommunicator>(), first.get());
  EXPECT_EQ(*env.Get<std::string>(), "a PS client");
  auto second = std::make_shared<FakeCommunicator>();
  env.Set(second);
  EXPECT_EQ(env.Get<FakeCommunicator>(), second.get());
  EXPECT_EQ(env.Get<int>(), nullptr);
  EXPECT_EQ(ExecutionEnv::Empty().Get<FakeCommunicator>(), nullptr);
}

TEST(ExecutionEnvTest, EachExecutorsKernelsReachItsOwnServices) {
  absl::StatusOr<Program> p = ParseProgramText(R"(
fleet.program v1 opset=17
block 0 {
  var %rank : i64[] fetch
  (Out: %rank) = test.rank() name="who"
}
)",
                                               "test.txt");
  ASSERT_TRUE(p.ok()) << p.status();
  KernelTable k;
  k.AddAnyType("test.rank", Device::kCpu, &RankKernel, -1);

  // Two ranks in one process, as threads would be: no globals to share.
  std::vector<std::unique_ptr<Executor>> ranks;
  for (int64_t rank : {0, 1}) {
    auto env = std::make_shared<ExecutionEnv>();
    auto comm = std::make_shared<FakeCommunicator>();
    comm->rank = rank;
    env->Set(comm);
    ExecutorOptions options;
    options.env = env;
    auto exec = Executor::Create(*p, k, options);
    ASSERT_TRUE(exec.ok()) << exec.status();
    ranks.push_back(*std::move(exec));
  }
  for (int64_t rank : {0, 1}) {
    Scope scope;
    ASSERT_TRUE(ranks[rank]->Run(scope).ok());
    EXPECT_EQ(*scope.Find("rank")->data<int64_t>(), rank);
  }

  auto alone = Executor::Create(*p, k);
  ASSERT_TRUE(alone.ok());
  Scope scope;
  absl::Status status = (*alone)->Run(scope);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("op 'who' (test.rank): no communicator in the environment"));
}

}  // namespace
}  // namespace fleet
