"""The fork-server: runs INSIDE the sandbox, forks one child per execution of untrusted code.

Executed by path (`python -I -S -B forkserver.py CONFIG_JSON`), never imported by the host;
stdlib only, because inside the sandbox nothing else is guaranteed to exist. How an
execution ends (waiting, killing descendants, emptying scratch) is in `teardown.py`, which
the launchers bind beside this file.

Protocol (frames are a 4-byte big-endian length, then UTF-8 JSON):
- fd 0 (from the host): two frames per execution: a header {"limits": {...}} this server
  reads, then a body {"token", "program", "steps": [{"t", "h", "o"}]} that only the forked
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
the request's CPU, AS, NPROC and FSIZE limits; then the program, then its steps (`_Steps`).
No test code runs here: a step is one operation the judge recorded (envs/sandbox/harness.py)
on the program's own names and objects: ["call", target, args, kwargs], ["attr", target, name],
["item", target, key], ["wrap", builtin, args, kwargs] (a builtin as it was before the program
ran, applied to a program value: `len(f(x))`), ["name", name], ["setattr"/"setitem", ...]; a
target is a program name or an earlier step's result, arguments are data (envs/values.py), with
{"r": k} for step k's result and identity numbers for the test's mutable objects. A step of
test t with "h" set that raises ends the steps of test t (the test would stop there). The
deadline is enforced here (SIGKILL) and again by the host (it kills the whole worker).

The child reports each step over fd 3 (its report pipe, read by the host directly) as one JSON
line tagged with the per-execution token: the value as data built from exact builtin types only
(`_encode`; decoded by envs/values.py), never a repr the program could shape, or that the
result is the very object of an argument or an earlier result ("@"), or not builtin data
("opaque"), or the exception (with its nearest builtin class); and the arguments the call
changed in place ("m"). This server never reads those bytes. The HOST validates them and
decides every verdict, because the child shares this sandbox, this uid and possibly this
server's fate (it may kill or stop it). Nothing here decides pass or fail.

Descendant cleanup after each execution: `kill(-1, SIGKILL)` only when the PID namespace
was proved private at startup (it differs from the host's, which the host passes in, and
held nothing but pid 1 and this server); otherwise the child's process group is killed and
orphans re-parented to this server (it is a child subreaper) are killed until none remain.
"""

import builtins
import collections
import copy
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
        _run_steps(req["program"], req["steps"], req.pop("token"), lim["detail_chars"], lim["repr_chars"])
    except BaseException:  # SystemExit included: the host calls unreported tests a premature exit
        pass
    os._exit(0)


def _describe(exc, limit):
    """"Type: message (<program>, line N)", capped; never raises (the exception's __str__ is
    untrusted code). The line is the last one of the program's own code the traceback passes
    through: where a fix would go (envs.locations reads it; the search shows it to the policy)."""
    try:
        message = str(exc)
        text = "%s: %s" % (type(exc).__name__, message) if message else type(exc).__name__
    except BaseException:
        text = "<unprintable exception>"
    where = _program_line(exc)
    return text[:max(0, limit - len(where))] + where


def _program_line(exc):
    """" (<program>, line N)" for the last traceback frame in the program's code, else ""."""
    try:
        line, tb, frames = None, exc.__traceback__, 0
        while tb is not None and frames < 10000:
            if tb.tb_frame.f_code.co_filename == "<program>":
                line = tb.tb_lineno
            tb, frames = tb.tb_next, frames + 1
        return "" if line is None else " (<program>, line %d)" % line
    except BaseException:
        return ""


class _Opaque(Exception):
    """The value is not made of exact builtin types (or is too big): it is not reported."""


_TYPE_NAME = type.__dict__["__name__"].__get__  # a metaclass cannot override this one
_MRO = type.__dict__["__mro__"].__get__
_SEQUENCES = ((tuple, "t"), (set, "s"), (frozenset, "f"))
_MAPPINGS = ((dict, "d"), (collections.Counter, "C"), (collections.OrderedDict, "O"))
_FACTORIES = {t: t.__name__ for t in (int, float, str, bytes, list, dict, set, frozenset, tuple, bool, complex)}
_MUTABLE = (list, dict, set, bytearray, collections.Counter, collections.OrderedDict, collections.defaultdict,
            collections.deque)
_BUILTINS = dict(builtins.__dict__)  # as before any program ran: steps look builtins up here
_BUILTINS.update({"copy.copy": copy.copy, "copy.deepcopy": copy.deepcopy})
_EXCEPTIONS = {name: cls for name, cls in _BUILTINS.items() if isinstance(cls, type) and issubclass(cls, BaseException)}


