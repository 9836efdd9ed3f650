// One registration function per kernel file of kernels/cuda; register.cc calls them all.
#pragma once

#include "executor/kernel.h"

namespace fleet::cuda {

void RegisterElementwiseKernels(
    KernelTable& table);                            // Add/Sub/Mul/Div, activations, reduce_to_like
void RegisterMatMulKernels(KernelTable& table);     // Gemm, MatMul (cuBLAS)
void RegisterLossKernels(KernelTable& table);       // SoftmaxCrossEntropyLoss and its grad
void RegisterTrainingKernels(KernelTable& table);   // fills, step counter, lr, fleet.memcpy
void RegisterOptimizerKernels(KernelTable& table);  // fleet.sgd, momentum, adam(w), adagrad
void RegisterConvKernels(KernelTable& table);       // Conv and its gradients (cuDNN)
void RegisterPoolKernels(KernelTable& table);       // MaxPool, GlobalAveragePool, their grads
void RegisterShapeKernels(KernelTable& table);      // Reshape, Flatten, ... (views)
void RegisterSoftmaxKernels(KernelTable& table);    // Softmax, LogSoftmax and their grads
void RegisterTransposeKernels(KernelTable& table);  // Transpose
void RegisterReduceKernels(KernelTable& table);     // ReduceSum, ReduceMean, fleet.expand_like
void RegisterNormKernels(KernelTable& table);       // LayerNormalization and its gradient
void RegisterBatchNormKernels(KernelTable& table);  // BatchNormalization, batch_norm_train/grad
void RegisterGatherKernels(KernelTable& table);     // Gather, fleet.gather_grad(_sparse)
void RegisterConcatKernels(KernelTable& table);     // Concat, fleet.concat_grad
void RegisterControlFlowKernels(KernelTable& table);  // fleet.conditional_block
void RegisterCastKernels(KernelTable& table);         // Cast, CastLike (f32 <-> f16)
void RegisterAmpKernels(KernelTable& table);          // loss scaling: check_finite_and_unscale, ...

}  // namespace fleet::cuda
