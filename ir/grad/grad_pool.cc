// Gradient rules of the pools: each becomes one Fleet grad op that reads X and dY and takes
// the pool's attributes unchanged (kernels/cpu/grad_pool.cc):
//   MaxPool -> fleet.max_pool_grad (dY to the first maximum of each window)
//   AveragePool -> fleet.avg_pool_grad (dY / count over each window, count_include_pad)
//   GlobalMaxPool -> fleet.global_max_pool_grad, GlobalAveragePool -> fleet.global_avg_pool_grad
#include <string>

#include "ir/grad/grad_rules.h"
#include "ir/op_schema.h"

namespace fleet {
namespace {

GradFn PoolGrad(std::string grad_type) {
  return [grad_type](GradBuilder& g) {
    if (!g.NeedsGrad("X")) return absl::OkStatus();
    g.Emit(grad_type, {{"X", {g.Input("X")}}, {"YGrad", {g.OutputGrad("Y")}}},
           {{"XGrad", {g.InputGrad("X")}}}, g.op().attrs);
    return absl::OkStatus();
  };
}

}  // namespace

void AddPoolGradRules(GradRuleTable& table) {
  table.Add("MaxPool", PoolGrad("fleet.max_pool_grad"));
  table.Add("AveragePool", PoolGrad("fleet.avg_pool_grad"));
  table.Add("GlobalMaxPool", PoolGrad("fleet.global_max_pool_grad"));
  table.Add("GlobalAveragePool", PoolGrad("fleet.global_avg_pool_grad"));
}

}  // namespace fleet