def _encode(value, budget, depth=0, _type=type, _len=len, _items=dict.items, _hex=bytes.hex, _xhex=bytearray.hex,
            _sequences=_SEQUENCES, _mappings=_MAPPINGS, _factories=_FACTORIES, _list=list):
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
    for container, tag in _sequences:
        if kind is container:
            return {tag: [_encode(item, budget, depth + 1) for item in value]}
    for mapping, tag in _mappings:
        if kind is mapping:
            return {tag: _encode_pairs(_items(value), budget, depth)}
    if kind is collections.defaultdict:
        factory = value.default_factory
        if factory is not None and _type(factory) is not type or factory is not None and factory not in _factories:
            raise _Opaque("a defaultdict whose factory is not a builtin type")
        return {"D": [None if factory is None else _factories[factory], _encode_pairs(_items(value), budget, depth)]}
    if kind is collections.deque:
        return {"q": [[_encode(item, budget, depth + 1) for item in _list(value)], value.maxlen]}
    if kind is bytes or kind is bytearray:
        budget[0] -= 2 * _len(value)
        if budget[0] < 0:
            raise _Opaque("a value too large to report")
        return {"b": _hex(value)} if kind is bytes else {"B": _xhex(value)}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    if kind is range:
        return {"g": [value.start, value.stop, value.step]}
    name = _TYPE_NAME(kind)
    if _EXCEPTIONS.get(name) is kind:  # a builtin exception object: its class and arguments
        args = BaseException.__dict__["args"].__get__(value)
        return {"e": [name, [_encode(arg, budget, depth + 1) for arg in args]]}
    raise _Opaque("a %s, not a builtin value" % name)


def _encode_pairs(items, budget, depth):
    return [[_encode(k, budget, depth + 1), _encode(v, budget, depth + 1)] for k, v in items]


def _decode(data, results, _type=type, _dict=dict, _list=list):
    """A value the judge sent (envs/values.py), rebuilt for the program: the same builtin
    types; {"r": k} is step k's own result object. Raises on anything off-shape."""
    kind = _type(data)
    if data is None or kind is bool or kind is int or kind is float or kind is str:
        return data
    if kind is list:
        return [_decode(item, results) for item in data]
    (tag, body), = data.items()
    if tag == "r":
        return results.get(body)
    if tag in ("t", "s", "f"):
        return {"t": tuple, "s": set, "f": frozenset}[tag](_decode(item, results) for item in body)
    if tag in ("d", "C", "O"):
        return {"d": _dict, "C": collections.Counter, "O": collections.OrderedDict}[tag](
            _dict((_decode(k, results), _decode(v, results)) for k, v in body))
    if tag == "D":
        factory = _BUILTINS[body[0]] if body[0] is not None else None
        return collections.defaultdict(factory, ((_decode(k, results), _decode(v, results)) for k, v in body[1]))
    if tag == "q":
        return collections.deque([_decode(item, results) for item in body[0]], body[1])
    if tag in ("b", "B"):
        return (bytes if tag == "b" else bytearray).fromhex(body)
    if tag == "c":
        return complex(*body)
    if tag == "g":
        return range(*body)
    raise ValueError("unknown value tag")


class _Results(dict):
    """Step index -> the object it produced; a failed step raises its exception again."""

    def get(self, index):
        value = self[index]
        if type(value) is _Failed:
            raise value.exc
        return value


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc):
        self.exc = exc


def _builtin_base(exc, _type=type, _mro=_MRO, _name=_TYPE_NAME, _exceptions=_EXCEPTIONS):
    """Name of the nearest builtin exception class `exc` is an instance of."""
    for cls in _mro(_type(exc)):
        if _exceptions.get(_name(cls)) is cls:
            return _name(cls)
    return "BaseException"


