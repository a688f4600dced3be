"""The fork-server: runs INSIDE the sandbox, forks one child per execution of untrusted code.

Executed by path (`python -I -S -B forkserver.py CONFIG_JSON`), never imported by the host;
stdlib only, because inside the sandbox nothing else is guaranteed to exist.

Protocol (frames are a 4-byte big-endian length, then UTF-8 JSON):
- fd 0 (from the host): one request per execution:
  {"token", "program", "tests": [{"code", "expr"}], "limits": {...}}
- fd 1 (to the host): first a hello frame {"hello": 1, "pid", "pidns_private", "why"}, then
  one response per request: {"reports", "output", "end", "code", "signal", "timed_out",
  "cleanup", "notes", "dirty", "cpu_s", "duration_s"}.

The child: new session, stdin /dev/null, stdout+stderr into one capped capture pipe, the
report pipe on fd 3, every other fd closed, RLIMIT_CORE=0 and the request's CPU, AS,
NPROC and FSIZE limits; then the program and each test in one namespace. The deadline
is enforced here (SIGKILL) and again by the host (it kills the whole worker).

The child reports each test over fd 3 (its report pipe) as one JSON line tagged with the
per-execution token; this server only relays those bytes. The HOST validates them and
decides every verdict, because the child shares this sandbox, this uid and possibly this
server's fate (it may kill or stop it). Nothing here decides pass or fail.

Descendant cleanup after each execution: `kill(-1, SIGKILL)` only when the PID namespace
was proved private at startup (it differs from the host's, which the host passes in, and
held nothing but pid 1 and this server); otherwise the child's process group is killed and
orphans re-parented to this server (it is a child subreaper) are killed until none remain.
"""

import builtins
import ctypes
import io
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_REPORT_FD = 3  # the child's report pipe; stdout/stderr go to the capture pipe
_CHUNK = 65536
_DRAIN_AFTER_EXIT_S = 0.5  # how long to wait for pipe EOF once every writer is dead


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


def _pids():
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def _prove_private_pidns(host_pidns):
    """(private, why): private only if our PID namespace is not the host's and is fresh."""
    try:
        mine = os.readlink("/proc/self/ns/pid")
    except OSError as e:
        return False, "cannot read /proc/self/ns/pid (%s)" % e
    if not host_pidns or mine == host_pidns:
        return False, "pid namespace %s is the host's" % mine
    others = _pids() - {1, os.getpid()}
    if os.getpid() > 2 or others:
        return False, "pid namespace %s is not fresh (pid %d, others %s)" % (mine, os.getpid(), sorted(others)[:5])
    return True, "pid namespace %s differs from host %s and held only pid 1 and us" % (mine, host_pidns)


# ---- the child: runs untrusted code, never returns -----------------------------------------
def _child_main(req, out_w, rep_w, scratch):
    try:
        os.setsid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with this server (a courtesy: it can undo it)
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.dup2(rep_w, _REPORT_FD)
        os.closerange(_REPORT_FD + 1, 65536)  # the host's pipes and everything else
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        lim = req["limits"]
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim["file_size_mb"] * mb,) * 2)
        resource.setrlimit(resource.RLIMIT_NPROC, (lim["nproc"],) * 2)
        resource.setrlimit(resource.RLIMIT_AS, (lim["memory_mb"] * mb,) * 2)
        if scratch:
            os.chdir(scratch)
            os.environ["TMPDIR"] = scratch
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), errors="backslashreplace", write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), errors="backslashreplace", write_through=True)
        sys.argv = ["program"]
        _run_tests(req["program"], req["tests"], req.pop("token"), lim["detail_chars"], lim["repr_chars"])
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


