#!/usr/bin/env python3
"""Side by side: Enhance vs ncnn, PyTorch and ONNX Runtime, network only.

For each model and input size every engine runs the same network, with the same
weights (the ncnn .bin; PyTorch and ONNX Runtime use ``bench/torch_models.py``),
on the same padded input tensor: the synthetic image of ``enhance bench``
(``(x*7 + y*13 + c*50) % 256 / 255``), reflect-padded by 10 pixels as every
pipeline of these models does.  No image I/O, no pre/post-processing in the
timings.

Engines (precision):

* ``enhance``  (fp32, bf16)  the release binary, ``enhance bench --runs 1 --json``
               once per repetition (each call loads, compiles and warms up, then
               times one run; its JSON ``median_ms`` is that run)
* ``ncnn``     (fp32)        PyPI ``ncnn`` on the CPU: Winograd and sgemm on, packed
               layouts, fp16/bf16 storage and arithmetic off, light mode, pool
               allocators (as benchncnn)
* ``torch``    (fp32, bf16, fp32 compile, bf16 compile)  PyTorch 2.x from PyPI
               (``bench/setup_anchors.sh``, in ``.venv-anchors``): channels_last,
               ``inference_mode``; bf16 through ``torch.autocast("cpu", torch.bfloat16)``;
               "compile": ``torch.compile`` (Inductor, static shapes, frozen weights),
               compiled during the warm-up run (reported, excluded)
* ``ort``      (fp32)        ONNX Runtime CPU on the torch model exported with
               ``torch.onnx.export`` (static shape, opset 17), ORT_ENABLE_ALL
* ``torch1``   (fp32, bf16)  optional history (``--engines ... torch1``): Debian's
               ``python3-torch`` 1.13 under /usr/bin/python3, as ``torch``

All with ``--threads`` (default 2) threads.  Every non-Enhance engine lives in
its own worker process (the first Python that has its library: the anchor
environment ``.venv-anchors`` first, see ``--venv``; PyTorch 2.x for ``torch``,
1.x for ``torch1``),
which loads the model and does one warm-up run (excluded) before the timed runs.
The repetitions are interleaved: repetition i runs every engine once, round
robin, starting one engine later than repetition i-1, so a change in machine
load hits all engines alike, with a short pause (``--gap``) before each run.
Reported: the median of ``--runs`` runs.

Also reported: GFLOP/s from the convolution multiply-accumulates (Enhance's
``gflop``; PyTorch's own count if Enhance is not run) and that as a share of the
machine's peak for the row's precision (``--peak-fp32``/``--peak-bf16``; Winograd
does less arithmetic than it is credited with, so it can exceed 100%), time relative to Enhance
fp32, the fastest fp32 anchor relative to Enhance fp32, each engine's peak RSS
(VmHWM of its process; Enhance's own ``peak_rss_mb``) and, as a guard that all
engines compute the same thing, the PSNR of each engine's warm-up output against
ncnn's (peak 1.0, raw network output; fp32 must reach ``--min-psnr``).  The
synthetic sawtooth input drives SPAN far outside [0, 1] (about -5 to 10), so
bf16 PSNRs on it are low (about 20 dB for span-x4) and say nothing about
images; ``--check`` gives the bf16 figures on a photo-like image.

``--photo`` instead runs whole photos end to end (``bench/anchors_photo.py``).

``--check`` instead verifies the PyTorch port (and its ONNX export) against the
reference ncnn pipeline of ``scripts/make_ncnn_fixtures.py``: ``run_pipeline`` on
a small synthetic image gives the padded network input and ncnn's network
output; PyTorch and ONNX Runtime run on that same input; PSNR must reach
``--min-psnr`` (default 50 dB).

Nothing is installed: missing interpreters, packages or model files are listed
with the command that provides them, and the script exits with status 2.  The
Enhance binary (default ``.build-release/release/enhance``) is built with
``swift build -c release --product enhance --scratch-path .build-release`` if it
is missing (unless ``--no-build``).

Exit status: 0 on success, 1 if a run failed or a PSNR is below ``--min-psnr``,
2 if something is missing or on a usage error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_ENHANCE = REPO / ".build-release" / "release" / "enhance"
BUILD_CMD = ["swift", "build", "-c", "release", "--product", "enhance", "--scratch-path", ".build-release"]

MODELS = ("realesrgan-x4plus", "realesr-animevideov3-x4", "span-x4")
EXTRA_MODELS = ("realesrgan-x4plus-anime", "span-x2", "span-x2-ch52", "span-x4-ch52")
SIZES = ("128x128", "256x256")
SCALES = {"realesrgan-x4plus": 4, "realesrgan-x4plus-anime": 4, "realesr-animevideov3-x4": 4,
          "span-x2": 2, "span-x4": 4, "span-x2-ch52": 2, "span-x4-ch52": 4}
PREPAD = 10  # reflect padding of the Real-ESRGAN / SPAN pipelines (docs/ncnn-pipelines.md)

# (engine, precision) in table order.  "torch" is PyTorch 2.x (PyPI, bench/setup_anchors.sh);
# "torch1" is Debian's python3-torch 1.13, kept as optional history (--engines ... torch1).
VARIANTS = (("enhance", "fp32"), ("enhance", "bf16"), ("ncnn", "fp32"),
            ("torch", "fp32"), ("torch", "bf16"), ("torch", "fp32 compile"), ("torch", "bf16 compile"),
            ("ort", "fp32"), ("torch1", "fp32"), ("torch1", "bf16"))
ENGINE_NAMES = {"enhance": "Enhance", "ncnn": "ncnn", "torch": "PyTorch", "torch1": "PyTorch 1.13 (Debian)",
                "ort": "ONNX Runtime"}
DEFAULT_VENV = REPO / ".venv-anchors"

# What each worker kind needs in its interpreter (modules, torch major version), and how to get it.
NEEDS = {
    "torch": (("numpy", "torch"), 2, "bench/setup_anchors.sh  (PyTorch 2.x from PyPI in .venv-anchors)"),
    "torch1": (("numpy", "torch"), 1, "apt-get install -y python3-torch  (Debian's 1.13, /usr/bin/python3)"),
    "ncnn": (("numpy", "ncnn"), None, "bench/setup_anchors.sh  (or pip install ncnn)"),
    "ort": (("numpy", "onnxruntime", "onnx"), None, "bench/setup_anchors.sh  (or pip install onnxruntime onnx)"),
    "pipeline": (("numpy", "ncnn", "PIL"), None, "bench/setup_anchors.sh  (or pip install ncnn pillow)"),
    "photo": (("numpy", "PIL"), None, "bench/setup_anchors.sh  (or pip install numpy pillow)"),
}
PROBE_MODULES = ("numpy", "torch", "ncnn", "onnxruntime", "onnx", "PIL")


# ==========================================================================
# Worker side (runs inside the interpreter that has the engine's library)
# ==========================================================================

def _emit(obj: dict) -> None:
    sys.stdout.write("@@ " + json.dumps(obj) + "\n")
    sys.stdout.flush()


def _vmhwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _worker_pipeline(spec: dict) -> None:
    """ncnn reference pipeline (make_ncnn_fixtures.run_pipeline) on the synthetic test image."""
    import numpy as np
    sys.path.insert(0, str(REPO / "scripts"))
    import make_ncnn_fixtures as fx
    rgb = fx.make_test_image(spec["width"], spec["height"])
    run = fx.run_pipeline(spec["model"], rgb, Path(spec["models_dir"]), spec["threads"])
    np.save(spec["input"], run.net_in[None])
    np.save(spec["output"], run.net_out)
    import ncnn
    _emit({"ready": True, "version": ncnn.__version__, "pads": run.pads})


def _worker_export(spec: dict) -> None:
    """Export the torch model (fp32, static shape) to ONNX."""
    import numpy as np
    import torch
    sys.path.insert(0, str(BENCH_DIR))
    import torch_models as tm
    torch.set_num_threads(spec["threads"])
    model = tm.load_ncnn_model(spec["model"], Path(spec["models_dir"]))
    if spec.get("shape"):
        x = torch.zeros(spec["shape"], dtype=torch.float32)
    else:
        x = torch.from_numpy(np.load(spec["input"]))
    kwargs = {}
    if int(torch.__version__.split(".")[0]) >= 2:
        # PyTorch 2.9+ defaults to the dynamo exporter, which needs onnxscript; the TorchScript exporter
        # gives the same static graph with no extra package
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(model, x, spec["onnx"], opset_version=17, input_names=["data"],
                          output_names=["output"], do_constant_folding=True, **kwargs)
    _emit({"ready": True, "version": torch.__version__})


def make_ncnn_net(model: str, models_dir: Path, threads: int):
    """ncnn on the CPU, fp32, at its fastest settings (as benchncnn): Winograd and sgemm on, packed layouts,
    fp16/bf16 storage and arithmetic off, light mode, pool allocators.  Returns (net, allocators to keep)."""
    import ncnn
    net = ncnn.Net()
    opt = net.opt
    opt.use_vulkan_compute = False
    opt.num_threads = threads
    opt.lightmode = True
    opt.use_packing_layout = True
    opt.use_winograd_convolution = True
    opt.use_winograd23_convolution = True
    opt.use_winograd43_convolution = True
    opt.use_winograd63_convolution = True
    opt.use_sgemm_convolution = True
    opt.use_fp16_storage = False
    opt.use_fp16_packed = False
    opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    opt.use_int8_inference = False
    blob_pool = ncnn.UnlockedPoolAllocator()
    work_pool = ncnn.PoolAllocator()
    opt.blob_allocator = blob_pool
    opt.workspace_allocator = work_pool
    d = models_dir
    if net.load_param(str(d / f"{model}.param")) != 0 or \
            net.load_model(str(d / f"{model}.bin")) != 0:
        raise RuntimeError(f"ncnn could not load {model} from {d}")
    return net, (blob_pool, work_pool)


def torch_precision_context(torch, dtype_name: str):
    """fp32: nothing; bf16: ``torch.autocast("cpu", torch.bfloat16)`` (convolutions in bf16, oneDNN)."""
    import contextlib
    if dtype_name == "bf16":
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    if dtype_name == "fp32":
        return contextlib.nullcontext
    raise ValueError(f"precision {dtype_name}")


def torch_compile(torch, model):
    """``torch.compile`` as PyTorch recommends for CPU inference: Inductor, static shapes, frozen weights
    (``torch._inductor.config.freezing``: constant-folds the parameters and pre-packs the oneDNN convolution
    weights).  Compilation happens on the first call (the warm-up, reported as such)."""
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
    import torch._inductor.config as inductor_config
    inductor_config.freezing = True
    return torch.compile(model, dynamic=False)


def _make_runner(spec: dict):
    """Load the engine; return (run() -> output array, version, extra info)."""
    import numpy as np
    engine, precision, threads = spec["engine"], spec["precision"], spec["threads"]
    x_np = np.ascontiguousarray(np.load(spec["input"]), dtype=np.float32)  # (1, 3, H, W)

    if engine == "ncnn":
        import ncnn
        if precision != "fp32":
            raise ValueError("ncnn runs fp32 only here")
        net, keep = make_ncnn_net(spec["model"], Path(spec["models_dir"]), threads)
        x3 = np.ascontiguousarray(x_np[0])

        def run():
            mat = ncnn.Mat(x3)  # a fresh input Mat each run (outside the timing)
            t0 = time.perf_counter()
            with net.create_extractor() as ex:
                ex.input("data", mat)
                ret, out = ex.extract("output")
            t1 = time.perf_counter()
            if ret != 0:
                raise RuntimeError(f"ncnn extract failed ({ret})")
            _ = keep
            return t1 - t0, out

        return run, ncnn.__version__, {}, lambda out: np.array(out, dtype=np.float32)

    if engine in ("torch", "torch1"):
        import torch
        sys.path.insert(0, str(BENCH_DIR))
        import torch_models as tm
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        model = tm.load_ncnn_model(spec["model"], Path(spec["models_dir"]))
        model = model.to(memory_format=torch.channels_last)
        x = torch.from_numpy(x_np).contiguous(memory_format=torch.channels_last)
        dtype_name, _, mode = precision.partition(" ")
        ctx = torch_precision_context(torch, dtype_name)
        net = model
        if mode == "compile":
            net = torch_compile(torch, model)
        elif mode:
            raise ValueError(f"precision {precision}")
        macs = {}

        def run():
            t0 = time.perf_counter()
            with torch.no_grad() if mode else torch.inference_mode(), ctx():
                y = net(x)
            t1 = time.perf_counter()
            return t1 - t0, y

        def count_macs():
            # every conv here is stride 1 / 'same' and the graphs only upsample by
            # fixed factors, so the count scales exactly with the input's pixels
            small = torch.zeros(1, 3, 16, 16).contiguous(memory_format=torch.channels_last)
            macs["macs"] = tm.conv_macs(model, small) * (x.shape[2] * x.shape[3]) // (16 * 16)

        return run, torch.__version__, {"count_macs": count_macs, "macs": macs}, \
            lambda y: y.float().contiguous().numpy()[0]

    if engine == "ort":
        import onnx
        import onnxruntime as ort
        if precision != "fp32":
            raise ValueError("ONNX Runtime runs fp32 only here")
        onnx.checker.check_model(spec["onnx"])
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(spec["onnx"], so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        def run():
            t0 = time.perf_counter()
            y = sess.run(None, {name: x_np})[0]
            t1 = time.perf_counter()
            return t1 - t0, y

        return run, ort.__version__, {}, lambda y: np.asarray(y, dtype=np.float32)[0]

    raise ValueError(f"unknown engine {engine}")


def worker_main(spec: dict) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", str(spec["threads"]))
    try:
        if spec["engine"] == "pipeline":
            _worker_pipeline(spec)
            return 0
        if spec["engine"] == "export":
            _worker_export(spec)
            return 0
        import numpy as np
        t0 = time.perf_counter()
        run, version, extra, to_numpy = _make_runner(spec)
        load_s = time.perf_counter() - t0
        warm_s, out = run()  # warm-up, excluded from the timings
        if spec.get("output"):
            np.save(spec["output"], to_numpy(out))
        del out
        info = {"ready": True, "version": version, "load_s": load_s, "warmup_ms": 1000 * warm_s}
        if spec.get("count_macs") and "count_macs" in extra:
            extra["count_macs"]()
            info["macs"] = extra["macs"]["macs"]
        _emit(info)
    except Exception as exc:  # reported to the orchestrator, which prints it
        _emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "run":
            try:
                secs, out = run()
                del out
                _emit({"ms": 1000 * secs})
            except Exception as exc:
                _emit({"error": f"{type(exc).__name__}: {exc}"})
        elif cmd == "quit":
            break
    _emit({"vmhwm_mb": _vmhwm_mb()})
    return 0


# ==========================================================================
# Orchestrator side
# ==========================================================================

class WorkerError(RuntimeError):
    pass


class Worker:
    """One engine in its own process, driven over stdin/stdout ('@@ {json}' lines)."""

    def __init__(self, python: str, spec: dict, log_dir: Path):
        self.spec = spec
        self.label = f"{spec['engine']}-{spec.get('precision', '')}".rstrip("-").replace(" ", "-")
        self.log_path = log_dir / f"{spec['model']}-{self.label}.log"
        self.log = open(self.log_path, "w")
        env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]))
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "_worker", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env,
            cwd=str(REPO))

    def read(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("@@ "):
                msg = json.loads(line[3:])
                if "error" in msg:
                    raise WorkerError(f"{self.label}: {msg['error']}{self._log_tail()}")
                return msg
            self.log.write(line)
        self.proc.wait()
        raise WorkerError(f"{self.label}: worker exited ({self.proc.returncode}){self._log_tail()}")

    def _log_tail(self) -> str:
        self.log.flush()
        try:
            tail = self.log_path.read_text().strip().splitlines()[-8:]
        except OSError:
            return ""
        return ("\n    " + "\n    ".join(tail)) if tail else ""

    def send(self, cmd: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def run_once(self) -> float:
        self.send("run")
        return float(self.read()["ms"])

    def quit(self) -> float | None:
        try:
            self.send("quit")
            return self.read().get("vmhwm_mb")
        except (WorkerError, BrokenPipeError, OSError):
            return None
        finally:
            self.close()

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_one_shot(python: str, spec: dict, log_dir: Path) -> dict:
    w = Worker(python, spec, log_dir)
    try:
        return w.read()
    finally:
        w.close()


# -- environment discovery ---------------------------------------------------

PROBE_CODE = r"""
import json, sys
found = {}
for m in %r:
    try:
        __import__(m)
        found[m] = True
    except Exception as exc:
        found[m] = "%%s: %%s" %% (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
tv = None
if found.get("torch") is True:
    tv = sys.modules["torch"].__version__
print(json.dumps({"exe": sys.executable, "version": sys.version.split()[0], "modules": found, "torch": tv}))
""" % (PROBE_MODULES,)


def probe_pythons(extra: list[str], venv: Path | None = DEFAULT_VENV) -> list[dict]:
    candidates = list(extra) + ([str(venv / "bin" / "python")] if venv else []) + [sys.executable, "/usr/bin/python3"]
    for name in ("python3", "python"):
        p = shutil.which(name)
        if p:
            candidates.append(p)
    seen, result = set(), []
    for cand in candidates:
        if not cand or cand in seen or not os.path.exists(cand):
            continue
        seen.add(cand)
        try:
            out = subprocess.run([cand, "-c", PROBE_CODE], capture_output=True, text=True, timeout=120)
            info = json.loads(out.stdout.strip().splitlines()[-1])
        except (subprocess.SubprocessError, OSError, ValueError, IndexError):
            continue
        if any(info["exe"] == r["exe"] and info["modules"] == r["modules"] for r in result):
            continue
        info["path"] = cand
        result.append(info)
    return result


def _torch_major(info: dict) -> int | None:
    try:
        return int(str(info.get("torch")).split(".")[0])
    except ValueError:
        return None


def pick_python(pythons: list[dict], kind: str) -> str | None:
    modules, major, _ = NEEDS[kind]
    for info in pythons:
        if all(info["modules"].get(m) is True for m in modules) and \
                (major is None or _torch_major(info) == major):
            return info["path"]
    return None


def missing_report(pythons: list[dict], kind: str, what: str) -> str:
    modules, major, how = NEEDS[kind]
    tried = []
    for info in pythons:
        lacks = [m if info["modules"].get(m) is False or info["modules"].get(m) is None
                 else f"{m} ({info['modules'][m]})"
                 for m in modules if info["modules"].get(m) is not True]
        if not lacks and major is not None and _torch_major(info) != major:
            lacks = [f"torch {major}.x (has {info.get('torch')})"]
        tried.append(f"{info['path']} (Python {info['version']}) lacks {', '.join(lacks)}")
    return f"{what}: no Python has {' + '.join(modules)}; install: {how}\n      tried: " + \
        ("; ".join(tried) if tried else "no python3 found")


def default_models_dir() -> Path:
    env = os.environ.get("ENHANCE_MODELS_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "enhance" / "models"


# -- maths helpers -----------------------------------------------------------

def median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def psnr(a, b) -> tuple[float, float]:
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return (math.inf if mse == 0 else 10 * math.log10(1.0 / mse)), float(np.max(np.abs(a - b)))


def bench_input(width: int, height: int):
    """enhance bench's synthetic input (Engine+Bench.swift), reflect-padded: (1, 3, H+20, W+20)."""
    import numpy as np
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    img = ((x * 7 + y * 13 + c * 50) % 256).astype(np.float32) / np.float32(255)
    chw = np.ascontiguousarray(img.transpose(2, 0, 1))
    padded = np.pad(chw, ((0, 0), (PREPAD, PREPAD), (PREPAD, PREPAD)), mode="reflect")
    return np.ascontiguousarray(padded[None], dtype=np.float32)


def parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"size must be WxH, got {text!r}")
    return int(parts[0]), int(parts[1])


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)  # total, idle + iowait


