#!/usr/bin/env python3
"""Install the Swagger UI assets that ``enhance serve`` serves under ``/swagger-ui/``.

The assets are never committed to the repository.  They come from a pinned
PyPI wheel (exact file name and sha256 below); this script

1. downloads the wheel with ``python3 -m pip download --no-deps`` into a
   private temporary directory -- or takes it from ``--wheel-dir`` -- and
   verifies its sha256;
2. extracts only the Swagger UI dist files the server needs
   (``swagger-ui-bundle.js``, ``swagger-ui.css``,
   ``swagger-ui-standalone-preset.js``, the two favicons and the licence; no
   source maps), verifying each one's sha256 and size;
3. writes them into a new directory beside the destination and renames that
   directory into place, so the server never sees a half-written set.

When every file is already installed with the right checksum nothing is
downloaded, so the script is idempotent; a damaged or missing file makes it
install the whole set again.

Usage::

    fetch_web_assets.py [--dest DIR] [--wheel-dir DIR] [--source NAME]
    fetch_web_assets.py --check [--dest DIR]

The destination is ``--dest``, else ``$ENHANCE_SWAGGER_UI_DIR``, else
``$XDG_DATA_HOME/enhance/swagger-ui``, else ``~/.local/share/enhance/swagger-ui``
-- the first user directory ``enhance serve`` looks in.

Exit status: 0 on success (``--check``: the assets are installed), 1 on a
download / checksum / I/O failure (``--check``: they are missing or damaged),
2 on a usage error.

Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CHUNK = 1 << 20

# Pinned sources.  ``prefix`` is the folder of the Swagger UI dist inside the
# wheel; each file maps an installed name to (member path relative to prefix,
# size, sha256).
SOURCES: dict[str, dict] = {
    # The newest swagger-ui-bundle on PyPI; it ships Swagger UI 4.15.5, which
    # renders Swagger 2.0 and OpenAPI 3.0.x documents only (an "openapi: 3.1.x"
    # document is refused with "Unable to render this definition").
    "swagger-ui-bundle": {
        "package": "swagger-ui-bundle",
        "version": "1.1.0",
        "wheel": "swagger_ui_bundle-1.1.0-py3-none-any.whl",
        "sha256": "f7526f7bb99923e10594c54247265839bec97e96b0438561ac86faf40d40dd57",
        "swagger_ui": "4.15.5",
        "prefix": "swagger_ui_bundle/vendor/swagger-ui-4.15.5/",
        "files": {
            "swagger-ui-bundle.js": (
                "swagger-ui-bundle.js", 1061579,
                "fd76294e33356ab3fd111ddaeeb10d3f79de8ae1a4d34dbf777f5eef224648d9"),
            "swagger-ui.css": (
                "swagger-ui.css", 144966,
                "e883f234c6ef0b7dbb6d473fb45a00b85e98d58282f9dd1cc70bcc57ef12ef6a"),
            "swagger-ui-standalone-preset.js": (
                "swagger-ui-standalone-preset.js", 312217,
                "8e910e1d42309b49aec560301a5d32930c698848df752ced0490691918ce9a5b"),
            "favicon-32x32.png": (
                "favicon-32x32.png", 628,
                "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837"),
            "favicon-16x16.png": (
                "favicon-16x16.png", 665,
                "af24ad604dd7b3bcda8f975ab973075f4a2f70a4087944a12f8ef8b63a3e07c2"),
            "LICENSE": (
                "../../../swagger_ui_bundle-1.1.0.dist-info/LICENSE", 11357,
                "58d1e17ffe5109a7ae296caafcadfdbe6a7d176f0bc4ab01e12a689b0499d8bd"),
        },
    },
    # Swagger UI 5.x (renders OpenAPI 3.1) as shipped by the flask-swagger-ui
    # wheel; only its dist/ folder is used (no Flask code is installed).
    "flask-swagger-ui": {
        "package": "flask-swagger-ui",
        "version": "5.34.0",
        "wheel": "flask_swagger_ui-5.34.0-py3-none-any.whl",
        "sha256": "63e4ecfee6345ca746c11c5341c6f2a1cbe271e518aac1659889cd3905b1110f",
        "swagger_ui": "5.34.0",
        "prefix": "flask_swagger_ui/dist/",
        "files": {
            "swagger-ui-bundle.js": (
                "swagger-ui-bundle.js", 1684244,
                "3f6abf70480db7e07914df4c98a77385f22ea585eaf457a3e6415ba0eae2d167"),
            "swagger-ui.css": (
                "swagger-ui.css", 187576,
                "c3cfe8248c4b0b89673600fb829924eafbac6de4bc4b2b06f5f5243483074d0a"),
            "swagger-ui-standalone-preset.js": (
                "swagger-ui-standalone-preset.js", 267767,
                "5243d492e14505e0cab87ac8b0195d0e615943e651743b2b698450a46eb470be"),
            "favicon-32x32.png": (
                "favicon-32x32.png", 628,
                "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837"),
            "favicon-16x16.png": (
                "favicon-16x16.png", 665,
                "af24ad604dd7b3bcda8f975ab973075f4a2f70a4087944a12f8ef8b63a3e07c2"),
            "LICENSE": (
                "LICENSE", 589,
                "f3bafbe10a72b3d49c57ec1b7128abd1868d4c2fa0995858d909cb60898a7746"),
        },
    },
}
DEFAULT_SOURCE = "flask-swagger-ui"  # Swagger UI 5: the 4.x in swagger-ui-bundle refuses OpenAPI 3.1

# Both wheels are pure Python ("py3-none-any"); no platform flags are needed.
PIP_FLAGS = ["--no-deps", "--only-binary=:all:"]


class FetchError(Exception):
    """A failure that should end the run with a message and exit status 1."""


class UsageError(Exception):
    """A command-line mistake; exit status 2."""


# --------------------------------------------------------------------------
# helpers


def log(msg: str) -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"fetch_web_assets: {msg}", file=sys.stderr, flush=True)


def default_dest() -> Path:
    env = os.environ.get("ENHANCE_SWAGGER_UI_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "enhance" / "swagger-ui"
    return Path.home() / ".local" / "share" / "enhance" / "swagger-ui"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def dir_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def installed_problems(src: dict, dest: Path) -> list[str]:
    """What is missing or wrong in ``dest``; empty when the set is installed."""
    problems = []
    for name, (_, size, sha) in src["files"].items():
        path = dest / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        actual_size = path.stat().st_size
        if actual_size != size:
            problems.append(f"{name}: size {actual_size} (expected {size})")
            continue
        actual = sha256_file(path)
        if actual != sha:
            problems.append(f"{name}: sha256 {actual} (expected {sha})")
    return problems


# --------------------------------------------------------------------------
# wheel


def run_pip_download(src: dict, dest_dir: Path) -> None:
    spec = f"{src['package']}=={src['version']}"
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
           "--no-input", "--progress-bar", "off", *PIP_FLAGS, spec, "-d", str(dest_dir)]
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
            f"  pip output (last lines):\n    " + tail.replace("\n", "\n    "))


def check_wheel(path: Path, src: dict) -> None:
    actual = sha256_file(path)
    if actual != src["sha256"]:
        raise FetchError(
            f"checksum mismatch for wheel {path}\n"
            f"  expected sha256 {src['sha256']}\n  actual   sha256 {actual}")


def obtain_wheel(src: dict, wheel_dir: Path | None, tmp_dir: Path) -> Path:
    """Return the path of a wheel whose sha256 matches the pin."""
    name = src["wheel"]
    if wheel_dir is not None:
        candidate = wheel_dir / name
        if not candidate.is_file():
            raise FetchError(
                f"wheel {name} is not in --wheel-dir {wheel_dir}; drop --wheel-dir to download it with pip")
        check_wheel(candidate, src)
        return candidate
    run_pip_download(src, tmp_dir)
    got = tmp_dir / name
    if not got.is_file():
        found = ", ".join(sorted(p.name for p in tmp_dir.iterdir())) or "nothing"
        raise FetchError(
            f"pip did not produce the pinned wheel {name} for {src['package']}=={src['version']} "
            f"(it saved: {found})")
    check_wheel(got, src)
    return got


# --------------------------------------------------------------------------
# extraction


def extract_all(wheel: Path, src: dict, out_dir: Path) -> None:
    """Extract the pinned files into ``out_dir`` (a fresh directory), verifying each."""
    try:
        zf = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{wheel} is not a valid wheel: {exc}") from exc
    with zf:
        for name, (rel, size, sha) in src["files"].items():
            member = posixpath.normpath(src["prefix"] + rel)
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise FetchError(f"{wheel.name} has no member {member}") from None
            h = hashlib.sha256()
            got = 0
            target = out_dir / name
            with open(target, "wb") as out, zf.open(info) as fh:
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    h.update(chunk)
                    got += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            actual = h.hexdigest()
            if actual != sha or got != size:
                raise FetchError(
                    f"checksum mismatch for {member} in {wheel.name} (for {name})\n"
                    f"  expected sha256 {sha} size {size}\n"
                    f"  actual   sha256 {actual} size {got}")
            os.chmod(target, file_mode())


def swap_into_place(new_dir: Path, dest: Path) -> None:
    """Rename ``new_dir`` to ``dest``; an existing ``dest`` is moved aside first, then removed."""
    os.chmod(new_dir, dir_mode())
    old = None
    if dest.is_symlink() or dest.is_file():
        raise FetchError(f"{dest} exists and is not a directory; remove it or choose another --dest")
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.rename(dest, old / dest.name)
    try:
        os.rename(new_dir, dest)
    except OSError:
        if old is not None:  # put the previous set back
            os.rename(old / dest.name, dest)
            old.rmdir()
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------
# commands


def cmd_check(src: dict, dest: Path) -> int:
    problems = installed_problems(src, dest)
    if problems:
        warn(f"Swagger UI {src['swagger_ui']} ({src['package']} {src['version']}) is not installed "
             f"correctly in {dest}:\n  " + "\n  ".join(problems))
        return 1
    log(f"ok         Swagger UI {src['swagger_ui']} ({src['package']} {src['version']}) in {dest}")
    return 0


def cmd_fetch(src: dict, dest: Path, wheel_dir: Path | None) -> int:
    problems = installed_problems(src, dest)
    if not problems:
        log(f"ok         Swagger UI {src['swagger_ui']} ({src['package']} {src['version']}) "
            f"already installed in {dest}")
        return 0
    if dest.exists() and len(problems) < len(src["files"]):
        warn(f"{dest} does not hold the pinned files:\n  " + "\n  ".join(problems) +
             "\n  re-installing the whole set")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create {dest.parent}: {exc.strerror}") from exc

    # Everything temporary lives beside the destination, so the final rename
    # stays on one file system, and is removed whatever happens.
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.tmp-", dir=dest.parent) as tmp:
        tmp_path = Path(tmp)
        pip_dir = tmp_path / "pip"
        pip_dir.mkdir()
        wheel = obtain_wheel(src, wheel_dir, pip_dir)
        new_dir = tmp_path / "new"
        new_dir.mkdir()
        extract_all(wheel, src, new_dir)
        swap_into_place(new_dir, dest)
    log(f"installed  Swagger UI {src['swagger_ui']} ({src['package']} {src['version']}) -> {dest}")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="fetch_web_assets.py",
        description="Download, verify and install the Swagger UI assets served by `enhance serve` "
                    "under /swagger-ui/ (a pinned PyPI wheel).",
        epilog="Default destination: $ENHANCE_SWAGGER_UI_DIR, else $XDG_DATA_HOME/enhance/swagger-ui, "
               "else ~/.local/share/enhance/swagger-ui.")
    ap.add_argument("--dest", type=Path, metavar="DIR",
                    help=f"where to install the files (default: {default_dest()})")
    ap.add_argument("--wheel-dir", type=Path, metavar="DIR",
                    help="take the wheel from DIR (already downloaded) instead of running pip")
    ap.add_argument("--source", choices=sorted(SOURCES), default=DEFAULT_SOURCE,
                    help="which pinned wheel to take Swagger UI from (default: %(default)s)")
    ap.add_argument("--check", action="store_true",
                    help="only verify the installed files; exit 1 when they are missing or damaged")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    dest = (args.dest or default_dest()).expanduser().absolute()
    wheel_dir = args.wheel_dir.expanduser().absolute() if args.wheel_dir else None
    src = SOURCES[args.source]
    try:
        if wheel_dir is not None and not wheel_dir.is_dir():
            raise UsageError(f"--wheel-dir {wheel_dir} is not a directory")
        if args.check:
            return cmd_check(src, dest)
        return cmd_fetch(src, dest, wheel_dir)
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
