// The ps-split pass (passes/distributed/ps_split.cc) by what its programs do: a server
// program's update block, run through the executor the way a server's fleet.ps_serve kernel
// runs it (SubBlocks::Run(update, {step, param, grad, states...})), gives the update of the
// closed form for 2-D and 1-D blocks under sgd and adam; the blocks start from the rows of the
// parameter's initial value; and the pass and the strategy reject what the servers cannot run.
// The program text of the split is checked by tests/passes/ps_split.txt.
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "executor/executor.h"
#include "executor/scope.h"
#include "executor/sub_block.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/status_macros.h"
#include "ir/verify.h"
#include "kernels/cpu/register.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "passes/strategy.h"
#include "tests/passes/test_programs.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::ParseOrDie;

// x[?,4] -> MatMul w[4,3] -> Add bias[3]. With 2 servers and blocks of at least 6 elements, w
// is cut into rows 0-1 (block 0, on server 0: FNV-1a("w.0") is even) and rows 2-3 (block 1,
// server 1); bias is one 1-D block (block 2, server 0).
constexpr char kMlp[] = R"(fleet.program v1 opset=17
block 0 {
  var %x : f32[?,4] feed
  var %w : f32[4,3] persistable parameter init
  var %bias : f32[3] persistable parameter init
  var %h : f32[?,3]
  var %logits : f32[?,3] fetch
  (Y: %h) = MatMul(A: %x, B: %w) name="fc"
  (C: %logits) = Add(A: %h, B: %bias)
}
)";

constexpr double kBaseLr = 0.5;
constexpr int64_t kWarmup = 10;
// The step the test kernel feeds: under the warm-up the rate is kBaseLr * kStep / kWarmup, so
// the result shows that the block's schedule reads the step it is given.
constexpr int64_t kStep = 4;

// The gradient the test kernel feeds for element i of dense block `id`.
float GradOf(int64_t id, int64_t i) {
  return 0.05f * static_cast<float>(i + 1) * (id % 2 == 0 ? 1.0f : -1.0f);
}

TensorValue F32Value(std::vector<int64_t> shape, const std::vector<float>& v) {
  TensorValue value;
  value.dtype = DataType::kF32;
  value.shape = std::move(shape);
  value.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  return value;
}

std::vector<float> Floats(const Tensor* t) {
  if (t == nullptr) return {};
  return std::vector<float>(t->data<float>(), t->data<float>() + t->numel());
}

// The initial values: w[i] = 0.1 * (i + 1) - 0.5, bias = [0.3, -0.2, 0.1].
std::vector<float> InitialW() {
  std::vector<float> w(12);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * static_cast<float>(i + 1) - 0.5f;
  return w;
}
const std::vector<float> kInitialBias = {0.3f, -0.2f, 0.1f};

proto::DistributedStrategy PsStrategy(const std::string& optimizer) {
  proto::DistributedStrategy s;
  s.set_mode(proto::DistributedStrategy::PS);
  s.mutable_training()->set_loss(proto::TrainingConfig::MSE);
  s.mutable_training()->set_optimizer(optimizer);
  s.mutable_training()->set_lr(kBaseLr);
  s.mutable_training()->mutable_lr_schedule()->set_warmup_steps(kWarmup);
  s.mutable_ps()->set_servers(2);
  s.mutable_ps()->set_min_block_size(6);
  return s;
}

absl::StatusOr<bool> RunPipeline(Job& job, const std::string& pipeline,
                                 const proto::DistributedStrategy& strategy) {
  PassManager pm;
  FLEET_RETURN_IF_ERROR(pm.AddPipeline(pipeline, PassRegistry::WithBuiltins()));
  PassContext ctx;
  ctx.set_strategy(strategy);
  return pm.Run(job, ctx);
}

Job TranspiledMlp(const std::string& optimizer) {
  Program model = ParseOrDie(kMlp);
  model.values["w"] = F32Value({4, 3}, InitialW());
  model.values["bias"] = F32Value({3}, kInitialBias);
  Job job(std::move(model));
  absl::StatusOr<bool> ran =
      RunPipeline(job, "loss,autodiff,optimizer,startup,ps-split", PsStrategy(optimizer));
  EXPECT_TRUE(ran.ok()) << ran.status();
  return job;
}