def busy_share(window: float = 0.5) -> float | None:
    """Share of all CPUs busy during ``window`` seconds (0 idle .. 1 fully used)."""
    a = _cpu_times()
    time.sleep(window)
    b = _cpu_times()
    if a is None or b is None or b[0] == a[0]:
        return None
    return 1.0 - (b[1] - a[1]) / (b[0] - a[0])


def wait_quiet(max_wait: float, threshold: float = 0.10, window: float = 0.5) -> tuple[float | None, float]:
    """Wait (at most ``max_wait`` s) until the CPUs are at most ``threshold`` busy over one ``window``: on a
    shared machine, start each timed run when nobody else is computing.  Returns (busy share seen last,
    seconds waited).  Our own idle workers do not count against it once their threads have gone to sleep."""
    t0 = time.perf_counter()
    busy = busy_share(window)
    while busy is not None and busy > threshold and time.perf_counter() - t0 < max_wait:
        busy = busy_share(window)
    return busy, time.perf_counter() - t0


def loadavg() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# -- Enhance -------------------------------------------------------------------

def enhance_bench(binary: Path, model: str, size: str, threads: int, precision: str,
                  models_dir: Path) -> dict:
    cmd = [str(binary), "bench", "-m", model, "--size", size, "--threads", str(threads),
           "--runs", "1", "--precision", precision, "--json"]
    env = dict(os.environ, ENHANCE_MODELS_DIR=str(models_dir))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise WorkerError(f"enhance-{precision}: exit {proc.returncode}: {msg[-1] if msg else ''}")
    start = proc.stdout.find("{")
    return json.loads(proc.stdout[start:])


