#!/usr/bin/env python3
"""Compare the `enhance` CLI with the reference ncnn runtime, model by model.

For one input image and each selected model this script

1. runs the reference ncnn pipeline (PyPI ``ncnn``, CPU, fp32) through
   ``make_ncnn_fixtures.run_pipeline`` -- the exact host-side pre/post-processing
   of the official tools, single tile (see that script's docstring);
2. runs ``enhance upscale IN.png -m MODEL -o OUT.png --threads N`` as a
   separate process;
3. reports PSNR(enhance, ncnn) on 8-bit RGB in [0, 255], the maximum absolute
   difference and the timings as a markdown table.

Timings:

* ``enhance wall s``  whole ``enhance`` process, start to exit (model load,
  PNG decode/encode, process start-up included);
* ``enhance self s``  the time ``enhance`` prints itself (``wrote ... , T s)``):
  model load + decode + upscale + encode, without process start-up;
* ``ncnn s``          ncnn Net load + pre-processing + inference +
  post-processing (no PNG I/O);
* ``ratio``           ``enhance wall s / ncnn s`` (< 1: enhance is faster).

The default input is a 256x256 centre crop of
``../shared/sr-testsets/Set14/baboon.png`` (beside the repository) (or, if that is missing, of the
first image of at least 256x256 in that folder), written at run time into a
temporary directory; nothing is written into the repository.

Exit status: 0 if every model ran and reached ``--min-psnr`` (default 50 dB),
1 otherwise, 2 on a usage error.

Requirements: numpy, Pillow, ncnn (``pip install ncnn``) and a built
``enhance`` binary (``swift build -c release``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SCRIPT_DIR = Path(__file__).resolve().parent
REPO = SCRIPT_DIR.parent
sys.path.insert(0, str(SCRIPT_DIR))

import make_ncnn_fixtures as fx  # noqa: E402  (needs sys.path above)
from PIL import Image  # noqa: E402  (make_ncnn_fixtures checked it is installed)

DEFAULT_TESTSET = Path(__file__).resolve().parent.parent.parent / "shared" / "sr-testsets" / "Set14"
DEFAULT_IMAGE = "baboon.png"
DEFAULT_CROP = 256
SELF_TIME_RE = re.compile(r",\s*([0-9]+(?:\.[0-9]+)?)\s*s\)\s*$")


def default_models_dir() -> Path:
    """Same rule as fetch_models.py and the enhance CLI."""
    env = os.environ.get("ENHANCE_MODELS_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "enhance" / "models"


def centre_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if min(h, w) < size:
        raise ValueError(f"image is {w}x{h}, smaller than the {size}x{size} crop")
    y0, x0 = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(rgb[y0:y0 + size, x0:x0 + size])


def pick_default_image(size: int) -> Path:
    preferred = DEFAULT_TESTSET / DEFAULT_IMAGE
    candidates = [preferred] + sorted(p for p in DEFAULT_TESTSET.glob("*.png") if p != preferred)
    for path in candidates:
        if path.is_file():
            with Image.open(path) as im:
                if min(im.size) >= size:
                    return path
    raise FileNotFoundError(f"no image of at least {size}x{size} in {DEFAULT_TESTSET}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0 ** 2 / mse)


def load_manifest_models(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["models"]


def run_enhance(enhance: Path, models_dir: Path, src: Path, dst: Path, model_id: str,
                threads: int, timeout: float) -> dict:
    cmd = [str(enhance), "upscale", str(src), "-m", model_id, "-o", str(dst),
           "--threads", str(threads)]
    env = dict(os.environ, ENHANCE_MODELS_DIR=str(models_dir))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"enhance exited with {proc.returncode}: {(proc.stderr or proc.stdout).strip()}")
    self_s = None
    for line in proc.stdout.splitlines():
        m = SELF_TIME_RE.search(line)
        if m:
            self_s = float(m.group(1))
    return {"wall_s": wall, "self_s": self_s, "stdout": proc.stdout.strip(), "command": cmd}


def fmt_psnr(v: float | None) -> str:
    if v is None:
        return "-"
    return "inf" if math.isinf(v) else f"{v:.2f}"


def fmt_s(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def markdown_table(rows: list[dict]) -> str:
    head = ["model", "scale", "input", "output", "PSNR vs ncnn (dB)", "max diff",
            "enhance wall s", "enhance self s", "ncnn s", "ratio"]
    align = [":--", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    for r in rows:
        if r.get("error"):
            cells = [r["model"], str(r["scale"]), r["input_size"], "-", "ERROR", "-",
                     "-", "-", fmt_s(r.get("ncnn_s")), "-"]
        else:
            cells = [r["model"], str(r["scale"]), r["input_size"], r["output_size"],
                     fmt_psnr(r["psnr_db"]), str(r["max_abs_diff"]),
                     fmt_s(r["enhance_wall_s"]), fmt_s(r["enhance_self_s"]),
                     fmt_s(r["ncnn_s"]), fmt_s(r["ratio"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", type=Path, metavar="PATH",
                    help=f"input image (default: {DEFAULT_CROP}x{DEFAULT_CROP} centre crop of "
                         f"{DEFAULT_TESTSET / DEFAULT_IMAGE})")
    ap.add_argument("--crop", type=int, metavar="N",
                    help=f"centre-crop the input to NxN (default: {DEFAULT_CROP} for the default "
                         "image, no crop for --input; 0 = no crop)")
    ap.add_argument("--models", nargs="+", metavar="ID",
                    help="model ids to compare (default: every model in the manifest)")
    ap.add_argument("--models-dir", type=Path, default=None,
                    help="directory with <id>.param/.bin (default: $ENHANCE_MODELS_DIR, "
                         "else $XDG_CACHE_HOME/enhance/models)")
    ap.add_argument("--manifest", type=Path, default=REPO / "models" / "manifest.json")
    ap.add_argument("--enhance", type=Path, default=REPO / ".build" / "release" / "enhance",
                    help="enhance binary (default: .build/release/enhance)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both engines (default 2)")
    ap.add_argument("--min-psnr", type=float, default=50.0,
                    help="fail if any model's PSNR is below this (default 50 dB)")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="per-model limit for the enhance process, seconds (default 900)")
    ap.add_argument("--no-warmup", action="store_true",
                    help="skip the untimed ncnn warm-up run on a tiny crop (first model)")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="keep input.png, <id>.enhance.png and <id>.ncnn.png in DIR")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models_dir = args.models_dir or default_models_dir()
    if args.threads < 1:
        print("error: --threads must be >= 1", file=sys.stderr)
        return 2
    if not args.enhance.is_file():
        print(f"error: enhance binary not found: {args.enhance} "
              "(build it with `swift build -c release`)", file=sys.stderr)
        return 2

    manifest_models = load_manifest_models(args.manifest)
    by_id = {m["id"]: m for m in manifest_models}
    ids = args.models or [m["id"] for m in manifest_models]
    unknown = [i for i in ids if i not in by_id]
    no_ref = [i for i in ids if i in by_id and i not in {m.model_id for m in fx.MODELS}]
    if unknown or no_ref:
        if unknown:
            print(f"error: not in {args.manifest}: {', '.join(unknown)}", file=sys.stderr)
        if no_ref:
            print(f"error: no ncnn reference pipeline for: {', '.join(no_ref)}", file=sys.stderr)
        return 2

    if args.input is not None:
        source = args.input
        crop = args.crop or 0
    else:
        crop = DEFAULT_CROP if args.crop is None else args.crop
        source = pick_default_image(max(crop, 21))
    rgb = fx.load_rgb(source)
    if crop:
        rgb = centre_crop(rgb, crop)
    height, width = rgb.shape[:2]
    in_size = f"{width}x{height}"

    results: list[dict] = []
    failed = False
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="enhance-vs-ncnn-") as tmp:
        work = Path(tmp)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            work = args.keep
        src = work / "input.png"
        fx.save_png(src, rgb)
        # Both engines get exactly the pixels stored in the PNG.
        rgb = fx.load_rgb(src)
        print(f"input: {source}" + (f" (centre crop {crop}x{crop})" if crop else "")
              + f" -> {in_size}; threads {args.threads}; ncnn {fx.ncnn.__version__}; "
              f"enhance {args.enhance}", file=sys.stderr, flush=True)

        if not args.no_warmup and ids:
            # One-time ncnn start-up costs (thread pool, CPU dispatch) would
            # otherwise be charged to the first model.
            try:
                fx.run_pipeline(ids[0], np.ascontiguousarray(rgb[:24, :24]), models_dir,
                                args.threads)
            except Exception:  # noqa: BLE001 - the timed run reports the problem
                pass
        load_before = os.getloadavg()

        for model_id in ids:
            spec = fx.model_spec(model_id)
            scale = int(by_id[model_id]["scale"])
            row: dict = {"model": model_id, "scale": scale, "input_size": in_size}
            results.append(row)
            try:
                ref = fx.run_pipeline(spec, rgb, models_dir, args.threads)
                ref_rgb = ref.rgb
                row["ncnn_load_s"] = ref.load_s
                row["ncnn_run_s"] = ref.run_s
                row["ncnn_s"] = ref.load_s + ref.run_s
                row["ncnn_clipped_fraction"] = float(
                    np.mean((ref.result < 0.0) | (ref.result >= 256.0)))
                del ref

                dst = work / f"{model_id}.enhance.png"
                enh = run_enhance(args.enhance, models_dir, src, dst, model_id,
                                  args.threads, args.timeout)
                ours = fx.load_rgb(dst)
                if not args.keep:
                    dst.unlink()
                else:
                    fx.save_png(work / f"{model_id}.ncnn.png", ref_rgb)
                if ours.shape != ref_rgb.shape:
                    raise RuntimeError(f"enhance wrote {ours.shape[1]}x{ours.shape[0]}, "
                                       f"ncnn {ref_rgb.shape[1]}x{ref_rgb.shape[0]}")
                diff = np.abs(ours.astype(np.int16) - ref_rgb.astype(np.int16))
                p = psnr(ours, ref_rgb)
                row.update({
                    "output_size": f"{ours.shape[1]}x{ours.shape[0]}",
                    "psnr_db": p,
                    "max_abs_diff": int(diff.max()),
                    "differing_fraction": float(np.mean(diff > 0)),
                    "enhance_wall_s": enh["wall_s"],
                    "enhance_self_s": enh["self_s"],
                    "enhance_stdout": enh["stdout"],
                    "ratio": enh["wall_s"] / row["ncnn_s"],
                })
                if p < args.min_psnr:
                    failed = True
            except Exception as exc:  # noqa: BLE001 - report and go on with the next model
                row["error"] = f"{type(exc).__name__}: {exc}"
                failed = True
            if row.get("error"):
                print(f"{model_id:30s} ERROR {row['error']}", file=sys.stderr, flush=True)
            else:
                print(f"{model_id:30s} PSNR {fmt_psnr(row['psnr_db']):>7s} dB  max diff "
                      f"{row['max_abs_diff']:3d}  enhance {row['enhance_wall_s']:7.2f} s  "
                      f"ncnn {row['ncnn_s']:7.2f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - t_start
    load_after = os.getloadavg()

    print(markdown_table(results))
    low = [r["model"] for r in results if r.get("psnr_db") is not None and r["psnr_db"] < args.min_psnr]
    errors = [r["model"] for r in results if r.get("error")]
    print()
    print(f"{len(results)} models, {total:.1f} s in all; "
          f"below {args.min_psnr:g} dB: {', '.join(low) or 'none'}; "
          f"errors: {', '.join(errors) or 'none'}; load average (1 min) "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after on {os.cpu_count()} CPUs")

    if args.json:
        doc = {
            "input": {"source": str(source), "crop": crop or None, "width": width,
                      "height": height},
            "threads": args.threads,
            "enhance": str(args.enhance),
            "ncnn_version": fx.ncnn.__version__,
            "min_psnr_db": args.min_psnr,
            "total_s": total,
            "cpu_count": os.cpu_count(),
            "loadavg_before": list(load_before),
            "loadavg_after": list(load_after),
            "passed": not failed,
            # JSON has no infinity: identical outputs get psnr_db null, identical true.
            "results": [dict(r, psnr_db=None if r.get("psnr_db") is not None
                             and math.isinf(r["psnr_db"]) else r.get("psnr_db"),
                             identical=r.get("max_abs_diff") == 0) for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