// A stand-in for the server's fleet.ps_serve kernel: one update of every dense block through
// the update block, with the step kStep and the gradient GradOf; tables' states pass through.
absl::Status ServeOnce(KernelContext& ctx) {
  const std::vector<int64_t> ids = ctx.GetInts("block_id", {});
  const size_t blocks = ids.size();
  const size_t k = ctx.GetInts("state_rowwise", {}).size();
  const size_t tables = ctx.GetInts("table_id", {}).size();
  if (ctx.sub_blocks() == nullptr) return ctx.FailedPrecondition("the op has no sub-blocks");
  for (size_t b = 0; b < blocks; ++b) {
    std::vector<Tensor> feeds;
    Tensor step(DataType::kI64, {1});
    *step.data<int64_t>() = kStep;
    feeds.push_back(step);
    // Copies: the update writes in place, and this kernel declares no in-place inputs.
    Tensor param = ctx.input(static_cast<int>(b)).Clone();
    Tensor grad(DataType::kF32, param.shape());
    for (int64_t i = 0; i < grad.numel(); ++i) grad.data<float>()[i] = GradOf(ids[b], i);
    feeds.push_back(param);
    feeds.push_back(grad);
    for (size_t j = 0; j < k; ++j) {
      feeds.push_back(ctx.input(static_cast<int>(blocks + b * k + j)).Clone());
    }
    std::vector<Tensor> results;
    FLEET_RETURN_IF_ERROR(ctx.sub_blocks()->Run("update", feeds, &results));
    if (results.size() != k + 1) {
      return ctx.InvalidArgument(
          absl::StrCat("update gave ", results.size(), " results; expected ", k + 1));
    }
    ctx.SetOutput(static_cast<int>(b), results[0]);
    for (size_t j = 0; j < k; ++j) {
      ctx.SetOutput(static_cast<int>(blocks + b * k + j), results[1 + j]);
    }
  }
  const size_t table_states = static_cast<size_t>(ctx.num_outputs()) - blocks - blocks * k;
  for (size_t t = 0; t < table_states; ++t) {
    ctx.SetOutput(static_cast<int>(blocks + blocks * k + t),
                  ctx.input(static_cast<int>(blocks + blocks * k + tables + t)));
  }
  return absl::OkStatus();
}

// Runs "pserver.<s>.startup" then "pserver.<s>" on one scope; returns the scope.
void RunServer(const Job& job, int s, Scope& scope) {
  KernelTable kernels;
  RegisterCpuKernels(kernels);
  kernels.AddAnyType("fleet.ps_serve", Device::kCpu, &ServeOnce);
  for (const std::string& name :
       {StartupProgramNameOf(ServerProgramName(s)), ServerProgramName(s)}) {
    const Program* program = job.Find(name);
    ASSERT_NE(program, nullptr) << name;
    ASSERT_TRUE(Verify(*program).ok()) << Verify(*program);
    auto executor = Executor::Create(*program, kernels);
    ASSERT_TRUE(executor.ok()) << name << ": " << executor.status();
    absl::Status ran = (*executor)->Run(scope);
    ASSERT_TRUE(ran.ok()) << name << ": " << ran;
  }
}

struct BlockCase {
  std::string var;  // the server's block var
  int server;
  int64_t id;
  std::vector<float> initial;  // the parameter's rows the block holds
};

std::vector<BlockCase> MlpBlocks() {
  const std::vector<float> w = InitialW();
  return {{"w.block0", 0, 0, std::vector<float>(w.begin(), w.begin() + 6)},
          {"w.block1", 1, 1, std::vector<float>(w.begin() + 6, w.end())},
          {"bias.block0", 0, 2, kInitialBias}};
}

const double kLr = kBaseLr * static_cast<double>(kStep) / static_cast<double>(kWarmup);

TEST(PsSplitTest, ServerBlocksStartFromTheParametersRows) {
  Job job = TranspiledMlp("sgd");
  for (const BlockCase& c : MlpBlocks()) {
    const Program* server = job.Find(ServerProgramName(c.server));
    ASSERT_NE(server, nullptr);
    auto value = server->values.find(c.var);
    ASSERT_NE(value, server->values.end()) << c.var;
    std::vector<float> got(c.initial.size());
    ASSERT_EQ(value->second.bytes.size(), got.size() * sizeof(float)) << c.var;
    std::memcpy(got.data(), value->second.bytes.data(), value->second.bytes.size());
    EXPECT_EQ(got, c.initial) << c.var;
  }
  // The trainer keeps no table or state; its startup pulls the parameters.
  EXPECT_EQ(job.main().meta.role, "trainer");
  EXPECT_EQ(job.Find(kStartupProgram)->main().ops.back().type, "fleet.ps_pull_dense");
}

