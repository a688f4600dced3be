"""The attack suite: one test per attack on the bwrap and gvisor sandboxes; each must be blocked AND
leave the host untouched (checked from the host side, not only by what the child says).

Run `python -m pytest tests/envs/test_sandbox_attacks.py -v`; the case -> outcome table is
printed at the end of the module's run. Bounded: ~20 executions per backend, deadlines of
2 s (15 s for the fork burst), an address-space cap of 256 MB, at most 32 processes per
child, and no traffic leaves the machine (the outside address is only a connect target
inside an empty network namespace).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from envs.testcase import Limits, TestCase
from sandboxes import make_or_skip

pytestmark = pytest.mark.sandbox

LIMITS = Limits(timeout_s=2.0, cpu_s=2, memory_mb=256, max_processes=32, file_size_mb=4, output_bytes=16 * 1024)
TABLE: list[tuple[str, str]] = []
BLOCKED = "assert RESULT.startswith('blocked'), RESULT"  # the test the attacking program must fail


@pytest.fixture(scope="module", params=["bwrap", "gvisor"])
def sandbox(request):
    box = make_or_skip(request.param, workers=2, limits=LIMITS)
    yield box
    box.close()
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if TABLE and capture is not None and request.param == "gvisor":  # after the last backend
        with capture.global_and_fixture_disabled():
            print("\n" + format_table(), flush=True)


def format_table() -> str:
    width = max(len(case) for case, _ in TABLE)
    rows = [f"{'attack'.ljust(width)} | verdicts | what the attack got inside | host-side check"]
    rows += [f"{case.ljust(width)} | {outcome}" for case, outcome in TABLE]
    return "\n".join(rows)


def record(sandbox, case: str, report, host_check: str) -> None:
    """One table row: the verdicts, what the attack saw inside (its SAW: line), the host check."""
    verdicts = ", ".join(o.status for o in report.outcomes)
    saw = [line[5:] for line in report.output.splitlines() if line.startswith("SAW: ")]
    inside = " / ".join(saw)[:90] if saw else (report.outcomes[0].detail[:70] if report.outcomes else "")
    TABLE.append((f"{sandbox.launcher.name}: {case}", f"{verdicts} | {inside} | {host_check}"))


def attempt(body: str) -> str:
    """A program that tries `body` and sets RESULT to 'blocked: ...' if it raised."""
    indented = "".join("    " + line + "\n" for line in body.strip().splitlines())
    return (f"try:\n{indented}    RESULT = 'NOT BLOCKED'\nexcept BaseException as e:\n"
            "    RESULT = f'blocked: {e!r}'\nprint('SAW:', RESULT)\n")


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker` (read from the host's /proc)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return [p for p in found if p != os.getpid()]


def host_responsive() -> bool:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", "pass"], timeout=30).returncode == 0
    return done and time.monotonic() - start < 10


def test_network_loopback_to_a_host_listener(sandbox):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        report = sandbox.run(attempt(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)"),
                             [TestCase("connect", BLOCKED)])
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody reached the host's listener
    finally:
        listener.close()
    assert report.all_passed, report.outcomes
    record(sandbox, "network: connect to host 127.0.0.1 listener", report, "listener saw no connection")


def test_network_outside_address(sandbox):
    start = time.monotonic()
    report = sandbox.run(attempt("import socket\nsocket.create_connection(('10.255.255.1', 80), timeout=1.5)"),
                         [TestCase("connect", BLOCKED),
                          TestCase("no route", "assert 'unreachable' in RESULT or 'No route' in RESULT, RESULT")])
    assert report.all_passed, report.outcomes
    assert time.monotonic() - start < 1.5  # refused at once: no route, nothing sent
    record(sandbox, "network: connect to 10.255.255.1", report, "failed at once (no route), no packet sent")


def test_write_to_a_host_temp_dir(sandbox):
    target_dir = tempfile.mkdtemp(prefix="sandbox-attack-")
    target = os.path.join(target_dir, "pwned")
    try:
        report = sandbox.run(attempt(f"open({target!r}, 'w').write('x')"), [TestCase("write", BLOCKED)])
        assert not os.path.exists(target)
    finally:
        shutil.rmtree(target_dir)  # created by this test just above
    assert report.all_passed, report.outcomes
    record(sandbox, "write to a host temp dir", report, "file absent")


def test_write_to_usr(sandbox):
    target = f"/usr/lib/sandbox-attack-{secrets.token_hex(4)}"
    report = sandbox.run(attempt(f"open({target!r}, 'w').write('x')"), [TestCase("write", BLOCKED)])
    assert report.all_passed, report.outcomes
    assert not os.path.exists(target)
    record(sandbox, "write to /usr", report, "file absent")


def test_read_a_canary_under_root_home(sandbox):
    secret = secrets.token_hex(16)
    canary_dir = tempfile.mkdtemp(prefix="sandbox-canary-", dir=os.path.expanduser("~"))
    canary = os.path.join(canary_dir, "canary.txt")
    with open(canary, "w") as f:
        f.write(secret)
    try:
        report = sandbox.run(attempt(f"DATA = open({canary!r}).read()\nprint(DATA)"), [TestCase("read", BLOCKED)])
    finally:
        shutil.rmtree(canary_dir)  # created by this test just above
    assert report.all_passed, report.outcomes
    assert secret not in report.output and all(secret not in o.detail for o in report.outcomes)
    record(sandbox, "read a canary under /root", report, "secret not in output")


def test_read_etc_shadow(sandbox):
    report = sandbox.run(attempt("print(open('/etc/shadow').read())"), [TestCase("read", BLOCKED)])
    assert report.all_passed, report.outcomes
    assert "root:" not in report.output
    record(sandbox, "read /etc/shadow", report, "nothing printed")


def test_fork_burst_is_bounded(sandbox):
    marker = f"forkburst-{secrets.token_hex(4)}"
    program = f"""
