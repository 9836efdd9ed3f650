// The gradient rules are part of the op schemas from the first lookup on (ir/grad/, attached
// in ir/op_schema.cc). This binary links only the IR library: no autodiff pass exists here that
// could have installed them.
#include "ir/grad/grad_rules.h"

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "ir/op_schema.h"

namespace fleet {
namespace {

// Runs the schema's rule for Y = op(X) with a gradient flowing into Y; returns the ops emitted.
std::vector<Op> RunRule(const std::string& type, const std::string& in_slot,
                        const std::string& out_slot) {
  Block block;
  for (const char* name : {"x", "y", "y@GRAD"}) {
    Var v;
    v.name = name;
    v.dtype = DataType::kF32;
    v.shape = std::vector<int64_t>{2, 3};
    block.AddVar(v);
  }
  Op op;
  op.type = type;
  op.inputs = {{in_slot, {"x"}}};
  op.outputs = {{out_slot, {"y"}}};
  std::map<std::string, std::string> out_grads = {{"y", "y@GRAD"}};
  std::set<std::string> needs = {"x"};
  GradBuilder g(op, block, out_grads, needs, [&block](const std::string& var, VarKind kind) {
    Var v = *block.FindVar(var);
    v.name = GradVarName(var);
    v.kind = kind;
    block.AddVar(v);
    return v.name;
  });
  const OpSchema* schema = FindOpSchema(type);
  EXPECT_NE(schema, nullptr) << type;
  if (schema == nullptr || !schema->grad) return {};
  EXPECT_TRUE(schema->grad(g).ok());
  return block.ops;
}

// The first thing this test does is look up schemas: no earlier lookup built the registry.
TEST(GradRules, SchemasCarryTheirRuleAtFirstLookup) {
  for (const char* type : {"Relu", "MatMul", "Gemm", "Conv", "Softmax", "ReduceMean", "Reshape",
                           "Gather", "LayerNormalization", "fleet.batch_norm_train"}) {
    const OpSchema* schema = FindOpSchema(type);
    ASSERT_NE(schema, nullptr) << type;
    EXPECT_TRUE(schema->grad) << type << " has no gradient rule";
  }
}

TEST(GradRules, ReluRuleEmitsItsGradOp) {
  std::vector<Op> ops = RunRule("Relu", "X", "Y");
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].type, "fleet.relu_grad");
  EXPECT_EQ(ops[0].FindInput("OutGrad")->vars, std::vector<std::string>{"y@GRAD"});
  EXPECT_EQ(ops[0].FindOutput("XGrad")->vars, std::vector<std::string>{"x@GRAD"});
  EXPECT_TRUE(HasRole(ops[0], kRoleBackward));
}

TEST(GradRules, ExpRuleIsComposedOfAnOnnxOp) {
  std::vector<Op> ops = RunRule("Exp", "input", "output");
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].type, "Mul");  // dX = dY * Y
}

TEST(GradRules, EveryBuiltinRuleIsAttachedToAKnownOp) {
  GradRuleTable table = BuiltinGradRules();
  EXPECT_GT(table.rules.size(), 60u);
  for (const auto& [type, rule] : table.rules) {
    const OpSchema* schema = FindOpSchema(type);
    ASSERT_NE(schema, nullptr) << "a built-in gradient rule names unknown op '" << type << "'";
    EXPECT_TRUE(schema->grad) << type;
  }
}

TEST(GradRules, OpsWithoutARuleHaveNone) {
  for (const char* type : {"Shape", "ArgMax", "fleet.sgd", "fleet.relu_grad"}) {
    const OpSchema* schema = FindOpSchema(type);
    ASSERT_NE(schema, nullptr) << type;
    EXPECT_FALSE(schema->grad) << type << " should carry no gradient rule";
  }
}

// Threads that look a rule up at the same time as the registry is first built all see it
// (ctest runs each case in its own process, so this is the first lookup there).
TEST(GradRules, ConcurrentFirstLookupsSeeTheRules) {
  std::atomic<bool> go{false};
  std::atomic<int> with_rule{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      const OpSchema* schema = FindOpSchema("Sigmoid");
      if (schema != nullptr && schema->grad) ++with_rule;
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(with_rule.load(), 8);
}

TEST(GradRules, SetGradRuleStillServesPlugins) {
  EXPECT_FALSE(SetGradRule("NoSuchOp", [](GradBuilder&) { return absl::OkStatus(); }));
  OpSchema schema;
  schema.type = "test.plugin_op";
  RegisterOpSchema(schema);
  EXPECT_FALSE(FindOpSchema("test.plugin_op")->grad);
  EXPECT_TRUE(SetGradRule("test.plugin_op", [](GradBuilder&) { return absl::OkStatus(); }));
  EXPECT_TRUE(FindOpSchema("test.plugin_op")->grad);
}

}  // namespace
}  // namespace fleet
