#!/usr/bin/env python3
"""Throughput and memory of ONE `enhance serve` replica (stdlib only).

For each --model: starts the server (or uses --url), waits for /readyz (the time is reported: it is the model
load a readiness probe has to allow for), sends one warm-up job (reported separately: the first job of a shape
also plans the network), then lets --concurrency clients post a WxH PNG to POST /model/predict (the default
model) or /v1/upscale?model=... for --duration seconds (or until --requests answers). A client that gets 429
sleeps for its Retry-After and tries again. Clients start no new request after the duration; the requests in
flight then finish and count. Reported: images/s (200 answers / wall time of the measured phase), latency
p50/p90/max, the server's own inference and queue times (X-Enhance-Inference-Ms, X-Enhance-Queue-Ms), 429s,
the server's peak RSS (VmHWM from /proc/PID/status) and its mean CPU use in cores.

    python3 scripts/replica_throughput.py --enhance .build-release/release/enhance \\
        --model realesrgan-x4plus --model realesr-animevideov3-x4 --size 256x256 --concurrency 4 --duration 60

With --concurrency 1 --requests 1 --no-warmup it measures the peak RSS of a single job of that size (e.g.
--size 1024x768 for a tiled one; give a long --deadline). Exit status 1 when any answer is neither 200 nor 429.
"""
import argparse
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib


