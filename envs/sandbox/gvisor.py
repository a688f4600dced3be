"""The gVisor launcher: one fork-server per `runsc run` container (ptrace platform, no network).

gVisor puts a user-space kernel between untrusted code and the host kernel, so kernel
exploits that would cross a bubblewrap sandbox must first break gVisor. The container sees
only read-only binds of the Python prefix, the system libraries and the fork-server, a
size-capped tmpfs at /tmp, and runs as uid/gid 65534 with no capabilities and
no_new_privs. The fork-server is the container's pid 1, so kill(-1) reaches only processes
inside the container. gVisor enforces the child's rlimits itself (RLIMIT_NPROC checked).

This launcher creates one temp dir per pool (the OCI bundle with an empty root, and the
runsc state dir) and removes exactly that dir on `close()`.

The child's output and report streams reach the container as fds 3 and 4 through runsc's
`--pass-fd` (not exercised on the machine this was written on: runsc is not installed there,
and the gvisor tests skip; older runsc without that flag fail at worker start, with the reason).

Not protected: gVisor bugs, host resource pressure beyond the per-child rlimits. Slower to
start (~0.3 s per worker) and to fork than bwrap.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile

from envs.sandbox import seccomp
from envs.sandbox.base import SandboxUnavailable
from envs.sandbox.launch import (SANDBOX_DIR, SANDBOX_UID, SERVER_FILES, LaunchSpec, Streams, package_dirs,
                                 python_paths)

TMPFS_SIZE = "64m"  # per worker; RLIMIT_FSIZE bounds single files inside it
GUEST_STREAM_FDS = (3, 4)  # where the output and report streams appear inside the container


class GvisorLauncher:
    name = "gvisor"

    def __init__(self) -> None:
        self._base: str | None = None  # our own temp dir: bundle/ and state/; removed by close()

    def check(self) -> None:
        if shutil.which("runsc") is None:
            raise SandboxUnavailable("gVisor's runsc is not on PATH: install it (Debian: apt-get install runsc; elsewhere https://gvisor.dev/docs/user_guide/install/)")
        if os.geteuid() != 0:
            raise SandboxUnavailable("the gvisor backend runs `runsc run` and needs root here; use bwrap otherwise")

    def spec(self, host_pidns: str, streams: Streams) -> LaunchSpec:
        if self._base is None:
            self._base = self._make_bundle(host_pidns)
        container = f"sbx-{os.getpid()}-{secrets.token_hex(6)}"
        passed = [f"--pass-fd={host}:{guest}" for host, guest in zip((streams.output, streams.report), GUEST_STREAM_FDS)]
        argv = ["runsc", "--root", os.path.join(self._base, "state"), "--network=none", "--platform=ptrace",
                "--ignore-cgroups", "run", *passed, "--bundle", os.path.join(self._base, "bundle"), container]
        return LaunchSpec(argv=argv)

    def close(self) -> None:
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)  # the dir mkdtemp made for us, nothing else
            self._base = None

    @staticmethod
    def _make_bundle(host_pidns: str) -> str:
        exe, dirs = python_paths()
        base = tempfile.mkdtemp(prefix="sandbox-gvisor-")
        rootfs = os.path.join(base, "bundle", "rootfs")
        os.makedirs(rootfs)
        os.makedirs(os.path.join(base, "state"))
        os.chmod(rootfs, 0o755)  # the container's "/" must be traversable by uid 65534
        mounts = [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": [f"size={TMPFS_SIZE}", "mode=1777", "nosuid", "nodev"]},
        ]
        mounts += [{"destination": f"{SANDBOX_DIR}/{os.path.basename(path)}", "type": "bind", "source": path,
                    "options": ["bind", "ro"]} for path in SERVER_FILES]
        for d in dirs + ["/usr/lib", "/usr/lib64"]:
            if os.path.isdir(d) and not os.path.islink(d):
                mounts.append({"destination": d, "type": "bind", "source": d, "options": ["rbind", "ro"]})
        for link in ("/lib", "/lib64"):
            if os.path.islink(link):
                os.symlink(os.readlink(link), os.path.join(rootfs, link.lstrip("/")))
            elif os.path.isdir(link):
                mounts.append({"destination": link, "type": "bind", "source": link, "options": ["rbind", "ro"]})
        for hidden in package_dirs(dirs + ["/usr/lib", "/usr/lib64"]):  # stdlib only, no answer key
            mounts.append({"destination": hidden, "type": "tmpfs", "source": "tmpfs",
                           "options": ["ro", "size=4096", "mode=0555"]})
        server_config = {"host_pidns": host_pidns, "scratch": "/tmp", "uid": None, "gid": None,
                         "streams": list(GUEST_STREAM_FDS), "seccomp": seccomp.build_filter().hex()}
        spec = {
            "ociVersion": "1.0.0",
            "process": {
                "terminal": False,
                "user": {"uid": SANDBOX_UID, "gid": SANDBOX_UID},
                "args": [exe, "-I", "-S", "-B", f"{SANDBOX_DIR}/forkserver.py", json.dumps(server_config)],
                "env": ["PATH=/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"],
                "cwd": "/tmp",
                "capabilities": {},
                "noNewPrivileges": True,
            },
            "root": {"path": "rootfs", "readonly": True},
            "hostname": "sandbox",
            "mounts": mounts,
            "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
        }
        with open(os.path.join(base, "bundle", "config.json"), "w") as f:
            json.dump(spec, f)
        return base
