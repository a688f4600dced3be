"""The syscall filter every sandbox worker installs: a few kernel objects are refused outright.

Built here (on the host) as a classic-BPF program and handed to the fork-server in its
config; the server installs it on itself before it forks any child, so every execution
inherits it and none can remove it (filters only ever get stricter). Denied calls fail with
EPERM; everything else is allowed.

Why these calls, and why denial rather than isolation:
- Kernel keyrings (`add_key`, `request_key`, `keyctl`): the user and persistent keyrings
  belong to a uid, not to a process tree, so a key one execution adds is readable by the
  next one running under the same uid (and by a host process running as that uid). A new
  session keyring per execution would still leave the user and persistent keyrings shared.
  Nothing an honest program does needs a keyring (Docker's default profile denies them too).
- Anonymous and shared memory that RLIMIT_AS does not count (`memfd_create`,
  `memfd_secret`, SysV `shmget`, `semget`, `msgget`, POSIX `mq_open`): a memfd written
  with `write()` occupies host memory without being mapped (150 of 4 MB filled 600 MB under
  a 256 MB address-space limit), and IPC objects outlive the process that made them. A
  memory cgroup would count them, but cgroups need root or a delegated hierarchy, which a
  researcher's machine or CI runner usually lacks; denial works everywhere. POSIX shared
  memory through /dev/shm is refused by the launchers instead (a read-only /dev), and files
  in the scratch tmpfs are bounded by its size and emptied after every execution.

The filter knows the syscall numbers of x86_64 and aarch64 (the only architectures listed
below). A syscall made through another ABI of the same kernel (i386's int 0x80 and x32 on
x86_64, arm32 compat on aarch64) would bypass a number check, so those are denied entirely.
On any other architecture the sandbox refuses to start (`SandboxUnavailable`), rather than
run without the filter.
"""

from __future__ import annotations

import errno
import platform
import struct

from envs.sandbox.base import SandboxUnavailable

# seccomp_data offsets and BPF opcodes (linux/seccomp.h, linux/filter.h)
_NR_OFFSET, _ARCH_OFFSET = 0, 4
_LD_ABS_W = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_RET_ALLOW = 0x7FFF0000
_RET_EPERM = 0x00050000 | errno.EPERM  # SECCOMP_RET_ERRNO
_X32_SYSCALL_BIT = 0x40000000

DENIED = ("add_key", "request_key", "keyctl", "memfd_create", "memfd_secret", "shmget", "semget", "msgget",
          "mq_open")
# machine -> (AUDIT_ARCH_*, syscall numbers of DENIED, whether x32 numbers must be refused)
_ARCHES = {
    "x86_64": (0xC000003E, {"add_key": 248, "request_key": 249, "keyctl": 250, "memfd_create": 319,
                            "memfd_secret": 447, "shmget": 29, "semget": 64, "msgget": 68, "mq_open": 240}, True),
    "aarch64": (0xC00000B7, {"add_key": 217, "request_key": 218, "keyctl": 219, "memfd_create": 279,
                             "memfd_secret": 447, "shmget": 194, "semget": 190, "msgget": 186, "mq_open": 180},
                False),
}
_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def syscall_numbers(machine: str | None = None) -> dict[str, int]:
    """The denied calls' numbers on `machine` (default: this one); SandboxUnavailable if unknown."""
    return _arch(machine)[1]


def build_filter(machine: str | None = None) -> bytes:
    """The filter as the raw `struct sock_filter` array that PR_SET_SECCOMP expects."""
    audit_arch, numbers, deny_x32 = _arch(machine)
    body: list[tuple[int, int, int, int]] = [(_LD_ABS_W, 0, 0, _NR_OFFSET)]
    if deny_x32:
        body.append((_JGE_K, -1, 0, _X32_SYSCALL_BIT))  # -1: jump to "deny", resolved below
    body += [(_JEQ_K, -1, 0, numbers[name]) for name in DENIED]
    program = [(_LD_ABS_W, 0, 0, _ARCH_OFFSET), (_JEQ_K, 0, -1, audit_arch), *body,
               (_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_EPERM)]
    deny = len(program) - 1
    out = b""
    for i, (code, jt, jf, k) in enumerate(program):
        jt, jf = (deny - i - 1 if j == -1 else j for j in (jt, jf))  # offsets count from the next insn
        out += struct.pack("=HBBI", code, jt, jf, k)
    return out


def _arch(machine: str | None) -> tuple[int, dict[str, int], bool]:
    name = machine or platform.machine()
    found = _ARCHES.get(_ALIASES.get(name, name))
    if found is None:
        raise SandboxUnavailable(
            f"the sandbox's syscall filter knows only {', '.join(_ARCHES)}, not {name!r}: "
            "add this architecture's numbers to envs/sandbox/seccomp.py")
    return found