def _run_tests(program, tests, token, detail_chars, repr_chars, _write=os.write, _dumps=json.dumps,
               _repr=repr, _compile=compile, _exec=exec, _eval=eval, _len=len,
               _AssertionError=AssertionError, _SystemExit=SystemExit):
    """Exec the program, then each test; one token-tagged report line per step on fd 3.

    The callables are bound as defaults so a program that rebinds builtins cannot reach
    them by name; a program that walks frames or the gc CAN find the token (see pool.py).
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
    for i, test in enumerate(tests):
        rec = {"k": "test", "i": i}
        try:
            if test["expr"]:
                text = _repr(_eval(_compile(test["code"], "<test %d>" % i, "eval"), ns))
                if _len(text) > repr_chars:
                    rec.update(s="fail", d="repr longer than %d characters" % repr_chars)
                else:
                    rec.update(s="value", r=text)
            else:
                _exec(_compile(test["code"], "<test %d>" % i, "exec"), ns)
                rec["s"] = "pass"
        except _SystemExit:
            raise
        except _AssertionError as e:
            detail = _describe(e, detail_chars)
            if detail == "AssertionError":  # a bare assert: show the test instead
                detail = ("assertion failed: " + test["code"])[:detail_chars]
            rec.update(s="fail", d=detail)
        except BaseException as e:
            rec.update(s="error", d=_describe(e, detail_chars))
        report(rec)


# ---- the server side of one execution -----------------------------------------------------
def _my_children():
    """Pids whose parent is this server (orphans come here: we are a child subreaper)."""
    me, kids = os.getpid(), []
    for pid in _pids():
        try:
            with open("/proc/%d/stat" % pid) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                    kids.append(pid)
        except (OSError, ValueError, IndexError):
            continue
    return kids


def _reap_all():
    """Reap exited children; True once this server has no children left at all."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            return False


def _kill_descendants(child, private):
    """SIGKILL every descendant of this execution; returns a one-line account.

    Orphans are re-parented to this server (a child subreaper), so "no children left"
    means no descendant is left.
    """
    deadline = time.monotonic() + 2.0
    if not private:
        try:
            os.killpg(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    while True:
        if private:
            try:
                os.kill(-1, signal.SIGKILL)  # private namespace only: see _prove_private_pidns
            except ProcessLookupError:
                pass
        if _reap_all():
            how = "kill(-1) in private pid namespace" if private else (
                "process group and re-parented orphans killed (pid namespace not private)")
            return how
        if time.monotonic() > deadline:
            return "cleanup incomplete: %d descendants survived" % len(_my_children())
        if not private:
            for pid in _my_children():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        time.sleep(0.0005)


def _clear_scratch(scratch):
    """Empty the scratch dir this sandbox owns; True if it is clean afterwards."""
    if not scratch:
        return True
    for entry in os.scandir(scratch):
        try:
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)  # the child may have made it unreadable
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    return not os.listdir(scratch)  # not empty (e.g. a chmod 000 subdir): the pool recycles us