TEST(PsSplitTest, SgdUpdateBlockRunsPMinusLrG) {
  Job job = TranspiledMlp("sgd");
  for (int s = 0; s < 2; ++s) {
    Scope scope;
    RunServer(job, s, scope);
    for (const BlockCase& c : MlpBlocks()) {
      if (c.server != s) continue;
      std::vector<float> got = Floats(scope.Find(c.var));
      ASSERT_EQ(got.size(), c.initial.size()) << c.var;
      for (size_t i = 0; i < got.size(); ++i) {
        const double expected = c.initial[i] - kLr * GradOf(c.id, static_cast<int64_t>(i));
        EXPECT_NEAR(got[i], expected, 1e-6) << c.var << "[" << i << "]";
      }
    }
  }
}

TEST(PsSplitTest, AdamUpdateBlockRunsTheAdamStepAndAdvancesItsState) {
  Job job = TranspiledMlp("adam");
  constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
  for (int s = 0; s < 2; ++s) {
    Scope scope;
    RunServer(job, s, scope);
    for (const BlockCase& c : MlpBlocks()) {
      if (c.server != s) continue;
      const std::vector<float> p = Floats(scope.Find(c.var));
      const std::vector<float> m = Floats(scope.Find(c.var + ".moment1"));
      const std::vector<float> v = Floats(scope.Find(c.var + ".moment2"));
      ASSERT_EQ(p.size(), c.initial.size()) << c.var;
      ASSERT_EQ(m.size(), c.initial.size()) << c.var;
      ASSERT_EQ(v.size(), c.initial.size()) << c.var;
      for (size_t i = 0; i < p.size(); ++i) {
        // First step from m = v = 0 with beta^1 powers (torch.optim.Adam); v in f32 carries
        // 1 - beta2 rounded to f32 (a relative 1e-5).
        const double g = GradOf(c.id, static_cast<int64_t>(i));
        const double m1 = (1 - kBeta1) * g, v1 = (1 - kBeta2) * g * g;
        const double step = kLr * (m1 / (1 - kBeta1)) / (std::sqrt(v1 / (1 - kBeta2)) + kEps);
        EXPECT_NEAR(p[i], c.initial[i] - step, 1e-6) << c.var << "[" << i << "]";
        EXPECT_NEAR(m[i], m1, 1e-7) << c.var << "[" << i << "]";
        EXPECT_NEAR(v[i], v1, 1e-4 * v1) << c.var << "[" << i << "]";
      }
      EXPECT_THAT(Floats(scope.Find(c.var + ".beta1pow")),
                  ::testing::ElementsAre(::testing::FloatNear(kBeta1 * kBeta1, 1e-6)));
      EXPECT_THAT(Floats(scope.Find(c.var + ".beta2pow")),
                  ::testing::ElementsAre(::testing::FloatNear(kBeta2 * kBeta2, 1e-6)));
    }
  }
}

TEST(PsSplitTest, DifferentUpdatesArePointedOut) {
  Job job(ParseOrDie(kMlp));
  proto::DistributedStrategy s = PsStrategy("adam");
  ASSERT_TRUE(RunPipeline(job, "loss,autodiff,optimizer,startup", s).ok());
  for (Op& op : job.main().main().ops) {
    if (op.name == "bias@update") op.attrs["beta1"] = AttrValue(0.8f);
  }
  absl::StatusOr<bool> ran = RunPipeline(job, "ps-split", s);
  ASSERT_FALSE(ran.ok());
  EXPECT_EQ(ran.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ran.status().message(),
              HasSubstr("op 'w@update' (fleet.adam) and op 'bias@update' (fleet.adam) differ in "
                        "attribute 'beta1'; the servers run one update rule"));
}

