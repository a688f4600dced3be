"""`agent check`: exit statuses 0/1/2, the --json shape, the text report, no tracebacks.

Most tests call `main([...])` with the sandbox factory replaced by `InProcessSandbox`
(trusted example code only) and the real lint gate; the last ones run the real CLI in a
subprocess with the real sandbox.
"""

import json
import os
import subprocess
import sys
import time
from sandboxes import make_or_skip
from pathlib import Path

import pytest

import envs.sandbox
from agent.cli import main
from envs.sandbox.base import SandboxUnavailable
from fakes import InProcessSandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SUM_EVENS = str(EXAMPLES / "sum_evens.json")
SOLUTION = str(EXAMPLES / "sum_evens_solution.py")


@pytest.fixture
def fake_sandbox(monkeypatch):
    made = []

    def factory(backend="bwrap", *, workers=2, limits=None):
        made.append(backend)
        return InProcessSandbox()

    monkeypatch.setattr(envs.sandbox, "make_sandbox", factory)
    return made


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_passing_program_exits_0_with_a_text_report(fake_sandbox, capsys):
    status, out, err = run_cli(capsys, "check", SUM_EVENS, "--program", SOLUTION, "--sandbox", "subprocess")
    assert status == 0 and err == ""
    assert fake_sandbox == ["subprocess"]
    assert "lint: ok" in out and "PASS    sum_evens([1, 2, 3, 4])" in out
    assert out.strip().splitlines()[-1].startswith("3/3 tests passed (")
    assert "judged outside the program's process" in out and out.strip().endswith("lint ok")


def test_an_endless_program_file_is_refused_not_read(capsys):
    status, out, err = run_cli(capsys, "check", SUM_EVENS, "--program", "/dev/zero", "--sandbox", "subprocess")
    assert status == 2 and "not a regular file" in err and "/dev/zero" in err