# -- the check (torch / ORT vs the ncnn reference pipeline) -------------------

def run_check(args, pys: dict, models_dir: Path, tmp: Path) -> tuple[list[dict], bool]:
    import numpy as np
    width, height = args.check_size
    rows, ok = [], True
    for model in args.models:
        s = SCALES[model]
        base = {"model": model, "width": width, "height": height, "threads": args.threads,
                "models_dir": str(models_dir)}
        net_in, net_out = tmp / f"{model}.check_in.npy", tmp / f"{model}.check_ncnn.npy"
        print(f"check {model} {width}x{height}: ncnn run_pipeline ...", flush=True)
        info = run_one_shot(pys["pipeline"], dict(base, engine="pipeline", input=str(net_in),
                                                  output=str(net_out)), tmp)
        ref = np.load(net_out)
        row = {"model": model, "input": f"{width}x{height}",
               "net_in": list(np.load(net_in).shape), "net_out": list(ref.shape), "ncnn": info["version"]}
        todo = [("torch", "fp32"), ("torch", "bf16"), ("ort", "fp32")]
        todo = [v for v in todo if v[0] in args.engines]
        onnx_path = tmp / f"{model}.check.onnx"
        for engine, prec in todo:
            out = tmp / f"{model}.check_{engine}_{prec}.npy"
            spec = dict(base, engine=engine, precision=prec, input=str(net_in), output=str(out))
            if engine == "ort":
                run_one_shot(pys["torch"], dict(base, engine="export", input=str(net_in),
                                                onnx=str(onnx_path)), tmp)
                spec["onnx"] = str(onnx_path)
            w = Worker(pys[engine], spec, tmp)
            try:
                w.read()
            finally:
                w.quit()
            db, maxdiff = psnr(np.load(out), ref)
            row[f"{engine}_{prec}_psnr"] = db
            row[f"{engine}_{prec}_maxdiff"] = maxdiff
            # the final 8-bit image as the pipeline makes it (crop the padding, *255+0.5, trunc)
            crop = lambda y: np.clip(np.trunc(y[:, PREPAD * s:PREPAD * s + height * s,
                                                PREPAD * s:PREPAD * s + width * s] * 255 + 0.5), 0, 255)
            img_db, img_max = psnr(crop(np.load(out)) / 255.0, crop(ref) / 255.0)
            row[f"{engine}_{prec}_image_psnr"] = img_db
            row[f"{engine}_{prec}_image_maxdiff"] = round(img_max * 255)
            # bf16 is judged against fp32 ncnn only for information
            if prec == "fp32" and db < args.min_psnr:
                ok = False
            print(f"  {ENGINE_NAMES[engine]} {prec}: network {db:.2f} dB (max |diff| {maxdiff:.2e}),"
                  f" 8-bit image {img_db:.2f} dB (max {round(img_max * 255)})", flush=True)
        rows.append(row)
    return rows, ok


