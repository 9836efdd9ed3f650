// Launchers of Fleet's own CUDA kernels (the .cu files of this folder), called by the kernel
// functions of the .cc files once those have checked shapes and attributes.
//
// Plain pointers and sizes, so that the .cu files need no Fleet or Abseil headers and compile
// fast. Every launcher enqueues on `stream` and returns the launch error (cudaGetLastError());
// an empty range launches nothing. Pointers are device memory unless said otherwise. Element
// counts and offsets are 64-bit; every kernel walks its range with a grid-stride loop.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fleet::cuda {

// ---- elementwise.cu ----

constexpr int kMaxRank = 8;  // broadcasting and reductions handle up to this many dims

// y[i] = a[ia] op b[ib] over the output's `rank` dims; a stride of 0 broadcasts a dim.
struct BroadcastIndex {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t a_strides[kMaxRank] = {};
  int64_t b_strides[kMaxRank] = {};
};
enum class BinaryOp { kAdd, kSub, kMul, kDiv };
cudaError_t LaunchBinary(BinaryOp op, const float* a, const float* b, float* y, int64_t n,
                         const BroadcastIndex& index, cudaStream_t stream);

enum class Activation { kRelu, kSigmoid, kTanh, kErf, kNeg };
cudaError_t LaunchActivation(Activation f, const float* x, float* y, int64_t n,
                             cudaStream_t stream);
// dx from the gradient dy and a (the forward output y, or for Erf its input x): Relu
// dy * (y > 0), Sigmoid dy * y * (1 - y), Tanh dy * (1 - y * y), Erf dy * 2 / sqrt(pi) *
// exp(-x * x), Neg -dy.
cudaError_t LaunchActivationGrad(Activation f, const float* y, const float* dy, float* dx,
                                 int64_t n, cudaStream_t stream);

// y[i] = x[j] where out index i, decomposed over `dims`, reads x at sum(index_d * x_strides[d])
// (Transpose: x's strides taken in the order of perm; a stride of 0 repeats x along a dim, as
// fleet.expand_like spreads a reduction's gradient).
struct PermuteIndex {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t x_strides[kMaxRank] = {};
};
cudaError_t LaunchPermute(const float* x, float* y, int64_t n, const PermuteIndex& index,
                          cudaStream_t stream);

// Every element of y (n elements of 4 or 8 bytes) set to the bit pattern `bits`.
cudaError_t LaunchFill32(uint32_t bits, void* y, int64_t n, cudaStream_t stream);
cudaError_t LaunchFill64(uint64_t bits, void* y, int64_t n, cudaStream_t stream);
// y *= scale.
cudaError_t LaunchScale(float* y, int64_t n, float scale, cudaStream_t stream);
// y[i, j] = c[i * row_stride + j * col_stride] for the m x n matrix y (Gemm's broadcast C).
cudaError_t LaunchBroadcastMatrix(const float* c, int64_t row_stride, int64_t col_stride, float* y,
                                  int64_t m, int64_t n, cudaStream_t stream);

// out[j] = sum of x over the dims that `out` keeps at size 1 (fleet.reduce_to_like). All arrays
// have x's rank: out_dims are the output's dims (1 where reduced), reduced_dims x's dims where
// reduced (1 elsewhere), x_strides x's row-major strides.
struct ReduceIndex {
  int rank = 0;
  int64_t out_dims[kMaxRank] = {};
  int64_t reduced_dims[kMaxRank] = {};
  int64_t x_strides[kMaxRank] = {};
};
cudaError_t LaunchReduceTo(const float* x, float* out, int64_t out_n, int64_t reduced_n,
                           const ReduceIndex& index, cudaStream_t stream);

// ---- half.cu ---- (16-bit float elements as their bits, the host's storage of
// executor/half.h and ir/bfloat16.h; arithmetic in f32)

enum class HalfType { kF16, kBF16 };  // IEEE binary16, or bfloat16

// y = x rounded to `type` (to nearest even; f16 gives inf beyond its range), and back (exactly).
cudaError_t LaunchFloatToHalf(HalfType type, const float* x, uint16_t* y, int64_t n,
                              cudaStream_t stream);
cudaError_t LaunchHalfToFloat(HalfType type, const uint16_t* x, float* y, int64_t n,
                              cudaStream_t stream);
// y *= scale.
cudaError_t LaunchScaleHalf(HalfType type, uint16_t* y, int64_t n, float scale,
                            cudaStream_t stream);