def test_a_fifo_program_or_problem_is_refused_not_waited_on(capsys, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody ever writes: a blocking open() would wait for ever
    for args in ((SUM_EVENS, "--program", str(fifo)), (str(fifo), "--program", SOLUTION)):
        status, out, err = run_cli(capsys, "check", *args, "--sandbox", "subprocess")
        assert status == 2 and "is a FIFO" in err and len(err.strip().splitlines()) == 1


def test_json_output_is_exactly_one_object_of_the_documented_shape(fake_sandbox, capsys):
    status, out, _ = run_cli(capsys, "check", SUM_EVENS, "--program", SOLUTION, "--json", "--hidden")
    result = json.loads(out)
    assert status == 0
    assert set(result) == {"lint", "passed", "total", "tests", "judged_in_host"}
    assert result["lint"] == {"ok": True, "messages": []}
    assert (result["passed"], result["total"]) == (6, 6)
    assert all(set(t) == {"name", "status", "detail", "judged"} and t["status"] == "pass" for t in result["tests"])
    assert [t["name"].startswith("hidden: ") for t in result["tests"]] == [False] * 3 + [True] * 3


def test_hidden_failures_exit_1(fake_sandbox, capsys):
    problem, naive = str(EXAMPLES / "second_largest.json"), str(EXAMPLES / "second_largest_naive.py")
    assert run_cli(capsys, "check", problem, "--program", naive)[0] == 0
    status, out, _ = run_cli(capsys, "check", problem, "--program", naive, "--hidden", "--json")
    result = json.loads(out)
    assert status == 1 and result["passed"] == 3 and result["total"] == 8
    failed = [t for t in result["tests"] if t["status"] != "pass"]
    assert {k: failed[0][k] for k in ("name", "status", "detail")} == {
        "name": "hidden: second_largest([5, 5, 3])", "status": "fail", "detail": "expected 3, got 5"}


def test_lint_errors_are_listed_with_positions(fake_sandbox, capsys, tmp_path):
    program = tmp_path / "bad.py"
    program.write_text("def sum_evens(xs):\n    return totl\n")
    status, out, _ = run_cli(capsys, "check", SUM_EVENS, "--program", str(program), "--json")
    result = json.loads(out)
    assert status == 1 and result["passed"] == 0
    assert result["lint"]["ok"] is False
    (message,) = result["lint"]["messages"]
    assert (message["line"], message["msg_id"], message["symbol"]) == (2, "E0602", "undefined-variable")
    assert set(message) == {"line", "column", "msg_id", "symbol", "message"}
    status, out, _ = run_cli(capsys, "check", SUM_EVENS, "--program", str(program))
    assert "line 2:11 E0602 undefined-variable" in out and "ERROR" in out


@pytest.mark.parametrize(
    "problem_text, fragment",
    [
        (None, "no such file"),
        ("{oops", "invalid JSON at line 1"),
        ('{"id": "x", "prompt": "p", "entry_point": 3, "tests": ["assert 1"]}',
         "field 'entry_point': expected a non-empty string, got 3"),
    ],
)
def test_bad_problem_files_exit_2_with_one_line(fake_sandbox, capsys, tmp_path, problem_text, fragment):
    path = tmp_path / "problem.json"
    if problem_text is not None:
        path.write_text(problem_text)
    status, out, err = run_cli(capsys, "check", str(path), "--program", SOLUTION)
    assert (status, out) == (2, "")
    assert fragment in err and err.count("\n") == 1 and str(path) in err
    assert fake_sandbox == []  # nothing ran


def test_missing_program_and_unavailable_sandbox_exit_2(monkeypatch, capsys, tmp_path):
    status, _, err = run_cli(capsys, "check", SUM_EVENS, "--program", str(tmp_path / "nope.py"))
    assert status == 2 and "nope.py: no such file" in err

    def unavailable(backend="bwrap", *, workers=2, limits=None):
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")

    monkeypatch.setattr(envs.sandbox, "make_sandbox", unavailable)
    status, _, err = run_cli(capsys, "check", SUM_EVENS, "--program", SOLUTION)
    assert status == 2 and "sandbox 'bwrap' is unavailable: bubblewrap (bwrap) is not installed" in err


def test_bad_flags_exit_2():
    with pytest.raises(SystemExit) as missing:
        main(["check", SUM_EVENS])  # --program is required
    with pytest.raises(SystemExit) as unknown:
        main(["check", SUM_EVENS, "--program", SOLUTION, "--sandbox", "docker"])
    assert missing.value.code == unknown.value.code == 2


def test_a_sandbox_failing_mid_run_exits_2_and_is_closed(monkeypatch, capsys):
    class Exploding(InProcessSandbox):
        def run(self, program, tests, timeout_s=None):
            raise SandboxUnavailable("worker died; see the log")

    monkeypatch.setattr(envs.sandbox, "make_sandbox", lambda *a, **k: Exploding())
    before = InProcessSandbox.closed
    status, out, err = run_cli(capsys, "check", SUM_EVENS, "--program", SOLUTION)
    assert (status, out) == (2, "") and "sandbox 'bwrap' failed: worker died" in err
    assert InProcessSandbox.closed == before + 1


# --- the real CLI, in a subprocess ---------------------------------------------------------
def agent(*argv):
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *argv], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_subprocess_bad_input_prints_no_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x", "prompt": "p", "entry_point": "f", "tests": [{"code": "f(", "expected": "1"}]}')
    done = agent("check", str(bad), "--program", SOLUTION)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and "tests[0].code" in done.stderr


@pytest.mark.sandbox
def test_subprocess_real_sandbox_exit_0_and_1():
    make_or_skip("bwrap", workers=1).close()
    passing = agent("check", SUM_EVENS, "--program", SOLUTION, "--hidden", "--json")
    assert passing.returncode == 0, passing.stderr
    assert json.loads(passing.stdout)["passed"] == 6
    failing = agent("check", str(EXAMPLES / "second_largest.json"), "--program",
                    str(EXAMPLES / "second_largest_naive.py"), "--hidden")
    assert failing.returncode == 1 and "FAIL" in failing.stdout and "3/8 tests passed" in failing.stdout


@pytest.mark.sandbox
@pytest.mark.parametrize("program, test", [
    ("def f(x):\n    return 10 ** 15\n", "assert sum(range(f(3))) == 3"),  # work on the program's value
    ("def f(x):\n    while True:\n        pass\n", "assert f(3) == 3"),  # the program's own time
    ("def f(x):\n    return x + 1\n", "x = f(0)\nwhile x < 10 ** 6:\n    x = f(x)\nassert x > 0"),  # replay after replay
])
def test_a_check_ends_within_three_timeouts_plus_lint(tmp_path, program, test):
    make_or_skip("bwrap", workers=1).close()
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"id": "slow", "prompt": "p", "entry_point": "f", "tests": [test], "timeout_s": 1}))
    source = tmp_path / "p.py"
    source.write_text(program)
    lint = [sys.executable, "-c", "from agent import wiring\nfrom envs.program import Program\n"
            f"wiring.build_lint_gate().check(Program.from_text({program!r}))"]
    start = time.monotonic()
    subprocess.run(lint, cwd=ROOT, timeout=120, check=True)  # what the check spends before its sandbox
    lint_s = time.monotonic() - start
    start = time.monotonic()
    done = agent("check", str(problem), "--program", str(source))
    took = time.monotonic() - start
    assert done.returncode == 1 and "TIMEOUT" in done.stdout, (done.stdout, done.stderr)
    assert took < 3 * 1 + lint_s + 3, (took, lint_s)  # 3 s: starting the sandbox's workers
