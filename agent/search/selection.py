"""Choosing the returned program among visible solutions by how they behave (CodeT/AlphaCode style).

When several programs pass every visible test, the tree's own pick (`SearchTree.best`: the
shallowest, likeliest one) is close to a coin toss. `choose` runs each distinct visible-passing
candidate once in the sandbox on extra inputs made from the VISIBLE tests' call arguments
(`envs.inputs`), groups candidates whose outputs agree on every input, and returns the
likeliest member of the largest group (ties: the group holding the likelier program); with
`voters: all` the other executed programs vote too (each for the group it behaves like). With
`policy_answers` > 0 the policy is also asked for example calls of the function
(`policies.calls`: it sees the task text, never a test), once per problem and only when there
is a choice to make; their literal calls are inputs too, after the mutations. Inputs on
which every candidate crashes or times out are dropped. Counts are bounded (`max_candidates`,
`max_inputs`, `max_policy_inputs`), each execution has a deadline, and every execution, its
seconds and the policy's tokens are counted in the `Choice`, so the choice's cost is reported
beside the search's.

Hidden tests are never read here: `choose` keeps only `problem.without_hidden_tests()`.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from agent.search.tree import Node, rank_key
from envs.inputs import PROPOSED_PREFIX, extra_inputs
from envs.problem import Problem
from envs.testcase import TestOutcome
from policies.calls import ProposedCalls


@dataclass
class SelectionSettings:
    """How the returned program is chosen among visible solutions (config section `selection`)."""

    by_agreement: bool = True  # False: the tree's own pick (visible score, depth, log-prob)
    max_candidates: int = 16  # the likeliest visible solutions run on the extra inputs
    max_inputs: int = 12  # extra inputs per problem; one execution per candidate runs them all
    timeout_s: float = 2.0  # deadline of one execution (capped by the problem's own limit)
    seed: int = 0  # seed of the input mutations and of the policy's example calls (same seed, same inputs)
    policy_answers: int = 0  # answers asked of the policy for example calls (one batch); 0: none
    max_policy_inputs: int = 6  # inputs kept from those calls, beside the max_inputs mutations
    # Who votes for a group: "solutions" (the visible solutions only, CodeT/AlphaCode) or "all":
    # also up to max_voters other executed programs, each adding one to the group it agrees with
    # on every kept input (MBR-exec, Shi et al. 2022: near-misses carry behaviour too).
    voters: str = "solutions"
    max_voters: int = 32

    def __post_init__(self) -> None:
        if self.voters not in ("solutions", "all"):
            raise ValueError(f"selection.voters must be 'solutions' or 'all', got {self.voters!r}")


@dataclass(frozen=True)
class Choice:
    """What was returned and why. Digests name programs; `groups` are largest first, each
    ordered likeliest first; `executions` and `sandbox_s` are what the choice cost."""

    chosen: str
    baseline: str  # the tree's own pick, returned when the choice changes nothing
    reason: str
    candidates: tuple[str, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    inputs: tuple[str, ...] = ()  # the extra inputs kept (code)
    dropped_inputs: tuple[str, ...] = ()  # crashed every candidate
    executions: int = 0
    sandbox_s: float = 0.0
    policy_inputs: int = 0  # of `inputs` + `dropped_inputs`, the last ones came from the policy's calls
    policy_tokens: int = 0  # what asking the policy for them cost (prompt encoded + generated)
    policy_s: float = 0.0

    @property
    def changed(self) -> bool:
        return self.chosen != self.baseline

    def to_dict(self) -> dict:
        return {"chosen": self.chosen, "baseline": self.baseline, "changed": self.changed, "reason": self.reason,
                "candidates": list(self.candidates), "groups": [list(g) for g in self.groups],
                "inputs": list(self.inputs), "dropped_inputs": list(self.dropped_inputs),
                "executions": self.executions, "sandbox_s": self.sandbox_s, "policy_inputs": self.policy_inputs,
                "policy_tokens": self.policy_tokens, "policy_s": self.policy_s}


@dataclass
class BehaviourCache:
    """Outputs of programs already run on this problem's extra inputs (digest -> (keys, seconds)),
    so the bench's budgets of one search share executions; each Choice still counts them all."""

    runs: dict[str, tuple[tuple[str, ...], float]] = field(default_factory=dict)
    calls: ProposedCalls | None = None  # the policy's example calls, asked once per problem