// LaunchBroadcastMatrix of 16-bit elements (a copy: the same for f16 and bf16).
cudaError_t LaunchBroadcastMatrixHalf(const uint16_t* c, int64_t row_stride, int64_t col_stride,
                                      uint16_t* y, int64_t m, int64_t n, cudaStream_t stream);
// Conv's bias, y viewed as [n, c, s]: y[i, ch, j] += bias[ch]; and its gradient, one block per
// channel summing in f32: db[ch] = sum over i, j of dy[i, ch, j].
cudaError_t LaunchBiasAddHalf(HalfType type, const uint16_t* bias, uint16_t* y, int64_t n,
                              int64_t c, int64_t s, cudaStream_t stream);
cudaError_t LaunchBiasGradHalf(HalfType type, const uint16_t* dy, uint16_t* db, int64_t n,
                               int64_t c, int64_t s, cudaStream_t stream);

// ---- training.cu ----

// y[0] = x[0] + step (the step counter).
cudaError_t LaunchIncrement(const int64_t* x, int64_t step, int64_t* y, cudaStream_t stream);
// The schedule of kernels/cpu/training.cc, computed in double from the device step counter.
enum class LrDecay { kConstant, kCosine, kLinear, kExponential, kStep };
struct LrSchedule {
  double base_lr = 0;
  int64_t warmup_steps = 0;
  int64_t decay_steps = 0;
  double decay_rate = 0;
  double min_lr = 0;
  LrDecay decay = LrDecay::kConstant;
};
// lr[0] for step[0]; a negative step gives NaN (the host cannot see it without a copy).
cudaError_t LaunchLrSchedule(const int64_t* step, const LrSchedule& schedule, float* lr,
                             cudaStream_t stream);

// ---- loss.cu ----

// SoftmaxCrossEntropyLoss viewed as scores [n, c, d] and labels [n, d] (i32 or i64).
struct SoftmaxCe {
  const float* x = nullptr;
  const void* labels = nullptr;
  bool labels_i64 = true;
  const float* weights = nullptr;  // [c] or null (every weight 1)
  int64_t n = 0, c = 0, d = 0;
  bool has_ignore = false;
  int64_t ignore_index = 0;
};
// Per position: loss[p] and the weight applied there (0 where ignored); a label outside [0, c)
// that is not ignored gives NaN in both. log_prob ([n, c, d]) is written when not null.
cudaError_t LaunchSoftmaxCeLoss(const SoftmaxCe& args, float* loss, float* weight, float* log_prob,
                                cudaStream_t stream);
// out[0] = sum(num) / sum(den) (den null: / 1), summed in double by one block.
cudaError_t LaunchSumRatio(const float* num, const float* den, int64_t n, float* out,
                           cudaStream_t stream);
// dx of fleet.softmax_ce_grad (kernels/cpu/grad_loss.cc). `dout`: null (no output gradient:
// coefficients 0), one element (sum, mean) or one per position (none, `per_position`).
// `weight_sum`: one element, for mean (null otherwise); 0 there gives zero coefficients.
// `log_prob_grad`: [n, c, d] or null.
cudaError_t LaunchSoftmaxCeGrad(const SoftmaxCe& args, const float* dout, bool per_position,
                                const float* weight_sum, const float* log_prob_grad, float* dx,
                                cudaStream_t stream);

// ---- gather.cu ---- (data viewed as [outer, dim, row], n indices of i64 or i32)

// out[o, i, r] = data[o, idx[i], r], a negative index counting from the end; an index outside
// [-dim, dim) gives NaN (the indices stay on the device, where no error can be raised).
cudaError_t LaunchGather(const float* data, const void* indices, bool indices_i64, float* out,
                         int64_t outer, int64_t dim, int64_t n, int64_t row, cudaStream_t stream);
// dx = zeros, then dy[o, i, r] added into dx[o, idx[i], r] (atomically: indices repeat); out-of-
// range indices add nothing.
cudaError_t LaunchGatherGrad(const float* dy, const void* indices, bool indices_i64, float* dx,
                             int64_t outer, int64_t dim, int64_t n, int64_t row,
                             cudaStream_t stream);

// ---- sparse_rows.cu ---- (n rows of `width` f32 values, with their i64 row ids)

// ids[i] = the gather index i (i64 or i32), counted from the end when negative; -1 when
// outside [-height, height).
cudaError_t LaunchRowIds(const void* indices, bool indices_i64, int64_t n, int64_t height,
                         int64_t* ids, cudaStream_t stream);