def print_check_table(rows: list[dict]) -> None:
    cols = [("torch", "fp32"), ("torch", "bf16"), ("ort", "fp32")]
    cols = [c for c in cols if f"{c[0]}_{c[1]}_psnr" in rows[0]] if rows else []
    head = "| model | input | network in → out | " + " | ".join(
        f"{ENGINE_NAMES[e]} {p} vs ncnn dB (max diff)" for e, p in cols) + " |"
    print()
    print(head)
    print("| :-- | --: | --: | " + " | ".join("--:" for _ in cols) + " |")
    for r in rows:
        shape = f"{r['net_in'][-1]}x{r['net_in'][-2]} → {r['net_out'][-1]}x{r['net_out'][-2]}"
        cells = [f"{r[f'{e}_{p}_psnr']:.2f} ({r[f'{e}_{p}_maxdiff']:.1e})" for e, p in cols]
        print(f"| {r['model']} | {r['input']} | {shape} | " + " | ".join(cells) + " |")


# -- the timings ------------------------------------------------------------------

def run_bench(args, pys: dict, enhance: Path | None, models_dir: Path, tmp: Path) -> tuple[list[dict], bool]:
    import numpy as np
    results, ok = [], True
    variants = [v for v in VARIANTS if v[0] in args.engines and v[1].split()[0] in args.precisions
                and not (args.no_compile and v[1].endswith("compile"))]
    for model in args.models:
        for (width, height) in args.sizes:
            size = f"{width}x{height}"
            print(f"\n== {model} {size} (network input {width + 2 * PREPAD}x{height + 2 * PREPAD}), "
                  f"{args.runs} interleaved run(s), {args.threads} threads, load average {fmt(loadavg(), '.2f')}",
                  flush=True)
            x_path = tmp / f"{model}-{size}.in.npy"
            np.save(x_path, bench_input(width, height))
            base = {"model": model, "width": width, "height": height, "threads": args.threads,
                    "models_dir": str(models_dir), "input": str(x_path)}
            rows = {v: {"model": model, "size": size, "engine": v[0], "precision": v[1], "runs_ms": [],
                        "error": None} for v in variants}
            workers: dict[tuple[str, str], Worker] = {}
            onnx_path = tmp / f"{model}-{size}.onnx"
            try:
                if any(v[0] == "ort" for v in variants):
                    t = time.perf_counter()
                    try:
                        run_one_shot(pys["torch"], dict(base, engine="export", onnx=str(onnx_path)), tmp)
                        print(f"  exported ONNX in {time.perf_counter() - t:.1f} s", flush=True)
                    except WorkerError as exc:
                        for v in variants:
                            if v[0] == "ort":
                                rows[v]["error"] = f"export: {exc}"
                for v in variants:
                    engine, prec = v
                    if engine == "enhance" or rows[v]["error"]:
                        continue
                    out = tmp / f"{model}-{size}-{engine}-{prec}.out.npy"
                    spec = dict(base, engine=engine, precision=prec, output=str(out),
                                onnx=str(onnx_path), count_macs=(engine == "torch" and prec == "fp32"))
                    w = Worker(pys[engine], spec, tmp)
                    try:
                        info = w.read()
                    except WorkerError as exc:
                        rows[v]["error"] = str(exc)
                        w.close()
                        continue
                    workers[v] = w
                    rows[v].update(version=info.get("version"), load_s=info.get("load_s"),
                                   warmup_ms=info.get("warmup_ms"), output=str(out))
                    if "macs" in info:
                        rows[v]["macs"] = info["macs"]
                    print(f"  {ENGINE_NAMES[engine]} {prec}: loaded in {info.get('load_s', 0):.2f} s, "
                          f"warm-up {info.get('warmup_ms', 0):.0f} ms", flush=True)
                active = [v for v in variants if v[0] == "enhance" or v in workers]
                for rep in range(args.runs):
                    order = active[rep % len(active):] + active[:rep % len(active)] if active else []
                    line = []
                    for v in order:
                        row = rows[v]
                        if row["error"]:
                            continue
                        time.sleep(args.gap)  # let the previous engine's spinning threads go idle
                        if args.wait_quiet:
                            busy, waited = wait_quiet(args.wait_quiet)
                            row.setdefault("busy_before", []).append(busy)
                            row.setdefault("waited_s", []).append(waited)
                        try:
                            if v[0] == "enhance":
                                res = enhance_bench(enhance, model, size, args.threads, v[1], models_dir)
                                ms = float(res["median_ms"])
                                row["gflop"] = res.get("gflop")
                                row["version"] = "enhance " + args.enhance_rev
                                row["peak_rss_mb"] = max(row.get("peak_rss_mb") or 0, res.get("peak_rss_mb") or 0)
                            else:
                                ms = workers[v].run_once()
                        except WorkerError as exc:
                            row["error"] = str(exc)
                            continue
                        row["runs_ms"].append(ms)
                        busy = (row.get("busy_before") or [None])[-1]
                        line.append(f"{ENGINE_NAMES[v[0]]} {v[1]} {ms:.0f}"
                                    + (f" ({100 * busy:.0f}% busy before)" if busy is not None and busy > 0.10 else ""))
                    print(f"  run {rep + 1}/{args.runs}: " + ", ".join(line), flush=True)
            finally:
                for v, w in workers.items():
                    rows[v]["peak_rss_mb"] = w.quit()
            # correctness guard: every output against ncnn's
            ref_row = rows.get(("ncnn", "fp32"))
            ref = np.load(ref_row["output"]) if ref_row and ref_row.get("output") else None
            for v, row in rows.items():
                if row.get("output") and ref is not None:
                    try:
                        row["psnr_vs_ncnn"], row["maxdiff_vs_ncnn"] = psnr(np.load(row["output"]), ref)
                    except ValueError as exc:
                        row["error"] = row["error"] or f"output {exc}"
                    if v[1] == "fp32" and v[0] != "ncnn" and row.get("psnr_vs_ncnn", math.inf) < args.min_psnr:
                        row["error"] = row["error"] or f"PSNR vs ncnn {row['psnr_vs_ncnn']:.1f} dB"
                row.pop("output", None)
                if row["runs_ms"]:
                    row["median_ms"] = median(row["runs_ms"])
                if row["error"]:
                    ok = False
                    print(f"  error: {ENGINE_NAMES[v[0]]} {v[1]}: {row['error']}", file=sys.stderr)
            # work, ratios
            gflop = next((r["gflop"] for r in rows.values() if r.get("gflop")), None)
            torch_macs = next((r["macs"] for r in rows.values() if r.get("macs")), None)
            if gflop is None and torch_macs:
                gflop = 2 * torch_macs / 1e9
            elif gflop and torch_macs and abs(2 * torch_macs / 1e9 - gflop) > 0.01 * gflop:
                print(f"  note: Enhance counts {gflop:.2f} GFLOP, PyTorch {2 * torch_macs / 1e9:.2f}", file=sys.stderr)
            base_ms = rows.get(("enhance", "fp32"), {}).get("median_ms")
            anchors = [(r["median_ms"], r["engine"]) for (e, p), r in rows.items()
                       if e != "enhance" and p == "fp32" and r.get("median_ms")]
            for row in rows.values():
                row["gflop"] = gflop
                if row.get("median_ms"):
                    if gflop:
                        row["gflops"] = gflop / (row["median_ms"] / 1000)
                    if base_ms:
                        row["vs_enhance_fp32"] = row["median_ms"] / base_ms
            if base_ms and anchors:
                best_ms, best = min(anchors)
                rows[("enhance", "fp32")]["fastest_fp32_anchor"] = best
                rows[("enhance", "fp32")]["fastest_fp32_anchor_vs_enhance"] = best_ms / base_ms
            results.extend(rows.values())
    return results, ok


