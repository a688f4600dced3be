"""Starting a real sandbox in tests (tests/ is on sys.path through tests/conftest.py)."""

import os

import pytest

from envs.sandbox import SandboxUnavailable, make_sandbox

# Backends CI must be able to run: setup.sh installs bubblewrap, so under CI a missing bwrap
# fails the test instead of skipping it (a skipped sandbox suite would pass silently).
# gVisor is optional (setup.sh does not install runsc): its absence may skip anywhere.
REQUIRED_IN_CI = ("bwrap",)
_TOOL_CHECKS = {"bwrap": "envs.sandbox.bwrap:BwrapLauncher", "gvisor": "envs.sandbox.gvisor:GvisorLauncher"}


def make_or_skip(backend: str = "bwrap", **kwargs):
    """`make_sandbox(backend, **kwargs)`; skip only where the backend's tool is absent.

    A tool that is installed but does not work (user namespaces disabled, a worker that dies
    at start) FAILS the test with the reason: skipping would hide a broken sandbox.
    """
    require_tool(backend)
    try:
        return make_sandbox(backend, **kwargs)
    except SandboxUnavailable as exc:
        pytest.fail(f"{backend} is installed but the sandbox does not start: {exc}")


def require_tool(backend: str) -> None:
    """Skip (fail under CI, for the backends CI must run) when `backend`'s tool is absent."""
    missing = tool_missing(backend)
    if missing:
        if os.environ.get("CI") and backend in REQUIRED_IN_CI:
            pytest.fail(f"{backend} sandbox unavailable under CI: {missing}")
        pytest.skip(f"{backend} sandbox unavailable here: {missing}")


def tool_missing(backend: str) -> str:
    """Why `backend` cannot run on this machine at all (its tool is absent), or ""."""
    if backend not in _TOOL_CHECKS:
        return ""
    import importlib

    module, attr = _TOOL_CHECKS[backend].split(":")
    try:
        getattr(importlib.import_module(module), attr)().check()
    except SandboxUnavailable as exc:
        return str(exc)
    return ""
