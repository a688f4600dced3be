"""Test doubles for the search: a scripted policy, a toy lint gate, an in-process evaluator.

`ScriptedPolicy` follows the Policy protocol. Its proposals come from a script mapping a
program's text to candidate insertions with fixed log-probs; token counts and FLOPs are
plausible (4 characters per token, 2 * params FLOPs per token). With `sample=False` the i-th
sample at a location is the i-th candidate (cycling), so a search is fully predictable; with
`sample=True` candidates are drawn in proportion to exp(logprob) by a generator seeded from
the call's seed and the program, so the same seed replays the same search.

`InProcessEvaluator` runs TRUSTED toy programs with `exec` in this process: never model output.
"""

from __future__ import annotations

import math
import random
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from envs.diff import make_edit
from envs.problem import Problem
from envs.program import Program
from envs.testcase import TestCase, TestOutcome, TestReport, expression_passed
from envs.locations import Location
from policies.base import CallCaps, Policy, Proposal, ProposalBatch, State

CHARS_PER_TOKEN = 4
PARAMS = 1_000_000  # a pretend model size, for FLOPs


def n_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


@dataclass(frozen=True)
class Candidate:
    """Lines to insert (already indented) and their log-prob.

    at=None: inserted at the location the search offered (end of program for MODEL_CHOICE);
    at=k: inserted after line k whatever the location (a model choosing its own place).
    status other than "ok": a sample that fails to parse (no program).
    """

    lines: tuple[str, ...]
    logprob: float
    at: int | None = None
    status: str = "ok"


def insert(program: Program, after_line: int, lines: Sequence[str]) -> Program:
    return Program(program.lines[:after_line] + tuple(lines) + program.lines[after_line:])


