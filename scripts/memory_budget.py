#!/usr/bin/env python3
"""Peak memory under a `--max-memory` budget (stdlib only; the figures of BENCHMARKS.md, "Memory budget").

    python3 scripts/memory_budget.py upscale --enhance .build-release/release/enhance --max-memory 512M \\
        --model realesr-animevideov3-x4 --size 2000x1500
    python3 scripts/memory_budget.py server --enhance .build-release/release/enhance --max-memory 512M

`upscale`: one `enhance upscale` of a generated WxH PNG; prints the wall time and the peak RSS (the child's
ru_maxrss). `server`: starts `enhance serve --workers 1 --max-memory M`, waits until ready, then sends, one after
the other, the jobs of --jobs (default: a 256x256 realesrgan-x4plus job, a 1024x768 realesr-animevideov3-x4 job,
the x4plus job again), and prints after each the server's RSS once the job is answered and its peak so far
(VmRSS, VmHWM of /proc/PID/status); the last RSS is what stays resident.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replica_throughput import Client, free_port, get, png, proc_status  # noqa: E402


def upscale(args):
    w, h = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.png"), os.path.join(tmp, "out.png")
        with open(src, "wb") as fh:
            fh.write(png(w, h))
        start = time.monotonic()
        subprocess.run([args.enhance, "upscale", "-m", args.model, "--max-memory", args.max_memory, src, "-o", dst],
                       check=True, stdout=subprocess.DEVNULL)
        seconds = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"upscale {args.model} {w}x{h} --max-memory {args.max_memory}: {seconds:.1f} s, peak RSS {peak:.0f} MiB")


def server(args):
    port = free_port()
    cmd = [args.enhance, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--max-memory", args.max_memory, "--deadline", "3600", "-m", args.default_model]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if get("127.0.0.1", port, "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        mib = lambda key: proc_status(proc.pid, key) / 1024  # noqa: E731
        print(f"server --max-memory {args.max_memory}: ready, RSS {mib('VmRSS'):.0f} MiB")
        for job in args.jobs:
            model, size = job.split("@")
            w, h = (int(v) for v in size.lower().split("x"))
            status, seconds, _ = Client("127.0.0.1", port, model, args.default_model, png(w, h), 3600).post()
            if status != 200:
                raise SystemExit(f"{job}: HTTP {status}")
            time.sleep(1)
            print(f"  {model} {w}x{h}: {seconds:.1f} s, RSS after {mib('VmRSS'):.0f} MiB, peak so far {mib('VmHWM'):.0f} MiB")
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["upscale", "server"])
    ap.add_argument("--enhance", default=os.environ.get("ENHANCE_BIN", ".build-release/release/enhance"))
    ap.add_argument("--max-memory", default="512M")
    ap.add_argument("--model", default="realesr-animevideov3-x4", help="upscale: the model")
    ap.add_argument("--size", default="2000x1500", help="upscale: the input size WxH")
    ap.add_argument("--default-model", default="realesrgan-x4plus", help="server: its default model")
    ap.add_argument("--jobs", nargs="+", default=["realesrgan-x4plus@256x256", "realesr-animevideov3-x4@1024x768",
                                                  "realesrgan-x4plus@256x256"],
                    help="server: MODEL@WxH jobs, sent one after the other")
    args = ap.parse_args()
    upscale(args) if args.mode == "upscale" else server(args)


if __name__ == "__main__":
    main()
