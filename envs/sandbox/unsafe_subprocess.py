"""The "subprocess" launcher: the same fork-server, with NO isolation at all.

Explicit opt-in only (`make_sandbox("subprocess")`); logs a WARNING when used. Untrusted
code runs as the host user, sees the host filesystem and network, and (as root) is exempt
from RLIMIT_NPROC. What still holds: the per-child rlimits (CPU, address space, file
size), the wall-clock deadline, the output cap, the host-side verdict with its report
token, the syscall filter (no keyrings, memfds or IPC objects), and cleanup of the child's
process group plus any orphan re-parented to the fork-server (a child subreaper). Each worker's scratch dir is a fresh mkdtemp made here
and removed (that dir only) once the worker is dead.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile

from envs.sandbox import seccomp
from envs.sandbox.launch import FORKSERVER_PATH, LaunchSpec, Streams, python_paths

log = logging.getLogger(__name__)

WARNING_TEXT = (
    "sandbox backend 'subprocess': NOTHING IS ISOLATED - untrusted code runs as this user "
    "with full filesystem and network access; use only for debugging"
)


class UnsafeSubprocessLauncher:
    name = "subprocess"

    def check(self) -> None:
        log.warning(WARNING_TEXT)

    def spec(self, host_pidns: str, streams: Streams) -> LaunchSpec:
        exe, _ = python_paths()
        scratch = tempfile.mkdtemp(prefix="sandbox-scratch-")  # this worker's own; removed by cleanup
        config = {"host_pidns": host_pidns, "scratch": scratch, "uid": None, "gid": None,
                  "streams": [streams.output, streams.report], "seccomp": seccomp.build_filter().hex()}
        return LaunchSpec(
            argv=[exe, "-I", "-S", "-B", FORKSERVER_PATH, json.dumps(config)],
            cleanup=lambda: shutil.rmtree(scratch, ignore_errors=True),
            expect_private_pidns=False,
        )

    def close(self) -> None:
        pass  # nothing created on the host
