// Fleet's own op schemas (ir/fleet_ops.cc): known to FindOpSchema, and a
// program using them verifies and survives the text form.
#include "ir/fleet_ops.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ir/text_format.h"
#include "ir/verify.h"
#include "tests/ir/program_fixtures.h"

namespace fleet {
namespace {

using ::testing::HasSubstr;
using testing_util::MakeVar;

TEST(FleetOpsTest, OptimizerSchemasAreRegistered) {
  for (const char* type :
       {"fleet.sgd", "fleet.momentum", "fleet.adam", "fleet.adamw", "fleet.adagrad"}) {
    const OpSchema* s = FindOpSchema(type);
    ASSERT_NE(s, nullptr) << type;
    EXPECT_TRUE(s->traits & kTraitOptimizer) << type;
    EXPECT_FALSE(s->from_onnx) << type;
    EXPECT_EQ(s->inputs[0].name, "Param") << type;
    EXPECT_EQ(s->outputs[0].name, "ParamOut") << type;
    for (const auto& [name, attr] : s->attrs) {
      EXPECT_TRUE(attr.default_value.has_value()) << type << " " << name;
    }
  }
  const OpSchema* adamw = FindOpSchema("fleet.adamw");
  ASSERT_NE(adamw->FindAttr("weight_decay"), nullptr);
  EXPECT_EQ(std::get<float>(*adamw->FindAttr("weight_decay")->default_value), 0.01f);
  // adam's weight_decay is the L2 term, off by default.
  ASSERT_NE(FindOpSchema("fleet.adam")->FindAttr("weight_decay"), nullptr);
  EXPECT_EQ(std::get<float>(*FindOpSchema("fleet.adam")->FindAttr("weight_decay")->default_value),
            0.0f);
}

Program MakeAdamProgram() {
  Program p;
  p.meta.opset = 17;
  Block& b = p.main();
  const uint32_t kState = kVarPersistable;
  b.AddVar(MakeVar("w", DataType::kF32, std::vector<int64_t>{4, 3},
                   kVarPersistable | kVarParameter | kVarTrainable));
  b.AddVar(MakeVar("w@GRAD", DataType::kF32, std::vector<int64_t>{4, 3}, kVarFeed));
  b.AddVar(MakeVar("lr", DataType::kF32, std::vector<int64_t>{}, kState));
  b.AddVar(MakeVar("w.moment1", DataType::kF32, std::vector<int64_t>{4, 3}, kState));
  b.AddVar(MakeVar("w.moment2", DataType::kF32, std::vector<int64_t>{4, 3}, kState));
  b.AddVar(MakeVar("w.beta1_pow", DataType::kF32, std::vector<int64_t>{1}, kState));
  b.AddVar(MakeVar("w.beta2_pow", DataType::kF32, std::vector<int64_t>{1}, kState));
  Op adam;
  adam.type = "fleet.adam";
  adam.name = "w.adam";
  adam.inputs = {{"Param", {"w"}},
                 {"Grad", {"w@GRAD"}},
                 {"LearningRate", {"lr"}},
                 {"Moment1", {"w.moment1"}},
                 {"Moment2", {"w.moment2"}},
                 {"Beta1Pow", {"w.beta1_pow"}},
                 {"Beta2Pow", {"w.beta2_pow"}}};
  adam.outputs = {{"ParamOut", {"w"}},
                  {"Moment1Out", {"w.moment1"}},
                  {"Moment2Out", {"w.moment2"}},
                  {"Beta1PowOut", {"w.beta1_pow"}},
                  {"Beta2PowOut", {"w.beta2_pow"}}};
  adam.attrs["beta2"] = AttrValue(0.98f);  // the others take their defaults
  b.ops.push_back(adam);
  return p;
}

TEST(FleetOpsTest, AdamProgramVerifiesAndRoundTripsAsText) {
  Program p = MakeAdamProgram();
  ASSERT_TRUE(Verify(p).ok()) << Verify(p);
  std::string text = PrintProgram(p);
  EXPECT_THAT(text, HasSubstr("fleet.adam"));
  absl::StatusOr<Program> parsed = ParseProgramText(text, "adam.txt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(Verify(*parsed).ok()) << Verify(*parsed);
  EXPECT_EQ(PrintProgram(*parsed), text);
}

TEST(FleetOpsTest, VerifierRejectsBadOptimizerOps) {
  Program wrong_attr = MakeAdamProgram();
  wrong_attr.main().ops[0].attrs["beta1"] = AttrValue(int64_t{1});
  absl::Status s = Verify(wrong_attr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("'beta1'"));

  Program unknown_attr = MakeAdamProgram();
  unknown_attr.main().ops[0].attrs["mu"] = AttrValue(0.1f);  // momentum only
  s = Verify(unknown_attr);
  EXPECT_THAT(std::string(s.message()), HasSubstr("unknown attribute 'mu'"));

  Program missing_slot = MakeAdamProgram();
  missing_slot.main().ops[0].inputs.pop_back();
  EXPECT_FALSE(Verify(missing_slot).ok());
}

}  // namespace
}  // namespace fleet
