"""The bubblewrap launcher: one fork-server per bwrap sandbox.

Each worker gets fresh user, PID, network (loopback only, down), IPC, UTS (and cgroup)
namespaces; a read-only root holding only read-only binds of the base interpreter and what
it needs (`launch.python_paths`: never a venv), /usr/lib* and the fork-server script (no
/etc, no /usr/bin, no home but the interpreter's own dirs), with every site-packages and
dist-packages directory covered by an empty read-only tmpfs (only the standard library); its
own tmpfs at /tmp capped at `tmpfs_bytes`; a new /proc, a minimal read-only /dev (device
nodes work, no file can be made there: no /dev/shm) and a cleared environment. Untrusted
code runs as uid/gid 65534 with no capabilities, no_new_privs, no nested user namespaces and
the fork-server's syscall filter (no keyrings, memfds or IPC objects: envs/sandbox/seccomp.py).

Why not plain `bwrap --unshare-user --uid 65534` when the host runs as root: bwrap then
maps the sandbox uid onto host uid 0, and the kernel exempts host uid 0 (INIT_USER) from
RLIMIT_NPROC, so a fork burst is NOT bounded (checked empirically on this machine). As
root we therefore build the user namespace ourselves, mapping 65534 -> host 65534 (and 0
-> 0 so bwrap can still read a prefix under a 0700 /root), hand it to bwrap with
`--userns`, keep only CAP_SETUID/CAP_SETGID, and the fork-server drops to 65534 before it
reads any request (bwrap 0.8's own --uid/--gid with --userns calls setuid before setgid
and fails). Uid 0 stays mapped, but nothing inside can reach it again: no capabilities
after the drop, no_new_privs, nosuid mounts. Non-root hosts use bwrap's own user
namespace (the host uid is not 0 there; that path was not exercised on this root machine).

The scratch tmpfs is mounted before the interpreter binds, so an interpreter installed under
/tmp is bound on top of it at its own path; the fork-server keeps those mount points (and
their parent dirs, read-only to the program) when it empties the scratch dir.

Not protected: kernel exploits (namespaces share the host kernel; use "gvisor" for that),
CPU and memory pressure on the host beyond the per-child rlimits, timing side channels.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from envs.sandbox import seccomp
from envs.sandbox.base import SandboxUnavailable
from envs.sandbox.launch import (SANDBOX_DIR, SANDBOX_UID, SERVER_FILES, LaunchSpec, Streams, package_dirs,
                                 python_paths)

TMPFS_BYTES = 64 * 1024 * 1024  # per worker; RLIMIT_FSIZE bounds single files inside it
_INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
_USERNS_HELPER = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
ok = libc.unshare(0x10000000) == 0  # CLONE_NEWUSER
sys.stdout.write("ok\n" if ok else "errno %d\n" % ctypes.get_errno())
sys.stdout.flush()
if ok and sys.stdin.readline() == "mapped\n":
    # as the namespace's creator we may set its limits: no nested user namespaces inside
    with open("/proc/sys/user/max_user_namespaces", "w") as f:
        f.write("0")
    sys.stdout.write("sealed\n")
    sys.stdout.flush()
sys.stdin.read()
"""


