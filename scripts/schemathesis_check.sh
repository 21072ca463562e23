#!/usr/bin/env bash
# Fuzzes a running `enhance serve` against its own OpenAPI document with Schemathesis (from PyPI, pinned).
#
#   scripts/schemathesis_check.sh                      # http://127.0.0.1:5000
#   BASE_URL=http://127.0.0.1:8080 scripts/schemathesis_check.sh
#   scripts/schemathesis_check.sh --include-path /v1/models   # extra arguments go to `schemathesis run`
#
# It does not start the server: start it first (`enhance serve`), with its default model installed if the upscale
# routes should get past 503 not_ready.
#
# Every operation is tested, /v1/upscale and /model/predict included. For their image bodies (multipart field and
# raw image/* or octet-stream) Schemathesis sends tiny images (1x1 PNG/GIF/WebP/JPEG) or arbitrary bytes, with
# random option values and broken forms, so besides a few cheap real upscales (200 with every X-Enhance-* header)
# this mostly exercises the refusals: 400/409/413/415/422/503, never a 5xx other than the documented 503/504.
# Some examples ask for large outputs (scale=long:2000) of those tiny inputs: resampling and encoding only.
#
# Checks: no 5xx, every status / Content-Type / JSON body / required header (X-Request-Id, Retry-After, ...) is the
# one openapi.json documents, and an undocumented method on a known path answers 405.
#
# Environment:
#   BASE_URL          the server (default http://127.0.0.1:5000); the document is read from $BASE_URL/openapi.json
#   MAX_EXAMPLES      generated requests per operation and phase (default 20)
#   CHECKS            comma-separated Schemathesis checks (default: the list below)
#   SEED              a Hypothesis seed, to replay a run
#   SCHEMATHESIS_VENV where the pinned Schemathesis is installed (default ~/.cache/enhance/schemathesis-<version>)
#   SCHEMATHESIS_STATE where Schemathesis runs and keeps its state (.schemathesis/ replay cache, .hypothesis/
#                     examples, reports): default ~/.cache/enhance/schemathesis-state, so the checkout stays clean.
#                     Replay a failure there: cd "$SCHEMATHESIS_STATE" && "$SCHEMATHESIS_VENV/bin/st" replay ID.
#                     Relative paths in extra arguments are taken from the directory the script was started in.
#
# Exit status: Schemathesis's (0: no failures; 1: failures found), 2 when the tool cannot be installed or the
# server does not answer.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
BASE_URL=${BASE_URL:-http://127.0.0.1:5000}
BASE_URL=${BASE_URL%/}
MAX_EXAMPLES=${MAX_EXAMPLES:-20}
CHECKS=${CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method}
VENV=${SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/enhance/schemathesis-$SCHEMATHESIS_VERSION}
STATE=${SCHEMATHESIS_STATE:-${XDG_CACHE_HOME:-$HOME/.cache}/enhance/schemathesis-state}

st="$VENV/bin/schemathesis"
installed=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)
if [[ "$installed" != "$SCHEMATHESIS_VERSION" ]]; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
    python3 -m venv "$VENV" || { echo "cannot create a virtual environment at $VENV (apt install python3-venv?)" >&2; exit 2; }
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" ||
        { echo "cannot install schemathesis $SCHEMATHESIS_VERSION from PyPI" >&2; exit 2; }
fi

# Fail fast, with a clear message, when nothing listens (schemathesis would report a schema loading error).
if ! "$VENV/bin/python" - "$BASE_URL/openapi.json" <<'EOF'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
        json.load(r)
except Exception as e:
    sys.exit(f"{sys.argv[1]}: {e}\nstart the server first (enhance serve), or set BASE_URL")
EOF
then
    exit 2
fi

args=(
    run "$BASE_URL/openapi.json"
    --url "$BASE_URL"
    --checks "$CHECKS"
    --max-examples "$MAX_EXAMPLES"
    --workers 1
    --request-timeout 120
    --suppress-health-check too_slow,filter_too_much
)
[[ -n "${SEED:-}" ]] && args+=(--seed "$SEED")

# Schemathesis and Hypothesis keep their state in the working directory: run them in $STATE, with the extra
# arguments' relative paths made absolute first (only those that name something that exists here).
extra=()
for a in "$@"; do
    if [[ "$a" != /* && "$a" != -* && -e "$a" ]]; then extra+=("$PWD/$a"); else extra+=("$a"); fi
done
mkdir -p "$STATE"
cd "$STATE"

echo "schemathesis $SCHEMATHESIS_VERSION against $BASE_URL (checks: $CHECKS; $MAX_EXAMPLES examples per operation;" \
     "state in $STATE)" >&2
exec "$st" "${args[@]}" ${extra[@]+"${extra[@]}"}
