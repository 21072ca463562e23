#!/usr/bin/env python3
"""Browser test of `enhance serve`'s web page (/ui) and Swagger UI (/), in headless Chromium.

    ui_test.py [ENHANCE_BIN] [--base-url URL]

Starts ``ENHANCE_BIN serve --host 127.0.0.1 --port P --model realesr-animevideov3-x2`` on a free port
(ENHANCE_BIN: the argument, else $ENHANCE_BIN, else .build/debug/enhance), waits for /readyz, then drives
/ui with Playwright: the model list, an upscale of a generated 48x40 PNG (upload progress, job polling,
before/after slider, output size, download link), the error shown for a file that is not an image, a
second upscale after it, and Swagger UI at / rendering the title of /openapi.json.  With --base-url it
tests a server that is already running instead.

Needs Chromium (/usr/bin/chromium, or $CHROMIUM) and the playwright package (no Playwright browser
download).  The models come from $ENHANCE_MODELS_DIR or the default cache.  Screenshots go to
${OUT_DIR:-/tmp}/enhance-ui-*.png.  Exit status 0 when every check passed, 1 otherwise; the server is
always stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - reported as a clear failure below
    sync_playwright = None
    PlaywrightError = Exception

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = "realesr-animevideov3-x2"
READY_TIMEOUT_S = 120
UPSCALE_TIMEOUT_MS = 120_000
IN_W, IN_H = 48, 40
OUT_W, OUT_H = 2 * IN_W, 2 * IN_H
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")


class TestFailure(Exception):
    pass


class Checks:
    def __init__(self) -> None:
        self.passed = 0

    def ok(self, cond: bool, what: str, detail: str = "") -> None:
        if not cond:
            raise TestFailure(what + (f"\n  {detail}" if detail else ""))
        self.passed += 1
        print(f"ok {self.passed:2d} - {what}", flush=True)


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_png(path: Path, w: int, h: int) -> None:
    """An 8-bit RGB PNG with a colour gradient."""
    rows = bytearray()
    for y in range(h):
        rows.append(0)  # filter: none
        for x in range(w):
            rows += bytes((x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
                     + chunk(b"IEND", b""))


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 30) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, dict(res.headers), res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def multipart(fields: dict[str, str], file_field: str, filename: str, data: bytes,
              ctype: str) -> tuple[bytes, str]:
    boundary = "----enhance-ui-test-" + uuid.uuid4().hex
    out = bytearray()
    for k, v in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").encode()
    out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode()
    out += data + f"\r\n--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no server log)"
    return "\n".join("    " + line for line in lines[-n:]) or "    (empty)"


class Server:
    def __init__(self, binary: Path, log_path: Path) -> None:
        self.binary = binary
        self.log_path = log_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise TestFailure(f"enhance binary not found or not executable: {self.binary} "
                              "(build it, or pass ENHANCE_BIN)")
        cmd = [str(self.binary), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--model", MODEL]
        print(f"# starting: {' '.join(cmd)} (log: {self.log_path})", flush=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise TestFailure(f"the server exited with status {self.proc.returncode} before /readyz "
                                  "answered 200")
            try:
                status, _, body = http("GET", self.base + "/readyz", timeout=5)
                if status == 200:
                    return
                last = f"{status} {body[:200]!r}"
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.25)
        raise TestFailure(f"/readyz did not answer 200 within {timeout:.0f} s (last: {last})")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------- the test


def status_recorder(page) -> None:
    """Keep every text #status shows in window.__statusLog (the server progress is short-lived)."""
    page.evaluate("""() => {
        window.__statusLog = [];
        const el = document.getElementById("status");
        new MutationObserver(() => window.__statusLog.push(el.textContent))
            .observe(el, {childList: true, characterData: true, subtree: true});
    }""")


