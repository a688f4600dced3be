"""Nothing carries over between executions (issue 30): one test per class of leftover.

Each test runs a program that plants something (output and errors in memory, keyring keys,
memfds and shared memory, files, processes), then a probe program twice: the pool's idle
queue is FIFO, so the probes run once on the planting worker and once on the other one
(checked through each worker's own network namespace). Every probe must find nothing.

Bounded: one pool of two bwrap workers, three executions per test, 3 s deadlines, 256 MB of
address space; the memfd plant asks for at most 600 MB and is refused at the first one.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import pytest

from envs.sandbox import seccomp
from envs.sandbox.base import SandboxUnavailable
from envs.testcase import Limits, TestCase
from sandboxes import make_or_skip

pytestmark = pytest.mark.sandbox

LIMITS = Limits(timeout_s=3.0, cpu_s=3, memory_mb=256, max_processes=16)
WHERE = "import os as _os\nprint('worker', _os.readlink('/proc/self/ns/net'))\n"  # each worker has its own
NOTHING = "[]"


@pytest.fixture(scope="module")
def sandbox():
    box = make_or_skip("bwrap", workers=2, limits=LIMITS)
    yield box
    box.close()


def worker_of(report) -> str:
    lines = [line for line in report.output.splitlines() if line.startswith("worker ")]
    assert len(lines) == 1, report.output
    return lines[0]


def plant_then_probe(sandbox, plant: str, plant_tests, probe: str, probe_test: TestCase):
    """Run `plant`, then `probe` on both workers; the probe's test must pass on each."""
    planted = sandbox.run(WHERE + plant, plant_tests)
    probes = []
    while len(probes) < 6 and len({worker_of(r) for r in probes}) < 2:  # which worker a run gets is the pool's choice
        probes.append(sandbox.run(WHERE + probe, [probe_test]))
    visited = {worker_of(r) for r in probes}
    assert len(visited) == 2 and worker_of(planted) in visited, "the probes did not visit both workers"
    for report in probes:
        assert report.all_passed, (report.outcomes, report.notes)
    return planted


def reversed_hex(text: str) -> str:
    """How a probe names what it looks for without holding those bytes itself."""
    return text.encode()[::-1].hex()


SCANNER = """
import ctypes
_libc = ctypes.CDLL(None)
_libc.memmem.restype = ctypes.c_void_p
_libc.memmem.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
_SKIP = ('[vvar]', '[vvar_vclock]', '[vsyscall]')

def _needle(rev_hex):
    raw = bytes.fromhex(rev_hex)  # the reversed bytes; the needle is built one byte at a time
    buf = ctypes.create_string_buffer(len(raw))
    for i in range(len(raw)):
        buf[i] = raw[len(raw) - 1 - i]
    return buf, len(raw)

def found_in_memory(rev_hex):
    '''Where the text reversed in `rev_hex` is in this process's readable memory (not counting
    the one buffer that holds the needle), searched in place with memmem: no copies.'''
    buf, size = _needle(rev_hex)
    own, where = ctypes.addressof(buf), []
    with open('/proc/self/maps') as maps:
        regions = [line.split() for line in maps]
    for fields in regions:
        if not fields[1].startswith('r') or (len(fields) > 5 and fields[5] in _SKIP):
            continue
        lo, hi = (int(x, 16) for x in fields[0].split('-'))
        at = lo
        while at < hi:
            hit = _libc.memmem(at, hi - at, own, size)
            if not hit:
                break
            if hit != own:
                where.append(fields[5] if len(fields) > 5 else 'anonymous')
            at = hit + 1
    return where
"""


