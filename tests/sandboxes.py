"""Starting a real sandbox in tests (tests/ is on sys.path through tests/conftest.py)."""

import os

import pytest

from envs.sandbox import SandboxUnavailable, make_sandbox

# Backends CI must be able to run: setup.sh installs bubblewrap, so under CI an unavailable
# bwrap fails the test instead of skipping it (a skipped sandbox suite would pass silently).
# gVisor is optional (setup.sh does not install runsc): it may skip anywhere.
REQUIRED_IN_CI = ("bwrap",)


def make_or_skip(backend: str = "bwrap", **kwargs):
    """`make_sandbox(backend, **kwargs)`, or skip where the backend cannot run here."""
    try:
        return make_sandbox(backend, **kwargs)
    except SandboxUnavailable as exc:
        if os.environ.get("CI") and backend in REQUIRED_IN_CI:
            pytest.fail(f"{backend} sandbox unavailable under CI: {exc}")
        pytest.skip(f"{backend} sandbox unavailable here: {exc}")
