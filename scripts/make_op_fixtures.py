#!/usr/bin/env python3
"""Generate Tests/SRBackendReferenceTests/Fixtures/ops.json: the expected results of the rank-N ops, computed with NumPy.

The reference backend is the oracle every fast backend is tested against; these cases test the oracle itself
against an independent implementation (NumPy, with the formulas of PyTorch's documentation: torch.matmul,
nn.LayerNorm, softmax, nn.GELU (erf and tanh), torch.roll, torch.permute, reshape, Swin's window_partition /
window_reverse, slicing with a step, nn.Linear on the last axis, broadcasting binary ops, bfloat16 rounding).

Each case: "op" and its attributes, "inputs" (list of {dims, layout, data}), "expected" ({dims, layout, data}).
Reproducible (fixed seed). Run by developers when a case is added:

    python3 scripts/make_op_fixtures.py
"""
import json
import math
import os

import numpy as np

rng = np.random.default_rng(20261207)
cases = []


def tensor(a, layout=None):
    a = np.asarray(a, dtype=np.float32)
    t = {"dims": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}
    if layout:
        t["layout"] = layout
    return t


def rand(*shape):
    return rng.uniform(-2, 2, size=shape).astype(np.float32)


def add(name, op, inputs, expected, expected_layout=None, **attrs):
    cases.append({"name": name, "op": op, "attributes": attrs,
                  "inputs": [tensor(a, l) for a, l in inputs], "expected": tensor(expected, expected_layout)})


def bf16(a):
    a = np.asarray(a, dtype=np.float32)
    bits = a.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


# matmul: batched with broadcasting, transposed second operand, scale
a, b = rand(2, 3, 4, 5), rand(3, 5, 6)
add("matmul broadcast", "matmul", [(a, "plain"), (b, "plain")], np.matmul(a, b), "plain", transposeB=False, scale=1.0)
a, b = rand(1, 2, 7, 4), rand(1, 2, 7, 4)
add("matmul transposeB scaled", "matmul", [(a, "plain"), (b, "plain")], np.matmul(a, np.swapaxes(b, -1, -2)) * 0.5,
    "plain", transposeB=True, scale=0.5)
a, b = rand(4, 3), rand(3, 2)
add("matmul rank 2", "matmul", [(a, "plain"), (b, "plain")], a @ b, "plain", transposeB=False, scale=1.0)

# layer norm over the last axis (biased variance)
x = rand(2, 5, 8) * 3 + 1
g, be = rand(8), rand(8)
mu = x.mean(-1, keepdims=True)
var = ((x - mu) ** 2).mean(-1, keepdims=True)
add("layerNorm tokens", "layerNorm", [(x, "tokens")], (x - mu) / np.sqrt(var + 1e-5) * g + be, "tokens",
    gamma=[float(v) for v in g], beta=[float(v) for v in be], epsilon=1e-5)

# softmax
for axis in (-1, 1):
    x = rand(2, 3, 4, 5) * 4
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    add(f"softmax axis {axis}", "softmax", [(x, "plain")], e / e.sum(axis=axis, keepdims=True), "plain", axis=axis)

# GELU
x = rand(2, 3, 4, 4) * 2
erf = np.vectorize(math.erf)
add("gelu erf", "gelu", [(x, None)], 0.5 * x * (1 + erf(x / math.sqrt(2))), None, approximate=False)
add("gelu tanh", "gelu", [(x, None)],
    0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), None, approximate=True)

# reshape (ONNX semantics: 0 copies, -1 inferred) and permute
x = rand(2, 3, 4, 6)
add("reshape", "reshape", [(x, "plain")], x.reshape(2, 12, 6), "tokens", dims=[0, -1, 6])
add("permute", "permute", [(x, "nchw")], np.transpose(x, (0, 2, 3, 1)), "nhwc", order=[0, 2, 3, 1], layout="nhwc")
x6 = rand(1, 2, 3, 2, 2, 3)
add("permute rank 6", "permute", [(x6, "plain")], np.transpose(x6, (0, 1, 3, 2, 4, 5)), "plain", order=[0, 1, 3, 2, 4, 5])

# roll (cyclic shift), several axes, negative shift
x = rand(1, 6, 5, 3)
add("roll", "roll", [(x, "nhwc")], np.roll(x, shift=(-2, 3), axis=(1, 2)), "nhwc", shifts=[-2, 3], axes=[1, 2])


# Swin window partition / reverse
def window_partition(x, s):
    n, h, w, c = x.shape
    x = x.reshape(n, h // s, s, w // s, s, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, s * s, c)


x = rand(2, 6, 4, 3)
wins = window_partition(x, 2)
add("windowPartition", "windowPartition", [(x, "nhwc")], wins, "tokens", size=2)
add("windowReverse", "windowReverse", [(wins, "tokens"), (np.zeros_like(x), "nhwc")], x, "nhwc", size=2)

# slice with a step, on a middle axis
x = rand(2, 9, 3)
add("slice step 2", "slice", [(x, "tokens")], x[:, 1:8:2, :], "tokens", axis=1, start=1, end=8, step=2)
add("slice last axis", "slice", [(x, "tokens")], x[..., 1:], "tokens", axis=-1, start=1, end=100, step=1)

# linear on the last axis
x = rand(1, 5, 4)
wt, bias = rand(3, 4), rand(3)
add("linear lastAxis", "linear", [(x, "tokens")], x @ wt.T + bias, "tokens",
    weight=[float(v) for v in wt.reshape(-1)], weightDims=[3, 4], bias=[float(v) for v in bias])

# binary broadcast across ranks (tokens + a vector; attention scores + a per-window mask)
x, v = rand(2, 3, 4), rand(4)
add("binary add rank 3 + rank 1", "add", [(x, "tokens"), (v, "plain")], x + v, "tokens")
s, m = rand(4, 2, 3, 3), rand(4, 1, 3, 3)
add("binary add mask", "add", [(s, "plain"), (m, "plain")], s + m, "plain")

# bf16 conversion: round to nearest even (ties included)
x = np.concatenate([rand(12), np.array([1 + 2 ** -8, 1 + 3 * 2 ** -8, -1 - 2 ** -8, 3.0e38, 1e-40], dtype=np.float32)])
add("convert bf16", "convertBF16", [(x, "plain")], bf16(x), "plain")

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "SRBackendReferenceTests", "Fixtures", "ops.json")
with open(out, "w") as f:
    json.dump({"generator": "scripts/make_op_fixtures.py", "numpy": np.__version__, "cases": cases}, f)
print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")
