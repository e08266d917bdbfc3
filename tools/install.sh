#!/usr/bin/env bash
# Create .venv (if missing) and install mtlbook with its test and book extras into it.
#
# torch comes first: when a CPU build of the pinned version is available without going to an index
# (a local wheelhouse configured as pip's find-links), take it; otherwise a plain install, which is
# what a normal user gets (on Linux that is the CUDA build). Set MTLBOOK_TORCH to choose yourself,
# for example MTLBOOK_TORCH="torch --index-url https://download.pytorch.org/whl/cpu".
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON_BOOTSTRAP:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: mtlbook needs Python 3.11 or newer; '$PY' is $("$PY" --version 2>&1 || echo missing)." >&2
    echo "       Set PYTHON_BOOTSTRAP=/path/to/python3.11 and run again." >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $("$PY" --version)"
    "$PY" -m venv .venv
fi
PIP=".venv/bin/python -m pip --disable-pip-version-check"

start=$(date +%s)
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    if [ -n "${MTLBOOK_TORCH:-}" ]; then
        echo "==> installing torch: $MTLBOOK_TORCH"
        # shellcheck disable=SC2086
        $PIP install -q $MTLBOOK_TORCH
    elif wheels=$(mktemp -d) && $PIP download -q --no-index --no-deps -d "$wheels" "torch==2.13.0" 2>/dev/null; then
        echo "==> installing the CPU build of torch 2.13.0 found locally"
        $PIP install -q "$wheels"/torch-*.whl
        rm -rf "$wheels"
    else
        echo "==> installing torch from the package index"
        $PIP install -q "torch>=2.3"
    fi
fi
echo "==> installing mtlbook[dev,bench] (editable)"
$PIP install -q -e ".[dev,bench]"
echo "==> install took $(( $(date +%s) - start )) s"
