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
- the verdict: decided outside the program's process (below).

Not isolated: kernel exploits (use gvisor), timing and CPU-load side channels, a few bits
per execution through the numbers the fork-server keeps (exit code, CPU time), host memory
in the worker's scratch tmpfs (64 MB, emptied after each execution) and in pipe and socket
buffers (bounded by the open-file limit), and nothing at all with the "subprocess" backend.

Verdicts. The principle: nothing the program defines, replaces or returns runs where its
verdict is decided (`judging.py` has the flow). Three places take part:
- the judge (`harness.py`), in sandbox workers of its own where no program ever runs: it runs
  each test's own code (its helpers, tables, loops, imports, HumanEval's check and the
  prompt's helper functions such as `poly`), with the program's names standing for calls
  it records; every expected value, argument and helper result is computed there;
- the program's process (`forkserver.py`): the program, then only the recorded steps (calls,
  attributes, items on data), each result reported as data of exact builtin types
  (`envs/values.py`): a Counter stays a Counter, an object of the program's own class is
  never compared, an object that is an argument or an earlier result is reported as such;
- the host (`checks.py`): it walks each test's record in order and evaluates its deferred
  conditions over the decoded results with Python's semantics (exact `==`, identity,
  short-circuit, the exception a call raised where the test would stop), with every
  operation size-checked and decoding bounded (nesting, size, hash collisions). What the host
  cannot bound or hold (a test's own helper on a program value, `sum(range(f(3)))`, a call
  that changed its arguments, a test that looks at a result before its next call) is
  replayed by the judge with the program's results, under the sandbox's limits, running the
  program again with the further steps it asks for while time remains (at most one more
  timeout).
Covered: a program cannot change an expected value (it never sees one, nor the test's code),
nor the comparison (the host's or the judge's, on builtin values), nor a report's meaning
(a forged report can only claim values, as returning them would; an identity it was never
given is refused). Not covered: the methods of objects the program returns are its own code
(`Stack().pop()` runs in its process, and what they return is judged like any value); a
test's argument that is not data (a lambda, the test's own object) cannot be sent, and the
test errors. Every test is reported as judged "parent" (outside the program's process);
none is judged inside it.
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