def fmt(value, spec: str, missing: str = "—") -> str:
    return missing if value is None else format(value, spec)


def _max_busy(row: dict) -> float | None:
    seen = [b for b in row.get("busy_before") or [] if b is not None]
    return 100 * max(seen) if seen else None


def print_table(rows: list[dict], peaks: dict[str, float] | None = None) -> None:
    peaks = peaks or {}
    print()
    print("| model | size | engine | precision | median ms | GFLOP/s | % of peak | time / Enhance fp32 "
          "| fastest fp32 anchor / Enhance | PSNR vs ncnn, this input (dB) | peak RSS MiB | CPUs busy before, max % |")
    print("| :-- | --: | :-- | :-- | --: | --: | --: | --: | --: | --: | --: | --: |")
    for r in rows:
        if r.get("error") and not r.get("median_ms"):
            ms = f"error ({r['error'].splitlines()[0][:60]})"
        else:
            ms = fmt(r.get("median_ms"), ".1f")
        fastest = "—"
        if r.get("fastest_fp32_anchor_vs_enhance") is not None:
            fastest = f"{r['fastest_fp32_anchor_vs_enhance']:.2f} ({ENGINE_NAMES[r['fastest_fp32_anchor']]})"
        db = r.get("psnr_vs_ncnn")
        db_s = "ref" if r["engine"] == "ncnn" else ("inf" if db == math.inf else fmt(db, ".1f"))
        peak = peaks.get(r["precision"].split()[0])
        pct = 100 * r["gflops"] / peak if peak and r.get("gflops") else None
        print(f"| {r['model']} | {r['size']} | {ENGINE_NAMES[r['engine']]} | {r['precision']} | {ms} "
              f"| {fmt(r.get('gflops'), '.0f')} | {fmt(pct, '.0f')} | {fmt(r.get('vs_enhance_fp32'), '.2f')} | {fastest} "
              f"| {db_s} | {fmt(r.get('peak_rss_mb'), '.0f')} | {fmt(_max_busy(r), '.0f')} |")


