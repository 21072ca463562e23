#!/usr/bin/env bash
# Browser test of `enhance serve`: the web page at /ui and Swagger UI at /, in headless Chromium.
#
#   scripts/browser_test.sh [--no-install] [ENHANCE_BIN]
#
# 1. Installs what the test needs, each only when missing: Debian's chromium
#    (apt; needs root or sudo), the PyPI playwright package (pinned; it drives
#    /usr/bin/chromium, so no `playwright install` browser download), the model
#    the test serves (realesr-animevideov3-x2, scripts/fetch_models.py) and the
#    Swagger UI assets (scripts/fetch_web_assets.py).  --no-install skips this.
# 2. Runs tests/browser/ui_test.py against ENHANCE_BIN (the argument, else
#    $ENHANCE_BIN, else .build/debug/enhance; build it first), which starts
#    `enhance serve` on a free port and stops it at the end.
#
# Screenshots and the server log go to ${OUT_DIR:-/tmp}/enhance-ui-*.
# Environment: PYTHON (default python3), ENHANCE_BIN, ENHANCE_MODELS_DIR,
# ENHANCE_SWAGGER_UI_DIR, OUT_DIR, CHROMIUM (default /usr/bin/chromium).
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

log() { printf 'browser_test: %s\n' "$*"; }
die() { printf 'browser_test: error: %s\n' "$*" >&2; exit 1; }

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

PYTHON="${PYTHON:-python3}"
PLAYWRIGHT_VERSION="1.65.2"
TEST_MODEL="realesr-animevideov3-x2"

do_install=1
bin_arg=()
while (($#)); do
    case "$1" in
        --no-install) do_install=0 ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) bin_arg=("$1") ;;
    esac
    shift
done

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found"

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for: $* (run as root or install sudo)"
    fi
}

if ((do_install)); then
    # ------------------------------------------------------------ chromium
    if [[ -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
        log "chromium already installed: ${CHROMIUM:-/usr/bin/chromium}"
    else
        log "installing chromium (apt)"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
    fi

    # ------------------------------------------------------------ playwright
    if "$PYTHON" -c "import sys; from importlib.metadata import version; sys.exit(version('playwright') != '$PLAYWRIGHT_VERSION')" \
            >/dev/null 2>&1; then
        log "playwright $PLAYWRIGHT_VERSION already installed"
    else
        pip_args=(install --disable-pip-version-check)
        # Debian's system interpreter is "externally managed" (PEP 668); outside
        # a virtual environment pip refuses to install without this flag.
        if "$PYTHON" - <<'EOF'
import os, sys, sysconfig
in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if (not in_venv and os.path.exists(marker)) else 1)
EOF
        then
            pip_args+=(--break-system-packages)
        fi
        log "pip installing playwright==$PLAYWRIGHT_VERSION"
        "$PYTHON" -m pip "${pip_args[@]}" "playwright==$PLAYWRIGHT_VERSION"
    fi

    # ------------------------------------------------------------ model and Swagger UI assets
    "$PYTHON" scripts/fetch_models.py "$TEST_MODEL"
    "$PYTHON" scripts/fetch_web_assets.py
fi

# ------------------------------------------------------------ the test
bin="${bin_arg[0]:-${ENHANCE_BIN:-.build/debug/enhance}}"
[[ -x "$bin" ]] || die "enhance binary not found: $bin (run swift build first, or pass ENHANCE_BIN)"
log "testing $bin"
exec "$PYTHON" tests/browser/ui_test.py "$bin"
