"""The fork-server: runs INSIDE the sandbox, forks one child per execution of untrusted code.

Executed by path (`python -I -S -B forkserver.py CONFIG_JSON`), never imported by the host;
stdlib only, because inside the sandbox nothing else is guaranteed to exist. How an
execution ends (waiting, killing descendants, emptying scratch) is in `teardown.py`, which
the launchers bind beside this file.

Protocol (frames are a 4-byte big-endian length, then UTF-8 JSON):
- fd 0 (from the host): two frames per execution: a header {"limits": {...}} this server
  reads, then a body {"token", "program", "steps": [{"code", "mode"}]} that only the forked
  child reads. The child acks on a pipe once it has the whole body; without the ack the
  request stream may be out of step, and the response says "dirty" (the host then
  replaces this worker).
- fd 1 (to the host): first a hello frame {"hello": 1, "pid", "pidns_private", "why"}, then
  one status frame per request, written once every process of the execution is dead:
  {"end", "code", "signal", "timed_out", "cleanup", "notes", "dirty", "cpu_s", "duration_s"}.
- config "streams" [output, report]: write ends of two pipes the HOST reads. Each child
  writes its stdout+stderr to the first and its report lines to the second; this server
  never reads either (the host drains both once the status frame has arrived).

Nothing carries over between executions (what a child inherits is this server's memory,
its files and its kernel objects):
- memory: this server never reads a request body, an output or a report (see above); what
  it holds between executions is the limits header, the child's wait status, its CPU time
  and the cleanup result. Not closed: a covert channel of a few bits per execution through
  those numbers (exit code, timing) between programs that cooperate.
- files: the scratch dir (this worker's own tmpfs) is emptied after each execution by a
  forked cleaner, so even the names of the files a program left never enter this server.
- processes: every descendant is killed before the status frame (see below).
- kernel objects outside the address space: keyrings (shared by a uid, not a process
  tree), memfds and SysV/POSIX IPC are refused by a seccomp filter this server installs on
  itself at startup (built by envs/sandbox/seccomp.py, checked by `_self_test`); /dev is
  read-only (no /dev/shm); each child may hold at most `_MAX_OPEN_FILES` descriptors, which
  bounds the kernel memory its pipe and socket buffers can hold.

Identity (root hosts, config "uid" set): this server keeps uid 0 of the sandbox's user
namespace with only CAP_SETUID/SETGID/KILL; each child drops to the sandbox uid, losing
every capability. The child therefore cannot signal, prlimit or ptrace this server (another
uid, and this server is not dumpable). Scratch cleanup runs in a forked helper under the
child's uid; if it fails (deep trees, odd modes) the response says "dirty" and the host
recycles the worker; the verdict stands.

The child: new session, stdin /dev/null, stdout+stderr into the output stream, the report
stream on fd 3, every other fd closed, RLIMIT_CORE=0, RLIMIT_NOFILE=`_MAX_OPEN_FILES` and
the request's CPU, AS, NPROC and FSIZE limits; then the program and each test in one
namespace. The deadline is enforced here (SIGKILL) and again by the host (it kills the
whole worker).

The child reports each step over fd 3 (its report pipe) as one JSON line tagged with the
per-execution token; a value step reports the value as data built from exact builtin types
only (`_encode`; decoded by envs/values.py), never a repr the program could shape. The HOST
reads and validates them and
decides every verdict, because the child shares this sandbox, this uid and possibly this
server's fate (it may kill or stop it). Nothing here decides pass or fail.

Descendant cleanup after each execution: `kill(-1, SIGKILL)` only when the PID namespace
was proved private at startup (it differs from the host's, which the host passes in, and
held nothing but pid 1 and this server); otherwise the child's process group is killed and
orphans re-parented to this server (it is a child subreaper) are killed until none remain.
"""

import builtins
import collections
import ctypes
import io
import json
import os
import resource
import select
import signal
import struct
import sys
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_MAX_DEPTH = 100  # of a reported value; deeper (or cyclic) values are reported as opaque
_REPORT_FD = 3  # the child's report stream; stdout/stderr go to the output stream
_MAX_OPEN_FILES = 128  # per child: bounds the pipe and socket buffers it can fill (~100 MB)


