// CachedPackedWeights: one cache entry per op, keyed by the input's buffer object, data
// address, shape and variant.
#include "kernels/cpu/packed_weights.h"

#include <memory>
#include <utility>

namespace fleet::cpu {
namespace {

class PackedWeightsState : public KernelState {
 public:
  // The weights' buffer object, not just its address: a freed buffer's address may be reused
  // by a different tensor, and the weak pointer then no longer matches.
  std::weak_ptr<Buffer> owner;
  const void* data = nullptr;
  std::vector<int64_t> shape;
  int input = -1;
  int64_t variant = 0;
  std::vector<PackedSgemmMatrix> packs;
};

}  // namespace

const std::vector<PackedSgemmMatrix>* CachedPackedWeights(
    KernelContext& ctx, int input, int64_t variant,
    const std::function<void(std::vector<PackedSgemmMatrix>*)>& pack) {
  std::unique_ptr<KernelState>* slot = ctx.state();
  if (slot == nullptr || !ctx.is_constant_input(input) || !ctx.has_input(input)) return nullptr;
  const Tensor& t = ctx.input(input);
  auto* state = dynamic_cast<PackedWeightsState*>(slot->get());
  if (state != nullptr && state->data == t.raw_data() && state->owner.lock() == t.buffer() &&
      state->shape == t.shape() &&
      state->input == input && state->variant == variant) {
    return &state->packs;
  }
  auto fresh = std::make_unique<PackedWeightsState>();
  fresh->owner = t.buffer();
  fresh->data = t.raw_data();
  fresh->shape = t.shape();
  fresh->input = input;
  fresh->variant = variant;
  pack(&fresh->packs);
  state = fresh.get();
  *slot = std::move(fresh);
  return &state->packs;
}

}  // namespace fleet::cpu
