#!/usr/bin/env python3
"""Bounded load test of `enhance serve` on loopback (stdlib only).

Starts the server (or uses --url), sends N requests with C clients at once (small PNGs to /v1/upscale and
/model/predict, raw and multipart), and checks: no 5xx, every answer a 200 image or a 429 with Retry-After,
the server still healthy afterwards, its peak RSS (VmHWM) under --max-rss-mb. Prints status counts, p50/p90/p99
latency and throughput; exits non-zero when a check fails.

With --hostile, hostile clients run alongside the normal ones: --svg-bombs (2) clients each send a 40 MB SVG of
<rect>s at the same time (raw to /v1/upscale, then multipart to /model/predict); one client sends, one after the
other every 0.5 s while the load runs and once more after it, a "billion laughs" SVG, a 200-byte PDF whose
MediaBox is 14400x14400 pt, a PNG whose header claims 100000x100000 pixels (raw and multipart each), 64 KiB /
1 MiB / 5000 request headers, and uploads cut off halfway; slow clients hold their connections from start to end
(a body one byte every 100 ms, a Content-Length announced and nothing sent, a GET header one byte every 100 ms).
Each must get its expected answer (415 format_not_accepted, 422 image_too_large, 400/431 or a closed connection,
429 when the server is full, never a 5xx; an upload only ever refused with 429 fails too), every GET /healthz of
a monitor polling every 50 ms on its own connection must be a 200 within --healthz-ms, /metrics must count no 500
(a hang-up is 499), and VmHWM must stay under --max-rss-mb (768 with --hostile). In both modes VmHWM must also
stay under the memory limit of deploy/kubernetes/deployment.yaml, and the /healthz and VmRSS figures are printed.

    python3 scripts/load_test.py [--requests 200] [--concurrency 16] [--model realesr-animevideov3-x4] [--hostile]
"""
import argparse
import http.client
import json
import os
import re
import select
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
    return png_file(width, height, 8, 2, zlib.compress(rows))


def png_file(width, height, depth, color, idat):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def multipart(image, filename, ctype, boundary="hostileBoundary7MA4YWxk"):
    """A multipart/form-data body with `image` as the field 'image'; returns (body, Content-Type)."""
    body = (("--%s\r\nContent-Disposition: form-data; name=\"image\"; filename=\"%s\"\r\n"
             "Content-Type: %s\r\n\r\n" % (boundary, filename, ctype)).encode() + image
            + ("\r\n--%s--\r\n" % boundary).encode())
    return body, "multipart/form-data; boundary=" + boundary


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
        body, ctype = multipart(image, "x.png", "image/png", boundary="load%d" % i)
        path = "/model/predict"
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


def proc_status_mb(pid, field):
    """A memory field of /proc/PID/status (VmRSS, VmHWM) in MB, or None once the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb(pid):
    return proc_status_mb(pid, "VmHWM")


def deployment_memory_limit_mb(path="deploy/kubernetes/deployment.yaml"):
    """The container's memory limit (`limits: memory: 3584Mi`) in MB (MiB), or None when it cannot be read."""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", path)) as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"limits:\s*\n(?:\s+\w+:.*\n)*?\s+memory:\s*\"?(\d+)(Mi|Gi|M|G)\"?", text)
    if not m:
        return None
    value, unit = int(m.group(1)), m.group(2)
    return value * {"Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}[unit]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


# --- Hostile payloads --------------------------------------------------------------------------------------------

def svg_rect_bomb(megabytes):
    """An SVG of `megabytes` MB: a 100000x100000 canvas full of tiny <rect>s (a renderer would choke on it)."""
    rect = b'<rect x="7" y="7" width="9" height="9" fill="#f00"/>\n'
    head = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000">\n')
    return head + rect * ((megabytes * 1_000_000 - len(head)) // len(rect)) + b"</svg>\n"


def svg_billion_laughs():
    """An SVG whose text is 10^9 'lol's once its nine levels of XML entities are expanded (under 1 KB as sent)."""
    entities = ['<!ENTITY lol0 "lol">'] + ['<!ENTITY lol%d "%s">' % (i, ("&lol%d;" % (i - 1)) * 10)
                                          for i in range(1, 10)]
    return ('<?xml version="1.0"?>\n<!DOCTYPE svg [\n%s\n]>\n'
            '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><text y="20">&lol9;</text></svg>\n'
            % "\n".join(entities)).encode()


def pdf_bomb():
    """A ~200-byte PDF of one 14400x14400 pt page (at 72 dpi: 14400x14400 pixels; at 300 dpi: 60000x60000)."""
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
            b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 14400 14400]>>endobj\n"
            b"trailer<</Root 1 0 R>>\n%%EOF\n")