class ScriptedPolicy(Policy):
    """A deterministic Policy: `script` maps program text -> candidates at that program;
    `programs` are whole programs for `sample_programs` (Candidate.lines = the program)."""

    name = "scripted"

    def __init__(self, script: Mapping[str, Sequence[Candidate]], *, programs: Sequence[Candidate] = (),
                 sample: bool = False, default: Callable[[Program], Sequence[Candidate]] | None = None) -> None:
        self.script = {Program.from_text(text).digest: tuple(c) for text, c in script.items()}
        self.programs = tuple(programs)
        self.sample = sample
        self.default = default  # candidates at programs the script does not name (None: no candidates)
        self.calls: list[dict] = []  # every call's arguments, for assertions
        self.batches: list[ProposalBatch] = []  # every call's result, for compute assertions

    def _pick(self, candidates: Sequence[Candidate], i: int, rng: random.Random) -> Candidate:
        if self.sample:
            return rng.choices(candidates, weights=[math.exp(c.logprob) for c in candidates])[0]
        return candidates[i % len(candidates)]

    def propose(self, problem: Problem, state: State, locations: Sequence[Location | None], n: int,
                *, seed: int | None = None, caps: CallCaps = CallCaps()) -> ProposalBatch:
        self.calls.append(dict(kind="propose", problem=problem, state=state, locations=tuple(locations), n=n, seed=seed,
                               caps=caps))
        rng = random.Random(f"{seed}:{state.program.digest}")
        candidates = self.script.get(state.program.digest)
        if candidates is None:
            candidates = tuple(self.default(state.program)) if self.default else ()
        prompt_tokens = n_tokens(problem.prompt + state.program.text)
        proposals = []
        for location in locations:
            for i in range(n):
                if not candidates:
                    proposals.append(_failure("empty", prompt_tokens, location))
                    continue
                cand = self._pick(candidates, i, rng)
                where = cand.at if cand.at is not None else (len(state.program) if location is None else location.after_line)
                proposals.append(self._proposal(state.program, insert(state.program, where, cand.lines),
                                                cand, prompt_tokens, location))
        return self._batch(proposals, prompt_tokens, len(locations), n)

    def propose_groups(self, problem: Problem, groups, *, seed: int | None = None,
                       caps: CallCaps = CallCaps()) -> ProposalBatch:
        """Each group as `propose` would answer it, in one batch (one recorded call). Only a
        policy with `can_propose_groups = True` (a subclass) is given several groups."""
        parts = []
        for group in groups:
            parts.append(self.propose(problem, group.state, group.locations, group.n, seed=seed))
            self.calls.pop()
            self.batches.pop()
        self.calls.append(dict(kind="propose_groups", problem=problem, groups=tuple(groups), seed=seed, caps=caps))
        proposals = tuple(p for part in parts for p in part.proposals)
        batch = ProposalBatch(proposals, sum(b.prompt_tokens_encoded for b in parts),
                              sum(b.prompt_tokens_saved for b in parts), sum(b.generated_tokens for b in parts),
                              generate_s=0.0, flops=sum(b.flops for b in parts),
                              extra={"group_sizes": [len(b.proposals) for b in parts]})
        self.batches.append(batch)
        return batch

    def sample_programs(self, problem: Problem, n: int, *, seed: int | None = None,
                        caps: CallCaps = CallCaps(), temperatures=None) -> ProposalBatch:
        self.calls.append(dict(kind="sample_programs", problem=problem, n=n, seed=seed, caps=caps,
                               temperatures=temperatures))
        rng = random.Random(f"{seed}:programs")
        prompt_tokens = n_tokens(problem.prompt)
        proposals = [
            self._proposal(problem.starter, Program(cand.lines), cand, prompt_tokens, None)
            for cand in (self._pick(self.programs, i, rng) for i in range(n))
        ]
        return self._batch(proposals, prompt_tokens, 1, n)

    @staticmethod
    def _proposal(before: Program, after: Program, cand: Candidate, prompt_tokens: int,
                  location: Location | None) -> Proposal:
        text = "\n".join(cand.lines)
        if cand.status != "ok":
            return _failure(cand.status, prompt_tokens, location, text, cand.logprob)
        return Proposal("ok", make_edit(before, after), after, cand.logprob, prompt_tokens,
                        n_tokens(text), text, location)

    def _batch(self, proposals: list[Proposal], prompt_tokens: int, n_prompts: int, n: int) -> ProposalBatch:
        generated = sum(p.generated_tokens for p in proposals)
        encoded = prompt_tokens * n_prompts  # one shared prompt per location
        batch = ProposalBatch(tuple(proposals), encoded, prompt_tokens * n_prompts * (n - 1), generated,
                              generate_s=0.0, flops=2.0 * PARAMS * (encoded + generated))
        self.batches.append(batch)
        return batch


def _failure(status: str, prompt_tokens: int, location: Location | None, text: str = "",
             logprob: float = -1.0) -> Proposal:
    return Proposal(status, None, None, logprob, prompt_tokens, n_tokens(text), text, location)


# -- lint ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToyLint:
    ok: bool
    messages: tuple[str, ...]
    syntax_error: bool = False


def toy_errors(program: Program) -> tuple[tuple[str, ...], bool]:
    """A syntax error, or one "undefined-variable" error per line that mentions `undefined_name`."""
    try:
        compile(program.text, "<program>", "exec")
    except SyntaxError as exc:
        return (f"E0001 syntax-error line {exc.lineno}",), True
    return tuple(f"E0602 undefined-variable line {i}" for i, line in enumerate(program.lines, 1)
                 if "undefined_name" in line), False