# -- main ------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=None, choices=list(MODELS + EXTRA_MODELS),
                    metavar="MODEL", help=f"default: {' '.join(MODELS)} (with --photo: realesrgan-x4plus)")
    ap.add_argument("--sizes", nargs="+", type=parse_size, default=[parse_size(s) for s in SIZES],
                    metavar="WxH", help=f"input sizes before padding (default: {' '.join(SIZES)})")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per engine (default 3); the median is reported")
    ap.add_argument("--threads", type=int, default=2, help="threads for every engine (default 2)")
    ap.add_argument("--engines", nargs="+", default=["enhance", "ncnn", "torch", "ort"],
                    choices=["enhance", "ncnn", "torch", "ort", "torch1"],
                    help="default: enhance ncnn torch ort; torch1 adds Debian's PyTorch 1.13 (history)")
    ap.add_argument("--no-compile", action="store_true",
                    help="skip the torch.compile variants (compiling realesrgan-x4plus takes minutes)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV,
                    help="the anchor environment of bench/setup_anchors.sh, tried first (default .venv-anchors)")
    ap.add_argument("--no-venv", action="store_true", help="do not look for the anchor environment")
    ap.add_argument("--gap", type=float, default=0.25, metavar="S",
                    help="pause before each timed run, so that one engine's spinning worker threads "
                         "do not overlap the next engine's run (default 0.25 s)")
    ap.add_argument("--wait-quiet", type=float, default=120.0, metavar="S",
                    help="before each timed run wait, at most S seconds, until the CPUs are less than 10%% busy "
                         "over half a second (other people's work on a shared machine); the busy share seen is "
                         "reported (default 120; 0: do not wait)")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--models-dir", type=Path, default=None,
                    help="directory with <model>.param/.bin (default: $ENHANCE_MODELS_DIR or ~/.cache/enhance/models)")
    ap.add_argument("--enhance", type=Path, default=DEFAULT_ENHANCE,
                    help="the enhance binary (default: .build-release/release/enhance)")
    ap.add_argument("--no-build", action="store_true", help="do not build a missing enhance binary")
    ap.add_argument("--python", action="append", default=[], metavar="PATH",
                    help="also consider this interpreter for the workers (repeatable)")
    ap.add_argument("--check", action="store_true",
                    help="only verify PyTorch / ONNX Runtime against ncnn's run_pipeline (no timings)")
    ap.add_argument("--check-size", type=parse_size, default=(64, 64), metavar="WxH",
                    help="image size for --check (default 64x64)")
    ap.add_argument("--min-psnr", type=float, default=50.0, help="fp32 PSNR floor vs ncnn (default 50 dB)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    ap.add_argument("--peak-fp32", type=float, default=234.0, metavar="GFLOPS",
                    help="the machine's fp32 peak for the %% of peak column (default 234: 2 cores, AVX-512)")
    ap.add_argument("--peak-bf16", type=float, default=467.0, metavar="GFLOPS",
                    help="the machine's bf16 peak (default 467: AVX512-BF16, no AMX)")
    ph = ap.add_argument_group("whole-photo mode (bench/anchors_photo.py)")
    ph.add_argument("--photo", action="store_true",
                    help="end to end on whole photos (decode, network, encode; each engine at its best practical "
                         "setting), wall time and peak RSS, instead of the network table")
    ph.add_argument("--photo-sizes", nargs="+", type=parse_size, default=[(1000, 700), (2000, 1500)],
                    metavar="WxH", help="photo sizes (BSD100 mosaics, bench/photos.py; default 1000x700 2000x1500)")
    ph.add_argument("--photo-max-memory", nargs="*", default=["4G"], metavar="BYTES",
                    help="Enhance also runs with each of these --max-memory budgets (default 4G; none: just the "
                         "default command)")
    ph.add_argument("--photo-runs", type=int, default=1, help="interleaved runs per engine (default 1)")
    ph.add_argument("--photo-max-rss", type=float, default=None, metavar="GIB",
                    help="kill an engine's process above this RSS (default: MemAvailable - 3 GiB, at most 16)")
    ph.add_argument("--photo-torch-tile", type=int, default=1000, metavar="PX",
                    help="tile side for PyTorch when the whole image does not fit (default 1000; 0: no retry)")
    ph.add_argument("--photo-dir", type=Path, default=REPO / "out" / "anchors",
                    help="where the photos are written (default out/anchors)")
    args = ap.parse_args(argv)
    if args.models is None:
        args.models = ["realesrgan-x4plus"] if args.photo else list(MODELS)
    if args.runs < 1 or args.threads < 1:
        ap.error("--runs and --threads must be at least 1")
    args.models = list(dict.fromkeys(args.models))
    return args


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "") if rev else "unknown"
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "_worker":
        return worker_main(json.loads(sys.argv[2]))
    args = parse_args(argv)
    models_dir = args.models_dir or default_models_dir()

    # ---- what is needed, what is missing
    missing: list[str] = []
    try:
        import numpy  # noqa: F401  (the orchestrator compares outputs)
    except ImportError:
        missing.append(f"numpy for {sys.executable}: pip install numpy")
    pythons = probe_pythons(args.python, None if args.no_venv else args.venv)
    kinds = {"torch"} if "torch" in args.engines or "ort" in args.engines else set()
    if "torch1" in args.engines:
        kinds.add("torch1")
    if "ort" in args.engines:
        kinds.add("ort")
    if args.check:
        kinds.add("pipeline")
    elif "ncnn" in args.engines:
        kinds.add("ncnn")
    if getattr(args, "photo", False):
        kinds.add("photo")
    what = {"torch": "PyTorch 2.x" + (" (also exports the ONNX model)" if "ort" in args.engines else ""),
            "torch1": "PyTorch 1.x (history)", "ncnn": "ncnn", "ort": "ONNX Runtime",
            "pipeline": "ncnn reference pipeline (--check)", "photo": "photo decode/encode (--photo)"}
    pys: dict[str, str] = {}
    for kind in sorted(kinds):
        p = pick_python(pythons, kind)
        if p:
            pys[kind] = p
        else:
            missing.append(missing_report(pythons, kind, what[kind]))
    for model in args.models:
        for ext in ("param", "bin"):
            if not (models_dir / f"{model}.{ext}").is_file():
                missing.append(f"model file {models_dir / f'{model}.{ext}'}: "
                               f"python3 scripts/fetch_models.py {model} (or set --models-dir / ENHANCE_MODELS_DIR)")
    enhance = None
    if "enhance" in args.engines and not args.check:
        enhance = args.enhance.resolve() if args.enhance.exists() else args.enhance
        if not args.enhance.exists():
            if args.no_build or args.enhance != DEFAULT_ENHANCE:
                missing.append(f"enhance binary {args.enhance}: {' '.join(BUILD_CMD)}")
            elif not shutil.which("swift"):
                missing.append(f"enhance binary {args.enhance} and no swift to build it (Swift 6 toolchain on PATH)")
    if missing:
        print("missing (nothing was installed):", file=sys.stderr)
        for m in missing:
            print(f"  - {m}", file=sys.stderr)
        return 2
    if enhance is not None and not args.enhance.exists():
        print("building enhance: " + " ".join(BUILD_CMD), flush=True)
        if subprocess.run(BUILD_CMD, cwd=str(REPO)).returncode != 0 or not args.enhance.exists():
            print(f"error: the build did not produce {args.enhance}", file=sys.stderr)
            return 1
        enhance = args.enhance.resolve()
    args.enhance_rev = git_rev()

    for kind, p in sorted(pys.items()):
        print(f"{kind:8s} worker python: {p}")
    load_before = loadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    if load_before is not None and not args.check and load_before > 0.5:
        print(f"warning: load average {load_before:.2f}: the machine is not idle, timings will be noisy",
              file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="enhance-anchors-") as tmpname:
        tmp = Path(tmpname)
        try:
            if args.check:
                rows, ok = run_check(args, pys, models_dir, tmp)
                print_check_table(rows)
            elif args.photo:
                sys.path.insert(0, str(BENCH_DIR))
                import anchors_photo
                rows, ok = anchors_photo.run_photo(args, pys, enhance, models_dir, tmp)
                anchors_photo.print_photo_table(rows)
            else:
                rows, ok = run_bench(args, pys, enhance, models_dir, tmp)
                print_table(rows, {"fp32": args.peak_fp32, "bf16": args.peak_bf16})
        except WorkerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    load_after = loadavg()
    mode = "check" if args.check else f"{args.photo_runs if args.photo else args.runs} interleaved run(s)"
    print(f"\n{args.threads} threads, {mode}; "
          f"commit {args.enhance_rev}; load average (1 min) {fmt(load_before, '.2f')} before, "
          f"{fmt(load_after, '.2f')} after on {os.cpu_count()} CPUs")
    if args.json:
        meta = {"started": started, "commit": args.enhance_rev, "threads": args.threads, "runs": args.runs,
                "models_dir": str(models_dir), "pythons": pys, "enhance": str(enhance) if enhance else None,
                "loadavg_before": load_before, "loadavg_after": load_after, "cpus": os.cpu_count(),
                "mode": "check" if args.check else ("photo" if args.photo else "bench")}
        clean = json.loads(json.dumps(rows, default=str), parse_constant=lambda _: None)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "rows": clean}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