def png_header_bomb():
    """A PNG whose IHDR claims 100000x100000 1-bit gray pixels, with one compressed row of zeros as its only data."""
    return png_file(100_000, 100_000, 1, 0, zlib.compress(b"\x00" * (1 + 100_000 // 8)))


# --- Raw HTTP on a socket (hostile clients must control every byte and survive early answers) --------------------

def read_answer(sock, timeout=60):
    """The status and headers of the answer on `sock`, or (0, {}) when the server closed without one."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    if not data.startswith(b"HTTP/1."):
        return 0, {}
    lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l))
    return int(lines[0].split()[1]), headers


def label(status, headers):
    """How an answer is counted: '415 format_not_accepted', '429', 'closed' (no answer)..."""
    if status == 0:
        return "closed"
    code = headers.get("x-enhance-error")
    return "%d %s" % (status, code) if code and status not in (200, 429) else str(status)


def exchange(port, head, body=b"", timeout=120):
    """Sends `head` and `body`, stopping early when the server answers (or closes) first; returns its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(head)
            view, sent = memoryview(body), 0
            while sent < len(body):
                readable, writable, _ = select.select([s], [s], [], timeout)
                if readable or not writable:
                    break  # an early answer (413, 429, 431...) or a close; or the server stopped reading for good
                sent += s.send(view[sent:sent + (256 << 10)])
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_answer(s, timeout)


def post_head(path, ctype, length, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (path, ctype, length, extra)).encode()


def upload(port, path, body, ctype, retries=3):
    """POSTs `body`; a 429 is tried again after its Retry-After (at most 2 s) up to `retries` times, so that the
    upload most likely reaches the check it is aimed at."""
    for attempt in range(retries + 1):
        status, headers = exchange(port, post_head(path, ctype, len(body)), body)
        if status != 429 or attempt == retries:
            return label(status, headers)
        time.sleep(min(float(headers.get("retry-after") or 1), 2))


# --- Attacks: each runs once and returns [(kind, outcome)] ----------------------------------------------------------

# What each kind may be answered with; anything else (a 5xx above all) fails the test.
EXPECTED = {
    "svg rects bomb raw": {"415 format_not_accepted", "429"},
    "svg rects bomb multipart": {"415 format_not_accepted", "429"},
    "svg billion laughs raw": {"415 format_not_accepted", "429"},
    "svg billion laughs multipart": {"415 format_not_accepted", "429"},
    "pdf 14400pt raw": {"415 format_not_accepted", "429"},
    "pdf 14400pt multipart": {"415 format_not_accepted", "429"},
    "png 100000x100000 header raw": {"422 image_too_large", "400 undecodable_image", "429"},
    "png 100000x100000 header multipart": {"422 image_too_large", "400 undecodable_image", "429"},
    # SwiftNIO's HTTP decoder takes headers up to 80 KiB in all (maxHeaderListSize) and refuses more with 400.
    "header 64KiB": {"200", "431", "400", "413", "closed"},
    "header 1MiB": {"431", "400", "413", "closed"},
    "headers 5000x": {"431", "400", "413", "closed"},
    "header 1MiB on upload": {"431", "400", "413", "closed"},
    "hang-up mid-upload raw": {"hung up"},
    "hang-up mid-upload multipart": {"hung up"},
    "slow body 1B/100ms": {"held", "429", "408", "closed"},
    "stalled body": {"held", "429", "408", "closed"},
    "slow headers 1B/100ms": {"held", "408", "431", "400", "closed"},
}


class Payloads:
    """The hostile bodies, made once before the load starts."""

    def __init__(self, svg_mb):
        self.svg = svg_rect_bomb(svg_mb)
        self.svg_multipart = multipart(self.svg, "bomb.svg", "image/svg+xml")
        self.laughs = svg_billion_laughs()
        self.pdf = pdf_bomb()
        self.png = png_header_bomb()


def attack_svg_rects(port, p):
    return [("svg rects bomb raw", upload(port, "/v1/upscale", p.svg, "image/svg+xml")),
            ("svg rects bomb multipart", upload(port, "/model/predict", *p.svg_multipart))]


def attack_svg_laughs(port, p):
    return [("svg billion laughs raw", upload(port, "/v1/upscale", p.laughs, "image/svg+xml")),
            ("svg billion laughs multipart",
             upload(port, "/model/predict", *multipart(p.laughs, "laughs.svg", "image/svg+xml")))]


def attack_pdf_bomb(port, p):
    # Sent as octet-stream: a raw application/pdf body is refused by its Content-Type alone (unsupported_media_type).
    return [("pdf 14400pt raw", upload(port, "/v1/upscale", p.pdf, "application/octet-stream")),
            ("pdf 14400pt multipart", upload(port, "/model/predict", *multipart(p.pdf, "bomb.pdf", "application/pdf")))]


def attack_png_header_bomb(port, p):
    return [("png 100000x100000 header raw", upload(port, "/v1/upscale", p.png, "image/png")),
            ("png 100000x100000 header multipart",
             upload(port, "/model/predict", *multipart(p.png, "bomb.png", "image/png")))]


def attack_huge_headers(port, p):
    def get(extra):
        return label(*exchange(port, ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % extra).encode()))
    small = png(16, 16, 1)
    return [("header 64KiB", get("X-Filler: %s\r\n" % ("a" * (64 << 10)))),
            ("header 1MiB", get("X-Filler: %s\r\n" % ("b" * (1 << 20)))),
            ("headers 5000x", get("".join("X-Filler-%d: %s\r\n" % (i, "c" * 40) for i in range(5000)))),
            ("header 1MiB on upload", label(*exchange(
                port, post_head("/v1/upscale", "image/png", len(small), "X-Filler: %s\r\n" % ("d" * (1 << 20))),
                small)))]


def attack_hang_ups(port, p):
    """Announces a body, sends half of it, then closes: the server must count 499 (client closed), not 500."""
    image = png(64, 64, 3)
    out = []
    for kind, path, (body, ctype) in (("hang-up mid-upload raw", "/v1/upscale", (image, "image/png")),
                                      ("hang-up mid-upload multipart", "/model/predict",
                                       multipart(image, "half.png", "image/png"))):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(post_head(path, ctype, len(body)) + body[:len(body) // 2])
            time.sleep(0.2)
        out.append((kind, "hung up"))
    return out


ATTACKS = [attack_svg_rects, attack_svg_laughs, attack_pdf_bomb, attack_png_header_bomb, attack_huge_headers,
           attack_hang_ups]


class SlowClients:
    """Connections held open for the whole run: bodies dripped one byte every 100 ms, a Content-Length announced and
    nothing sent, headers dripped one byte every 100 ms. Each ends 'held' (no answer yet when closed at the end) or
    with the server's answer."""

    def __init__(self, port, drip=2, stall=2, slow_headers=2):
        self.port, self.stop, self.results, self.lock = port, threading.Event(), [], threading.Lock()
        body = b"\x89PNG\r\n\x1a\n" + os.urandom(1 << 20)  # 1 MB: at 10 bytes/s no run drips it to its end
        jobs = ([("slow body 1B/100ms", post_head("/v1/upscale", "image/png", len(body)), body)] * drip
                + [("stalled body", post_head("/v1/upscale", "image/png", len(body)), b"")] * stall
                + [("slow headers 1B/100ms", b"",
                    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 70000)] * slow_headers)
        self.threads = [threading.Thread(target=self.run, args=job, daemon=True) for job in jobs]

    def start(self):
        for t in self.threads:
            t.start()

    def run(self, kind, head, drip):
        outcome = "held"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
                s.sendall(head)
                i = 0
                while not self.stop.is_set():
                    if select.select([s], [], [], 0.1)[0]:
                        outcome = label(*read_answer(s, 5))
                        break
                    if i < len(drip):
                        s.send(drip[i:i + 1])
                        i += 1
        except OSError:
            outcome = "closed"
        with self.lock:
            self.results.append((kind, outcome))

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(10)
        return self.results


class HealthMonitor(threading.Thread):
    """GET /healthz every `interval` s on one kept-alive connection; records each answer's latency (or a failure)."""

    def __init__(self, port, interval=0.05):
        super().__init__(daemon=True)
        self.port, self.interval, self.stop = port, interval, threading.Event()
        self.latencies, self.failures, self.started = [], [], time.monotonic()

    def run(self):
        conn = None
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    self.failures.append("status %d" % r.status)
            except Exception as e:  # noqa: BLE001 - a failed probe is what this records
                self.failures.append(repr(e))
                conn = None
            self.latencies.append((start - self.started, time.monotonic() - start))
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - start)))


class RssSampler(threading.Thread):
    """VmRSS of the server every 100 ms."""

    def __init__(self, pid, interval=0.1):
        super().__init__(daemon=True)
        self.pid, self.interval, self.stop, self.samples = pid, interval, threading.Event(), []

    def run(self):
        start = time.monotonic()
        while not self.stop.wait(self.interval):
            rss = proc_status_mb(self.pid, "VmRSS")
            if rss is not None:
                self.samples.append((time.monotonic() - start, rss))


class Hostile:
    """The hostile clients, from the start of the normal load to its end: `bombs` threads each send the 40 MB SVG
    (raw, then multipart) at the same time; one thread sends the small attacks one after the other every `pause`
    s; the slow clients hold their connections."""

    def __init__(self, port, payloads, bombs=2, pause=0.5):
        self.port, self.payloads, self.pause, self.stop = port, payloads, pause, threading.Event()
        self.results, self.lock, self.errors = [], threading.Lock(), []
        self.slow = SlowClients(port)
        self.threads = ([threading.Thread(target=self.attack, args=(attack_svg_rects,), daemon=True)
                         for _ in range(bombs)] + [threading.Thread(target=self.small_attacks, daemon=True)])

    def start(self):
        self.slow.start()
        for t in self.threads:
            t.start()

    def attack(self, attack):
        try:
            outcomes = attack(self.port, self.payloads)
        except Exception as e:  # noqa: BLE001 - reported as a failure of the test
            with self.lock:
                self.errors.append("%s: %r" % (attack.__name__, e))
            return
        with self.lock:
            self.results.extend(outcomes)

    def small_attacks(self):
        """Round after round while the normal load runs, then one more round (its uploads meet a server with room,
        so they reach the checks they aim at rather than 429)."""
        small = [a for a in ATTACKS if a is not attack_svg_rects]
        while True:
            last = self.stop.is_set()
            for attack in small:
                self.attack(attack)
                self.stop.wait(0 if last else self.pause)
            if last:
                return

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(600)
        return self.results + self.slow.finish()


def metrics_statuses(port):
    """{status: count} of enhance_http_requests_total, summed over routes and methods."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    out = {}
    for m in re.finditer(r'^enhance_http_requests_total\{([^}]*)\} (\d+)', text, re.M):
        status = re.search(r'status="(\d+)"', m.group(1))
        route = re.search(r'route="([^"]*)"', m.group(1))
        if status and not (route and route.group(1) == "/readyz"):  # /readyz answers 503 while the model loads
            out[status.group(1)] = out.get(status.group(1), 0) + int(m.group(2))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--model", default="realesr-animevideov3-x4")
    ap.add_argument("--queue", type=int, default=8)
    ap.add_argument("--enhance", default=os.environ.get("ENHANCE_BIN", ".build/debug/enhance"))
    ap.add_argument("--max-rss-mb", type=float,
                    help="peak RSS allowed (default 1500; with --hostile 768, 280-300 MB measured, debug build)")
    ap.add_argument("--retries", type=int, default=5, help="retries of a 429 after its Retry-After (0: none)")
    ap.add_argument("--hostile", action="store_true", help="mix hostile clients into the load (see above)")
    ap.add_argument("--healthz-ms", type=float, default=100, help="slowest /healthz answer allowed, in ms")
    ap.add_argument("--svg-mb", type=int, default=40, help="size of the <rect> SVG bomb")
    ap.add_argument("--svg-bombs", type=int, default=2, help="40 MB SVG bombs sent at once (raw, then multipart)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    max_rss = args.max_rss_mb or (768 if args.hostile else 1500)
    limit = deployment_memory_limit_mb()

    payloads = Payloads(args.svg_mb) if args.hostile else None
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

        monitor, sampler = HealthMonitor(port), RssSampler(server.pid)
        monitor.start()
        sampler.start()
        hostile = Hostile(port, payloads, args.svg_bombs) if args.hostile else None
        start = time.monotonic()
        if hostile:
            hostile.start()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(lambda i: request_with_retries(port, i, args.retries), range(args.requests)))
        wall = time.monotonic() - start
        hostile_results = hostile.finish() if hostile else []
        total_wall = time.monotonic() - start
        time.sleep(0.5)  # the hang-ups and slow clients closed just now: let the server count them
        monitor.stop.set()
        sampler.stop.set()
        monitor.join()
        sampler.join()

        statuses = {}
        for status, _, _, _ in results:
            statuses[status] = statuses.get(status, 0) + 1
        lat = sorted(t for _, t, _, _ in results)
        ok_lat = sorted(t for s, t, _, _ in results if s == 200)

        def pct(values, p):
            return percentile(values, p) * 1000
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/healthz")
        healthy = c.getresponse().status == 200
        served = metrics_statuses(port)
        peak = rss_mb(server.pid)
        health_ms = [t * 1000 for _, t in monitor.latencies]
        figures = {
            "requests": args.requests, "concurrency": args.concurrency, "model": args.model, "queue": args.queue,
            "statuses": statuses, "retries_429": sum(r for _, _, _, r in results),
            "p50_ms": round(pct(lat, 50)), "p90_ms": round(pct(lat, 90)), "p99_ms": round(pct(lat, 99)),
            "p50_ok_ms": round(pct(ok_lat, 50)), "p99_ok_ms": round(pct(ok_lat, 99)),
            "wall_s": round(wall, 2), "ok_per_s": round(statuses.get(200, 0) / wall, 2),
            "peak_rss_mb": round(peak) if peak else None, "healthy_after": healthy,
            "healthz": {"count": len(health_ms), "failures": len(monitor.failures),
                        "p50_ms": round(percentile(health_ms, 50), 1), "p99_ms": round(percentile(health_ms, 99), 1),
                        "max_ms": round(max(health_ms), 1) if health_ms else None},
            "rss_mb": {"first": round(sampler.samples[0][1]) if sampler.samples else None,
                       "max": round(max(r for _, r in sampler.samples)) if sampler.samples else None,
                       "last": round(sampler.samples[-1][1]) if sampler.samples else None},
            "server_statuses": served,
        }
        if hostile:
            table = {}
            for kind, outcome in hostile_results:
                table.setdefault(kind, {})
                table[kind][outcome] = table[kind].get(outcome, 0) + 1
            figures["hostile"] = table
            figures["total_wall_s"] = round(total_wall, 2)
        print(json.dumps(figures))
        if hostile:
            print("%-36s %s" % ("hostile client", "outcomes (count)"))
            for kind in EXPECTED:
                print("%-36s %s" % (kind, ", ".join("%s x%d" % kv for kv in sorted(table.get(kind, {}).items()))))
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
        if peak is not None and peak > max_rss:
            problems.append("peak RSS %.0f MB above %.0f MB" % (peak, max_rss))
        if peak is not None and limit is not None and peak > limit:
            problems.append("peak RSS %.0f MB above the deployment's memory limit %.0f MiB" % (peak, limit))
        if served.get("500"):
            problems.append("/metrics counts %d answers 500" % served["500"])
        if args.hostile:
            if monitor.failures:
                problems.append("%d /healthz probes failed: %s" % (len(monitor.failures), monitor.failures[:3]))
            slow = [(at, t * 1000) for at, t in monitor.latencies if t * 1000 > args.healthz_ms]
            if slow:
                problems.append("%d of %d /healthz answers slower than %.0f ms (max %.0f ms), sent from %.1f s "
                                "to %.1f s" % (len(slow), len(health_ms), args.healthz_ms, max(t for _, t in slow),
                                   slow[0][0], slow[-1][0]))
            problems += ["hostile client failed: " + e for e in hostile.errors]
            for kind, outcomes in sorted(table.items()):
                unexpected = set(outcomes) - EXPECTED[kind]
                if unexpected:
                    problems.append("%s answered %s (expected %s)" % (kind, sorted(unexpected), sorted(EXPECTED[kind])))
            missing = set(EXPECTED) - set(table)
            if missing:
                problems.append("hostile kinds that never ran: %s" % sorted(missing))
            only_429 = sorted(kind for kind, outcomes in table.items() if set(outcomes) == {"429"})
            if only_429:
                problems.append("hostile uploads always refused with 429, never checked: %s" % only_429)
            if not served.get("499"):
                problems.append("/metrics counts no 499 (client closed) although clients hung up mid-upload")
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
