#!/usr/bin/env python3
"""Bounded load test of `enhance serve` on loopback (stdlib only).

Starts the server (or uses --url), sends N requests with C clients at once (small PNGs to /v1/upscale and
/model/predict, raw and multipart), and checks: no 5xx, every answer a 200 image or a 429 with Retry-After,
the server still healthy afterwards, its peak RSS (VmHWM) under --max-rss-mb. Prints status counts, p50/p90/p99
latency and throughput; exits non-zero when a check fails.

    python3 scripts/load_test.py [--requests 200] [--concurrency 16] [--model realesr-animevideov3-x4]
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
from concurrent.futures import ThreadPoolExecutor


def png(width, height, seed):
    rows = b"".join(b"\x00" + bytes(((x * 7 + y * 3 + seed * 11 + c * 50) % 256)
                                     for x in range(width) for c in range(3)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_with_retries(port, i, retries):
    """Honours 429's Retry-After up to `retries` times, like a well-behaved client; latency is end to end."""
    start = time.monotonic()
    for attempt in range(retries + 1):
        status, _, ok, retry_after = request(port, i)
        if status != 429 or attempt == retries:
            return status, time.monotonic() - start, ok, attempt
        time.sleep(min(float(retry_after or 1), 5))
    raise AssertionError


def request(port, i):
    image = png(24 + i % 9, 20 + i % 7, i)
    if i % 2 == 0:
        path, body, ctype = "/v1/upscale?format=png", image, "image/png"
    else:
        boundary = "load%d" % i
        body = (("--%s\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n"
                 "Content-Type: image/png\r\n\r\n" % boundary).encode() + image + ("\r\n--%s--\r\n" % boundary).encode())
        path, ctype = "/model/predict", "multipart/form-data; boundary=" + boundary
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": ctype})
        r = conn.getresponse()
        data = r.read()
        ok = (r.status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n") or (r.status == 429 and r.getheader("Retry-After"))
        return r.status, time.monotonic() - start, bool(ok), r.getheader("Retry-After")
    except Exception as e:  # noqa: BLE001 - every failure is reported as status 0
        print("request %d failed: %s" % (i, e), file=sys.stderr)
        return 0, time.monotonic() - start, False, None
    finally:
        conn.close()


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--model", default="realesr-animevideov3-x4")
    ap.add_argument("--queue", type=int, default=8)
    ap.add_argument("--enhance", default=os.environ.get("ENHANCE_BIN", ".build/debug/enhance"))
    ap.add_argument("--max-rss-mb", type=float, default=1500)
    ap.add_argument("--retries", type=int, default=5, help="retries of a 429 after its Retry-After (0: none)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    port = free_port()
    server = subprocess.Popen([args.enhance, "serve", "--port", str(port), "-m", args.model, "--queue", str(args.queue),
                               "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("the server did not become ready")
            time.sleep(0.2)

        start = time.monotonic()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(lambda i: request_with_retries(port, i, args.retries), range(args.requests)))
        wall = time.monotonic() - start

        statuses = {}
        for status, _, _, _ in results:
            statuses[status] = statuses.get(status, 0) + 1
        lat = sorted(t for _, t, _, _ in results)
        ok_lat = sorted(t for s, t, _, _ in results if s == 200)

        def pct(values, p):
            return values[min(len(values) - 1, int(len(values) * p / 100))] * 1000 if values else float("nan")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/healthz")
        healthy = c.getresponse().status == 200
        peak = rss_mb(server.pid)
        figures = {
            "requests": args.requests, "concurrency": args.concurrency, "model": args.model, "queue": args.queue,
            "statuses": statuses, "retries_429": sum(r for _, _, _, r in results),
            "p50_ms": round(pct(lat, 50)), "p90_ms": round(pct(lat, 90)), "p99_ms": round(pct(lat, 99)),
            "p50_ok_ms": round(pct(ok_lat, 50)), "p99_ok_ms": round(pct(ok_lat, 99)),
            "wall_s": round(wall, 2), "ok_per_s": round(statuses.get(200, 0) / wall, 2),
            "peak_rss_mb": round(peak) if peak else None, "healthy_after": healthy,
        }
        print(json.dumps(figures))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=2)
        problems = []
        if any(s >= 500 or s == 0 for s in statuses):
            problems.append("5xx or failed requests: %s" % statuses)
        if not all(ok for _, _, ok, _ in results):
            problems.append("an answer was neither a PNG 200 nor a 429 with Retry-After")
        if statuses.get(200, 0) == 0:
            problems.append("no request succeeded")
        if not healthy:
            problems.append("/healthz failed after the load")
        if peak is not None and peak > args.max_rss_mb:
            problems.append("peak RSS %.0f MB above %.0f MB" % (peak, args.max_rss_mb))
        if problems:
            sys.exit("load test FAILED: " + "; ".join(problems))
        print("load test passed")
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
