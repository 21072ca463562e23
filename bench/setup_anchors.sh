#!/usr/bin/env bash
# Creates the anchor environment used by `bench/anchors.py`: a virtual environment (default
# .venv-anchors, ignored by git) with PyTorch 2.x, ONNX Runtime, ONNX and ncnn from PyPI, versions pinned so
# the figures in BENCHMARKS.md can be reproduced.
#
#   bench/setup_anchors.sh [VENV_DIR]
#
# PyTorch's default Linux wheel depends on about 5 GB of CUDA wheels (nvidia-*); without a GPU they are unused,
# but `import torch` still maps them (~1.7 s and ~0.7 GB of RSS before any model is loaded). No CPU-only wheel
# of 2.15 is on the registries this project reaches. Set ANCHORS_TORCH to test another pinned version, e.g.
# ANCHORS_TORCH=2.13.0 (then without the constraints file).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-anchors}
PYTHON=${PYTHON:-python3}
TORCH=${ANCHORS_TORCH:-2.15.0}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade "pip>=23"
# Every transitive dependency is pinned by the constraints file (pip freeze of the environment that measured
# the BENCHMARKS.md figures); ANCHORS_TORCH other than 2.15.0 drops it (torch's own dependencies differ).
CONSTRAINTS=(-c bench/anchors-constraints.txt)
[ "$TORCH" = 2.15.0 ] || CONSTRAINTS=()
"$VENV/bin/python" -m pip install --progress-bar off "${CONSTRAINTS[@]}" \
    "torch==$TORCH" \
    "onnxruntime==1.32.0" \
    "onnx==1.23.2" \
    "ncnn==1.0.20261020" \
    "numpy==2.4.6" \
    "pillow==13.0.0" \
    "pytest==8.4.2"
"$VENV/bin/python" - <<'PY'
import torch, onnxruntime, onnx, ncnn, numpy, PIL
print("torch", torch.__version__, "| onednn", torch.backends.mkldnn.is_available(),
      "| bf16", torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
print("onnxruntime", onnxruntime.__version__, "| onnx", onnx.__version__, "| ncnn", ncnn.__version__,
      "| numpy", numpy.__version__, "| pillow", PIL.__version__)
PY
