"""The study's hidden-test judge: used only after a search (or a sampling run) has ended.

The search sees `problem.without_hidden_tests()` and an evaluate function bound to the visible
tests (`agent.wiring.visible_evaluator`); it never holds a `HiddenJudge`. The bench builds
one per (problem, strategy) unit after the search returns and asks it about the returned
program (deployable pass@1) and about every node's program (oracle coverage). Each program
is run once: outcomes are cached by program digest, and a unit can start from the outcomes an
earlier unit on the same problem already knows.
"""

from __future__ import annotations

from envs.problem import Problem
from envs.program import Program
from envs.sandbox.base import Sandbox


class HiddenJudge:
    """`passed(program)`: does it pass every hidden test? None when the problem has none."""

    def __init__(self, problem: Problem, sandbox: Sandbox, known: dict[str, bool] | None = None) -> None:
        self.problem, self.sandbox = problem, sandbox
        self.outcomes: dict[str, bool] = dict(known or {})

    def passed(self, program: Program) -> bool | None:
        from envs.scoring import score_problem

        if not self.problem.hidden_tests:
            return None
        if program.digest not in self.outcomes:
            report = score_problem(program, self.problem, self.sandbox, hidden=True)
            self.outcomes[program.digest] = report.all_passed
        return self.outcomes[program.digest]