ProposeCalls = Callable[..., ProposedCalls]  # (problem, answers, *, seed): LMPolicy.propose_calls


def choose(nodes: Sequence[Node], problem: Problem, sandbox: Any, settings: SelectionSettings,
           *, cache: BehaviourCache | None = None, baseline: str | None = None,
           propose_calls: ProposeCalls | None = None) -> Choice:
    """The node to return among `nodes` (scored tree nodes); see the module docstring.
    `baseline`: the strategy's own pick (default: the best of `nodes` by `rank_key`).
    `propose_calls`: the policy's, for settings.policy_answers > 0 (None: mutations only)."""
    from envs.scoring import score

    baseline = baseline or max(nodes, key=rank_key).digest
    solutions = sorted((n for n in nodes if n.solved), key=rank_key, reverse=True)
    if not settings.by_agreement:
        return Choice(baseline, baseline, "choice by agreement is off: the tree's own pick")
    if len(solutions) < 2:
        why = "no visible solution" if not solutions else "one visible solution"
        return Choice(baseline, baseline, f"{why}: nothing to choose between", tuple(n.digest for n in solutions))
    visible = problem.without_hidden_tests()  # the inputs derive from visible tests only
    cache = cache if cache is not None else BehaviourCache()
    if propose_calls is not None and settings.policy_answers > 0 and cache.calls is None:
        cache.calls = propose_calls(visible, settings.policy_answers, seed=settings.seed)
    calls = cache.calls if settings.policy_answers > 0 else None
    inputs = extra_inputs(visible.tests, visible.entry_point, limit=settings.max_inputs, seed=settings.seed,
                          proposed=calls.arguments if calls else (), proposed_limit=settings.max_policy_inputs)
    policy_cost = dict(policy_inputs=sum(t.name.startswith(PROPOSED_PREFIX) for t in inputs),
                       policy_tokens=calls.tokens if calls else 0, policy_s=calls.seconds if calls else 0.0)
    candidates = solutions[:settings.max_candidates]
    digests = tuple(n.digest for n in candidates)
    if not inputs:
        return Choice(baseline, baseline, "no extra inputs from the visible tests' calls: the tree's own pick",
                      digests, **policy_cost)
    timeout_s = settings.timeout_s if visible.timeout_s is None else min(settings.timeout_s, visible.timeout_s)
    voters = _other_voters(nodes, settings) if settings.voters == "all" else []
    for node in [*candidates, *voters]:
        if node.digest not in cache.runs:
            start = time.perf_counter()
            report = score(node.program, inputs, sandbox, timeout_s=timeout_s)
            cache.runs[node.digest] = (tuple(outcome_key(o) for o in report.outcomes), time.perf_counter() - start)
    run = [*digests, *(n.digest for n in voters)]
    behaviours = {d: cache.runs[d][0] for d in run}
    cost = sum(cache.runs[d][1] for d in run)
    keep = [i for i in range(len(inputs)) if not all(behaviours[d][i] in CRASHES for d in digests)]
    kept = tuple(inputs[i].code for i in keep)
    dropped = tuple(inputs[i].code for i in range(len(inputs)) if i not in keep)
    common = dict(candidates=digests, inputs=kept, dropped_inputs=dropped, executions=len(run), sandbox_s=cost,
                  **policy_cost)
    if not keep:
        return Choice(baseline, baseline, "every extra input crashed every candidate: the tree's own pick",
                      **common)
    grouped: dict[tuple[str, ...], list[str]] = {}
    for d in digests:  # likeliest first, so each group's first member is its likeliest
        grouped.setdefault(tuple(behaviours[d][i] for i in keep), []).append(d)
    support = {key: len(g) for key, g in grouped.items()}
    for node in voters:  # one vote each, for the group whose behaviour it shares (if any)
        key = tuple(behaviours[node.digest][i] for i in keep)
        if key in support:
            support[key] += 1
    rank = {d: i for i, d in enumerate(digests)}
    order = sorted(grouped, key=lambda key: (-support[key], rank[grouped[key][0]]))
    groups = [grouped[key] for key in order]
    top = support[order[0]]
    tied = sum(support[key] == top for key in order)
    votes = f" (with {len(voters)} other programs voting: {top} votes)" if voters else ""
    if len(groups) == 1:
        reason = f"all {len(digests)} candidates agree on {len(keep)} extra inputs: the likeliest"
    elif tied > 1:
        size = f"{top} votes" if voters else f"{top} of {len(digests)} candidates"
        reason = (f"{tied} groups tie at {size} on {len(keep)} extra inputs{votes}: the group of the likelier "
                  "program")
    else:
        reason = (f"largest of {len(groups)} groups: {len(groups[0])} of {len(digests)} candidates agree on "
                  f"{len(keep)} extra inputs{votes}")
    return Choice(groups[0][0], baseline, reason, groups=tuple(tuple(g) for g in groups), **common)