TEST(PsSplitTest, GeoServersAddWhatTheyReceiveAndTrainersKeepTheirUpdates) {
  Program model = ParseOrDie(kMlp);
  model.values["w"] = F32Value({4, 3}, InitialW());
  model.values["bias"] = F32Value({3}, kInitialBias);
  Job job(std::move(model));
  proto::DistributedStrategy s = PsStrategy("adam");
  s.mutable_ps()->set_sync_mode(proto::PsConfig::GEO);
  ASSERT_TRUE(RunPipeline(job, "loss,autodiff,optimizer,startup,ps-split", s).ok());
  // Whatever the trainer's optimizer, a server's block becomes param + what it receives.
  for (int server = 0; server < 2; ++server) {
    Scope scope;
    RunServer(job, server, scope);
    for (const BlockCase& c : MlpBlocks()) {
      if (c.server != server) continue;
      std::vector<float> got = Floats(scope.Find(c.var));
      ASSERT_EQ(got.size(), c.initial.size()) << c.var;
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_FLOAT_EQ(got[i], c.initial[i] + GradOf(c.id, static_cast<int64_t>(i)))
            << c.var << "[" << i << "]";
      }
    }
  }
  int updates = 0, exchanges = 0;
  for (const Op& op : job.main().main().ops) {
    updates += op.type == "fleet.adam";
    exchanges += op.type == "fleet.ps_geo_sync";
  }
  EXPECT_EQ(updates, 2);  // w and bias, on the trainer's own copies
  EXPECT_EQ(exchanges, 1);
}

TEST(PsSplitTest, NeedsTheStartupProgram) {
  Job job(ParseOrDie(kMlp));
  absl::StatusOr<bool> ran =
      RunPipeline(job, "loss,autodiff,optimizer,ps-split", PsStrategy("sgd"));
  ASSERT_FALSE(ran.ok());
  EXPECT_THAT(ran.status().message(), HasSubstr("run it after the startup pass"));
}

// The ps settings in a strategy file: errors name the line of the field.
TEST(PsStrategyTest, ValuesAreChecked) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"mode: PS\nps { servers: 0 }\n",
       "s.pbtxt:2:6: error: the ps strategy needs the number of parameter servers; got 0"},
      {"mode: PS\nps { servers: 2 row_init: \"normal\" }\n",
       "s.pbtxt:2:17: error: row initializer 'normal' is invalid; expected zeros, normal:STD or "
       "uniform:A"},
      {"mode: PS\nps { servers: 2 row_init: \"uniform:-1\" }\n", "row initializer 'uniform:-1'"},
      {"mode: PS\nps { servers: 2 geo_k_steps: 5 }\n",
       "s.pbtxt:2:17: error: geo k steps need sync mode geo (--sync-mode geo); got 'sync'"},
      {"mode: PS\nps { servers: 2 min_block_size: -1 }\n", "minimum block size -1 is invalid"},
      {"mode: PS\nps { servers: 2 min_block_size: -1 }\n", "expected a number >= 0 (0: default)"},
      // For the warm-up, unset is the default and 0 means none.
      {"mode: PS\nps { sync_mode: ASYNC servers: 2 dense_pull_every: 4 dense_pull_warmup: -3 }\n",
       "dense pull warm-up -3 is invalid; expected a number >= 0 (0: no warm-up)"},
      {"mode: SINGLE\nps { servers: 2 }\n",
       "s.pbtxt:2:1: error: parameter-server settings need the ps strategy (--strategy ps); got "
       "'single'"},
      {"mode: PS\ntraining { grad_clip_norm: 1 }\nps { servers: 2 }\n",
       "the ps strategy cannot clip by the global norm"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<proto::DistributedStrategy> s = ParseStrategyText(c.text, "s.pbtxt");
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_THAT(s.status().message(), HasSubstr(c.error)) << c.text;
  }
  absl::StatusOr<proto::DistributedStrategy> ok = ParseStrategyText(
      "mode: PS\nps { servers: 3 sync_mode: GEO geo_k_steps: 400 row_init: \"uniform:0.05\" }\n",
      "s.pbtxt");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->ps().servers(), 3);
  ASSERT_TRUE(StrategyPipeline(*ok).ok());
  EXPECT_EQ(*StrategyPipeline(*ok), "loss,autodiff,optimizer,startup,ps-split");
}

}  // namespace
}  // namespace fleet
