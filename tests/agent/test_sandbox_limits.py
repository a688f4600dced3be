"""Limits have one owner (issue 30): the config's `sandbox` section reaches every execution,
and only a problem's own `timeout_s` replaces the wall clock. Before, scoring rebuilt the
limits from module defaults, so a sandbox configured for 256 MB / 3 s ran with 1024 MB / 5 s.

Real bwrap, through `agent.wiring.build_sandbox` and `envs.scoring.score_problem` (the path
`agent solve` takes): four one-worker pools, a few executions, at most ~2 s of sleep.
"""

from __future__ import annotations

import pytest

from agent.config import SandboxConfig
from agent.wiring import build_sandbox
from envs.problem import Problem
from envs.scoring import score_problem
from envs.testcase import Limits, TestCase
from sandboxes import require_tool

pytestmark = pytest.mark.sandbox

GRAB = "def grab(mb):\n    return len(bytearray(mb << 20)) >> 20\n"  # address space, never touched
NAP = "import time\ndef nap(s):\n    time.sleep(s)\n    return s\n"


def run(config: SandboxConfig, program: str, problem: Problem) -> list[str]:
    require_tool(config.backend)
    sandbox = build_sandbox(config)
    try:
        return [o.status for o in score_problem(program, problem, sandbox).outcomes]
    finally:
        sandbox.close()


def test_the_configured_memory_limit_reaches_the_child():
    assert Limits().memory_mb > 400  # the default would hold what the configured limit refuses
    problem = Problem(id="m", prompt="", entry_point="grab",
                      tests=(TestCase("400 MB", "grab(400)", expected="400"), TestCase("64 MB", "grab(64)", expected="64")))
    assert run(SandboxConfig(workers=1, memory_mb=256), GRAB, problem) == ["error", "pass"]
    assert run(SandboxConfig(workers=1), GRAB, problem) == ["pass", "pass"]


def test_the_configured_timeout_applies_unless_the_problem_sets_its_own():
    tests = (TestCase("nap", "nap(1.2)", expected="1.2"),)
    unset = Problem(id="t", prompt="", entry_point="nap", tests=tests)
    own = Problem(id="t", prompt="", entry_point="nap", tests=tests, timeout_s=3.0)
    assert run(SandboxConfig(workers=1, timeout_s=0.5), NAP, unset) == ["timeout"]
    assert run(SandboxConfig(workers=1, timeout_s=0.5), NAP, own) == ["pass"]