def _other_voters(nodes: Sequence[Node], settings: SelectionSettings) -> list[Node]:
    """The likeliest executed programs that are not visible solutions (the starter aside)."""
    others = [n for n in nodes if n.report is not None and not n.solved and n.depth > 0]
    return sorted(others, key=rank_key, reverse=True)[:settings.max_voters]


CRASHES = ("error", "timeout")  # outcome keys of an execution that produced no value
_FLOAT_DIGITS = 9  # outputs agreeing to this many significant digits count as the same


def outcome_key(outcome: TestOutcome) -> str:
    """What a program did on one input, comparable across programs: its value (floats
    rounded), or "error"/"timeout". The value is untrusted text; only literal_eval reads it."""
    if outcome.status in CRASHES:
        return outcome.status
    if outcome.value is None:  # a sandbox that reports no values: the detail is all there is
        return "?" + outcome.detail
    try:
        return "=" + repr(_normalise(ast.literal_eval(outcome.value.strip())))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return "=" + outcome.value.strip()


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{_FLOAT_DIGITS}g}")
    if isinstance(value, (list, tuple)):
        return type(value)(_normalise(v) for v in value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


def agreement_votes(problem: Problem, sandbox: Any, settings: SelectionSettings,
                    cache: BehaviourCache | None = None) -> Callable[[Any], int]:
    """The search's votes (`SearchSettings.stop_votes`): the draws of the visible solutions in
    the group `choose` would return, one per time a program was drawn. The choice runs on the
    visible tests' calls only (never the policy's, whose tokens the search's budget does not
    hold), with one cache across the search's calls, so each program runs once; `cache`, the
    final choice's, is shared when that choice asks no policy either (the same inputs)."""
    if cache is None or settings.policy_answers > 0:
        cache = BehaviourCache()
    no_policy_calls = dataclasses.replace(settings, policy_answers=0)

    def votes(tree: Any) -> int:
        choice = choose(tree.nodes(), problem, sandbox, no_policy_calls, cache=cache)
        group = next((g for g in choice.groups if choice.chosen in g), (choice.chosen,))
        return sum(tree.node(d).drawn for d in group if tree.node(d).solved)

    return votes


def choose_returned(result: Any, problem: Problem, sandbox: Any, settings: SelectionSettings,
                    propose_calls: ProposeCalls | None = None,
                    cache: BehaviourCache | None = None) -> tuple[Any, Choice]:
    """A finished search's result with the chosen program in place of the tree's pick, and the Choice."""
    choice = choose(result.tree.nodes(), problem, sandbox, settings, cache=cache, propose_calls=propose_calls)
    node = result.tree.node(choice.chosen)
    return dataclasses.replace(result, program=node.program, node=node.digest, solved=node.solved), choice
