"""`agent check`: lint a program and run a problem's tests on it, the way the search would.

Exit status: 0 when at least one test ran and every test passed; 1 otherwise (a failing,
erroring or timed-out test, or no tests at all); 2 when the check could not be run (missing
or malformed file, bad problem field, sandbox unavailable). Lint errors are reported but do
not change the status: the status answers "do the tests pass".

`--json` prints exactly one JSON object:
    {"lint": {"ok": bool, "messages": [{"line", "column", "msg_id", "symbol", "message"}]},
     "passed": int, "total": int,
     "tests": [{"name": str, "status": "pass|fail|error|timeout", "detail": str}]}
Hidden tests (with `--hidden`) follow the visible ones, their names prefixed "hidden: ".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from agent.cli import UsageError
from envs.sandbox import BACKENDS

if TYPE_CHECKING:
    from envs.lint import LintResult
    from envs.problem import Problem
    from envs.program import Program
    from envs.sandbox.base import Sandbox

log = logging.getLogger(__name__)

HELP = "lint a program and run a problem's tests on it"
DESCRIPTION = """\
Lint the --program file with the lint gate and run the problem's visible tests on it
in the sandbox (with --hidden, the hidden tests too: for validating a problem file and
its reference solution).

examples:
  agent check examples/sum_evens.json --program examples/sum_evens_solution.py
  agent check examples/sum_evens.json --program mine.py --hidden --json

exit status: 0 all tests passed, 1 otherwise, 2 bad input or no usable sandbox"""

HIDDEN_PREFIX = "hidden: "


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("problem", metavar="PROBLEM.json", help="a problem file (our schema, HumanEval or MBPP record)")
    parser.add_argument("--program", required=True, metavar="FILE", help="the Python program to check")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--hidden", action="store_true", help="also run the hidden tests")
    parser.add_argument(
        "--sandbox", choices=BACKENDS, default="bwrap",
        help="execution backend (default: bwrap; 'subprocess' is NOT isolated)",
    )


def run(args: argparse.Namespace) -> int:
    from agent import wiring  # heavy (pylint, the sandbox): imported only when the command runs
    from envs.problems import ProblemError, load_problem
    from envs.program import Program
    from envs.sandbox import SandboxUnavailable

    try:
        problem = load_problem(args.problem)
    except ProblemError as exc:
        raise UsageError(str(exc)) from None
    program = Program.from_text(_read_program(Path(args.program)))
    lint = wiring.build_lint_gate().check(program)
    sandbox = _open_sandbox(args.sandbox)
    try:
        result = check(program, problem, sandbox, lint, hidden=args.hidden)
    except SandboxUnavailable as exc:  # e.g. a worker that could not start
        raise UsageError(f"sandbox {args.sandbox!r} failed: {exc}") from None
    finally:
        sandbox.close()
    print(json.dumps(result) if args.json else render_text(result))
    return 0 if result["total"] and result["passed"] == result["total"] else 1


def check(program: Program, problem: Problem, sandbox: Sandbox, lint: LintResult, *, hidden: bool) -> dict:
    """The check's result as the `--json` object: `lint` as given, the tests run now."""
    from envs.scoring import score_problem

    outcomes = list(score_problem(program, problem, sandbox).outcomes)
    if hidden:
        hidden_outcomes = score_problem(program, problem, sandbox, hidden=True).outcomes
        outcomes += [dataclasses.replace(o, name=HIDDEN_PREFIX + o.name) for o in hidden_outcomes]
    log.info("%s: %d tests run", problem.id, len(outcomes))
    return {
        "lint": {"ok": lint.ok, "messages": [dataclasses.asdict(m) for m in lint.messages]},
        "passed": sum(o.status == "pass" for o in outcomes),
        "total": len(outcomes),
        "tests": [{"name": o.name, "status": o.status, "detail": o.detail, "judged": o.judged} for o in outcomes],
        "judged_in_host": sum(o.judged == "parent" for o in outcomes),
    }


def render_text(result: dict) -> str:
    """Human-readable form: lint messages with positions, one line per test, a summary."""
    lint = result["lint"]
    lines = [f"lint: {'ok' if lint['ok'] else str(len(lint['messages'])) + ' error(s)'}"]
    for m in lint["messages"]:
        lines.append(f"  line {m['line']}:{m['column']} {m['msg_id']} {m['symbol']}: {m['message']}")
    lines.append("tests:")
    for test in result["tests"]:
        detail = f"  -- {test['detail']}" if test["detail"] and test["status"] != "pass" else ""
        lines.append(f"  {test['status'].upper():<7} {test['name']}{detail}")
    if not result["tests"]:
        lines.append("  (no tests)")
    lines.append(
        f"{result['passed']}/{result['total']} tests passed ({result['judged_in_host']} judged outside the "
        f"program's process, {result['total'] - result['judged_in_host']} in it); "
        f"lint {'ok' if lint['ok'] else 'has errors'}"
    )
    return "\n".join(lines)


MAX_PROGRAM_BYTES = 1024 * 1024  # a program larger than this is refused (and /dev/zero ends here)


def _read_program(path: Path) -> str:
    from envs.user_files import NotARegularFile, open_regular

    try:
        with open_regular(path) as file:  # a FIFO or device is refused, never waited on
            data = file.read(MAX_PROGRAM_BYTES + 1)
        if len(data) > MAX_PROGRAM_BYTES:
            raise UsageError(f"{path}: larger than {MAX_PROGRAM_BYTES} bytes; not a program to check")
        return data.decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except NotARegularFile as exc:
        raise UsageError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the program: {exc}") from None


def _open_sandbox(backend: str) -> Sandbox:
    from agent import wiring
    from agent.config import SandboxConfig

    try:  # one program: one worker is enough
        return wiring.build_sandbox(SandboxConfig(backend=backend, workers=1))
    except wiring.WiringError as exc:
        raise UsageError(str(exc)) from None
