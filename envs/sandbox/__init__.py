"""Sandboxed execution of untrusted programs and their tests. See `base.Sandbox` for the contract.

Backends (choose with `make_sandbox(name)`):
- "bwrap" (default): a pool of long-lived fork-server workers, each inside bubblewrap.
- "gvisor": the same workers inside gVisor's runsc (stronger kernel isolation, slower start).
- "subprocess": no isolation at all; explicit opt-in only, warns loudly.

Backends are imported lazily: importing this package starts nothing and imports no backend.
"""

from __future__ import annotations

import importlib

from envs.sandbox.base import Sandbox, SandboxUnavailable
from envs.testcase import Limits

BACKENDS = ("bwrap", "gvisor", "subprocess")
_LAUNCHERS = {
    "bwrap": "envs.sandbox.bwrap:BwrapLauncher",
    "gvisor": "envs.sandbox.gvisor:GvisorLauncher",
    "subprocess": "envs.sandbox.unsafe_subprocess:UnsafeSubprocessLauncher",
}


def make_sandbox(backend: str = "bwrap", *, workers: int = 2, limits: Limits | None = None) -> Sandbox:
    """Build a sandbox backend by name. `limits` are the defaults for `run` calls that pass none.

    Raises ValueError for an unknown name (listing the choices) and SandboxUnavailable when
    the backend cannot run on this machine (the message says what to install).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    module, attr = _LAUNCHERS[backend].split(":")
    launcher = getattr(importlib.import_module(module), attr)()
    from envs.sandbox.pool import WorkerPoolSandbox

    return WorkerPoolSandbox(launcher, workers=workers, limits=limits)


__all__ = ["BACKENDS", "Limits", "Sandbox", "SandboxUnavailable", "make_sandbox"]