def test_earlier_requests_and_responses_are_not_in_inherited_memory(sandbox):
    tag = secrets.token_hex(8)
    request, output, error, control = (f"{kind}-{tag}" for kind in ("REQUEST", "OUTPUT", "ERROR", "CONTROL"))
    # the response markers are built at run time, so only the response (not the request) holds them
    plant = (f"KEPT = {request!r}\nprint(''.join(reversed({output[::-1]!r})))\n"
             f"def f():\n    raise ValueError(''.join(reversed({error[::-1]!r})))\n")
    planted_tests = [TestCase("error", "f()", expected="1"), TestCase("request", f"assert KEPT == {request!r}")]
    checks = ", ".join(f"({name!r}, found_in_memory({reversed_hex(text)!r}) != [])"
                       for name, text in (("request", request), ("output", output), ("error", error),
                                          ("control", control)))
    # the scan runs in the program (one execution, then the host reads FOUND): a test that
    # computed over program values would be replayed, which runs the program again
    probe = (SCANNER + f"CONTROL = ''.join(reversed({control[::-1]!r}))  # built here, at run time: must be found\n"
             f"FOUND = [name for name, hit in [{checks}] if hit]\n")
    planted = plant_then_probe(sandbox, plant, planted_tests, probe,
                               TestCase("only the probe's own", "FOUND", expected="['control']"))
    assert output in planted.output and error in planted.outcomes[0].detail, (planted.output, planted.outcomes)


KEYRINGS = {"thread": -1, "process": -2, "session": -3, "user": -4, "user-session": -5}


def test_keyrings_are_refused_and_nothing_is_found_later(sandbox):
    nr = seccomp.syscall_numbers()
    desc = f"carried-{secrets.token_hex(6)}"
    helpers = f"""
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
RINGS = {KEYRINGS!r}
def _call(*args):
    result = _libc.syscall(*args)
    return result if result >= 0 else -ctypes.get_errno()
def persistent():
    return _call({nr['keyctl']}, 22, -1, -4)  # KEYCTL_GET_PERSISTENT(this uid) into the user keyring
def add(ring):
    return _call({nr['add_key']}, b'user', {desc!r}.encode(), b'secret', 6, ring)
def search(ring):
    return _call({nr['keyctl']}, 10, ring, b'user', {desc!r}.encode(), 0)  # KEYCTL_SEARCH
"""
    plant = helpers + "ADDED = [add(r) for r in [*RINGS.values(), persistent()]]\n"
    probe = helpers + f"""
def found():
    hits = [name for name, ring in [*RINGS.items(), ('persistent', persistent())] if search(ring) >= 0]
    with open('/proc/keys') as listing:  # every key this process may view
        return hits + [line for line in listing if {desc!r} in line]
"""
    planted = plant_then_probe(sandbox, plant, [TestCase("refused", "ADDED", expected=repr([-1] * 6))],
                               probe, TestCase("none found", "found()", expected=NOTHING))
    assert planted.all_passed, planted.outcomes  # every add_key failed with EPERM (the filter)


def test_memfd_and_shared_memory_are_refused_and_nothing_is_left(sandbox):
    nr = seccomp.syscall_numbers()
    plant = f"""
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
def unmapped_megabytes():
    '''Memory held outside the address space: up to 150 memfds of 4 MB, then /dev/shm files.'''
    stored, kept = 0, []
    for make in (lambda i: os.memfd_create('m%d' % i),
                 lambda i: os.open('/dev/shm/s%d' % i, os.O_CREAT | os.O_RDWR, 0o600)):
        for i in range(150):
            try:
                fd = make(i)
                os.write(fd, bytes(4 << 20))
            except OSError:
                break
            kept.append(fd)
            stored += 4
    return stored
IPC = [_libc.syscall({nr['shmget']}, 0, 64 << 20, 0o1600), _libc.syscall({nr['msgget']}, 0, 0o1600),
       _libc.syscall({nr['semget']}, 0, 1, 0o1600), _libc.syscall({nr['mq_open']}, b'q', 0o100, 0o600, None)]
"""
    probe = """
import os
def left():
    found = [('shm', name) for name in os.listdir('/dev/shm')]
    for kind in ('shm', 'msg', 'sem'):
        with open('/proc/sysvipc/' + kind) as table:
            found += [('sysv', line) for line in table.readlines()[1:]]
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            fds = os.listdir('/proc/%s/fd' % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink('/proc/%s/fd/%s' % (pid, fd))
            except OSError:
                continue
            if 'memfd:' in target or '/dev/shm' in target:
                found.append((pid, target))
    return found
"""
    planted = plant_then_probe(sandbox, plant, [TestCase("none stored", "unmapped_megabytes()", expected="0"),
                                                TestCase("no IPC", "IPC", expected="[-1, -1, -1, -1]")],
                               probe, TestCase("none left", "left()", expected=NOTHING))
    assert planted.all_passed, planted.outcomes