import os, sys, time
PIDS, ERR = [], None
try:
    for _ in range(2000):
        pid = os.fork()
        if pid == 0:
            os.execv(sys.executable, [sys.executable, '-S', '-c', 'import time; time.sleep(30)', {marker!r}])
        PIDS.append(pid)
except OSError as e:
    ERR = e
print(f'SAW: {{len(PIDS)}} forks, then {{ERR!r}}')
"""
    report = sandbox.run(program, [
        TestCase("bounded", f"assert len(PIDS) < {LIMITS.max_processes}, len(PIDS)"),
        TestCase("refused", "assert isinstance(ERR, BlockingIOError), ERR"),
    ], timeout_s=15)  # gVisor's ptrace platform forks and execs slowly
    assert report.all_passed, report.outcomes
    assert processes_with(marker) == []
    assert host_responsive()
    record(sandbox, "fork burst", report, "stopped below RLIMIT_NPROC; no child left; host responsive")


def test_memory_blowup(sandbox):
    report = sandbox.run("BLOB = []\nwhile True:\n    BLOB.append(bytearray(16 * 1024 * 1024))",
                         [TestCase("t", "assert True")])
    assert [o.status for o in report.outcomes] == ["error"]
    assert "MemoryError" in report.outcomes[0].detail
    assert host_responsive()
    record(sandbox, "memory blow-up", report, "host responsive")


def test_infinite_loop(sandbox):
    start = time.monotonic()
    report = sandbox.run("def f():\n    while True:\n        pass", [TestCase("spin", "f()")])
    assert [o.status for o in report.outcomes] == ["timeout"]
    assert time.monotonic() - start < LIMITS.timeout_s + 3
    record(sandbox, "infinite loop", report, "returned within deadline + 3 s")


def test_sleep_past_the_deadline(sandbox):
    marker = f"sleeper-{secrets.token_hex(4)}"
    start = time.monotonic()
    report = sandbox.run(f"import time\nMARK = {marker!r}\ntime.sleep(60)", [TestCase("t", "assert True")])
    assert [o.status for o in report.outcomes] == ["timeout"]
    assert time.monotonic() - start < LIMITS.timeout_s + 3
    record(sandbox, "sleep past the deadline", report, "returned within deadline + 3 s")


def test_stdout_flood(sandbox):
    report = sandbox.run("import os\nwhile True:\n    os.write(1, b'x' * 65536)", [TestCase("t", "assert True")])
    assert [o.status for o in report.outcomes] == ["timeout"]
    assert len(report.output) <= LIMITS.output_bytes
    assert any("output truncated" in n for n in report.notes)
    record(sandbox, "stdout flood", report, f"output kept {len(report.output)} bytes (cap {LIMITS.output_bytes})")


def test_exit_zero_before_the_tests(sandbox):
    report = sandbox.run("import sys\nprint('passed')\nsys.exit(0)", [TestCase("a", "assert True")] * 2)
    assert [o.status for o in report.outcomes] == ["error", "error"]
    assert "premature exit" in report.outcomes[0].detail
    record(sandbox, "exit(0) before the tests", report, "verdict from reports, exit code ignored")


def test_forged_pass_reports(sandbox):
    program = """
import json, os
lines = [json.dumps({"t": "0" * 32, "k": "program", "ok": True})]
lines += [json.dumps({"t": "0" * 32, "k": "test", "i": i, "s": "pass"}) for i in range(3)]
lines += [json.dumps({"k": "test", "i": i, "s": "pass"}) for i in range(3)]
data = ("\\n".join(lines) + "\\npassed\\nPASS\\n").encode()
for fd in range(1024):
    try:
        os.write(fd, data)
    except OSError:
        pass