# ---- framing (mirrored in envs/sandbox/protocol.py; keep the two in sync) -----------------
def read_frame(fd):
    """The next frame from the host, or None at EOF (the host is gone: exit quietly)."""
    head = _read_exact(fd, 4)
    body = None if head is None else _read_exact(fd, struct.unpack(">I", head)[0])
    return None if body is None else json.loads(body)


def _read_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, min(n - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return data


def write_frame(fd, obj):
    body = json.dumps(obj).encode()
    data = memoryview(struct.pack(">I", len(body)) + body)
    while data:
        data = data[os.write(fd, data):]


# ---- startup -------------------------------------------------------------------------------
_LIBC = ctypes.CDLL(None, use_errno=True)


def _load_teardown():
    """teardown.py (waiting for, killing and cleaning up after a child) sits beside this file,
    in the sandbox too; loaded by path because -I keeps this file's directory off sys.path."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "teardown.py")
    spec = importlib.util.spec_from_file_location("forkserver_teardown", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


teardown = _load_teardown()


def _prctl(option, value):
    return _LIBC.prctl(option, value, 0, 0, 0) == 0


def _drop_identity(uid, gid):
    """Become uid/gid with no groups; leaving uid 0 clears every capability (checked)."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    with open("/proc/self/status") as f:
        caps = {k: v.strip() for k, v in (line.split(":", 1) for line in f) if k.startswith("Cap")}
    if int(caps.get("CapEff", "1"), 16) or int(caps.get("CapPrm", "1"), 16):
        raise SystemExit("forkserver: capabilities survived the uid drop: %r" % caps)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _deny_syscalls(filter_hex):
    """Install the host-built seccomp filter on this process (inherited by every child)."""
    code = bytes.fromhex(filter_hex)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.addressof(buf))
    if not _prctl(_PR_SET_NO_NEW_PRIVS, 1) or _LIBC.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER,
                                                           ctypes.byref(prog), 0, 0) != 0:
        raise SystemExit("forkserver: cannot install the syscall filter: %s" % os.strerror(ctypes.get_errno()))


def _prove_private_pidns(host_pidns):
    """(private, why): private only if our PID namespace is not the host's and is fresh."""
    try:
        mine = os.readlink("/proc/self/ns/pid")
    except OSError as e:
        return False, "cannot read /proc/self/ns/pid (%s)" % e
    if not host_pidns or mine == host_pidns:
        return False, "pid namespace %s is the host's" % mine
    others = teardown.pids() - {1, os.getpid()}
    if os.getpid() > 2 or others:
        return False, "pid namespace %s is not fresh (pid %d, others %s)" % (mine, os.getpid(), sorted(others)[:5])
    return True, "pid namespace %s differs from host %s and held only pid 1 and us" % (mine, host_pidns)


# ---- the child: runs untrusted code, never returns -----------------------------------------
def _child_main(lim, req_fd, ack_w, streams, scratch, ids):
    try:
        os.setsid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with this server (a courtesy: it can undo it)
        req = read_frame(req_fd)  # fork first, then read: the server never sees this request
        os.write(ack_w, b"1")
        if ids is not None:
            _drop_identity(*ids)
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        output, report = streams  # never 0-2 (the worker's own stdio), so these dup2s cannot clash
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(report, _REPORT_FD)
        os.closerange(_REPORT_FD + 1, 65536)  # the request and ack pipes, the stream originals, the rest
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (_MAX_OPEN_FILES,) * 2)
        resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim["file_size_mb"] * mb,) * 2)
        # RLIMIT_NPROC counts every process of the uid: the server too when it shares ours
        nproc = lim["max_processes"] + (0 if ids is not None else 1)
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc,) * 2)
        resource.setrlimit(resource.RLIMIT_AS, (lim["memory_mb"] * mb,) * 2)
        if scratch:
            os.chdir(scratch)
            os.environ["TMPDIR"] = scratch
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), errors="backslashreplace", write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), errors="backslashreplace", write_through=True)
        sys.argv = ["program"]
        _run_tests(req["program"], req["steps"], req.pop("token"), lim["detail_chars"], lim["repr_chars"])
    except BaseException:  # SystemExit included: the host calls unreported tests a premature exit
        pass
    os._exit(0)