// dense[ids[r], :] += values[r, :] for every row r whose id is in [0, height), atomically (ids
// repeat), and touched[id] = 1 for those ids when `touched` is not null. Zeroing `dense` and
// `touched` is the caller's.
cudaError_t LaunchScatterAddRows(const float* values, const int64_t* ids, int64_t n, int64_t width,
                                 int64_t height, float* dense, uint8_t* touched,
                                 cudaStream_t stream);

// ---- softmax.cu ---- (x viewed as [outer, n, inner] around the axis)

// Softmax (log: LogSoftmax) along the axis, max-shifted.
cudaError_t LaunchSoftmax(const float* x, float* y, int64_t outer, int64_t n, int64_t inner,
                          bool log, cudaStream_t stream);
// From the forward output y: dx = y * (dy - sum(dy * y)), or for LogSoftmax
// dx = dy - exp(y) * sum(dy).
cudaError_t LaunchSoftmaxGrad(const float* y, const float* dy, float* dx, int64_t outer, int64_t n,
                              int64_t inner, bool log, cudaStream_t stream);

// ---- norm.cu ---- (LayerNormalization: x viewed as [rows, d], scale and bias of d elements)

// y = (x - mean) * inv * scale + bias per row, inv = 1 / sqrt(var + eps) (biased variance);
// bias, mean and inv (one per row) may be null.
cudaError_t LaunchLayerNorm(const float* x, const float* scale, const float* bias, float* y,
                            float* mean, float* inv, int64_t rows, int64_t d, double eps,
                            cudaStream_t stream);
// dx (may be null) per row from x, scale and dy, with the row statistics recomputed and left in
// mean and inv (one per row); then, when not null, dscale = sum over rows of dy * x^ and
// dbias = sum over rows of dy.
cudaError_t LaunchLayerNormGrad(const float* x, const float* scale, const float* dy, float* dx,
                                float* mean, float* inv, float* dscale, float* dbias, int64_t rows,
                                int64_t d, double eps, cudaStream_t stream);

// ---- batch_norm.cu ---- (x viewed as [n, c, s]; per-channel arrays of c elements)

struct BatchNormTrain {
  const float* x = nullptr;
  const float* scale = nullptr;
  const float* bias = nullptr;
  const float* running_mean = nullptr;
  const float* running_var = nullptr;
  float* y = nullptr;
  float* running_mean_out = nullptr;  // outputs from here on may be null
  float* running_var_out = nullptr;
  float* saved_mean = nullptr;
  float* saved_inv_std = nullptr;
  int64_t n = 0, c = 0, s = 0;
  double epsilon = 1e-5, momentum = 0.9;
};
// fleet.batch_norm_train (kernels/cpu/grad_norm.cc): one block per channel computes the batch
// mean and variance (in double), normalises, and updates the running statistics (running
// variance with the unbiased batch variance).
cudaError_t LaunchBatchNormTrain(const BatchNormTrain& args, cudaStream_t stream);
// fleet.batch_norm_grad: per channel, dbias = sum dy, dscale = sum dy (x - mean) * inv_std,
// dx = k1 dy + k2 x + k3 (any output may be null).
cudaError_t LaunchBatchNormGrad(const float* x, const float* scale, const float* mean,
                                const float* inv_std, const float* dy, float* dx, float* dscale,
                                float* dbias, int64_t n, int64_t c, int64_t s, cudaStream_t stream);
// BatchNormalization for inference: y = (x - mean) * scale / sqrt(var + eps) + bias.
cudaError_t LaunchBatchNormInfer(const float* x, const float* scale, const float* bias,
                                 const float* mean, const float* var, double epsilon, float* y,
                                 int64_t n, int64_t c, int64_t s, cudaStream_t stream);

// ---- optimizer.cu ---- (formulas in kernels/cpu/optimizer.cc; lr is a device scalar)

// The rows an update touches: element i is updated when touched[i / width] is nonzero (a sparse
// gradient's merged rows; the others keep parameter and state as they are). Null: every element.
struct RowMask {
  const uint8_t* touched = nullptr;
  int64_t width = 1;
};
cudaError_t LaunchSgd(float* p, const float* g, const float* lr, float weight_decay, int64_t n,
                      const RowMask& rows, cudaStream_t stream);
cudaError_t LaunchMomentum(float* p, float* v, const float* g, const float* lr, float mu,
                           float weight_decay, bool nesterov, int64_t n, const RowMask& rows,
                           cudaStream_t stream);