def wait_for_result(page) -> None:
    """Wait until #after-image shows the OUT_WxOUT_H result; fail at once when #error appears instead."""
    outcome = page.wait_for_function(
        """([w, h]) => { const a = document.getElementById("after-image");
                         const e = document.getElementById("error");
                         if (!e.hidden) return "error:" + e.textContent;
                         if (!document.getElementById("result").hidden && a.complete
                             && a.naturalWidth === w && a.naturalHeight === h) return "ok";
                         if (!document.getElementById("result").hidden && a.complete && a.naturalWidth > 0)
                             return "size:" + a.naturalWidth + "x" + a.naturalHeight;
                         return false; }""",
        arg=[OUT_W, OUT_H], timeout=UPSCALE_TIMEOUT_MS).json_value()
    if outcome.startswith("error:"):
        raise TestFailure(f"the upscale failed; #error shows: {outcome[6:]!r}")
    if outcome.startswith("size:"):
        raise TestFailure(f"#after-image is {outcome[5:]}, expected {OUT_W}x{OUT_H}")


def run_ui(base: str, chromium: str, tmp: Path, out_dir: Path, c: Checks) -> None:
    # What the server says, read directly, to compare the page with.
    status, _, body = http("GET", base + "/v1/models")
    c.ok(status == 200, "GET /v1/models answers 200", f"got {status} {body[:300]!r}")
    models = json.loads(body)
    default = models.get("default")
    ids = [m.get("id") for m in models.get("models", [])]
    c.ok(default in ids, f"/v1/models lists its default model ({default})", f"ids: {ids}")

    status, _, body = http("GET", base + "/openapi.json")
    c.ok(status == 200, "GET /openapi.json answers 200", f"got {status} {body[:300]!r}")
    api_title = json.loads(body).get("info", {}).get("title", "")
    c.ok(bool(api_title), f"/openapi.json has an info.title ({api_title!r})")

    good = tmp / "gradient.png"
    make_png(good, IN_W, IN_H)
    bad = tmp / "notes.png"
    bad.write_text("This is a text file, not an image.\n" * 20)

    # The error message the server gives for the bad file, to find on the page.
    mp, ctype = multipart({"model": MODEL, "scale": "native", "format": "png"}, "image", bad.name,
                          bad.read_bytes(), "image/png")
    status, _, body = http("POST", base + "/v1/upscale", mp, {"Content-Type": ctype}, timeout=120)
    bad_status = status
    c.ok(400 <= status < 500, f"POST /v1/upscale with a text file answers 4xx ({status})", repr(body[:300]))
    try:
        server_error = json.loads(body)
    except ValueError:
        raise TestFailure(f"the error response is not JSON: {body[:300]!r}") from None
    server_message = server_error.get("message", "")
    c.ok(bool(server_message), f"the error response has a message ({server_message!r})", repr(server_error))
    c.ok(re.search(r"decod|image|format|support", server_message, re.I) is not None,
         "the error message says the image could not be decoded", server_message)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page = context.new_page()
            page_errors: list[str] = []
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            requests: list = []
            page.on("request", lambda r: requests.append(r))

            # ------------------------------------------------------------- the page loads
            res = page.goto(base + "/ui", wait_until="load")
            c.ok(res is not None and res.status == 200, "GET /ui answers 200 in the browser",
                 f"status {res.status if res else None}")
            c.ok("text/html" in (res.headers.get("content-type", "") if res else ""), "/ui is text/html",
                 res.headers.get("content-type", "") if res else "")
            page.wait_for_function(
                """(ids) => { const s = document.getElementById("model-select");
                             return ids.every((id) => Array.from(s.options).some((o) => o.value === id)); }""",
                arg=ids, timeout=15_000)
            c.ok(True, f"the model list is filled from /v1/models ({len(ids)} models)")
            selected = page.eval_on_selector("#model-select", "s => s.value")
            c.ok(selected == default, f"the default model is selected ({default})", f"selected: {selected}")
            for sel in ("#file-input", "#model-select", "#scale-select", "#format-select"):
                labelled = page.evaluate(
                    "(sel) => { const e = document.querySelector(sel); return e.labels.length > 0 "
                    "|| !!e.getAttribute('aria-label'); }", sel)
                c.ok(labelled, f"{sel} has a label")
            c.ok(page.is_disabled("#upscale-button"), "Upscale is disabled until an image is chosen")
            page.screenshot(path=str(out_dir / "enhance-ui-1-start.png"), full_page=True)

            # ------------------------------------------------------------- a successful upscale
            page.set_input_files("#file-input", str(good))
            page.select_option("#scale-select", "native")
            page.select_option("#model-select", MODEL)
            page.select_option("#format-select", "png")
            c.ok(page.is_enabled("#upscale-button"), "Upscale is enabled once an image is chosen")
            status_recorder(page)
            # Hold the upscale request back for a second so that the page's job polling shows up
            # even when the server is quick.
            def hold(route):
                time.sleep(1.0)
                route.continue_()
            page.route("**/v1/upscale", hold)
            with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/upscale")) as req_info:
                page.click("#upscale-button")
            up_req = req_info.value
            wait_for_result(page)
            c.ok(True, f"#after-image shows a {OUT_W}x{OUT_H} image")
            page.unroute("**/v1/upscale")

            c.ok(REQUEST_ID_RE.match(up_req.headers.get("x-request-id", "")) is not None,
                 "the upscale request carries an X-Request-Id (for logs)")
            rid = up_req.headers.get("x-enhance-job-id", "")
            reserves = [r for r in requests if r.method == "POST" and r.url.endswith("/v1/jobs/reserve")]
            c.ok(JOB_ID_RE.match(rid) is not None and len(reserves) >= 1,
                 f"the page reserved a job id from the server and sent it as X-Enhance-Job-Id ({rid})")
            post = up_req.post_data_buffer or b""
            c.ok(b'name="image"' in post and b'name="scale"' in post and b'name="format"' in post
                 and b'name="model"' in post, "the upscale is multipart with image, model, scale and format")
            c.ok(re.search(rb'name="scale"\r\n\r\nnative\r\n', post) is not None, "the scale sent is native")
            polls = [r for r in requests if r.method == "GET" and r.url.endswith("/v1/jobs/" + rid)]
            c.ok(len(polls) >= 1, f"the page polled /v1/jobs/<id> while waiting ({len(polls)} polls)")
            log = page.evaluate("window.__statusLog")
            c.ok(any(re.search(r"upload|queued|upscaling|running|encoding", t, re.I) for t in log),
                 "the status showed upload / server progress", f"status texts: {log}")
            # The server may record "done" just after the last byte of the response left it.
            deadline = time.monotonic() + 5
            while True:
                status, _, body = http("GET", f"{base}/v1/jobs/{rid}")
                state = json.loads(body).get("state") if status == 200 else None
                if state == "done" or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            c.ok(state == "done", "the server remembers the job as done", f"{status} {body[:300]!r}")

            c.ok(page.is_visible("#result"), "#result is shown")
            before = page.eval_on_selector("#before-image", "i => [i.naturalWidth, i.naturalHeight]")
            c.ok(before == [IN_W, IN_H], f"#before-image is the {IN_W}x{IN_H} input", f"got {before}")
            box_b = page.locator("#before-image").bounding_box()
            box_a = page.locator("#after-image").bounding_box()
            c.ok(box_a is not None and box_b is not None
                 and all(abs(box_a[k] - box_b[k]) < 1 for k in ("x", "y", "width", "height")),
                 "before and after are drawn in the same box", f"before {box_b}, after {box_a}")
            out_text = page.inner_text("#result")
            c.ok(f"{OUT_W}x{OUT_H}" in out_text.replace("×", "x"), f"the page shows the output size {OUT_W}x{OUT_H}",
                 out_text)
            c.ok(f"{IN_W}x{IN_H}" in out_text.replace("×", "x"), f"the page shows the input size {IN_W}x{IN_H}")
            c.ok(MODEL in out_text, "the page shows the model that ran")
            c.ok(re.search(r"\d+(\.\d+)?\s*(ms|s)\b", page.inner_text("#inference-ms")) is not None,
                 f"the page shows the inference time ({page.inner_text('#inference-ms')})")
            c.ok(page.is_hidden("#error"), "#error is hidden after a success")
            page.screenshot(path=str(out_dir / "enhance-ui-2-result.png"), full_page=True)

            # ------------------------------------------------------------- the slider
            clip_of = "() => getComputedStyle(document.getElementById('after-image')).clipPath"
            clip1 = page.evaluate(clip_of)
            page.eval_on_selector("#compare-slider", """s => { s.value = 20;
                s.dispatchEvent(new Event('input', {bubbles: true})); }""")
            clip2 = page.evaluate(clip_of)
            c.ok(clip1 != clip2 and "20%" in clip2, "moving #compare-slider changes the clip of #after-image",
                 f"{clip1!r} -> {clip2!r}")
            page.focus("#compare-slider")
            page.keyboard.press("ArrowRight")
            clip3 = page.evaluate(clip_of)
            c.ok(clip3 != clip2, "the slider works from the keyboard", f"{clip2!r} -> {clip3!r}")
            page.screenshot(path=str(out_dir / "enhance-ui-3-slider.png"), full_page=True)

            # ------------------------------------------------------------- the download link
            name = page.get_attribute("#download", "download")
            href = page.get_attribute("#download", "href") or ""
            c.ok(bool(name) and name.lower().endswith(".png"), f"#download has a download name ({name})")
            c.ok(href.startswith("blob:"), "#download links to a blob: URL", href)
            sig = page.evaluate("async (u) => Array.from(new Uint8Array(await (await fetch(u)).arrayBuffer())"
                                ".slice(0, 8))", href)
            c.ok(bytes(sig) == b"\x89PNG\r\n\x1a\n", "the downloadable blob is a PNG")
            with page.expect_download() as dl_info:
                page.click("#download")
            c.ok(dl_info.value.suggested_filename == name, f"clicking #download saves {name}",
                 dl_info.value.suggested_filename)

            # ------------------------------------------------------------- the error path
            page.set_input_files("#file-input", str(bad))
            page.click("#upscale-button")
            page.wait_for_selector("#error", state="visible", timeout=UPSCALE_TIMEOUT_MS)
            err = page.inner_text("#error")
            c.ok(server_message in err, "#error shows the server's message", f"#error: {err!r}")
            c.ok(str(bad_status) in err, "#error shows the status code", err)
            page.screenshot(path=str(out_dir / "enhance-ui-4-error.png"), full_page=True)
            c.ok(page.is_hidden("#result"), "no stale result is shown next to the error")

            # The page stays usable: a good image after the error works again.
            page.wait_for_function("() => !document.getElementById('upscale-button').disabled", timeout=10_000)
            page.set_input_files("#file-input", str(good))
            page.select_option("#scale-select", "custom")
            c.ok(page.is_visible("#scale-custom"), "choosing a custom scale shows a text field")
            page.fill("#scale-custom", "2")
            page.select_option("#format-select", "jpeg")
            page.click("#upscale-button")
            wait_for_result(page)
            c.ok(page.is_hidden("#error"), "after the error, another upscale works and clears #error")
            name2 = page.get_attribute("#download", "download") or ""
            c.ok(name2.lower().endswith((".jpg", ".jpeg")), f"a JPEG result downloads as {name2}")
            page.screenshot(path=str(out_dir / "enhance-ui-5-again.png"), full_page=True)
            c.ok(not page_errors, "no JavaScript errors on /ui", "; ".join(page_errors))
            foreign = sorted({r.url for r in requests if not r.url.startswith((base + "/", "blob:", "data:"))})
            c.ok(not foreign, "/ui loads nothing from other origins", ", ".join(foreign))

            # ------------------------------------------------------------- Swagger UI at /
            status, headers, _ = http("GET", base + "/swagger-ui/swagger-ui-bundle.js")
            c.ok(status == 200, "GET /swagger-ui/swagger-ui-bundle.js answers 200 "
                 "(assets installed by scripts/fetch_web_assets.py)", f"got {status}")
            sw = context.new_page()
            sw_errors: list[str] = []
            sw.on("pageerror", lambda exc: sw_errors.append(str(exc)))
            sw.goto(base + "/", wait_until="load")
            outcome = sw.wait_for_function(
                """() => { const t = document.querySelector(".info .title");
                           if (t && t.textContent.trim()) return "title:" + t.textContent;
                           const e = document.querySelector(".errors-wrapper, .version-pragma");
                           if (e && e.textContent.trim()) return "error:" + e.textContent;
                           return false; }""", timeout=30_000).json_value()
            sw.screenshot(path=str(out_dir / "enhance-ui-6-swagger.png"), full_page=True)
            if outcome.startswith("error:"):
                version = sw.evaluate("() => (window.versions && window.versions.swaggerUi "
                                      "&& window.versions.swaggerUi.version) || 'unknown'")
                raise TestFailure(
                    f"Swagger UI (version {version}) did not render /openapi.json:\n  {outcome[6:].strip()[:400]}"
                    "\n  (Swagger UI 4.x renders only Swagger 2.0 and OpenAPI 3.0.x documents; an OpenAPI 3.1 "
                    "document needs Swagger UI 5: scripts/fetch_web_assets.py --source flask-swagger-ui)")
            c.ok(api_title in outcome, f"Swagger UI at / renders the API title {api_title!r}", outcome)
            c.ok(not sw_errors, "no JavaScript errors on /", "; ".join(sw_errors))
        finally:
            browser.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", nargs="?", help="the enhance binary (default: $ENHANCE_BIN or .build/debug/enhance)")
    ap.add_argument("--base-url", help="test this running server instead of starting one")
    args = ap.parse_args()

    out_dir = Path(os.environ.get("OUT_DIR") or "/tmp")
    out_dir.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    c = Checks()
    server = None
    try:
        if sync_playwright is None:
            raise TestFailure("the playwright package is not installed (pip install playwright)")
        if not Path(chromium).is_file():
            raise TestFailure(f"Chromium not found at {chromium} (apt-get install chromium, or set CHROMIUM)")
        with tempfile.TemporaryDirectory(prefix="enhance-ui-test-") as tmp:
            if args.base_url:
                base = args.base_url.rstrip("/")
            else:
                binary = Path(args.binary or os.environ.get("ENHANCE_BIN") or ".build/debug/enhance")
                if not binary.is_absolute():
                    binary = (Path.cwd() / binary) if (Path.cwd() / binary).exists() else REPO_ROOT / binary
                server = Server(binary, out_dir / "enhance-ui-server.log")
                server.start()
                server.wait_ready(READY_TIMEOUT_S)
                base = server.base
                c.ok(True, f"the server is ready at {base}")
            run_ui(base, chromium, Path(tmp), out_dir, c)
    except TestFailure as exc:
        print(f"not ok {c.passed + 1} - {exc}", flush=True)
        if server is not None:
            print(f"# server log (last lines):\n{tail(server.log_path)}")
        print(f"# screenshots: {out_dir}/enhance-ui-*.png")
        print(f"ui_test: {c.passed} passed, 1 failed")
        return 1
    except PlaywrightError as exc:
        print(f"not ok {c.passed + 1} - browser step failed: {exc}", flush=True)
        if server is not None:
            print(f"# server log (last lines):\n{tail(server.log_path)}")
        print(f"# screenshots: {out_dir}/enhance-ui-*.png")
        print(f"ui_test: {c.passed} passed, 1 failed")
        return 1
    finally:
        if server is not None:
            server.stop()
    print(f"# screenshots: {out_dir}/enhance-ui-*.png")
    print(f"ui_test: {c.passed} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
