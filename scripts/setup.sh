#!/usr/bin/env bash
# Set up a Debian 12 machine to build and test Enhance.
#
#   scripts/setup.sh [--dev] [--anchors] [--no-apt] [--no-models] [FETCH_MODELS_ARGS...]
#
# 1. apt: installs libdnnl-dev libvips-dev pkg-config python3-pip if any is
#    missing (apt-get update runs only in that case).  Needs root, or sudo.
# 2. --dev: pip-installs the Python packages the developer scripts need
#    (ncnn numpy pillow, for scripts/make_ncnn_fixtures.py), unless they are
#    already importable.
# 2b. --anchors: creates the benchmark anchors' environment .venv-anchors
#    (bench/setup_anchors.sh: PyTorch 2.x, ONNX Runtime, ONNX, ncnn from PyPI,
#    pinned; about 5.6 GB, as PyTorch's Linux wheel pulls CUDA wheels) for
#    bench/anchors.py.  Opt-in: nothing else needs it.
# 3. models: runs scripts/fetch_models.py.  Which models is chosen by the
#    arguments that are not setup.sh options (passed to fetch_models.py as
#    they are: ids, --all, --models-dir DIR, --wheel-dir DIR, ...) or, when no
#    model is named there, by $ENHANCE_MODELS:
#      unset / "default"  the manifest's default model
#      "all"              every model
#      "none"             no models
#      "id1,id2 id3"      those ids (comma- or space-separated)
#    The models go to $ENHANCE_MODELS_DIR, else $XDG_CACHE_HOME/enhance/models,
#    else ~/.cache/enhance/models (see fetch_models.py --help).
# 4. web assets (always): runs scripts/fetch_web_assets.py, which installs the
#    Swagger UI files that `enhance serve` serves under /swagger-ui/ (pinned
#    PyPI wheel) into $ENHANCE_SWAGGER_UI_DIR, else
#    $XDG_DATA_HOME/enhance/swagger-ui, else ~/.local/share/enhance/swagger-ui.
#
# Every step is idempotent; re-running only does what is missing.
# Environment: PYTHON (default python3), ENHANCE_MODELS, ENHANCE_MODELS_DIR,
# ENHANCE_SWAGGER_UI_DIR.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

PYTHON="${PYTHON:-python3}"
APT_PACKAGES=(libdnnl-dev libvips-dev pkg-config python3-pip curl)
DEV_PIP_PACKAGES=(ncnn numpy pillow)

dev=0
anchors=0
do_apt=1
do_models=1
fetch_args=()
model_selected=0
while (($#)); do
    case "$1" in
        --dev) dev=1 ;;
        --anchors) anchors=1 ;;
        --no-apt) do_apt=0 ;;
        --no-models) do_models=0 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; fetch_args+=("$@"); break ;;
        *) fetch_args+=("$1") ;;
    esac
    shift
done
# Did the caller name models (or ask for --all / --list) on the command line?
skip_next=0
for a in ${fetch_args[@]+"${fetch_args[@]}"}; do
    if ((skip_next)); then skip_next=0; continue; fi
    case "$a" in
        --models-dir|--wheel-dir|--manifest) skip_next=1 ;;
        --all|--list) model_selected=1 ;;
        -*) ;;
        *) model_selected=1 ;;
    esac
done

# ---------------------------------------------------------------- privileges
SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    fi
fi
as_root() {
    if [[ "$(id -u)" -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
        die "need root for: $* (run as root or install sudo)"
    fi
    ${SUDO[@]+"${SUDO[@]}"} "$@"
}

# ---------------------------------------------------------------- apt
is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

if ((do_apt)); then
    command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script expects Debian 12 (use --no-apt to skip)"
    missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "installing apt packages: ${missing[*]}"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    else
        log "apt packages already installed: ${APT_PACKAGES[*]}"
    fi
fi

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found"

# ---------------------------------------------------------------- python dev deps
if ((dev)); then
    if "$PYTHON" -c 'import ncnn, numpy, PIL' >/dev/null 2>&1; then
        log "python dev packages already importable: ${DEV_PIP_PACKAGES[*]}"
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
        log "pip installing: ${DEV_PIP_PACKAGES[*]}"
        "$PYTHON" -m pip "${pip_args[@]}" "${DEV_PIP_PACKAGES[@]}"
        "$PYTHON" -c 'import ncnn, numpy, PIL' || die "python dev packages still not importable after pip install"
    fi
fi

# ---------------------------------------------------------------- benchmark anchors (opt-in)
if ((anchors)); then
    log "creating the benchmark anchors' environment (bench/setup_anchors.sh)"
    PYTHON="$PYTHON" bash bench/setup_anchors.sh
fi

# ---------------------------------------------------------------- models
if ((do_models)); then
    if ((!model_selected)); then
        sel="${ENHANCE_MODELS:-default}"
        case "$sel" in
            default|"") ;;
            none) log "ENHANCE_MODELS=none: not installing models"; do_models=0 ;;
            all) fetch_args+=(--all) ;;
            *) read -r -a ids <<<"${sel//,/ }"; fetch_args+=(${ids[@]+"${ids[@]}"}) ;;
        esac
    fi
fi
if ((do_models)); then
    "$PYTHON" scripts/fetch_models.py ${fetch_args[@]+"${fetch_args[@]}"}
fi

# ---------------------------------------------------------------- our own models
# Models trained by this project (`enhance train`) are committed under models/enhance/ and copied into the models
# directory after their SHA-256 is checked, so `-m <id>` finds them (e.g. -m enhance-msrresnet-x4).
install_own_models() {
    local dir="${ENHANCE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/enhance/models}" prev=""
    for a in ${fetch_args[@]+"${fetch_args[@]}"}; do
        [[ "$prev" == "--models-dir" ]] && dir="$a"
        prev="$a"
    done
    [[ -f models/enhance/SHA256SUMS ]] || return 0
    (cd models/enhance && sha256sum --quiet -c SHA256SUMS) || die "models/enhance: checksum mismatch"
    mkdir -p "$dir"
    while read -r _ file; do
        if ! cmp -s "models/enhance/$file" "$dir/$file"; then
            cp "models/enhance/$file" "$dir/.$file.partial" && mv "$dir/.$file.partial" "$dir/$file"
            log "installed  ${file%.*} -> $dir/$file"
        fi
    done < models/enhance/SHA256SUMS
}
if ((do_models)); then
    install_own_models
fi

# ---------------------------------------------------------------- web assets
"$PYTHON" scripts/fetch_web_assets.py
log "done"
