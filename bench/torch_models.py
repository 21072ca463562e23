"""PyTorch versions of the benchmark networks, loaded with the ncnn weights.

Benchmark-only code (``bench/anchors.py``): nothing in the Swift package uses it.
The three architectures are written here from the layer lists of the ncnn
``.param`` files, and their weights are read from the matching ``.bin`` (the
layout in ``docs/ncnn-pipelines.md``, "ModelBin"; ``Sources/SRWeights/NCNNBin.swift``):

* ``RRDBNet``          realesrgan-x4plus (23 RRDB blocks, 64 features, growth 32,
                       nearest x2 upsampling twice, LeakyReLU 0.2) and
                       realesrgan-x4plus-anime (6 blocks)
* ``SRVGGNetCompact``  realesr-animevideov3-x4 (conv + PReLU, 16 body convs of 64
                       channels, pixel shuffle x4, plus the nearest x4 upsampled
                       input as a residual)
* ``SPAN``             span-x4 / span-x2 (ch48) and the ch52 variants: the
                       re-parameterised (single 3x3 conv per Conv3XC) inference graph,
                       including the in-graph ``(x - mean) * 255`` normalisation

Every network takes the padded ``(N, 3, H, W)`` float32 input that the ncnn
pipelines feed to the ``data`` blob and returns what ncnn's ``output`` blob holds,
so its output is directly comparable with ``make_ncnn_fixtures.run_pipeline(...).net_out``.

Usage::

    import torch_models
    net = torch_models.load_ncnn_model("span-x4", models_dir)   # nn.Module in eval mode
    y = net(x)                                                  # x: (1, 3, H+20, W+20)

Needs torch and numpy only (no ncnn).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Model ids this module can build (the architecture is recognised from the .param).
SUPPORTED = (
    "realesrgan-x4plus",
    "realesrgan-x4plus-anime",
    "realesr-animevideov3-x4",
    "span-x2",
    "span-x4",
    "span-x2-ch52",
    "span-x4-ch52",
)


def default_models_dir() -> Path:
    """Same rule as the enhance CLI: $ENHANCE_MODELS_DIR, else $XDG_CACHE_HOME|~/.cache + /enhance/models."""
    env = os.environ.get("ENHANCE_MODELS_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "enhance" / "models"


# --------------------------------------------------------------------------
# ncnn .param / .bin reading
# --------------------------------------------------------------------------

@dataclass
class Layer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, object]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def p(self, key: int, default=0):
        return self.params.get(key, default)


def _param_value(token: str):
    if "." in token or "e" in token or "E" in token:
        return float(token)
    return int(token)


def parse_param(path: Path) -> list[Layer]:
    """Layers of a text .param file (magic 7767517), in file order."""
    lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines or lines[0] != ["7767517"]:
        raise ValueError(f"{path}: not an ncnn text .param (magic 7767517 expected)")
    layer_count = int(lines[1][0])
    layers = []
    for tokens in lines[2:]:
        ltype, name, nb, nt = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        bottoms = tokens[4:4 + nb]
        tops = tokens[4 + nb:4 + nb + nt]
        params: dict[int, object] = {}
        for kv in tokens[4 + nb + nt:]:
            key_s, val = kv.split("=", 1)
            key = int(key_s)
            if key <= -23300:  # array: -233kk=n,v1,...,vn
                values = val.split(",")
                params[-key - 23300] = [_param_value(v) for v in values[1:1 + int(values[0])]]
            else:
                params[key] = _param_value(val)
        layers.append(Layer(ltype, name, bottoms, tops, params))
    if len(layers) != layer_count:
        raise ValueError(f"{path}: header says {layer_count} layers, found {len(layers)}")
    return layers


class _BinReader:
    """ncnn ModelBinFromDataReader::load(n, type) over the whole .bin in memory."""

    FP16_TAG = 0x01306B47
    INT8_TAG = 0x000D4B38
    FP32_SCALED_TAG = 0x0002C056

    def __init__(self, data: bytes, path: Path):
        self.data = data
        self.pos = 0
        self.path = path

    def _take(self, nbytes: int) -> bytes:
        if self.pos + nbytes > len(self.data):
            raise ValueError(f"{self.path}: truncated at byte {self.pos} (wanted {nbytes} more)")
        chunk = self.data[self.pos:self.pos + nbytes]
        self.pos += nbytes
        return chunk

    @staticmethod
    def _align4(n: int) -> int:
        return (n + 3) & ~3

    def load(self, n: int, load_type: int) -> np.ndarray:
        if load_type == 1:
            return np.frombuffer(self._take(4 * n), dtype="<f4").copy()
        flag = self._take(4)
        tag = struct.unpack("<I", flag)[0]
        if tag == self.FP16_TAG:
            raw = self._take(self._align4(2 * n))
            return np.frombuffer(raw[:2 * n], dtype="<f2").astype(np.float32)
        if tag == self.INT8_TAG:
            raise ValueError(f"{self.path}: int8 weights are not supported")
        if tag == self.FP32_SCALED_TAG or sum(flag) == 0:
            return np.frombuffer(self._take(4 * n), dtype="<f4").copy()
        table = np.frombuffer(self._take(256 * 4), dtype="<f4")
        index = np.frombuffer(self._take(self._align4(n))[:n], dtype=np.uint8)
        return table[index].astype(np.float32)


# Layer types that hold no weights in the .bin.
_WEIGHTLESS = {
    "Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle", "Swish",
    "Sigmoid", "ReLU", "Crop", "Pooling", "Reshape", "Flatten", "Noop", "Softmax", "TanH",
}


def read_ncnn(param: Path, binary: Path) -> list[Layer]:
    """Parse a .param and attach every layer's arrays from the .bin (weights as
    (out, in, kh, kw) float32 for convolutions).  The whole .bin must be consumed."""
    layers = parse_param(param)
    reader = _BinReader(Path(binary).read_bytes(), Path(binary))
    for layer in layers:
        if layer.type == "Convolution":
            if layer.p(8):
                raise ValueError(f"{layer.name}: int8 convolutions are not supported")
            out_c, k_w = layer.p(0), layer.p(1)
            k_h = layer.p(11, k_w)
            size = layer.p(6)
            w = reader.load(size, 0)
            in_c = size // (out_c * k_w * k_h)
            if in_c * out_c * k_w * k_h != size:
                raise ValueError(f"{layer.name}: weight_data_size {size} is not out*in*kh*kw")
            layer.arrays["weight"] = w.reshape(out_c, in_c, k_h, k_w)
            if layer.p(5):
                layer.arrays["bias"] = reader.load(out_c, 1)
        elif layer.type == "PReLU":
            layer.arrays["slope"] = reader.load(layer.p(0), 1)
        elif layer.type == "MemoryData":
            w, h, d, c = layer.p(0), layer.p(1), layer.p(11), layer.p(2)
            count = max(w, 1) * max(h, 1) * max(d, 1) * max(c, 1)
            layer.arrays["data"] = reader.load(count, layer.p(21, 1))
        elif layer.type not in _WEIGHTLESS:
            raise ValueError(f"{param}: layer type {layer.type} ({layer.name}) is not supported here")
    if reader.pos != len(reader.data):
        raise ValueError(f"{binary}: {len(reader.data) - reader.pos} bytes left after the last layer")
    return layers


# --------------------------------------------------------------------------
# Architectures
# --------------------------------------------------------------------------

def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1)


class DenseBlock(nn.Module):
    """Residual dense block: five 3x3 convs, each seeing the block input and all
    earlier outputs; LeakyReLU(0.2) after the first four; 0.2-scaled residual."""

    def __init__(self, feat: int, grow: int):
        super().__init__()
        self.convs = nn.ModuleList(_conv3(feat + i * grow, grow) for i in range(4))
        self.fuse = _conv3(feat + 4 * grow, feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs:
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return self.fuse(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Three dense blocks in a chain, 0.2-scaled residual around them."""

    def __init__(self, feat: int, grow: int):
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock(feat, grow) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN generator as in the Real-ESRGAN x4 ncnn graphs."""

    def __init__(self, blocks: int = 23, feat: int = 64, grow: int = 32, cin: int = 3, cout: int = 3):
        super().__init__()
        self.head = _conv3(cin, feat)
        self.trunk = nn.Sequential(*(RRDB(feat, grow) for _ in range(blocks)))
        self.trunk_tail = _conv3(feat, feat)
        self.up1 = _conv3(feat, feat)
        self.up2 = _conv3(feat, feat)
        self.hr = _conv3(feat, feat)
        self.tail = _conv3(feat, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        f = f + self.trunk_tail(self.trunk(f))
        f = F.leaky_relu(self.up1(F.interpolate(f, scale_factor=2, mode="nearest")), 0.2)
        f = F.leaky_relu(self.up2(F.interpolate(f, scale_factor=2, mode="nearest")), 0.2)
        return self.tail(F.leaky_relu(self.hr(f), 0.2))

    def ncnn_order(self) -> list[nn.Module]:
        """Weighted modules in the order their arrays appear in the ncnn .bin."""
        mods: list[nn.Module] = [self.head]
        for rrdb in self.trunk:
            for block in rrdb.blocks:
                mods += list(block.convs) + [block.fuse]
        return mods + [self.trunk_tail, self.up1, self.up2, self.hr, self.tail]


class SRVGGNetCompact(nn.Module):
    """Plain conv/PReLU stack at input resolution, pixel shuffle, plus the
    nearest-neighbour upsampled input (realesr-animevideov3)."""

    def __init__(self, body_convs: int = 16, feat: int = 64, scale: int = 4, cin: int = 3, cout: int = 3):
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [_conv3(cin, feat), nn.PReLU(feat)]
        for _ in range(body_convs):
            layers += [_conv3(feat, feat), nn.PReLU(feat)]
        layers += [_conv3(feat, cout * scale * scale), nn.PixelShuffle(scale)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + F.interpolate(x, scale_factor=self.scale, mode="nearest")

    def ncnn_order(self) -> list[nn.Module]:
        return [m for m in self.body if isinstance(m, (nn.Conv2d, nn.PReLU))]


class SPAB(nn.Module):
    """SPAN attention block (inference form): three 3x3 convs with SiLU between,
    attention sigmoid(c3) - 0.5 applied to (c3 + input).  Also returns the
    activated first conv output (the last block's one feeds the final concat)."""

    def __init__(self, ch: int):
        super().__init__()
        self.c1 = _conv3(ch, ch)
        self.c2 = _conv3(ch, ch)
        self.c3 = _conv3(ch, ch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a1 = F.silu(self.c1(x))
        c3 = self.c3(F.silu(self.c2(a1)))
        return (c3 + x) * (torch.sigmoid(c3) - 0.5), a1


class SPAN(nn.Module):
    """Swift Parameter-free Attention Network, re-parameterised inference graph."""

    def __init__(self, ch: int = 48, scale: int = 4, cin: int = 3, cout: int = 3):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, cin, 1, 1))
        self.head = _conv3(cin, ch)
        self.blocks = nn.ModuleList(SPAB(ch) for _ in range(6))
        self.body_tail = _conv3(ch, ch)
        self.fuse = nn.Conv2d(4 * ch, ch, 1)
        self.up = _conv3(ch, cout * scale * scale)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.head((x - self.mean) * 255.0)
        f, _ = self.blocks[0](f0)
        b1 = f
        for block in self.blocks[1:]:
            f, a1 = block(f)
        f6 = self.body_tail(f)
        # a1 is the last block's activated first conv (ncnn /block_6/act1)
        y = self.fuse(torch.cat([f0, f6, b1, a1], 1))
        return self.shuffle(self.up(y))

    def ncnn_order(self) -> list[nn.Module]:
        mods: list[nn.Module] = [self.head]
        for b in self.blocks:
            mods += [b.c1, b.c2, b.c3]
        return mods + [self.body_tail, self.fuse, self.up]