struct AdamParams {
  float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-8f, weight_decay = 0;
  bool decoupled = false;  // adamw
};
// Updates p, m, v from the powers b1p, b2p, then advances the powers (a second launch, so that
// no thread reads a power another has advanced).
cudaError_t LaunchAdam(float* p, float* m, float* v, const float* g, const float* lr, float* b1p,
                       float* b2p, const AdamParams& params, int64_t n, const RowMask& rows,
                       cudaStream_t stream);
cudaError_t LaunchAdagrad(float* p, float* s, const float* g, const float* lr, float epsilon,
                          float weight_decay, int64_t n, const RowMask& rows, cudaStream_t stream);

// fleet.multi_update: up to kMultiTensors parameters of one update in one launch (the tensors
// travel as kernel parameters). state[k][j] is parameter j's k-th state in the update's order:
// momentum's velocity, Adam's moments then beta powers, Adagrad's accumulator.
constexpr int kMultiTensors = 16;
enum class UpdateKind { kSgd, kMomentum, kAdam, kAdagrad };
struct MultiTensors {
  int count = 0;
  float* p[kMultiTensors] = {};
  const float* g[kMultiTensors] = {};
  float* state[4][kMultiTensors] = {};
  int64_t n[kMultiTensors] = {};
};
struct UpdateParams {
  float weight_decay = 0;
  float mu = 0.9f;        // momentum
  bool nesterov = false;  // momentum
  float epsilon = 1e-6f;  // adagrad
  AdamParams adam;        // adam, adamw (its weight_decay, not the one above)
};
// Updates every tensor, then (Adam) advances each one's beta powers in a second launch.
cudaError_t LaunchMultiUpdate(UpdateKind kind, const MultiTensors& tensors, const float* lr,
                              const UpdateParams& params, cudaStream_t stream);

// ---- amp.cu ---- (loss scaling, ir/fleet_amp_ops.cc; the scale is a device scalar)

// fleet.check_finite_and_unscale over up to kUnscaleTensors tensors in one launch (they travel
// as kernel parameters): x[j][i] *= 1 / scale[0] in place, and *all_finite = false where an
// element is inf or NaN before the scaling, or scale[0] is not a finite value > 0 (the CPU
// kernel's error, which the device cannot raise). Setting *all_finite to true first is the
// caller's, once for all the launches of one op.
constexpr int kUnscaleTensors = 16;
struct UnscaleTensors {
  int count = 0;
  float* x[kUnscaleTensors] = {};
  int64_t n[kUnscaleTensors] = {};
};
cudaError_t LaunchCheckFiniteAndUnscale(const UnscaleTensors& tensors, const float* scale,
                                        bool* all_finite, cudaStream_t stream);
// fleet.update_loss_scaling's step (cpu::LossScalingRule::Step) by one thread, in place.
struct LossScaling {
  int64_t incr_every_n_steps = 2000;
  float incr_ratio = 2.0f;
  float decr_ratio = 0.5f;
};
cudaError_t LaunchUpdateLossScaling(const bool* all_finite, float* scale, int64_t* good_steps,
                                    int64_t* skipped_steps, const LossScaling& rule,
                                    cudaStream_t stream);

// ---- pool.cu ---- (NCHW; spatial dims 1 to 3 given as [D, H, W] with leading 1s)

struct PoolGeometry {
  int64_t n = 0, c = 0;
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t pad_begin[3] = {0, 0, 0};
  int64_t dilation[3] = {1, 1, 1};
};
// y = the max over each window's in-bounds taps (padding never wins); indices (nullable) the
// flat row-major position in x of the window's first maximum (ONNX storage_order 0).
cudaError_t LaunchMaxPool(const float* x, float* y, int64_t* indices, const PoolGeometry& g,
                          cudaStream_t stream);
// dx: every dy goes to the first maximum of its window (as the forward picked it).
cudaError_t LaunchMaxPoolGrad(const float* x, const float* dy, float* dx, const PoolGeometry& g,
                              cudaStream_t stream);
// y[nc] = mean of x[nc, :] over `spatial` elements; dx[nc, :] = dy[nc] / spatial.
cudaError_t LaunchGlobalAvgPool(const float* x, float* y, int64_t nc, int64_t spatial,
                                cudaStream_t stream);
cudaError_t LaunchGlobalAvgPoolGrad(const float* dy, float* dx, int64_t nc, int64_t spatial,
                                    cudaStream_t stream);

}  // namespace fleet::cuda
