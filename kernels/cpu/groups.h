// One registration function per kernel file of kernels/cpu; register.cc calls them all.
#pragma once

#include "executor/kernel.h"

namespace fleet::cpu {

void RegisterElementwiseKernels(KernelTable& table);  // binary arithmetic, compare, logic, Where
void RegisterUnaryKernels(KernelTable& table);        // activations, math, Cast, Clip, Not
void RegisterMatMulKernels(KernelTable& table);       // MatMul, Gemm, Einsum
void RegisterConvKernels(KernelTable& table);         // Conv, ConvTranspose
void RegisterPoolKernels(KernelTable& table);         // MaxPool, AveragePool, global pools
void RegisterNormKernels(KernelTable& table);         // BatchNorm, LayerNorm, Softmax, Dropout
void RegisterReduceKernels(KernelTable& table);       // Reduce*, ArgMax/ArgMin
void RegisterShapeKernels(KernelTable& table);        // Reshape, Transpose, Concat, Slice, Pad...
void RegisterIndexKernels(KernelTable& table);        // Gather*, TopK, CumSum, Range, Constant...
void RegisterLossKernels(KernelTable& table);         // SoftmaxCrossEntropyLoss, NLL loss
void RegisterResizeKernels(KernelTable& table);       // Resize
void RegisterOptimizerKernels(KernelTable& table);    // fleet.sgd, fleet.momentum, fleet.adam...
void RegisterMultiUpdateKernels(KernelTable& table);  // fleet.multi_update
void RegisterAutodiffKernels(KernelTable& table);     // fleet.fill_like, fleet.grad_sum
void RegisterTrainingKernels(KernelTable& table);     // fill_constant, increment, lr_schedule, clip
void RegisterGradBroadcastKernels(KernelTable& table); // fleet.reduce_to_like, fleet.expand_like
void RegisterMatMulGradKernels(KernelTable& table);   // fleet.matmul_grad_a/_b
void RegisterConvGradKernels(KernelTable& table);     // fleet.conv_grad_input/_filter
void RegisterPoolGradKernels(KernelTable& table);     // fleet.{max,avg,global_*}_pool_grad
void RegisterNormGradKernels(KernelTable& table);     // fleet.batch_norm_train/_grad, layer_norm_grad
void RegisterGradActivationKernels(KernelTable& table); // fleet.relu_grad, fleet.sigmoid_grad...
void RegisterShapeGradKernels(KernelTable& table);    // fleet.reshape_like, concat_grad, slice_grad...
void RegisterIndexGradKernels(KernelTable& table);    // fleet.gather_grad(_sparse), gather_elements_grad
void RegisterSoftmaxGradKernels(KernelTable& table);  // fleet.softmax_grad, fleet.log_softmax_grad
void RegisterLossGradKernels(KernelTable& table);     // fleet.softmax_ce_grad, fleet.nll_loss_grad
void RegisterControlFlowKernels(KernelTable& table);  // If, Loop, Scan, fleet.conditional_block
void RegisterMemcpyKernels(KernelTable& table);       // fleet.memcpy

}  // namespace fleet::cpu
