// Runs everywhere, GPU or not: every op of the training programs of the four models of models/
// and of the learning-test models (tests/training/data), with each optimizer fleet-transpile
// offers, has a CUDA kernel for its dtype, so `fleet-run --device cuda:0` leaves nothing of
// them on the host. The programs are built as fleet-transpile builds them (loss, autodiff,
// optimizer, and amp for --amp fp16 and bf16), and checked also as fleet-run fuses their updates
// (fuse-optimizer), every block included (mixed precision guards the updates in a sub-block).
//
// Needs the generated models (the models.generate fixture writes them to FLEET_MODELS_DIR, a
// folder of the build tree).
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "ir/onnx/importer.h"
#include "passes/pass_manager.h"
#include "passes/registry.h"
#include "passes/strategy.pb.h"
#include "tests/kernels/cuda/cuda_test_util.h"

namespace fleet::testing {
namespace {

struct ModelFile {
  const char* name;
  const char* path;
};

constexpr ModelFile kModels[] = {
    {"mlp", FLEET_MODELS_DIR "/mlp.onnx"},
    {"resnet18", FLEET_MODELS_DIR "/resnet18.onnx"},
    {"transformer", FLEET_MODELS_DIR "/transformer.onnx"},
    {"ctr_dnn", FLEET_MODELS_DIR "/ctr_dnn.onnx"},
    {"learning mlp", FLEET_SOURCE_DIR "/tests/training/data/mlp.onnx"},
    {"learning cnn", FLEET_SOURCE_DIR "/tests/training/data/cnn.onnx"},
};

// The dtype of `op`'s key input for its CUDA kernel (kUndefined when it has none).
DataType KeyDtype(const KernelTable& cuda, const Program& program, const Block& block,
                  const Op& op) {
  const std::vector<std::string> inputs = op.InputVars();
  const int key = cuda.KeyInput(op.type, Device::kCuda);
  if (key < 0 || key >= static_cast<int>(inputs.size())) return DataType::kUndefined;
  const Var* var = FindVisibleVar(program, block, inputs[key]);
  return var == nullptr ? DataType::kUndefined : var->dtype;
}

TEST(CudaModelCoverageTest, EveryOpOfTheModelsTrainingProgramsHasACudaKernel) {
  const KernelTable& cuda = CudaKernels();
  // op type (dtype) -> the programs that use it without a CUDA kernel.
  std::map<std::string, std::set<std::string>> missing;
  int checked = 0;
  for (const ModelFile& model : kModels) {
    absl::StatusOr<Program> imported = ImportOnnxFile(model.path);
    ASSERT_TRUE(imported.ok()) << imported.status();
    for (const char* optimizer : {"sgd", "momentum", "adam", "adamw", "adagrad"}) {
      // As transpiled, and with --amp fp16 (GEMMs and convolutions in f16, loss scaling) and
      // --amp bf16.
      for (const proto::AmpConfig::Dtype amp_dtype :
           {proto::AmpConfig::OFF, proto::AmpConfig::FP16, proto::AmpConfig::BF16}) {
        const bool amp = amp_dtype != proto::AmpConfig::OFF;
        const std::string name = absl::StrCat(model.name, "/", optimizer, amp ? "/" : "",
                                              amp ? proto::AmpConfig::Dtype_Name(amp_dtype) : "");
        Program training = *imported;
        proto::DistributedStrategy strategy;
        strategy.set_mode(proto::DistributedStrategy::SINGLE);
        strategy.mutable_training()->set_loss(proto::TrainingConfig::SOFTMAX_CE);
        strategy.mutable_training()->set_optimizer(optimizer);
        strategy.mutable_training()->set_lr(0.01);
        strategy.mutable_amp()->set_dtype(amp_dtype);
        PassManager passes;
        ASSERT_TRUE(
            passes
                .AddPipeline(amp ? "loss,autodiff,optimizer,amp" : "loss,autodiff,optimizer",
                             PassRegistry::WithBuiltins())
                .ok());
        PassContext ctx;
        ctx.set_strategy(strategy);
        absl::StatusOr<bool> ran = passes.Run(training, ctx);
        ASSERT_TRUE(ran.ok()) << name << ": " << ran.status();
        // fleet-run fuses the updates of the copy it places on the GPU.
        Program fused = training;
        PassManager fuse;
        ASSERT_TRUE(fuse.AddPipeline("fuse-optimizer", PassRegistry::WithBuiltins()).ok());
        ASSERT_TRUE(fuse.Run(fused, ctx).ok());
        for (const Program* program : {&training, &fused}) {
          for (const Block& block : program->blocks) {
            for (const Op& op : block.ops) {
              const DataType dtype = KeyDtype(cuda, *program, block, op);
              ++checked;
              if (!cuda.Find(op.type, Device::kCuda, dtype).ok()) {
                missing[absl::StrCat(op.type, "(", DataTypeName(dtype), ")")].insert(name);
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 2000);
  for (const auto& [op, programs] : missing) {
    ADD_FAILURE() << "no CUDA kernel for " << op << ", used by " << absl::StrJoin(programs, ", ");
  }
}

}  // namespace
}  // namespace fleet::testing
