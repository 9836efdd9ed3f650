// Dropout (opset 13) and LRN (local response normalisation across channels).
//
// Dropout outside training (training_mode absent or false, or ratio 0) is the identity: the
// output is the input tensor itself and the optional mask is all true. In training it keeps each
// element with probability 1 - ratio and scales kept elements by 1 / (1 - ratio).
//   - With the `seed` attribute the draws are NumPy's: MT19937 seeded like np.random.seed(seed),
//     one 53-bit uniform per element in order (what ONNX's reference and test data use), so a
//     seeded call is reproducible and matches them exactly. This stream is sequential.
//   - Without it, the draw for element i is a hash of (stream, i) with a fresh stream per call
//     from a counter: parallel, and successive training steps differ. The counter is the
//     executor's CpuRandomStreams when its ExecutionEnv has one, else a process-wide one; both
//     start from a seed (kernels/cpu/register.h), so a run that calls the kernels in the same
//     order draws the same masks.
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "executor/half.h"
#include "ir/status_macros.h"
#include "kernels/cpu/norm_internal.h"
#include "kernels/cpu/reduce_axes.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/vec_loops.h"

namespace fleet::cpu {
namespace {

// SplitMix64 finaliser: a well-mixed 64-bit hash of a counter.
inline uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Counts unseeded training-mode Dropout calls; each call draws from its own stream.
std::atomic<uint64_t> g_unseeded_calls{0};

// Uniform in [0, 1) with 24 bits, for element i of stream `stream`.
inline float UniformAt(uint64_t stream, int64_t i) {
  return static_cast<float>(Mix64(stream ^ Mix64(static_cast<uint64_t>(i))) >> 40) *
         (1.0f / 16777216.0f);
}

absl::StatusOr<double> ReadScalar(const KernelContext& ctx, int i, const char* name) {
  const Tensor& t = ctx.input(i);
  if (t.numel() != 1) {
    return ctx.InvalidArgument(
        absl::StrCat("input '", name, "' is ", t.TypeString(), "; expected a scalar"));
  }
  switch (t.dtype()) {
    case DataType::kF32:
      return static_cast<double>(*t.data<float>());
    case DataType::kF64:
      return *t.data<double>();
    case DataType::kF16:
      return static_cast<double>(HalfToFloat(*t.data<uint16_t>()));
    case DataType::kBool:
      return static_cast<double>(*t.data<uint8_t>() != 0);
    default:
      return ctx.InvalidArgument(absl::StrCat("input '", name, "' is ", t.TypeString(),
                                              "; expected a floating-point scalar"));
  }
}

// NumPy's random_sample() from an MT19937 stream: 27 + 26 random bits as a double in [0, 1).
inline double NumpyUniform(std::mt19937& gen) {
  const uint32_t a = static_cast<uint32_t>(gen()) >> 5;
  const uint32_t b = static_cast<uint32_t>(gen()) >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

template <typename T>
void ApplyDropout(const KernelContext& ctx, const T* x, int64_t n, double ratio,
                  const int64_t* seed, uint64_t stream, T* y, uint8_t* mask) {
  const T scale = static_cast<T>(1.0 / (1.0 - ratio));
  if (seed != nullptr) {
    // np.random.seed(s) keeps the low 32 bits' generator: MT19937's init_genrand(s).
    std::mt19937 gen(static_cast<uint32_t>(*seed));
    for (int64_t i = 0; i < n; ++i) {
      const bool keep = NumpyUniform(gen) >= ratio;
      y[i] = keep ? x[i] * scale : T(0);
      if (mask != nullptr) mask[i] = keep ? 1 : 0;
    }
    return;
  }
  const float threshold = static_cast<float>(ratio);
  ctx.ParallelFor(n, kParallelGrainElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const bool keep = UniformAt(stream, i) >= threshold;
      y[i] = keep ? x[i] * scale : T(0);
      if (mask != nullptr) mask[i] = keep ? 1 : 0;
    }
  });
}

absl::Status DropoutKernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  double ratio = 0.5;
  if (ctx.has_input(1)) {
    FLEET_ASSIGN_OR_RETURN(ratio, ReadScalar(ctx, 1, "ratio"));
  }
  bool training = false;
  if (ctx.has_input(2)) {
    FLEET_ASSIGN_OR_RETURN(double t, ReadScalar(ctx, 2, "training_mode"));
    training = t != 0;
  }
  const bool want_mask = ctx.num_outputs() > 1;
  if (!training || ratio == 0) {
    ctx.SetOutput(0, x);
    if (want_mask) {
      Tensor* mask = ctx.Output(1, DataType::kBool, x.shape());
      if (mask->nbytes() > 0) std::memset(mask->raw_data(), 1, mask->nbytes());
    }
    return absl::OkStatus();
  }
  if (!(ratio >= 0 && ratio < 1)) {
    return ctx.InvalidArgument(
        absl::StrCat("input 'ratio' is ", ratio, "; expected 0 <= ratio < 1 in training mode"));
  }
  const int64_t seed_value = ctx.GetInt("seed", 0);
  const int64_t* seed = ctx.HasAttr("seed") ? &seed_value : nullptr;
  uint64_t stream = 0;
  if (seed == nullptr) {
    CpuRandomStreams* own = ctx.env().Get<CpuRandomStreams>();
    stream = Mix64(0x5eedull + (own != nullptr ? own->NextCall() : g_unseeded_calls.fetch_add(1)));
  }
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  uint8_t* mask = want_mask ? ctx.Output(1, DataType::kBool, x.shape())->data<uint8_t>() : nullptr;
  switch (x.dtype()) {
    case DataType::kF32:
      ApplyDropout(ctx, x.data<float>(), x.numel(), ratio, seed, stream, y->data<float>(), mask);
      return absl::OkStatus();
    case DataType::kF64:
      ApplyDropout(ctx, x.data<double>(), x.numel(), ratio, seed, stream, y->data<double>(), mask);
      return absl::OkStatus();
    default:
      return ctx.Unimplemented(absl::StrCat("training-mode Dropout of ", x.TypeString(),
                                            " is not supported; expected f32 or f64"));
  }
}