def test_no_file_is_left_for_the_next_program(sandbox):
    plant = """
import os
for base in ('/tmp', os.getcwd(), os.environ['HOME'], os.environ['TMPDIR']):
    open(os.path.join(base, 'left-%d' % len(base)), 'w').write('x')
os.makedirs('/tmp/a/b/c')
open('/tmp/a/b/c/deep', 'w').write('x')
os.mkdir('/tmp/locked')
open('/tmp/locked/inside', 'w').write('x')
os.chmod('/tmp/locked', 0)
open('/tmp/.hidden', 'w').write('x')
BLOCKED = []
for path in ('/dev/shm/x', '/var/tmp/x', '/x'):
    try:
        open(path, 'w').write('x')
    except OSError as e:
        BLOCKED.append(type(e).__name__)
"""
    probe = """
import os
def left():
    found = []
    for base in ('/tmp', '/dev/shm', os.getcwd(), os.environ['HOME']):
        for root, dirs, files in os.walk(base):
            found += [os.path.join(root, name) for name in dirs + files]
    return sorted(set(found))
"""
    planted = plant_then_probe(sandbox, plant, [TestCase("outside the scratch: refused", "len(BLOCKED)",
                                                         expected="3")],
                               probe, TestCase("none left", "left()", expected=NOTHING))
    assert planted.all_passed, planted.outcomes


def test_no_process_is_left_for_the_next_program(sandbox):
    plant = """
import os, signal, time
for _ in range(3):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(30)
        os._exit(0)
time.sleep(0.2)
"""
    probe = """
import os
def others():  # pid 1 (bwrap's init) and the fork-server are expected; nothing else
    return sorted(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getppid(), os.getpid()))
"""
    plant_then_probe(sandbox, plant, [TestCase("ran", "1", expected="1")],
                     probe, TestCase("none left", "others()", expected=NOTHING))


# ---- the filter itself, on the host ---------------------------------------------------------
FILTER_CHECK = """
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class Prog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
code = bytes.fromhex(sys.argv[1])
buf = ctypes.create_string_buffer(code, len(code))
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(Prog(len(code) // 8, ctypes.addressof(buf))), 0, 0) == 0
result = {}
for name, nr in json.loads(sys.argv[2]).items():
    ctypes.set_errno(0)
    result[name] = (libc.syscall(nr, 0, 0, 0, 0, 0), ctypes.get_errno())
result['getpid'] = (int(os.getpid() > 0), 0)
print(json.dumps(result))
"""


def test_the_filter_refuses_its_calls_with_eperm_and_allows_others():
    numbers = seccomp.syscall_numbers()
    done = subprocess.run([sys.executable, "-I", "-c", FILTER_CHECK, seccomp.build_filter().hex(), json.dumps(numbers)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    eperm = 1
    assert {name: tuple(result[name]) for name in numbers} == {name: (-1, eperm) for name in numbers}
    assert result["getpid"] == [1, 0]


def test_an_unknown_architecture_is_refused_with_the_reason():
    with pytest.raises(SandboxUnavailable, match="knows only x86_64, aarch64, not 'riscv64'"):
        seccomp.build_filter("riscv64")