def png(width, height):
    rows = b"".join(b"\x00" + bytes(((x * 5 + y * 3) & 255, (x * y) & 255, (x ^ y) & 255) [c]
                                    for x in range(width) for c in range(3)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid, key):
    """A /proc/PID/status field in KiB (VmRSS, VmHWM), or 0."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class Client:
    def __init__(self, host, port, model, default_model, image, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        boundary = "replica-throughput"
        if model == default_model:
            self.path = "/model/predict"
            self.body = ((f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"in.png\"\r\n"
                          "Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode())
            self.ctype = "multipart/form-data; boundary=" + boundary
        else:
            self.path = f"/v1/upscale?model={model}&format=png"
            self.body, self.ctype = image, "image/png"

    def post(self):
        """(status, seconds, headers dict) of one request."""
        start = time.monotonic()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("POST", self.path, body=self.body, headers={"Content-Type": self.ctype})
            resp = conn.getresponse()
            resp.read()
            return resp.status, time.monotonic() - start, {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()


def get(host, port, path, timeout=5):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def measure(args, model):
    host = "127.0.0.1"
    server = None
    started = time.monotonic()
    if args.url:
        host, port = args.url.split("//")[-1].rstrip("/").split(":")
        port = int(port)
        pid = args.pid
    else:
        port = free_port()
        cmd = [args.enhance, "serve", "--host", host, "--port", str(port), "--model", model,
               "--workers", str(args.workers), "--queue", str(args.queue), "--max-memory", args.max_memory,
               "--deadline", str(args.deadline), "--log-level", "warning"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        pid = server.pid
    try:
        ready_s = None
        for _ in range(args.ready_timeout * 10):
            try:
                if get(host, port, "/readyz")[0] == 200:
                    ready_s = time.monotonic() - started if server else 0.0
                    break
            except OSError:
                pass
            if server and server.poll() is not None:
                raise SystemExit(f"server exited: {server.stderr.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.1)
        if ready_s is None:
            raise SystemExit("server not ready")
        status, body = get(host, port, "/v1/models")
        default_model = json.loads(body)["default"]
        w, h = (int(v) for v in args.size.lower().split("x"))
        client = Client(host, port, model, default_model, png(w, h), args.deadline + 30)
        rss_idle = proc_status(pid, "VmRSS") if pid else 0

        if args.no_warmup:
            warm_s, warm_headers = 0.0, {}
        else:
            warm_status, warm_s, warm_headers = client.post()
            if warm_status != 200:
                raise SystemExit(f"warm-up answered {warm_status} (a longer --deadline?)")
        hwm_after_warmup = proc_status(pid, "VmHWM") if pid else 0

        lock = threading.Lock()
        results = []  # (status, seconds, inference_ms, queue_ms)
        retries = [0]
        stop_at = time.monotonic() + args.duration
        budget = [args.requests or 0]

        def take():
            with lock:
                if args.requests:
                    if budget[0] <= 0:
                        return False
                    budget[0] -= 1
                return time.monotonic() < stop_at

        def worker():
            while take():
                while True:
                    status, secs, headers = client.post()
                    if status == 429:
                        with lock:
                            retries[0] += 1
                        if time.monotonic() >= stop_at:
                            break
                        time.sleep(min(float(headers.get("retry-after", "1")), 10))
                        continue
                    with lock:
                        results.append((status, secs, float(headers.get("x-enhance-inference-ms", "nan")),
                                        float(headers.get("x-enhance-queue-ms", "nan"))))
                    break

        peak = [0]
        sampling = threading.Event()

        def sampler():
            while not sampling.is_set():
                peak[0] = max(peak[0], proc_status(pid, "VmRSS"))
                time.sleep(0.1)

        sampler_thread = threading.Thread(target=sampler, daemon=True)
        if pid:
            sampler_thread.start()
        cpu0, t0 = cpu_seconds(pid) if pid else 0.0, time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        cpu = (cpu_seconds(pid) - cpu0) if pid else 0.0
        sampling.set()
        ok = [r for r in results if r[0] == 200]
        bad = [r for r in results if r[0] != 200]
        out = {
            "model": model, "size": args.size, "concurrency": args.concurrency, "workers": args.workers,
            "queue": args.queue, "max_memory": args.max_memory, "duration_s": round(wall, 1),
            "ready_s": round(ready_s, 2), "warmup_s": round(warm_s, 2),
            "warmup_inference_ms": float(warm_headers.get("x-enhance-inference-ms", "nan")),
            "ok": len(ok), "errors": {str(s): sum(1 for r in bad if r[0] == s) for s in sorted({r[0] for r in bad})},
            "retries_after_429": retries[0],
            "images_per_s": round(len(ok) / wall, 3) if wall else 0,
            "latency_s": {"p50": round(pct([r[1] for r in ok], 50), 2), "p90": round(pct([r[1] for r in ok], 90), 2),
                          "max": round(max([r[1] for r in ok], default=float("nan")), 2)},
            "server_inference_ms_mean": round(sum(r[2] for r in ok) / len(ok), 1) if ok else None,
            "server_queue_ms_mean": round(sum(r[3] for r in ok) / len(ok), 1) if ok else None,
            "cpu_cores_used": round(cpu / wall, 2) if wall and pid else None,
            "rss_idle_mib": round(rss_idle / 1024), "rss_peak_sampled_mib": round(peak[0] / 1024),
            "vmhwm_after_warmup_mib": round(hwm_after_warmup / 1024),
            "vmhwm_mib": round(proc_status(pid, "VmHWM") / 1024) if pid else None,
        }
        return out
    finally:
        if server:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--enhance", default=os.environ.get("ENHANCE_BIN", ".build-release/release/enhance"))
    ap.add_argument("--url", help="measure a running server instead (its default model; give --pid for memory)")
    ap.add_argument("--pid", type=int, help="with --url: the server's process id, for RSS and CPU")
    ap.add_argument("--model", action="append", help="model id; repeatable (default realesrgan-x4plus)")
    ap.add_argument("--size", default="256x256", help="input size WxH (default 256x256)")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--duration", type=float, default=60, help="seconds during which new requests start")
    ap.add_argument("--requests", type=int, default=0, help="stop after this many requests (0: only --duration)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, help="oneDNN threads per worker (server default: cores / workers)")
    ap.add_argument("--queue", type=int, default=8)
    ap.add_argument("--max-memory", default="1G")
    ap.add_argument("--deadline", type=float, default=300)
    ap.add_argument("--ready-timeout", type=int, default=300)
    ap.add_argument("--no-warmup", action="store_true", help="measure from the first job on (for single large jobs)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    models = args.model or ["realesrgan-x4plus"]
    runs = []
    for model in models:
        r = measure(args, model)
        runs.append(r)
        print(f"{r['model']} {r['size']} x{r['concurrency']} clients, {r['workers']} worker(s): "
              f"{r['images_per_s']} images/s ({r['ok']} in {r['duration_s']} s; errors {r['errors'] or 'none'}; "
              f"{r['retries_after_429']} retries after 429) latency p50 {r['latency_s']['p50']} s "
              f"p90 {r['latency_s']['p90']} s max {r['latency_s']['max']} s; server inference "
              f"{r['server_inference_ms_mean']} ms, queue {r['server_queue_ms_mean']} ms (means); "
              f"ready {r['ready_s']} s, warm-up job {r['warmup_s']} s; CPU {r['cpu_cores_used']} cores; "
              f"RSS idle {r['rss_idle_mib']} MiB, peak {r['rss_peak_sampled_mib']} MiB sampled, "
              f"VmHWM {r['vmhwm_mib']} MiB (after warm-up {r['vmhwm_after_warmup_mib']} MiB)", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"cores": os.cpu_count(), "runs": runs}, fh, indent=2)
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