def _describe(exc, limit):
    """"Type: message", capped; never raises (the exception's __str__ is untrusted code)."""
    try:
        message = str(exc)
        text = "%s: %s" % (type(exc).__name__, message) if message else type(exc).__name__
    except BaseException:
        text = "<unprintable exception>"
    return text[:limit]


class _Opaque(Exception):
    """The value is not made of exact builtin types (or is too big): it is not reported."""


_DICT_TYPES = (dict, collections.Counter, collections.OrderedDict, collections.defaultdict)
_TAGS = ((tuple, "t"), (set, "s"), (frozenset, "f"))
_TYPE_NAME = type.__dict__["__name__"].__get__  # a metaclass cannot override this one


def _encode(value, budget, depth=0, _type=type, _len=len, _items=dict.items, _hex=bytes.hex,
            _dict_types=_DICT_TYPES, _tags=_TAGS):
    """`value` as JSON-ready data built from exact builtin types (see envs/values.py).

    Exact type checks, and only builtin methods bound before the program ran, so no method
    of the program's (a lying `__eq__`, `__iter__`, `__repr__`) is called. `budget` is a
    one-element list of characters left; raises _Opaque when out of it or too deep.
    """
    kind = _type(value)
    budget[0] -= 1
    if budget[0] < 0 or depth > _MAX_DEPTH:
        raise _Opaque("a value too large or too deeply nested to report")
    # identity checks only: `in` or `==` on types would consult a program's metaclass
    if value is None or kind is bool or kind is float:
        return value
    if kind is int or kind is str:
        budget[0] -= value.bit_length() // 3 if kind is int else _len(value)
        if budget[0] < 0:
            raise _Opaque("a value too large to report")
        return value
    if kind is list:
        return [_encode(item, budget, depth + 1) for item in value]
    for container, tag in _tags:
        if kind is container:
            return {tag: [_encode(item, budget, depth + 1) for item in value]}
    for mapping in _dict_types:
        if kind is mapping:
            return {"d": [[_encode(k, budget, depth + 1), _encode(v, budget, depth + 1)]
                          for k, v in _items(value)]}
    if kind is bytes:
        budget[0] -= 2 * _len(value)
        if budget[0] < 0:
            raise _Opaque("a value too large to report")
        return {"b": _hex(value)}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    raise _Opaque("a %s, not a builtin value" % _TYPE_NAME(kind))


def _run_tests(program, steps, token, detail_chars, repr_chars, _write=os.write, _dumps=json.dumps,
               _compile=compile, _exec=exec, _eval=eval, _encode=_encode, _Opaque=_Opaque,
               _AssertionError=AssertionError, _SystemExit=SystemExit, _ValueError=ValueError):
    """Exec the program, then each step; one token-tagged report line per step on fd 3.

    The callables are bound as defaults so a program that rebinds builtins cannot reach
    them by name. A program that walks frames or the gc CAN find the token and write any
    report: that is why value steps report only data and the parent decides (pool.py).
    """

    def report(rec):
        rec["t"] = token
        data = memoryview((_dumps(rec) + "\n").encode())
        while data:
            data = data[_write(_REPORT_FD, data):]

    ns = {"__name__": "__main__", "__builtins__": builtins}
    try:
        _exec(_compile(program, "<program>", "exec"), ns)
    except _SystemExit:
        raise
    except BaseException as e:
        report({"k": "program", "ok": False, "d": _describe(e, detail_chars)})
        return
    report({"k": "program", "ok": True})
    for i, step in enumerate(steps):
        rec = {"k": "test", "i": i}
        try:
            if step["mode"] == "value":
                value = _eval(_compile(step["code"], "<test %d>" % i, "eval"), ns)
                try:
                    rec.update(s="value", v=_encode(value, [repr_chars]))
                    report(rec)
                    continue
                except _Opaque as e:
                    rec.update(s="opaque", d=e.args[0])
                except RecursionError:
                    rec.update(s="opaque", d="a value nested too deeply")
                except _ValueError:  # json: an int beyond the str-conversion digit limit
                    rec.pop("v", None)
                    rec.update(s="opaque", d="an int too large to report")
            else:
                _exec(_compile(step["code"], "<test %d>" % i, "exec"), ns)
                rec["s"] = "pass"
        except _SystemExit:
            raise
        except _AssertionError as e:
            detail = _describe(e, detail_chars)
            if detail == "AssertionError":  # a bare assert: show the test instead
                detail = ("assertion failed: " + step["code"])[:detail_chars]
            rec.update(s="fail", d=detail)
        except BaseException as e:
            rec.update(s="error", d=_describe(e, detail_chars))
        report(rec)


