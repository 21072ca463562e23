#!/usr/bin/env bash
# Installs everything (apt packages, the default model), builds `enhance` and upscales a demo image.
#
#   scripts/demo.sh [IMAGE]
#
# Without IMAGE the committed 49x38 test picture is upscaled. The result goes to out/<name>_x4.png.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The Swift toolchain of these machines lives in /opt/swift.
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"

bash scripts/setup.sh
swift build -c release --product enhance
input="${1:-Tests/SREngineTests/Fixtures/ncnn/input.png}"
mkdir -p out
name="$(basename "${input%.*}")"
.build/release/enhance upscale "$input" -o "out/${name}_x4.png"
echo "demo: the upscaled image is $(pwd)/out/${name}_x4.png"