class ToyLintGate:
    """`check(program, parent)` with the real gate's contract; counts calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Program, Program | None]] = []

    def __call__(self, program: Program, parent: Program | None = None) -> ToyLint:
        self.calls.append((program, parent))
        errors, syntax = toy_errors(program)
        if parent is not None:  # repair mode: more errors of some kind than the parent had
            mine, theirs = Counter(e.split()[0] for e in errors), Counter(e.split()[0] for e in toy_errors(parent)[0])
            new = tuple(e for e in errors if mine[e.split()[0]] > theirs[e.split()[0]])
            return ToyLint(not new, new, syntax)
        return ToyLint(not errors, errors, syntax)


# -- evaluation ------------------------------------------------------------------------------
class InProcessEvaluator:
    """Runs TRUSTED toy programs and their tests with exec (no sandbox); counts calls."""

    def __init__(self, tests: Sequence[TestCase]) -> None:
        self.tests = tuple(tests)
        self.programs: list[Program] = []

    def __call__(self, program: Program) -> TestReport:
        self.programs.append(program)
        namespace: dict = {}
        try:
            exec(compile(program.text, "<program>", "exec"), namespace)
        except Exception as exc:  # the toy program itself broke: every test errors
            return TestReport(tuple(TestOutcome(t.name, "error", repr(exc)) for t in self.tests))
        return TestReport(tuple(self._run(t, namespace) for t in self.tests))

    @staticmethod
    def _run(test: TestCase, namespace: dict) -> TestOutcome:
        try:
            if test.expected is None:
                exec(compile(test.code, "<test>", "exec"), namespace)
                return TestOutcome(test.name, "pass")
            value = eval(compile(test.code, "<test>", "eval"), namespace)
        except AssertionError:
            return TestOutcome(test.name, "fail", traceback.format_exc(limit=-3))
        except Exception:
            return TestOutcome(test.name, "error", traceback.format_exc(limit=-3))
        status = "pass" if expression_passed(repr(value), test.expected) else "fail"
        return TestOutcome(test.name, status, f"got {value!r}")


# -- toy problems ------------------------------------------------------------------------------
ADD_TESTS = (
    TestCase("add_1_2", "add(1, 2)", "3"),
    TestCase("add_0_0", "add(0, 0)", "0"),
    TestCase("add_neg", "assert add(-1, 5) == 4"),
)
ADD = Problem(id="toy/add", prompt="Write add(a, b) that returns a + b.", entry_point="add", tests=ADD_TESTS)

DEF_TOTAL = "def add(a, b):\n    total = a + b\n"  # step 1 of the known path (scores 0)
DEF_MINUS = "def add(a, b):\n    return a - b\n"  # distractor: likelier, scores 1/3
SOLUTION = DEF_TOTAL + "    return total\n"  # step 2: passes every test

ADD_SCRIPT = {
    "": [
        Candidate(("def add(a, b):", "    total = a + b"), -3.0),
        Candidate(("def add(a, b):", "    return a - b"), -1.0),
        Candidate(("def add(a, b)", "    return a + b"), -0.5),  # syntax error: lint rejects
        Candidate((), -2.0, status="bad_header"),  # a sample that does not parse
    ],
    DEF_TOTAL: [
        Candidate(("    return total",), -2.0),
        Candidate(("    return undefined_name",), -0.2),  # undefined variable: lint rejects
        Candidate(("    return a",), -1.0),  # scores 1/3
    ],
    DEF_MINUS: [Candidate(("    print(a)",), -0.5)],  # dead code after return: still 1/3
}

ADD_PROGRAMS = (  # whole programs for repeated sampling
    Candidate(tuple(SOLUTION.splitlines()), -2.0),
    Candidate(tuple(DEF_MINUS.splitlines()), -1.0),
    Candidate(("def add(a, b)", "    return a + b"), -1.5),
)


def endless_candidates(program: Program) -> list[Candidate]:
    """Three new, distinct children at every program: the tree never runs out."""
    return [Candidate((f"v{len(program)}_{i} = {i}",), -1.0 - i) for i in range(3)]


def add_policy(*, sample: bool = False) -> ScriptedPolicy:
    return ScriptedPolicy(ADD_SCRIPT, programs=ADD_PROGRAMS, sample=sample)
