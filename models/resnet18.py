"""Generates a ResNet-18-shaped CNN: image f32[batch,3,64,64] -> logits f32[batch,10].

The layout follows torchvision's resnet18 (7x7/2 stem conv, 3x3/2 max pool, four stages of two
BasicBlocks with 64/128/256/512 channels, 1x1/2 projection shortcuts, global average pool, fully
connected head) exported for inference without fusion: every Conv (no bias) is followed by its own
BatchNormalization node. Images are 64x64 rather than 224x224 so CI stays fast; the spatial sizes
are 32 (stem) -> 16 (pool, stage 1) -> 8 -> 4 -> 2 -> 1 (global pool).

Weights: He-normal convolutions; BatchNorm running statistics taken from a numpy forward pass
over a seeded calibration batch of N(0, 1) images (then perturbed a little), gamma ~ U(0.7, 1.3),
beta ~ N(0, 0.1), so every BatchNorm really normalises and activations stay in a trained network's
range; a Xavier-initialised 10-class Gemm head.

Usage: resnet18.py --out resnet18.onnx [--seed S] [--size 64] [--classes 10]
"""

import argparse

import numpy as np

from common import BATCH, F32, GraphBuilder, make_model, save, tensor_input

DEFAULT_SEED = 2
CALIBRATION_BATCH = 8


def conv2d(x, w, stride, pad):
    """NCHW convolution in numpy (im2col + matmul), used only to calibrate BatchNorm."""
    k = w.shape[2]
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]  # [N, C, OH, OW, k, k]
    return np.einsum("nchwkl,ockl->nohw", win, w, optimize=True)


def max_pool(x, k, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    return win[:, :, ::stride, ::stride].max(axis=(4, 5))


def conv_bn(b, x, act, out_ch, kernel, stride, name, relu):
    """Conv (no bias) -> BatchNormalization [-> Relu].

    `act` is this layer's input on a calibration batch of N(0, 1) images (numpy, NCHW). The
    BatchNorm running statistics are that batch's per-channel statistics of the conv output,
    perturbed a little as real running averages are, so every BatchNorm really normalises.
    Returns (output name, output on the calibration batch)."""
    in_ch = act.shape[1]
    pad = kernel // 2
    w = b.he_normal((out_ch, in_ch, kernel, kernel), in_ch * kernel * kernel)
    w_name = b.const(f"{name}.conv.weight", w)
    y = b.op("Conv", [x, w_name], f"{name}.conv", kernel_shape=[kernel, kernel],
             strides=[stride, stride], pads=[pad, pad, pad, pad], dilations=[1, 1], group=1)
    conv = conv2d(act, w, stride, pad)
    batch_mean = conv.mean(axis=(0, 2, 3))
    batch_var = conv.var(axis=(0, 2, 3))

    gamma = b.rng.uniform(0.7, 1.3, out_ch).astype(np.float32)
    beta = b.rng.normal(0.0, 0.1, out_ch).astype(np.float32)
    running_mean = (batch_mean + b.rng.normal(0.0, 0.05, out_ch) * np.sqrt(batch_var))
    running_var = batch_var * b.rng.uniform(0.9, 1.1, out_ch)
    running_mean = running_mean.astype(np.float32)
    running_var = running_var.astype(np.float32)
    eps = 1e-5
    inputs = [y]
    for suffix, value in [("weight", gamma), ("bias", beta), ("running_mean", running_mean),
                          ("running_var", running_var)]:
        inputs.append(b.const(f"{name}.bn.{suffix}", value))
    y = b.op("BatchNormalization", inputs, f"{name}.bn", epsilon=eps, momentum=0.9)
    scale = gamma / np.sqrt(running_var + eps)
    out = ((conv - running_mean[None, :, None, None]) * scale[None, :, None, None]
           + beta[None, :, None, None]).astype(np.float32)
    if relu:
        y = b.op("Relu", [y], f"{name}.relu")
        out = np.maximum(out, 0)
    return y, out


def basic_block(b, x, act, out_ch, stride, name):
    in_ch = act.shape[1]
    h, h_act = conv_bn(b, x, act, out_ch, 3, stride, f"{name}.1", relu=True)
    h, h_act = conv_bn(b, h, h_act, out_ch, 3, 1, f"{name}.2", relu=False)
    if stride != 1 or in_ch != out_ch:
        shortcut, s_act = conv_bn(b, x, act, out_ch, 1, stride, f"{name}.downsample",
                                  relu=False)
    else:
        shortcut, s_act = x, act
    y = b.op("Add", [h, shortcut], f"{name}.add")
    return b.op("Relu", [y], f"{name}.relu"), np.maximum(h_act + s_act, 0)


def build(seed=DEFAULT_SEED, size=64, classes=10):
    b = GraphBuilder(seed)
    image = "image"
    # Calibration batch: normalised images, ~N(0, 1) per pixel, like sample_inputs.py makes.
    act = b.rng.standard_normal((CALIBRATION_BATCH, 3, size, size)).astype(np.float32)
    h, act = conv_bn(b, image, act, 64, 7, 2, "stem", relu=True)
    h = b.op("MaxPool", [h], "stem.pool", kernel_shape=[3, 3], strides=[2, 2],
             pads=[1, 1, 1, 1])
    act = max_pool(act, 3, 2, 1)
    for stage, out_ch in enumerate([64, 128, 256, 512], start=1):
        for block in range(2):
            stride = 2 if (stage > 1 and block == 0) else 1
            h, act = basic_block(b, h, act, out_ch, stride, f"layer{stage}.{block}")
    h = b.op("GlobalAveragePool", [h], "avgpool")
    h = b.op("Flatten", [h], "flatten", axis=1)
    logits = b.gemm(h, 512, classes, "fc", init="xavier", output="logits")
    return make_model(b, "resnet18", [tensor_input(image, F32, [BATCH, 3, size, size])],
                      [tensor_input(logits, F32, [BATCH, classes])],
                      doc=f"ResNet-18 layout on {size}x{size} images, {classes} classes")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="path of the .onnx file to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--size", type=int, default=64, help="image height and width")
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    save(build(args.seed, args.size, args.classes), args.out)


if __name__ == "__main__":
    main()