// LRN: y = x / (bias + alpha / size * sum of x^2 over a window of `size` channels)^beta, the
// window being [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to the channels.
template <typename T>
absl::Status RunLrn(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) {
    return ctx.InvalidArgument(
        absl::StrCat("input 'X' is ", x.TypeString(), "; expected rank >= 2 (N, C, ...)"));
  }
  if (!ctx.HasAttr("size")) return ctx.InvalidArgument("attribute 'size' is required");
  const int64_t size = ctx.GetInt("size", 0);
  if (size <= 0) {
    return ctx.InvalidArgument(absl::StrCat("attribute 'size' is ", size, "; expected > 0"));
  }
  const double alpha = ctx.GetFloat("alpha", 1e-4f);
  const double beta = ctx.GetFloat("beta", 0.75f);
  const double bias = ctx.GetFloat("bias", 1.0f);
  const AxisSplit s = SplitAt(x.shape(), 1);
  const int64_t channels = s.axis, plane = s.inner;
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  const T* px = x.data<T>();
  Tensor* y = ctx.Output(0, x.dtype(), x.shape());
  T* py = y->data<T>();
  const T coef = static_cast<T>(alpha / size);
  const T tbias = static_cast<T>(bias);
  const bool beta_is_075 = beta == 0.75;
  ctx.ParallelFor(s.outer * channels, GrainFor(plane * size), [&](int64_t begin, int64_t end) {
    std::vector<T> acc(plane);
    for (int64_t k = begin; k < end; ++k) {
      const int64_t n = k / channels, c = k % channels;
      const int64_t c0 = std::max<int64_t>(0, c - before);
      const int64_t c1 = std::min<int64_t>(channels - 1, c + after);
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t cc = c0; cc <= c1; ++cc) {
        AccumulateSquares(px + (n * channels + cc) * plane, acc.data(), plane);
      }
      const T* row = px + k * plane;
      T* out = py + k * plane;
      for (int64_t i = 0; i < plane; ++i) {
        const T t = tbias + coef * acc[i];
        // t^-0.75 = 1 / sqrt(t * sqrt(t)): the default beta, without a pow call.
        out[i] = beta_is_075 ? row[i] / std::sqrt(t * std::sqrt(t))
                             : row[i] * static_cast<T>(std::pow(t, -beta));
      }
    }
  });
  return absl::OkStatus();
}

absl::Status LrnKernel(KernelContext& ctx) {
  switch (ctx.input(0).dtype()) {
    case DataType::kF32:
      return RunLrn<float>(ctx);
    case DataType::kF64:
      return RunLrn<double>(ctx);
    default:
      return ctx.Unimplemented(
          absl::StrCat("input has type ", ctx.input(0).TypeString(), "; expected f32 or f64"));
  }
}

}  // namespace

void RegisterDropoutLrnKernels(KernelTable& table) {
  table.Add("Dropout", Device::kCpu, {DataType::kF32, DataType::kF64, DataType::kF16},
            &DropoutKernel);
  table.Add("LRN", Device::kCpu, {DataType::kF32, DataType::kF64}, &LrnKernel);
  table.SetTraits("Dropout", Device::kCpu, KernelTraits::Aliases({{0, 0}}));  // inference
}

}  // namespace fleet::cpu

namespace fleet {

namespace {

// Seed 0 keeps the streams a fresh process starts with.
uint64_t FirstCall(uint64_t seed) { return seed == 0 ? 0 : cpu::Mix64(seed); }

}  // namespace

void SetCpuRandomSeed(uint64_t seed) { cpu::g_unseeded_calls = FirstCall(seed); }

CpuRandomStreams::CpuRandomStreams(uint64_t seed) : next_call_(FirstCall(seed)) {}

}  // namespace fleet