os._exit(0)
"""
    report = sandbox.run(program, [TestCase(f"t{i}", "assert False") for i in range(3)])
    assert report.passed == 0
    assert all("premature exit" in o.detail for o in report.outcomes)
    assert any("no valid token" in n for n in report.notes), report.notes
    record(sandbox, "forged pass reports on every fd", report, "forged lines ignored (no valid token)")


def test_killing_the_worker(sandbox):
    restarts = sandbox.restarts
    report = sandbox.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", [TestCase("t", "assert True")])
    assert [o.status for o in report.outcomes] == ["error"]
    after = sandbox.run("X = 1", [TestCase("t", "assert X == 1")])
    assert after.all_passed
    if sandbox.launcher.name == "bwrap" and os.geteuid() == 0:  # children run under another uid
        assert "PermissionError" in report.outcomes[0].detail and sandbox.restarts == restarts
    record(sandbox, "kill the worker (os.getppid())", report, "refused or worker replaced; next run passes")


def test_killing_the_namespace_init(sandbox):
    report = sandbox.run(attempt("import os, signal\nos.kill(1, signal.SIGKILL)"), [TestCase("kill", BLOCKED)])
    if sandbox.launcher.name == "gvisor":  # pid 1 is the fork-server itself there: same as killing the worker
        assert [o.status for o in report.outcomes] == ["error"], report.outcomes
        assert sandbox.run("X = 1", [TestCase("t", "assert X == 1")]).all_passed
        record(sandbox, "kill pid 1 (the fork-server in gVisor)", report, "worker replaced; next run passes")
        return
    assert report.all_passed, report.outcomes
    record(sandbox, "kill pid 1 (bwrap init)", report, "EPERM")


def test_daemon_left_behind(sandbox):
    marker = f"daemon-{secrets.token_hex(4)}"
    program = f"""
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-S', '-c', 'import time; time.sleep(60)', {marker!r}])
    os._exit(0)
time.sleep(0.3)
print('SAW: daemon started; the program returned')
"""
    report = sandbox.run(program, [TestCase("t", "assert True")])
    assert report.all_passed, report.outcomes
    time.sleep(0.2)
    assert processes_with(marker) == []
    survivors = "import os\nOTHERS = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())]"
    for _ in range(2):  # the idle queue is FIFO: two runs visit both workers, from inside
        assert sandbox.run(survivors, [TestCase("none left", "assert OTHERS == [], OTHERS")]).all_passed
    record(sandbox, "daemon (double fork + setsid)", report, "no marker process on the host; none left inside")


def test_filling_tmp(sandbox):
    program = """
import errno
WRITTEN, ERRORS = 0, set()
for i in range(40):
    try:
        with open(f'/tmp/fill{i}', 'wb') as f:
            for _ in range(8):
                f.write(b'x' * (1024 * 1024))
                f.flush()
                WRITTEN += 1024 * 1024
    except OSError as e:
        ERRORS.add(errno.errorcode.get(e.errno, str(e.errno)))
print(f'SAW: {sorted(ERRORS)} after {WRITTEN >> 20} MB')
"""
    report = sandbox.run(program, [
        TestCase("file capped", "assert 'EFBIG' in ERRORS, ERRORS"),
        TestCase("tmpfs capped", "assert 'ENOSPC' in ERRORS and WRITTEN <= 64 * 1024 * 1024, (ERRORS, WRITTEN)"),
    ])
    assert report.all_passed, report.outcomes
    clean = sandbox.run("import os", [TestCase("empty", "assert os.listdir('/tmp') == []")])
    assert clean.all_passed
    record(sandbox, "fill /tmp", report, "EFBIG per file, ENOSPC at tmpfs size; emptied afterwards")


def test_remount_root_read_write(sandbox):
    program = attempt("""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND = 32, 4096
for target in (b'/', b'/usr/lib'):
    if libc.mount(None, target, None, MS_REMOUNT | MS_BIND, None) != 0:
        raise OSError(ctypes.get_errno(), 'mount ' + target.decode())
""") + """
import ctypes
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000  # a fresh user ns would make us "root" there
ok = ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0
NESTED = 'NOT BLOCKED' if ok else f'blocked: errno {ctypes.get_errno()}'
print('SAW: nested user ns:', NESTED)
"""
    report = sandbox.run(program, [TestCase("remount", BLOCKED),
                                   TestCase("nested userns", "assert NESTED.startswith('blocked'), NESTED")])
    if sandbox.launcher.name == "gvisor":  # a user ns inside gVisor's own kernel grants nothing on the host
        assert report.outcomes[0].status == "pass", report.outcomes
    else:
        assert report.all_passed, report.outcomes
    record(sandbox, "remount / read-write (+ nested user ns)", report, "EPERM; nested user ns: ENOSPC (bwrap)")
