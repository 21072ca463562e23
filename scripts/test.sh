#!/usr/bin/env bash
# Installs everything (apt packages, all 27 models, Swagger UI assets), builds and runs the whole test suite:
# the Swift tests, then a short libFuzzer run of every parser, the live server checks (a load test with hostile
# uploads mixed in, OpenAPI fuzzing with Schemathesis, the web page in
# headless Chromium), the offline validation of the Kubernetes manifests and a build + smoke test of the container
# image with podman (about 30 minutes cold: the release build, the instrumented fuzz build, 5 minutes of fuzzing). With arguments, only `swift test ARGS` runs after the build.
#
#   scripts/test.sh [SWIFT_TEST_ARGS...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The Swift toolchain of these machines lives in /opt/swift.
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"

bash scripts/setup.sh --all
swift build --build-tests
swift test --skip-build "$@"
[ $# -gt 0 ] && exit 0

echo "== fuzzing: every parser for 60 s (scripts/fuzz.sh; long runs: docs/security.md)"
bash scripts/fuzz.sh --time 60

echo "== load test: 200 requests, 16 at once, on loopback, with hostile uploads and slow clients mixed in"
python3 scripts/load_test.py --enhance .build/debug/enhance --requests 200 --concurrency 16 --hostile

echo "== OpenAPI conformance: Schemathesis against a live server"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
.build/debug/enhance serve --port "$port" -m realesr-animevideov3-x4 --log-level warning &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 600); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
BASE_URL="http://127.0.0.1:$port" bash scripts/schemathesis_check.sh
kill $server; wait $server || true
trap - EXIT

echo "== Kubernetes manifests against the API schemas (offline)"
bash scripts/validate_k8s.sh

echo "== the web page in headless Chromium"
ENHANCE_BIN=.build/debug/enhance bash scripts/browser_test.sh

echo "== the container image (podman, release build, smoke test)"
bash scripts/container_test.sh