def make_userns(uid: int) -> int:
    """A new user namespace mapping 0->0 and uid->uid (root only); returns an fd to it.

    A throwaway helper process unshares, we write its maps, it sets the namespace's
    user.max_user_namespaces to 0 (no nested user namespaces for untrusted code), and we
    open /proc/PID/ns/user; the namespace lives as long as the fd. Raises
    SandboxUnavailable with the reason.
    """
    helper = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _USERNS_HELPER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = helper.stdout.readline().strip()
        if line != "ok":
            raise SandboxUnavailable(
                f"cannot create a user namespace ({line or helper.stderr.read().strip()}); "
                "enable them: sysctl -w user.max_user_namespaces=15000 (and, on Ubuntu 23.10+, "
                "kernel.apparmor_restrict_unprivileged_userns=0)"
            )
        mapping = f"0 0 1\n{uid} {uid} 1\n"
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{helper.pid}/{name}", "w") as f:
                f.write(mapping)
        helper.stdin.write("mapped\n")
        helper.stdin.flush()
        if helper.stdout.readline().strip() != "sealed":
            raise SandboxUnavailable(f"could not limit nested user namespaces: {helper.stderr.read().strip()}")
        return os.open(f"/proc/{helper.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        helper.stdin.close()
        helper.wait(timeout=10)
        helper.stdout.close()
        helper.stderr.close()


def _system_lib_args() -> list[str]:
    """Read-only binds of the dynamic loader's directories; /lib-style symlinks recreated."""
    args: list[str] = []
    for path in _SYSTEM_LIB_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


_SYSTEM_LIB_DIRS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/lib32", "/usr/lib32")


def _ancestors(paths: list[str], bound: list[str]) -> list[str]:
    """The proper ancestor dirs of `paths` that bwrap creates (as 0700), parents first: not "/",
    not /tmp (the scratch tmpfs keeps its 1777), and none inside a `bound` dir (a read-only
    bind keeps the host's modes; chmod there fails, e.g. /usr for a Debian /usr/bin/python3)."""
    found: list[str] = []
    for path in paths:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/" + "/".join(parts[:i])
            inside = any(parent == b or parent.startswith(b + "/") for b in bound)
            if parent not in found and parent != "/tmp" and not inside and not os.path.islink(parent):
                found.append(parent)
    return found


class BwrapLauncher:
    name = "bwrap"

    def __init__(self, *, tmpfs_bytes: int = TMPFS_BYTES):
        self.tmpfs_bytes = tmpfs_bytes

    def check(self) -> None:
        if shutil.which("bwrap") is None:
            raise SandboxUnavailable(f"bubblewrap (bwrap) is not on PATH: {_INSTALL_HINT}")

    def spec(self, host_pidns: str, streams: Streams) -> LaunchSpec:
        import json

        exe, dirs = python_paths()
        config: dict = {"host_pidns": host_pidns, "scratch": "/tmp", "uid": None, "gid": None,
                        "streams": [streams.output, streams.report], "seccomp": seccomp.build_filter().hex()}
        args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
                "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        pass_fds: tuple[int, ...] = ()
        release = lambda: None  # noqa: E731
        if os.geteuid() == 0:
            userns = make_userns(SANDBOX_UID)
            pass_fds = (userns,)
            release = lambda: os.close(userns)  # noqa: E731
            config.update(uid=SANDBOX_UID, gid=SANDBOX_UID)
            # the server keeps these (in the sandbox's user namespace only) and each child drops
            # them with its uid: SETUID/SETGID to drop, KILL to clean up the child's processes
            # (another uid than the server)
            args += ["--userns", str(userns), "--cap-drop", "ALL"]
            for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL"):
                args += ["--cap-add", cap]
        else:
            args += ["--unshare-user", "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
                     "--cap-drop", "ALL"]
        # the scratch tmpfs first: an interpreter that lives under /tmp is bound on top of it
        args += ["--perms", "1777", "--size", str(self.tmpfs_bytes), "--tmpfs", "/tmp"]
        for d in dirs:
            args += ["--ro-bind", d, d]
        args += _system_lib_args()
        for hidden in package_dirs(dirs + ["/usr/lib", "/usr/lib64"]):  # stdlib only, no answer key
            args += ["--tmpfs", hidden, "--remount-ro", hidden]
        for path in SERVER_FILES:
            args += ["--ro-bind", path, f"{SANDBOX_DIR}/{os.path.basename(path)}"]
        for parent in _ancestors(dirs + ["/usr/lib", f"{SANDBOX_DIR}/forkserver.py"], dirs + list(_SYSTEM_LIB_DIRS)):
            args += ["--chmod", "0755", parent]  # bwrap makes mount-point parents 0700
        args += [
                 "--proc", "/proc",
                 "--dev", "/dev", "--remount-ro", "/dev",  # device nodes work; no files (/dev/shm)
                 "--remount-ro", "/",
                 "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
                 "--setenv", "TMPDIR", "/tmp", "--setenv", "LANG", "C.UTF-8",
                 "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--chdir", "/tmp",
                 exe, "-I", "-S", "-B", f"{SANDBOX_DIR}/forkserver.py", json.dumps(config)]
        return LaunchSpec(argv=args, pass_fds=pass_fds, release=release)

    def close(self) -> None:
        pass  # nothing created on the host