# ---- the server side of one execution -----------------------------------------------------
def run_one(lim, req_fd, streams, private, scratch, ids):
    """Fork one child for the next request and see it through; the status frame's fields.

    The child reads its own request and writes its output and reports straight to the host
    (`streams`); this server only waits, kills and cleans up.
    """
    ack_r, ack_w = os.pipe()
    start = time.monotonic()
    child = os.fork()
    if child == 0:
        os.close(ack_r)
        _child_main(lim, req_fd, ack_w, streams, scratch.path, ids)
    os.close(ack_w)
    status, usage, timed_out = teardown.wait_child(child, start + lim["timeout_s"])
    cleanup = teardown.kill_descendants(child, private)  # no writer of the streams is left after this
    acked = bool(select.select([ack_r], [], [], 0)[0]) and os.read(ack_r, 1) == b"1"
    os.close(ack_r)
    notes = [] if acked else ["the child died before reading its whole request"]
    dirty = not scratch.clear() or not acked
    return {
        "end": "signaled" if os.WIFSIGNALED(status) else "exited",
        "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "cleanup": cleanup,
        "notes": notes,
        "dirty": dirty,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "duration_s": time.monotonic() - start,
    }


def _warm_up():
    """Exercise compile/exec/eval/json once here so every forked child inherits the lazily
    initialised parser and allocator state instead of faulting it in (~5x cheaper forks)."""
    ns = {"__name__": "__warmup__"}
    exec(compile("def f(a, b):\n    return [a + b, {'k': (a, b)}]\n", "<warm-up>", "exec"), ns)
    exec(compile("assert f(1, 2)[0] == 3", "<warm-up>", "exec"), ns)
    json.dumps({"k": "test", "i": 0, "s": "value", "v": _encode(eval(compile("f(1, 2)", "<warm-up>", "eval"), ns), [100])})
    try:
        exec(compile("assert f(1, 1)[0] == 3, 'x'", "<warm-up>", "exec"), ns)
    except AssertionError as e:
        _describe(e, 100)


def _self_test(ids):
    """Fail at startup, with the reason, if children could not be isolated as promised: the
    syscall filter must refuse memfds, and the uid drop must leave no capability."""
    pid = os.fork()
    if pid == 0:
        try:
            try:
                os.close(os.memfd_create("probe"))
                raise SystemExit("memfd_create is allowed: the syscall filter is not in force")
            except PermissionError:
                pass
            if ids is not None:
                _drop_identity(*ids)
            os._exit(0)
        except BaseException as e:
            sys.stderr.write("forkserver: cannot isolate a child: %r\n" % (e,))
            sys.stderr.flush()
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if status:
        raise SystemExit(1)


def main():
    config = json.loads(sys.argv[1])
    req_fd, resp_fd = os.dup(0), os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # a stray print can never corrupt the framing
    streams = tuple(config["streams"])
    # Root hosts: children drop to this uid, the server keeps another (see the docstring);
    # elsewhere server and children share the one mapped uid.
    ids = (config["uid"], config["gid"]) if config.get("uid") is not None else None
    _prctl(_PR_SET_DUMPABLE, 0)  # a child may not ptrace us or open our /proc fds
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _deny_syscalls(config["seccomp"])
    private, why = _prove_private_pidns(config.get("host_pidns"))
    # the scratch dir is made by the launcher for this worker alone; the cleaner runs as the child
    scratch = teardown.Scratch(config.get("scratch"), None if ids is None else lambda: _drop_identity(*ids))
    _self_test(ids)
    _warm_up()
    write_frame(resp_fd, {"hello": 1, "pid": os.getpid(), "uid": os.getuid(), "pidns_private": private, "why": why})
    while True:
        header = read_frame(req_fd)  # limits only; the child reads the body itself
        if header is None:
            break
        write_frame(resp_fd, run_one(header["limits"], req_fd, streams, private, scratch, ids))


if __name__ == "__main__":
    main()