def run_one(req, private, scratch):
    lim = req["limits"]
    out_r, out_w = os.pipe()
    rep_r, rep_w = os.pipe()
    start = time.monotonic()
    child = os.fork()
    if child == 0:
        os.close(out_r)
        os.close(rep_r)
        _child_main(req, out_w, rep_w, scratch)
    os.close(out_w)
    os.close(rep_w)
    caps = {out_r: lim["output_bytes"], rep_r: lim["report_bytes"]}
    bufs = {out_r: bytearray(), rep_r: bytearray()}
    dropped = {out_r: 0, rep_r: 0}
    open_fds = [out_r, rep_r]
    try:
        pidfd = os.pidfd_open(child)
    except (AttributeError, OSError):
        pidfd = None
    deadline = start + lim["timeout_s"]
    status, usage, timed_out, drain_until, cleanup = None, None, False, None, ""
    while open_fds:
        now = time.monotonic()
        if status is None:
            pid, st, usage = os.wait4(child, os.WNOHANG)
            if pid:
                status = st
            elif now >= deadline:
                timed_out = True
                os.kill(child, signal.SIGKILL)
                _, status, usage = os.wait4(child, 0)
        if status is not None and drain_until is None:
            cleanup = _kill_descendants(child, private)  # every writer is dead after this
            drain_until = time.monotonic() + _DRAIN_AFTER_EXIT_S
        if drain_until is not None:
            wait = max(0.0, drain_until - time.monotonic())
        elif pidfd is None:
            wait = min(0.005, max(0.0, deadline - now))
        else:
            wait = max(0.0, deadline - now)
        watch = open_fds + ([pidfd] if pidfd is not None and status is None else [])
        ready, _, _ = select.select(watch, [], [], wait)
        if not ready and drain_until is not None:
            break
        for fd in ready:
            if fd == pidfd:
                continue
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                open_fds.remove(fd)
                continue
            room = caps[fd] - len(bufs[fd])
            bufs[fd] += chunk[:max(room, 0)]
            dropped[fd] += max(0, len(chunk) - max(room, 0))
    if status is None:  # both pipes closed before exit (the child closed them itself)
        timed_out = _wait_or_kill(child, deadline)
        _, status, usage = os.wait4(child, 0)
        cleanup = _kill_descendants(child, private)
    for fd in (out_r, rep_r) + ((pidfd,) if pidfd is not None else ()):
        os.close(fd)
    notes = []
    if dropped[out_r]:
        notes.append("output truncated: %d bytes dropped" % dropped[out_r])
    if dropped[rep_r]:
        notes.append("report stream truncated: %d bytes dropped" % dropped[rep_r])
    dirty = not _clear_scratch(scratch)
    return {
        "reports": bufs[rep_r].decode("utf-8", "replace"),
        "output": bufs[out_r].decode("utf-8", "replace"),
        "end": "signaled" if os.WIFSIGNALED(status) else "exited",
        "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "cleanup": cleanup,
        "notes": notes,
        "dirty": dirty,
        "cpu_s": usage.ru_utime + usage.ru_stime if usage else 0.0,
        "duration_s": time.monotonic() - start,
    }


def _wait_or_kill(child, deadline):
    """The child closed its pipes but lives on: wait until the deadline, then kill (-> True)."""
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, child, os.WEXITED | os.WNOHANG | os.WNOWAIT):
            return False
        time.sleep(0.002)
    os.kill(child, signal.SIGKILL)
    return True


def _warm_up():
    """Exercise compile/exec/eval/json once here so every forked child inherits the lazily
    initialised parser and allocator state instead of faulting it in (~5x cheaper forks)."""
    ns = {"__name__": "__warmup__"}
    exec(compile("def f(a, b):\n    return [a + b, {'k': (a, b)}]\n", "<warm-up>", "exec"), ns)
    exec(compile("assert f(1, 2)[0] == 3", "<warm-up>", "exec"), ns)
    json.dumps({"k": "test", "i": 0, "s": "value", "r": repr(eval(compile("f(1, 2)", "<warm-up>", "eval"), ns))})
    try:
        exec(compile("assert f(1, 1)[0] == 3, 'x'", "<warm-up>", "exec"), ns)
    except AssertionError as e:
        _describe(e, 100)


def main():
    config = json.loads(sys.argv[1])
    sys.path.extend(config.get("sys_path") or ())  # we run with -S: site-packages without .pth hooks
    req_fd, resp_fd = os.dup(0), os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # a stray print can never corrupt the framing
    if config.get("uid") is not None:
        _drop_identity(config["uid"], config["gid"])
    _prctl(_PR_SET_DUMPABLE, 0)  # the same-uid child may not ptrace us or open our /proc fds
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    private, why = _prove_private_pidns(config.get("host_pidns"))
    scratch = config.get("scratch")  # made by the launcher for this worker alone; we only empty it
    _warm_up()
    write_frame(resp_fd, {"hello": 1, "pid": os.getpid(), "uid": os.getuid(), "pidns_private": private, "why": why})
    while True:
        req = read_frame(req_fd)
        if req is None:
            break
        write_frame(resp_fd, run_one(req, private, scratch))


if __name__ == "__main__":
    main()