# --------------------------------------------------------------------------
# Recognising the architecture and loading the weights
# --------------------------------------------------------------------------

def _count(layers: list[Layer], ltype: str) -> int:
    return sum(1 for l in layers if l.type == ltype)


def build_from_layers(layers: list[Layer]) -> nn.Module:
    """An (unloaded) torch network matching the ncnn layer list, or ValueError."""
    convs = [l for l in layers if l.type == "Convolution"]
    shuffles = [l for l in layers if l.type == "PixelShuffle"]
    if _count(layers, "MemoryData") == 1 and _count(layers, "Swish") > 0 and shuffles:
        ch = convs[0].p(0)
        model = SPAN(ch=ch, scale=shuffles[0].p(0))
    elif _count(layers, "PReLU") > 0 and shuffles:
        model = SRVGGNetCompact(body_convs=len(convs) - 2, feat=convs[0].p(0), scale=shuffles[0].p(0))
    elif _count(layers, "Eltwise") > 0 and _count(layers, "Interp") == 2:
        eltwise = _count(layers, "Eltwise")
        if eltwise % 4:
            raise ValueError(f"{eltwise} Eltwise layers: not 4 per RRDB")
        model = RRDBNet(blocks=eltwise // 4, feat=convs[0].p(0), grow=convs[1].p(0))
    else:
        raise ValueError("unrecognised architecture (supported: RRDBNet, SRVGGNetCompact, SPAN)")
    return model


def load_weights(model: nn.Module, layers: list[Layer]) -> None:
    """Copy the ncnn arrays, layer by layer in file order, onto ``model.ncnn_order()``."""
    weighted = [l for l in layers if l.type in ("Convolution", "PReLU")]
    targets = model.ncnn_order()
    if len(weighted) != len(targets):
        raise ValueError(f"ncnn has {len(weighted)} weighted layers, the torch model {len(targets)}")
    with torch.no_grad():
        for layer, mod in zip(weighted, targets):
            if layer.type == "Convolution":
                if not isinstance(mod, nn.Conv2d):
                    raise ValueError(f"{layer.name}: ncnn Convolution mapped onto {type(mod).__name__}")
                w = torch.from_numpy(layer.arrays["weight"])
                if tuple(w.shape) != tuple(mod.weight.shape):
                    raise ValueError(f"{layer.name}: weight {tuple(w.shape)} vs torch {tuple(mod.weight.shape)}")
                k = w.shape[-1]
                pad = layer.p(4)
                if layer.p(3, 1) != 1 or layer.p(2, 1) != 1 or pad != k // 2:
                    raise ValueError(f"{layer.name}: only stride 1, dilation 1, 'same' padding")
                act = layer.p(9)
                # Only RRDBNet has fused activations (LeakyReLU 0.2; where, see
                # _check_activations); the others apply PReLU/SiLU as layers.
                fused_ok = isinstance(model, RRDBNet) and act == 2 and layer.p(10, [0.0])[0] == 0.2
                if act != 0 and not fused_ok:
                    raise ValueError(f"{layer.name}: fused activation {act} {layer.p(10)} not modelled")
                mod.weight.copy_(w)
                if mod.bias is not None:
                    if "bias" not in layer.arrays:
                        raise ValueError(f"{layer.name}: no bias in ncnn, torch expects one")
                    mod.bias.copy_(torch.from_numpy(layer.arrays["bias"]))
            else:
                if not isinstance(mod, nn.PReLU):
                    raise ValueError(f"{layer.name}: ncnn PReLU mapped onto {type(mod).__name__}")
                slope = torch.from_numpy(layer.arrays["slope"])
                if slope.numel() != mod.weight.numel():
                    raise ValueError(f"{layer.name}: {slope.numel()} slopes vs torch {mod.weight.numel()}")
                mod.weight.copy_(slope)
        if isinstance(model, SPAN):
            mem = [l for l in layers if l.type == "MemoryData"][0].arrays["data"]
            model.mean.copy_(torch.from_numpy(mem).reshape(model.mean.shape))
    _check_activations(model, layers)


def _check_activations(model: nn.Module, layers: list[Layer]) -> None:
    """The fused LeakyReLU flags in the .param must be where the torch forward applies them."""
    if not isinstance(model, RRDBNet):
        return
    convs = [l for l in layers if l.type == "Convolution"]
    expected = [False]  # head
    for _ in model.trunk:
        expected += [True, True, True, True, False] * 3
    expected += [False, True, True, True, False]  # trunk_tail, up1, up2, hr, tail
    actual = [l.p(9) == 2 for l in convs]
    if actual != expected:
        bad = [convs[i].name for i, (a, e) in enumerate(zip(actual, expected)) if a != e]
        raise ValueError(f"fused LeakyReLU placement differs from RRDBNet at {bad[:5]}")


def model_files(model_id: str, models_dir: Path | None = None) -> tuple[Path, Path]:
    d = Path(models_dir) if models_dir else default_models_dir()
    param, binary = d / f"{model_id}.param", d / f"{model_id}.bin"
    if not (param.is_file() and binary.is_file()):
        raise FileNotFoundError(f"{param} / {binary} not found (scripts/fetch_models.py downloads them)")
    return param, binary


def load_ncnn_model(model_id: str, models_dir: Path | None = None) -> nn.Module:
    """The torch network for ``model_id`` with the ncnn weights, float32, eval mode."""
    param, binary = model_files(model_id, models_dir)
    layers = read_ncnn(param, binary)
    model = build_from_layers(layers)
    load_weights(model, layers)
    return model.eval()


def conv_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of every convolution for input ``x`` (one forward pass)."""
    total = 0

    def hook(mod: nn.Conv2d, _inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1]
        total += out.numel() * (mod.in_channels // mod.groups) * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total
