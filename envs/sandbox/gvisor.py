"""The gVisor launcher: one fork-server per `runsc run` container (ptrace platform, no network).

gVisor puts a user-space kernel between untrusted code and the host kernel, so kernel
exploits that would cross a bubblewrap sandbox must first break gVisor. The container sees
only read-only binds of the Python prefix, the system libraries and the fork-server, a
size-capped tmpfs at /tmp, and runs as uid/gid 65534 with no capabilities and
no_new_privs. The fork-server is the container's pid 1, so kill(-1) reaches only processes
inside the container. gVisor enforces the child's rlimits itself (RLIMIT_NPROC checked).

This launcher creates one temp dir per pool (the OCI bundle with an empty root, and the
runsc state dir) and removes exactly that dir on `close()`.

Not protected: gVisor bugs, host resource pressure beyond the per-child rlimits. Slower to
start (~0.3 s per worker) and to fork than bwrap.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile

from envs.sandbox.base import SandboxUnavailable
from envs.sandbox.launch import FORKSERVER_PATH, SANDBOX_UID, LaunchSpec, python_paths, package_dirs

TMPFS_SIZE = "64m"  # per worker; RLIMIT_FSIZE bounds single files inside it


class GvisorLauncher:
    name = "gvisor"

    def __init__(self) -> None:
        self._base: str | None = None  # our own temp dir: bundle/ and state/; removed by close()

    def check(self) -> None:
        if shutil.which("runsc") is None:
            raise SandboxUnavailable("gVisor's runsc is not on PATH: install it (Debian: apt-get install runsc; elsewhere https://gvisor.dev/docs/user_guide/install/)")
        if os.geteuid() != 0:
            raise SandboxUnavailable("the gvisor backend runs `runsc run` and needs root here; use bwrap otherwise")

    def spec(self, host_pidns: str) -> LaunchSpec:
        if self._base is None:
            self._base = self._make_bundle(host_pidns)
        container = f"sbx-{os.getpid()}-{secrets.token_hex(6)}"
        argv = ["runsc", "--root", os.path.join(self._base, "state"), "--network=none", "--platform=ptrace",
                "--ignore-cgroups", "run", "--bundle", os.path.join(self._base, "bundle"), container]
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
            {"destination": "/sandbox/forkserver.py", "type": "bind", "source": FORKSERVER_PATH,
             "options": ["bind", "ro"]},
        ]
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
                         "private_ipc": True}
        spec = {
            "ociVersion": "1.0.0",
            "process": {
                "terminal": False,
                "user": {"uid": SANDBOX_UID, "gid": SANDBOX_UID},
                "args": [exe, "-I", "-S", "-B", "/sandbox/forkserver.py", json.dumps(server_config)],
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
