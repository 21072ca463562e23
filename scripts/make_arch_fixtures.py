#!/usr/bin/python3
"""Generate the architecture fixtures of Tests/SRModelsTests.

For every architecture that ``Sources/SRModels`` rebuilds from PyTorch weights, this script defines the network in
PyTorch from its published description (BasicSR layouts, the SRGAN tutorial layout, yjn870's ESPCN / FSRCNN, SPAN,
torchvision's VGG, Real-CUGAN's v3 U-Nets), instantiates a TINY configuration with a fixed seed, and writes into
``Tests/SRModelsTests/Fixtures/``:

* ``<name>.pth`` or ``<name>.safetensors``: the state dict, some wrapped BasicSR-style in ``{"params_ema": ...}`` or
  ``{"params": ...}`` and some with ``module.`` prefixes (``nn.DataParallel``); ``esrgan_old_x4.pth`` uses the
  original ESRGAN key names for the RRDBNet weights of ``rrdbnet_x4``;
* ``<name>.out.f32``: the network's output for the fixture input, raw float32 little-endian, NCHW;
* ``fixtures.json``: per fixture the file, the architecture, the configuration Enhance must detect (its Swift
  ``Config`` fields), the input and output shapes.

The input of every fixture is generated, not stored: element ``i`` (flat NCHW index) of the ``[1, C, H, W]`` input
is ``((i * 7919) % 1009) / 1008``, exactly representable in float32, values in ``[0, 1]``.

Value-range conventions match the Swift graphs: every graph takes ``[0, 1]`` images. SRResNet's reference output is
the tanh output mapped to ``[0, 1]`` (``(y + 1) / 2``) of the network fed ImageNet-normalised input; the VGG
feature reference is fed ImageNet-normalised input. ESPCN and FSRCNN are single-channel networks compared raw.

Requirements: PyTorch for the system Python (``apt-get install -y python3-torch``; run this with ``/usr/bin/python3``,
the ``python3`` on PATH may lack torch). safetensors files are written by this script following the format (no
``safetensors`` package needed). Run by developers, not by CI:

    /usr/bin/python3 scripts/make_arch_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "Tests", "SRModelsTests", "Fixtures")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def conv(cin: int, cout: int, k: int = 3, stride: int = 1, padding: int | None = None, bias: bool = True):
    return nn.Conv2d(cin, cout, k, stride, k // 2 if padding is None else padding, bias=bias)


# ---------------------------------------------------------------------------------------------------------------
# Architectures (written from the papers' and BasicSR's layer descriptions)
# ---------------------------------------------------------------------------------------------------------------

class DenseBlock(nn.Module):
    """Five 3x3 convolutions, each over the concatenation of the input and all earlier outputs; residual x0.2."""

    def __init__(self, nf: int, gc: int):
        super().__init__()
        for j in range(1, 6):
            setattr(self, f"conv{j}", conv(nf + (j - 1) * gc, nf if j == 5 else gc))

    def forward(self, x):
        feats = [x]
        for j in range(1, 5):
            feats.append(F.leaky_relu(getattr(self, f"conv{j}")(torch.cat(feats, 1)), 0.2))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = DenseBlock(nf, gc), DenseBlock(nf, gc), DenseBlock(nf, gc)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, cin: int, cout: int, nf: int, nb: int, gc: int, scale: int):
        super().__init__()
        self.unshuffle = {1: 4, 2: 2}.get(scale, 1)
        self.conv_first = conv(cin * self.unshuffle ** 2, nf)
        self.body = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.conv_body = conv(nf, nf)
        self.conv_up1, self.conv_up2, self.conv_hr = conv(nf, nf), conv(nf, nf), conv(nf, nf)
        self.conv_last = conv(nf, cout)

    def forward(self, x):
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for up in (self.conv_up1, self.conv_up2):
            feat = F.leaky_relu(up(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


def esrgan_old_names(sd: dict, nb: int) -> dict:
    """The original ESRGAN key names for a BasicSR RRDBNet x4 state dict."""
    top = {"conv_first": "model.0", "conv_body": f"model.1.sub.{nb}", "conv_up1": "model.3", "conv_up2": "model.6",
           "conv_hr": "model.8", "conv_last": "model.10"}
    out = collections.OrderedDict()
    for key, value in sd.items():
        module, param = key.rsplit(".", 1)
        if module in top:
            out[f"{top[module]}.{param}"] = value
        else:
            _, n, rdb, convj = module.split(".")  # body.N.rdbK.convJ
            out[f"model.1.sub.{n}.RDB{rdb[3:]}.{convj}.0.{param}"] = value
    return out


class SRVGGNetCompact(nn.Module):
    def __init__(self, cin: int, cout: int, nf: int, nconv: int, scale: int, act: str):
        super().__init__()
        self.scale = scale

        def activation(n):
            return nn.PReLU(n) if act == "prelu" else nn.ReLU()

        layers = [conv(cin, nf), activation(nf)]
        for _ in range(nconv):
            layers += [conv(nf, nf), activation(nf)]
        layers.append(conv(nf, cout * scale * scale))
        self.body = nn.ModuleList(layers)

    def forward(self, x):
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.scale) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


class ResidualBlockNoBN(nn.Module):
    def __init__(self, nf: int, res_scale: float = 1.0):
        super().__init__()
        self.conv1, self.conv2 = conv(nf, nf), conv(nf, nf)
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x))) * self.res_scale


class MSRResNet(nn.Module):
    def __init__(self, cin: int, cout: int, nf: int, nb: int, scale: int):
        super().__init__()
        self.scale = scale
        self.conv_first = conv(cin, nf)
        self.body = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(nb)])
        if scale == 4:
            self.upconv1, self.upconv2 = conv(nf, nf * 4), conv(nf, nf * 4)
        else:
            self.upconv1 = conv(nf, nf * scale * scale)
        self.conv_hr, self.conv_last = conv(nf, nf), conv(nf, cout)

    def forward(self, x):
        feat = F.leaky_relu(self.conv_first(x), 0.1)
        out = self.body(feat)
        if self.scale == 4:
            out = F.leaky_relu(F.pixel_shuffle(self.upconv1(out), 2), 0.1)
            out = F.leaky_relu(F.pixel_shuffle(self.upconv2(out), 2), 0.1)
        else:
            out = F.leaky_relu(F.pixel_shuffle(self.upconv1(out), self.scale), 0.1)
        out = self.conv_last(F.leaky_relu(self.conv_hr(out), 0.1))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


class ConvolutionalBlock(nn.Module):
    """The SRGAN tutorial's conv [+ BatchNorm] [+ PReLU | Tanh] block, modules in `conv_block`."""

    def __init__(self, cin: int, cout: int, k: int, batch_norm: bool = False, activation: str | None = None):
        super().__init__()
        layers = [nn.Conv2d(cin, cout, k, 1, k // 2)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        if activation == "prelu":
            layers.append(nn.PReLU())
        elif activation == "tanh":
            layers.append(nn.Tanh())
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv_block(x)


class SRResNetBlock(nn.Module):
    def __init__(self, k: int, n: int):
        super().__init__()
        self.conv_block1 = ConvolutionalBlock(n, n, k, batch_norm=True, activation="prelu")
        self.conv_block2 = ConvolutionalBlock(n, n, k, batch_norm=True)

    def forward(self, x):
        return self.conv_block2(self.conv_block1(x)) + x


class SubPixelBlock(nn.Module):
    def __init__(self, k: int, n: int):
        super().__init__()
        self.conv = nn.Conv2d(n, n * 4, k, 1, k // 2)
        self.pixel_shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU()

    def forward(self, x):
        return self.prelu(self.pixel_shuffle(self.conv(x)))


class SRResNet(nn.Module):
    def __init__(self, large: int, small: int, n: int, blocks: int, scale: int):
        super().__init__()
        self.conv_block1 = ConvolutionalBlock(3, n, large, activation="prelu")
        self.residual_blocks = nn.Sequential(*[SRResNetBlock(small, n) for _ in range(blocks)])
        self.conv_block2 = ConvolutionalBlock(n, n, small, batch_norm=True)
        self.subpixel_convolutional_blocks = nn.Sequential(
            *[SubPixelBlock(small, n) for _ in range(int(math.log2(scale)))])
        self.conv_block3 = ConvolutionalBlock(n, 3, large, activation="tanh")

    def forward(self, x):
        head = self.conv_block1(x)
        out = self.conv_block2(self.residual_blocks(head)) + head
        return self.conv_block3(self.subpixel_convolutional_blocks(out))


class EDSR(nn.Module):
    def __init__(self, cin: int, cout: int, nf: int, nb: int, scale: int, res_scale: float):
        super().__init__()
        self.mean = torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1)
        self.conv_first = conv(cin, nf)
        self.body = nn.Sequential(*[ResidualBlockNoBN(nf, res_scale) for _ in range(nb)])
        self.conv_after_body = conv(nf, nf)
        stages = [3] if scale == 3 else [2] * int(math.log2(scale))
        layers = []
        for r in stages:
            layers += [conv(nf, nf * r * r), nn.PixelShuffle(r)]
        self.upsample = nn.Sequential(*layers)
        self.conv_last = conv(nf, cout)

    def forward(self, x):
        x = (x - self.mean) * 255.0
        x = self.conv_first(x)
        res = self.conv_after_body(self.body(x)) + x
        return self.conv_last(self.upsample(res)) / 255.0 + self.mean


class ESPCN(nn.Module):
    def __init__(self, scale: int, channels: int = 1, features: int = 64, middle: int = 32):
        super().__init__()
        self.first_part = nn.Sequential(conv(channels, features, 5), nn.Tanh(), conv(features, middle, 3), nn.Tanh())
        self.last_part = nn.Sequential(conv(middle, channels * scale * scale, 3), nn.PixelShuffle(scale))

    def forward(self, x):
        return self.last_part(self.first_part(x))


class FSRCNN(nn.Module):
    def __init__(self, scale: int, channels: int = 1, d: int = 56, s: int = 12, m: int = 4):
        super().__init__()
        self.first_part = nn.Sequential(conv(channels, d, 5), nn.PReLU(d))
        mid = [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            mid += [conv(s, s, 3), nn.PReLU(s)]
        mid += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.mid_part = nn.Sequential(*mid)
        self.last_part = nn.ConvTranspose2d(d, channels, 9, stride=scale, padding=4, output_padding=scale - 1)

    def forward(self, x):
        return self.last_part(self.mid_part(self.first_part(x)))


class Conv3XC(nn.Module):
    """SPAN's re-parameterisable 3x3 convolution: a 1x1 skip plus a 1x1 -> 3x3 (unpadded) -> 1x1 chain."""

    def __init__(self, cin: int, cout: int, gain: int = 2):
        super().__init__()
        self.sk = nn.Conv2d(cin, cout, 1)
        self.conv = nn.Sequential(nn.Conv2d(cin, cin * gain, 1), nn.Conv2d(cin * gain, cout * gain, 3),
                                  nn.Conv2d(cout * gain, cout, 1))
        self.eval_conv = nn.Conv2d(cin, cout, 3, 1, 1)

    def forward(self, x):
        # Eval-mode semantics, computed without merging the weights: the chain without biases runs on the
        # zero-padded input; the biases reach the output as one constant per channel, what the chain gives for a
        # 3x3 map holding conv.0's bias.
        c0, c1, c2 = self.conv
        linear = F.conv2d(F.conv2d(F.conv2d(F.pad(x, (1, 1, 1, 1)), c0.weight), c1.weight), c2.weight)
        constant = c2(c1(c0.bias.view(1, -1, 1, 1).expand(1, -1, 3, 3).contiguous()))
        return linear + constant + self.sk(x)

    def merged(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The single 3x3 convolution equal to `_forward` (what eval_conv holds after SPAN's update_params)."""
        c0, c1, c2 = self.conv
        w0, w1, w2 = c0.weight[:, :, 0, 0], c1.weight, c2.weight[:, :, 0, 0]
        kernel = torch.einsum("on,nmyx,mi->oiyx", w2, w1, w0)
        kernel[:, :, 1, 1] += self.sk.weight[:, :, 0, 0]
        bias = w2 @ (c1.bias + torch.einsum("nmyx,m->n", w1, c0.bias)) + c2.bias + self.sk.bias
        return kernel, bias


class SPAB(nn.Module):
    def __init__(self, nf: int, gain: int):
        super().__init__()
        self.c1_r, self.c2_r, self.c3_r = Conv3XC(nf, nf, gain), Conv3XC(nf, nf, gain), Conv3XC(nf, nf, gain)

    def forward(self, x):
        # SPAN's SiLU runs in place, so the "out1" it returns (used by the last block) is the activated value.
        out1 = F.silu(self.c1_r(x))
        out3 = self.c3_r(F.silu(self.c2_r(out1)))
        return (out3 + x) * (torch.sigmoid(out3) - 0.5), out1


class SPAN(nn.Module):
    def __init__(self, cin: int, cout: int, nf: int, scale: int, gain: int = 2):
        super().__init__()
        self.mean = torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1)
        self.conv_1 = Conv3XC(cin, nf, gain)
        for i in range(1, 7):
            setattr(self, f"block_{i}", SPAB(nf, gain))
        self.conv_cat = nn.Conv2d(nf * 4, nf, 1)
        self.conv_2 = Conv3XC(nf, nf, gain)
        self.upsampler = nn.Sequential(conv(nf, cout * scale * scale), nn.PixelShuffle(scale))

    def forward(self, x):
        x = (x - self.mean) * 255.0
        head = self.conv_1(x)
        feat, c1 = head, None
        first = None
        for i in range(1, 7):
            feat, c1 = getattr(self, f"block_{i}")(feat)
            if i == 1:
                first = feat
        tail = self.conv_2(feat)
        return self.upsampler(self.conv_cat(torch.cat([head, tail, first, c1], 1)))

    def conv3xcs(self):
        return [m for m in self.modules() if isinstance(m, Conv3XC)]


class VGGStyleDiscriminator(nn.Module):
    def __init__(self, cin: int, nf: int):
        super().__init__()
        widths = [nf, nf * 2, nf * 4, nf * 8, nf * 8]
        prev = cin
        for k, w in enumerate(widths):
            setattr(self, f"conv{k}_0", conv(prev, w, 3, bias=k == 0))
            if k > 0:
                setattr(self, f"bn{k}_0", nn.BatchNorm2d(w))
            setattr(self, f"conv{k}_1", nn.Conv2d(w, w, 4, 2, 1, bias=False))
            setattr(self, f"bn{k}_1", nn.BatchNorm2d(w))
            prev = w
        self.linear1 = nn.Linear(nf * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x):
        for k in range(5):
            x = getattr(self, f"conv{k}_0")(x)
            if k > 0:
                x = getattr(self, f"bn{k}_0")(x)
            x = F.leaky_relu(x, 0.2)
            x = F.leaky_relu(getattr(self, f"bn{k}_1")(getattr(self, f"conv{k}_1")(x)), 0.2)
        x = F.leaky_relu(self.linear1(x.reshape(x.size(0), -1)), 0.2)
        return self.linear2(x).view(1, 1, 1, 1)


class VGGFeatures(nn.Module):
    """torchvision's VGG `features` layout: per stage conv-ReLU pairs, then a 2x2 max pool."""

    def __init__(self, stages: list[list[int]]):
        super().__init__()
        layers, prev = [], 3
        for widths in stages:
            for w in widths:
                layers += [nn.Conv2d(prev, w, 3, padding=1), nn.ReLU(inplace=False)]
                prev = w
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)


# Real-CUGAN "se" (bilibili AI Lab, upcunet_v3): two unpadded U-Nets with squeeze-and-excitation; base width b
# (32 upstream). Only the network core: the host pads, aligns and (x4) adds the nearest-neighbour residual.
class SEBlock(nn.Module):
    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels // reduction, 1)
        self.conv2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x):
        s = torch.sigmoid(self.conv2(F.relu(self.conv1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * s


class UNetConv(nn.Module):
    def __init__(self, cin: int, mid: int, cout: int, se: bool):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, mid, 3), nn.LeakyReLU(0.1), nn.Conv2d(mid, cout, 3), nn.LeakyReLU(0.1))
        self.seblock = SEBlock(cout) if se else None

    def forward(self, x):
        x = self.conv(x)
        return self.seblock(x) if self.seblock is not None else x


def crop(x, n: int):
    return x[:, :, n:-n, n:-n]


class UNet1(nn.Module):
    def __init__(self, b: int, cout: int, scale3: bool):
        super().__init__()
        self.conv1 = UNetConv(3, b, 2 * b, se=False)
        self.conv1_down = nn.Conv2d(2 * b, 2 * b, 2, 2)
        self.conv2 = UNetConv(2 * b, 4 * b, 2 * b, se=True)
        self.conv2_up = nn.ConvTranspose2d(2 * b, 2 * b, 2, 2)
        self.conv3 = nn.Conv2d(2 * b, 2 * b, 3)
        self.conv_bottom = nn.ConvTranspose2d(2 * b, cout, 5, 3, 2) if scale3 else nn.ConvTranspose2d(2 * b, cout, 4, 2, 3)

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = F.leaky_relu(self.conv2_up(self.conv2(F.leaky_relu(self.conv1_down(x1), 0.1))), 0.1)
        x3 = F.leaky_relu(self.conv3(crop(x1, 4) + x2), 0.1)
        return self.conv_bottom(x3)


class UNet2(nn.Module):
    def __init__(self, b: int, cin: int, cout: int):
        super().__init__()
        self.conv1 = UNetConv(cin, b, 2 * b, se=False)
        self.conv1_down = nn.Conv2d(2 * b, 2 * b, 2, 2)
        self.conv2 = UNetConv(2 * b, 2 * b, 4 * b, se=True)
        self.conv2_down = nn.Conv2d(4 * b, 4 * b, 2, 2)
        self.conv3 = UNetConv(4 * b, 8 * b, 4 * b, se=True)
        self.conv3_up = nn.ConvTranspose2d(4 * b, 4 * b, 2, 2)
        self.conv4 = UNetConv(4 * b, 2 * b, 2 * b, se=True)
        self.conv4_up = nn.ConvTranspose2d(2 * b, 2 * b, 2, 2)
        self.conv5 = nn.Conv2d(2 * b, 2 * b, 3)
        self.conv_bottom = nn.Conv2d(2 * b, cout, 3)

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(F.leaky_relu(self.conv1_down(x1), 0.1))
        x3 = F.leaky_relu(self.conv3_up(self.conv3(F.leaky_relu(self.conv2_down(x2), 0.1))), 0.1)
        x4 = F.leaky_relu(self.conv4_up(self.conv4(crop(x2, 4) + x3)), 0.1)
        x5 = F.leaky_relu(self.conv5(crop(x1, 16) + x4), 0.1)
        return self.conv_bottom(x5)


class UpCunetCore(nn.Module):
    def __init__(self, b: int, scale: int):
        super().__init__()
        mid = 2 * b if scale == 4 else 3
        self.unet1 = UNet1(b, mid, scale3=scale == 3)
        self.unet2 = UNet2(b, mid, mid)
        self.scale = scale
        if scale == 4:
            self.conv_final = nn.Conv2d(2 * b, 12, 3)

    def forward(self, x):
        u = self.unet1(x)
        y = self.unet2(u) + crop(u, 20)
        if self.scale == 4:
            y = F.pixel_shuffle(crop(self.conv_final(y), 1), 2)
        return y


# ---------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------

def fixture_input(shape: list[int]) -> torch.Tensor:
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.int64)
    return torch.from_numpy((((i * 7919) % 1009) / 1008).astype(np.float32).reshape(shape))


def randomise(model: nn.Module, generator: torch.Generator) -> None:
    """Gives PReLU slopes and batch-norm parameters and statistics non-default values, so the tests see them."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) * 0.5)
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=generator))
                m.bias.copy_(torch.rand(m.bias.shape, generator=generator) - 0.5)
                m.running_mean.copy_((torch.rand(m.running_mean.shape, generator=generator) - 0.5) * 0.2)
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=generator))
                m.num_batches_tracked.fill_(1000)


def write_safetensors(path: str, tensors: dict, metadata: dict | None = None) -> None:
    """safetensors: u64 LE header length, the JSON header (space-padded to 8 bytes), then the raw data."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    names = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64"}
    for name, t in tensors.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def prefixed(sd: dict, prefix: str) -> dict:
    return collections.OrderedDict((prefix + k, v) for k, v in sd.items())


class Writer:
    def __init__(self, out: str):
        self.out = out
        self.entries = []

    def add(self, name: str, file_name: str, payload, architecture: str, config: dict, output: torch.Tensor,
            input_shape: list[int], metadata: dict | None = None) -> None:
        path = os.path.join(self.out, file_name)
        if file_name.endswith(".safetensors"):
            write_safetensors(path, payload, metadata)
        else:
            torch.save(payload, path)
        out = output.detach().contiguous().numpy().astype("<f4")
        out.tofile(os.path.join(self.out, name + ".out.f32"))
        self.entries.append({"name": name, "file": file_name, "architecture": architecture, "config": config,
                             "input": input_shape, "output": list(out.shape)})

    def finish(self) -> None:
        with open(os.path.join(self.out, "fixtures.json"), "w") as f:
            json.dump({"torch": torch.__version__, "input": "((i * 7919) % 1009) / 1008 over the flat NCHW index",
                       "fixtures": self.entries}, f, indent=1)
            f.write("\n")


def run(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(1234)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(99)
    w = Writer(args.out)
    rgb = [1, 3, 12, 10]

    def sd(model):
        return collections.OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())

    # (a) RRDBNet: x4 (params_ema wrapper), the same weights under ESRGAN's old names, x2 and x1 (pixel unshuffle).
    rrdb_cfg = lambda scale: {"inChannels": 3, "outChannels": 3, "features": 8, "blocks": 1, "growth": 4,
                              "upsamplings": 2, "unshuffle": {1: 4, 2: 2}.get(scale, 1)}
    m = RRDBNet(3, 3, 8, 1, 4, 4)
    y = run(m, fixture_input(rgb))
    w.add("rrdbnet_x4", "rrdbnet_x4.pth", {"params_ema": sd(m), "iter": 1000}, "RRDBNet", rrdb_cfg(4), y, rgb)
    w.add("esrgan_old_x4", "esrgan_old_x4.pth", esrgan_old_names(sd(m), 1), "RRDBNet", rrdb_cfg(4), y, rgb)
    m = RRDBNet(3, 3, 8, 1, 4, 2)
    w.add("rrdbnet_x2", "rrdbnet_x2.safetensors", sd(m), "RRDBNet", rrdb_cfg(2), run(m, fixture_input(rgb)), rgb)
    x1_shape = [1, 3, 12, 8]
    m = RRDBNet(3, 3, 6, 1, 4, 1)
    cfg = rrdb_cfg(1) | {"features": 6}
    w.add("rrdbnet_x1", "rrdbnet_x1.pth", prefixed(sd(m), "module."), "RRDBNet", cfg, run(m, fixture_input(x1_shape)),
          x1_shape)

    # (b) SRVGGNetCompact: PReLU x4 in {"params": {"module....": ...}}, ReLU x2 as safetensors.
    m = SRVGGNetCompact(3, 3, 8, 3, 4, "prelu")
    randomise(m, g)
    w.add("srvgg_x4", "srvgg_x4.pth", {"params": prefixed(sd(m), "module.")}, "SRVGGNetCompact",
          {"inChannels": 3, "outChannels": 3, "features": 8, "convolutions": 3, "scale": 4, "activation": "prelu"},
          run(m, fixture_input(rgb)), rgb)
    m = SRVGGNetCompact(3, 3, 6, 2, 2, "relu")
    w.add("srvgg_x2_relu", "srvgg_x2_relu.safetensors", sd(m), "SRVGGNetCompact",
          {"inChannels": 3, "outChannels": 3, "features": 6, "convolutions": 2, "scale": 2, "activation": "relu"},
          run(m, fixture_input(rgb)), rgb)

    # (c) MSRResNet x4 and x3; SRResNet (SRGAN tutorial, batch norm) x4.
    m = MSRResNet(3, 3, 8, 2, 4)
    w.add("msrresnet_x4", "msrresnet_x4.pth", sd(m), "MSRResNet",
          {"inChannels": 3, "outChannels": 3, "features": 8, "blocks": 2, "scale": 4}, run(m, fixture_input(rgb)), rgb)
    m = MSRResNet(3, 3, 6, 1, 3)
    w.add("msrresnet_x3", "msrresnet_x3.safetensors", sd(m), "MSRResNet",
          {"inChannels": 3, "outChannels": 3, "features": 6, "blocks": 1, "scale": 3}, run(m, fixture_input(rgb)), rgb)
    m = SRResNet(9, 3, 8, 2, 4)
    randomise(m, g)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    y = (run(m, (fixture_input(rgb) - mean) / std) + 1) / 2
    w.add("srresnet_x4", "srresnet_x4.pth", sd(m), "SRResNet",
          {"inChannels": 3, "outChannels": 3, "features": 8, "blocks": 2, "scale": 4, "largeKernel": 9,
           "smallKernel": 3, "inputNormalisation": "imagenet"}, y, rgb)

    # (d) EDSR x2 (res_scale 1) and x3.
    edsr_cfg = lambda nf, nb, s: {"inChannels": 3, "outChannels": 3, "features": nf, "blocks": nb, "scale": s,
                                  "residualScale": 1.0, "imageRange": 255.0, "rgbMean": list(DIV2K_MEAN)}
    m = EDSR(3, 3, 8, 2, 2, 1.0)
    w.add("edsr_x2", "edsr_x2.pth", {"params_ema": sd(m)}, "EDSR", edsr_cfg(8, 2, 2), run(m, fixture_input(rgb)), rgb)
    m = EDSR(3, 3, 6, 1, 3, 1.0)
    w.add("edsr_x3", "edsr_x3.safetensors", sd(m), "EDSR", edsr_cfg(6, 1, 3), run(m, fixture_input(rgb)), rgb)

    # (e) ESPCN x3 and FSRCNN x2 (the scale of FSRCNN comes from the file name), single-channel.
    y_shape = [1, 1, 12, 10]
    m = ESPCN(3, 1, 16, 8)
    w.add("espcn_x3", "espcn_x3.pth", sd(m), "ESPCN",
          {"channels": 1, "features": 16, "middle": 8, "scale": 3, "kernels": [5, 3, 3]},
          run(m, fixture_input(y_shape)), y_shape)
    m = FSRCNN(2, 1, d=8, s=4, m=2)
    randomise(m, g)
    w.add("fsrcnn_x2", "fsrcnn_x2.pth", sd(m), "FSRCNN",
          {"channels": 1, "features": 8, "shrunk": 4, "mapping": 2, "scale": 2, "firstKernel": 5, "lastKernel": 9},
          run(m, fixture_input(y_shape)), y_shape)

    # (f) SPAN x2: branches plus a deliberately stale eval_conv (the branches must win), and x4 with eval_conv only.
    m = SPAN(3, 3, 4, 2)
    y = run(m, fixture_input(rgb))
    weights = sd(m)
    w.add("span_x2", "span_x2.pth", {"params_ema": weights}, "SPAN",
          {"inChannels": 3, "outChannels": 3, "features": 4, "scale": 2, "normalise": True, "branches": True,
           "gain": 2, "evalConv": True}, y, rgb)
    m = SPAN(3, 3, 4, 4)
    y = run(m, fixture_input(rgb))
    merged = collections.OrderedDict((k, v) for k, v in sd(m).items()
                                     if not any(part in k for part in (".sk.", ".conv.", ".eval_conv.")))
    names = {mod: name for name, mod in m.named_modules()}
    for c in m.conv3xcs():
        kernel, bias = c.merged()
        merged[names[c] + ".eval_conv.weight"] = kernel.detach()
        merged[names[c] + ".eval_conv.bias"] = bias.detach()
    w.add("span_x4_eval", "span_x4_eval.safetensors", merged, "SPAN",
          {"inChannels": 3, "outChannels": 3, "features": 4, "scale": 4, "normalise": True, "branches": False,
           "gain": 2, "evalConv": True}, y, rgb)

    # VGGStyleDiscriminator (128 px input) and VGG features (torchvision layout, tiny widths).
    disc_shape = [1, 3, 128, 128]
    m = VGGStyleDiscriminator(3, 1)
    randomise(m, g)
    w.add("vgg_discriminator", "vgg_discriminator.pth", sd(m), "VGGStyleDiscriminator",
          {"inChannels": 3, "features": 1, "inputSize": 128, "hidden": 100}, run(m, fixture_input(disc_shape)),
          disc_shape)
    stages = [[4, 4], [6, 6], [8, 8, 8]]
    m = VGGFeatures(stages)
    y = run(m.features[:15], (fixture_input(rgb) - mean) / std)  # up to conv3_3 (features.14)
    w.add("vgg_features", "vgg_features.pth", sd(m), "VGG",
          {"inChannels": 3, "stages": stages, "batchNorm": False, "classifier": False, "lastLayer": "conv3_3",
           "inputNormalisation": True}, y, rgb)

    # Real-CUGAN cores (base width 4): x2 as .pth, x3 as safetensors, x4 in {"params_ema": ...}. Own seed, so the
    # fixtures above stay byte-identical.
    torch.manual_seed(4321)
    for scale, file_name, shape in ((2, "realcugan_x2.pth", [1, 3, 44, 40]),
                                    (3, "realcugan_x3.safetensors", [1, 3, 40, 40]),
                                    (4, "realcugan_x4.pth", [1, 3, 44, 44])):
        m = UpCunetCore(4, scale)
        payload = {"params_ema": sd(m)} if scale == 4 else sd(m)
        w.add(f"realcugan_x{scale}", file_name, payload, "RealCUGAN", {"features": 4, "scale": scale},
              run(m, fixture_input(shape)), shape)

    w.finish()
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {len(w.entries)} fixtures to {args.out} ({total / 1000:.0f} kB)")


if __name__ == "__main__":
    main()
