#!/usr/bin/env bash
# Installs everything (apt packages and all 20 models), builds and runs the whole test suite.
#
#   scripts/test.sh [SWIFT_TEST_ARGS...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The Swift toolchain of these machines lives in /opt/swift.
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"

bash scripts/setup.sh --all
swift build --build-tests
swift test --skip-build "$@"
