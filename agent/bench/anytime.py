"""One tree search at the largest budget, read off at every smaller budget ("anytime").

A search with token budget B checks the budget before each policy call, caps each call at the
tokens left (the policy stops generating there) and stops once B is spent; nothing else in the
loop depends on B. `anytime_search` runs one search at the largest budget with the smaller ones
as the budget's checkpoints (`Budget.checkpoints`): the loop caps no call past the next one
either (but for a strategy's fresh programs, `Strategy.fresh_stream`: whole rows drawn ahead,
read row by row), and reports at each the result a search with that budget would
have returned (`on_checkpoint`). A `Snapshot` keeps what the bench records of it: the node returned by
visible signals (`SearchTree.best()`), every node so far (for oracle coverage) and the compute
so far. Each snapshot is exactly the end state of a run with that budget: the same calls, the
last one capped at its budget.

With a deterministic policy (the seeded LMPolicy on CPU, the scripted test policy) the smallest
budget's snapshot equals a separate run's result; a larger budget's run differs from a separate
run only in that one call was cut at each smaller budget on the way (a run of that budget all
the same, at a fraction of the cost). Hidden tests are not run here.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.search.budget import Budget, ComputeStats
from agent.search.loop import search
from agent.search.types import EvaluateFn, LintFn, SearchResult, SearchSettings, Strategy, VotesFn
from envs.problem import Problem
from policies.base import Policy

SNAPSHOT_COMPUTE = ("lm_calls", "samples", "prompt_tokens", "generated_tokens", "tokens", "flops", "wall_s",
                    "doomed_samples", "doomed_tokens_saved", "unused_samples", "unused_tokens")


@dataclass(frozen=True)
class Snapshot:
    """The state of the search as a run with budget `label` would have ended it."""

    label: str
    best: str  # digest of the node returned by visible signals
    nodes: tuple[str, ...]  # every node so far, root first
    compute: dict
    parsed: int  # samples the format turned into a program
    stop_reason: str


def compute_dict(stats: ComputeStats) -> dict:
    values = stats.to_dict()
    return {key: values[key] for key in SNAPSHOT_COMPUTE}


def snapshot(label: str, result: SearchResult, stop_reason: str) -> Snapshot:
    nodes = tuple(n.digest for n in result.tree.nodes())
    parsed = result.compute.samples - result.counters.parse_failures
    return Snapshot(label, result.node, nodes, compute_dict(result.compute), parsed, stop_reason)


def anytime_search(
    problem: Problem, policy: Policy, *, lint: LintFn, evaluate: EvaluateFn, strategy: Strategy,
    settings: SearchSettings, limits: dict[str, int], votes: VotesFn | None = None,
) -> tuple[SearchResult, dict[str, Snapshot]]:
    """Search to the largest token limit; a Snapshot for every label of `limits` (the largest
    one, and any the search never reached, are its final state). `votes`: as `search`'s."""
    largest = max(limits.values())
    snapshots: dict[str, Snapshot] = {}

    def at_checkpoint(limit: int, result: SearchResult) -> None:
        for label in [label for label, tokens in limits.items() if tokens == limit and label not in snapshots]:
            snapshots[label] = snapshot(label, result, "budget")

    checkpoints = tuple(sorted({tokens for tokens in limits.values() if tokens < largest}))
    result = search(problem, policy, lint=lint, evaluate=evaluate, strategy=strategy,
                    budget=Budget(tokens=largest, checkpoints=checkpoints), settings=settings,
                    on_checkpoint=at_checkpoint, votes=votes)
    if result.stop_reason == "interrupted":  # a partial search is not a measurement
        raise KeyboardInterrupt
    for label, limit in sorted(limits.items(), key=lambda item: item[1]):
        if label not in snapshots:
            reached = result.compute.tokens >= limit
            snapshots[label] = snapshot(label, result, "budget" if reached else result.stop_reason)
    return result, snapshots
