// Static shapes of real programs: the four benchmark models and the learning-test models, as
// imported, after the inference pipeline (fold-batchnorm, dce), and as single-strategy training
// programs (loss, autodiff, optimizer with clipping and a schedule) with their startup programs,
// all verify with every shape checked. Each prints how many op outputs inference gives a shape
// to, and the test requires most of them to be as precise as the declarations.
//
// Needs the generated models (the models.generate fixture): FLEET_MODELS_DIR names their folder,
// FLEET_SOURCE_DIR the source tree (tests/training/data holds the learning-test models).
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>

#include "gtest/gtest.h"
#include "ir/onnx/importer.h"
#include "ir/verify.h"
#include "ir/verify_shapes.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "passes/strategy.pb.h"
#include "passes/training/startup.h"

namespace fleet {
namespace {

struct ModelCase {
  const char* name;
  const char* dir_env;  // FLEET_MODELS_DIR or FLEET_SOURCE_DIR
  const char* path;     // under that folder
};

std::string PathOf(const ModelCase& m) {
  const char* dir = std::getenv(m.dir_env);
  return std::string(dir != nullptr ? dir : ".") + "/" + m.path;
}

// Verifies `program` with its shapes, prints its coverage, and checks that inference is as
// precise as the declarations for at least `min_precise` of the outputs it covers.
void ExpectShapesChecked(const Program& program, const std::string& what, double min_precise) {
  ASSERT_TRUE(Verify(program).ok()) << what << ": " << Verify(program);
  ShapeCoverage c;
  ASSERT_TRUE(VerifyShapes(program, &c).ok());
  const double precise = c.inferred == 0 ? 0.0 : static_cast<double>(c.as_precise) / c.inferred;
  std::printf("%-40s %5lld outputs, %5lld inferred, %5lld with rank, %5lld as precise (%.1f%%)\n",
              what.c_str(), static_cast<long long>(c.outputs), static_cast<long long>(c.inferred),
              static_cast<long long>(c.known_rank), static_cast<long long>(c.as_precise),
              100.0 * precise);
  EXPECT_EQ(c.inferred, c.outputs) << what << ": an op type has no inference function";
  EXPECT_GE(precise, min_precise) << what;
}

absl::Status RunPipeline(Program& program, const std::string& pipeline,
                         const proto::DistributedStrategy& strategy) {
  PassManager pm;
  absl::Status added = pm.AddPipeline(pipeline, PassRegistry::WithBuiltins());
  if (!added.ok()) return added;
  PassContext ctx;
  ctx.set_strategy(strategy);
  return pm.Run(program, ctx).status();
}

// Test names and failure messages show the case's name, not its bytes.
void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

class ModelShapesTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelShapesTest, ImportedInferenceAndTrainingProgramsVerifyWithShapes) {
  const ModelCase& m = GetParam();
  absl::StatusOr<Program> imported = ImportOnnxFile(PathOf(m));
  ASSERT_TRUE(imported.ok()) << imported.status();
  ExpectShapesChecked(*imported, std::string(m.name) + " (imported)", 0.95);

  Program inference = *imported;
  ASSERT_TRUE(RunPipeline(inference, "fold-batchnorm,dce", {}).ok());
  ExpectShapesChecked(inference, std::string(m.name) + " (fold-batchnorm,dce)", 0.95);

  for (const char* optimizer : {"adam", "momentum"}) {
    Program training = *imported;
    proto::DistributedStrategy s;
    s.set_mode(proto::DistributedStrategy::SINGLE);
    s.mutable_training()->set_loss(proto::TrainingConfig::SOFTMAX_CE);
    s.mutable_training()->set_optimizer(optimizer);
    s.mutable_training()->set_lr(0.01);
    s.mutable_training()->set_grad_clip_norm(1.0);
    s.mutable_training()->mutable_lr_schedule()->set_warmup_steps(10);
    absl::Status trained = RunPipeline(training, "loss,autodiff,optimizer", s);
    ASSERT_TRUE(trained.ok()) << trained;
    ExpectShapesChecked(training, std::string(m.name) + " (training, " + optimizer + ")", 0.95);
    absl::StatusOr<Program> startup = BuildStartupProgram(training);
    ASSERT_TRUE(startup.ok()) << startup.status();
    ExpectShapesChecked(*startup, std::string(m.name) + " (startup, " + optimizer + ")", 1.0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, ModelShapesTest,
    ::testing::Values(ModelCase{"mlp", "FLEET_MODELS_DIR", "mlp.onnx"},
                      ModelCase{"resnet18", "FLEET_MODELS_DIR", "resnet18.onnx"},
                      ModelCase{"transformer", "FLEET_MODELS_DIR", "transformer.onnx"},
                      ModelCase{"ctr_dnn", "FLEET_MODELS_DIR", "ctr_dnn.onnx"},
                      ModelCase{"learn_cnn", "FLEET_SOURCE_DIR", "tests/training/data/cnn.onnx"},
                      ModelCase{"learn_mlp", "FLEET_SOURCE_DIR", "tests/training/data/mlp.onnx"}),
    [](const ::testing::TestParamInfo<ModelCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace fleet
