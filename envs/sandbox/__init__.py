"""Sandboxed execution of untrusted programs and their tests. See `base.Sandbox` for the contract.

Backends (choose with `make_sandbox(name)`):
- "bwrap" (default): a pool of long-lived fork-server workers, each inside bubblewrap.
- "gvisor": the same workers inside gVisor's runsc (stronger kernel isolation, slower start).
- "subprocess": no isolation at all; explicit opt-in only, warns loudly.

Backends are imported lazily: importing this package starts nothing and imports no backend.

What one execution cannot reach or leave behind (bwrap; gvisor adds its own kernel):
- the host: no network, no host files but read-only binds of the standard library, the
  interpreter and system libraries (never installed packages, where an answer key may live);
  another uid, no capabilities, rlimits on CPU, address space, processes, file size and
  open files, a wall-clock deadline.
- other executions: nothing carries over. The child reads its own request after the fork
  and writes its output and reports straight to the host, so the fork-server it is forked
  from never held an earlier request or response; the scratch tmpfs is emptied, every
  process killed, and keyrings, memfds and SysV/POSIX IPC are refused by a syscall filter
  (`seccomp.py`), so no kernel object outlives an execution or sits outside its memory limit.
- the verdict: decided on the host from token-tagged reports (see `pool.py`).

Not isolated: kernel exploits (use gvisor), timing and CPU-load side channels, a few bits
per execution through the numbers the fork-server keeps (exit code, CPU time), host memory
in the worker's scratch tmpfs (64 MB, emptied after each execution) and in pipe and socket
buffers (bounded by the open-file limit), and nothing at all with the "subprocess" backend.
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
