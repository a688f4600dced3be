"""The Problem type: a coding task with visible tests (for the search) and hidden tests.

Loaders for our JSON schema, HumanEval and MBPP records live in `envs.problems`.
"""

from __future__ import annotations

from dataclasses import dataclass

from envs.program import Program
from envs.testcase import TestCase


@dataclass(frozen=True)
class Problem:
    """A task. `hidden_tests` are for evaluation only and must never reach the search.

    id:           unique name, e.g. "HumanEval/0"
    prompt:       instruction, or signature + docstring (HumanEval style)
    entry_point:  name of the function the tests call
    starter_code: the program the search starts from ("" = empty program)
    tests:        visible tests, used by the search to score nodes
    hidden_tests: held-out tests, run once on the returned program (and on leaves for the study)
    timeout_s:    wall-clock limit for one execution of the program plus its tests, when the
                  problem sets its own; None: the sandbox's configured limit
    """

    id: str
    prompt: str
    entry_point: str
    tests: tuple[TestCase, ...]
    hidden_tests: tuple[TestCase, ...] = ()
    starter_code: str = ""
    timeout_s: float | None = None

    @property
    def starter(self) -> Program:
        return Program.from_text(self.starter_code)

    def without_hidden_tests(self) -> "Problem":
        """The view of this problem that the search is allowed to see."""
        return Problem(
            id=self.id,
            prompt=self.prompt,
            entry_point=self.entry_point,
            tests=self.tests,
            hidden_tests=(),
            starter_code=self.starter_code,
            timeout_s=self.timeout_s,
        )