class _Steps:
    """Runs one execution's steps (envs/sandbox/harness.py makes them) against the program's
    namespace: every step is a call, attribute, item or builtin applied to data the judge
    sent or to objects earlier steps produced. No test code runs here."""

    def __init__(self, ns, report, detail_chars, repr_chars):
        self.ns, self.report = ns, report
        self.detail_chars, self.repr_chars = detail_chars, repr_chars
        self.results = _Results()
        self.objects = {}  # identity number -> the object the judge calls it (kept alive)
        self.known = {}  # id(object) -> ["a", n] or ["r", step]: identity of what was reported

    def item(self, item, _type=type):
        if "#" not in item:
            return _decode(item["v"], self.results)
        number = item["#"]
        if "v" not in item:
            return self.objects[number]
        fresh = _decode(item["v"], self.results)
        old = self.objects.get(number)
        if old is not None and _type(old) is _type(fresh) and _type(old) in (list, bytearray):
            old[:] = fresh  # the test changed its object: so does the program's view of it
            return old
        if old is not None and _type(old) is _type(fresh) and _type(old) is not collections.deque:
            old.clear()
            old.update(fresh)
            return old
        self.objects[number] = fresh
        self.known[id(fresh)] = ["a", number]
        return fresh

    def target(self, target):
        if type(target) is int:
            return self.results.get(target)
        if target not in self.ns:
            raise NameError("name %r is not defined" % target)
        return self.ns[target]

    def run(self, op):
        kind = op[0]
        if kind == "name":
            return self.target(op[1]), ()
        if kind in ("call", "wrap"):
            fn = _BUILTINS[op[1]] if kind == "wrap" else self.target(op[1])
            args = [self.item(a) for a in op[2]]
            kwargs = {name: self.item(a) for name, a in op[3]}
            watched = [(i, a) for i, a in enumerate(args) if _one_of(type(a), _MUTABLE)]
            watched += [(name, a) for name, a in kwargs.items() if _one_of(type(a), _MUTABLE)]
            before = [self.snapshot(a) for _, a in watched]
            value = fn(*args, **kwargs)
            changed, budget = [], [self.repr_chars]
            for (where, arg), then in zip(watched, before):
                now = self.snapshot(arg)
                if now != then:  # changed in place: its new content, if it fits in the report
                    changed.append([where, self.snapshot(arg, budget) if now is not None else None])
            return value, changed
        if kind == "attr":
            return getattr(self.target(op[1]), op[2]), ()
        if kind == "item":
            return self.target(op[1])[self.item(op[2])], ()
        if kind == "setattr":
            setattr(self.target(op[1]), op[2], self.item(op[3]))
            return None, ()
        if kind == "setitem":
            self.target(op[1])[self.item(op[2])] = self.item(op[3])
            return None, ()
        raise ValueError("unknown step %r" % kind)

    def snapshot(self, value, budget=None):
        """`value` encoded, to see whether a call changed it (no size cap but the process's
        limits) or to report its new content (within `budget`); None if it cannot be."""
        try:
            return _encode(value, budget if budget is not None else [1 << 40])
        except (_Opaque, RecursionError, ValueError):
            return None

    def reply(self, index, value, changed, _type=type):
        rec = {"k": "step", "i": index, "s": "value"}
        if changed:
            rec["m"] = changed
        same = None if _one_of(_type(value), _IMMUTABLE) else self.known.get(id(value))
        if same is not None:
            rec["@"] = same
            return rec
        try:
            rec["v"] = _encode(value, [self.repr_chars])
        except _Opaque as e:
            rec.update(s="opaque", d=e.args[0])
        except RecursionError:
            rec.update(s="opaque", d="a value nested too deeply")
        except ValueError:  # json: an int beyond the str-conversion digit limit
            rec.update(s="opaque", d="an int too large to report")
        self.known[id(value)] = ["r", index]
        return rec


_IMMUTABLE = (type(None), bool, int, float, str, bytes, tuple, frozenset, complex, range)


def _one_of(kind, types):
    """`kind in types` by identity: `in` would call a program metaclass's __eq__."""
    for t in types:
        if kind is t:
            return True
    return False


def _run_steps(program, steps, token, detail_chars, repr_chars, _write=os.write, _dumps=json.dumps,
               _compile=compile, _exec=exec, _Steps=_Steps, _Failed=_Failed, _SystemExit=SystemExit):
    """Exec the program, then each step; one token-tagged report line per step on fd 3.

    The callables are bound as defaults so a program that rebinds builtins cannot reach
    them by name. A program that walks frames or the gc CAN find the token and write any
    report: that is why steps report only data and the host decides (envs/sandbox/judging.py).
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
    runner = _Steps(ns, report, detail_chars, repr_chars)
    halted = set()
    for i, step in enumerate(steps):
        if step["t"] in halted:  # an earlier call of this test raised where the test would stop
            report({"k": "step", "i": i, "s": "skip"})
            runner.results[i] = _Failed(RuntimeError("not run"))
            continue
        try:
            value, changed = runner.run(step["o"])
        except _SystemExit:
            raise
        except BaseException as e:
            runner.results[i] = _Failed(e)
            if step.get("h"):
                halted.add(step["t"])
            report({"k": "step", "i": i, "s": "error", "d": _describe(e, detail_chars), "e": _builtin_base(e)})
            continue
        runner.results[i] = value
        report(runner.reply(i, value, changed))


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
    """Exercise compile/exec and one step here so every forked child inherits the lazily
    initialised parser and allocator state instead of faulting it in (~5x cheaper forks)."""
    ns = {"__name__": "__warmup__"}
    exec(compile("def f(a, b):\n    return [a + len(b), {'k': (a, b)}]\n", "<warm-up>", "exec"), ns)
    steps = _Steps(ns, lambda rec: json.dumps(rec), 100, 100)
    step = {"t": 0, "h": False, "o": ["call", "f", [{"v": 1}, {"#": 0, "v": [2]}], []]}
    value, changed = steps.run(json.loads(json.dumps(step))["o"])
    json.dumps(steps.reply(0, value, changed))
    _describe(ValueError("x"), 100)


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
