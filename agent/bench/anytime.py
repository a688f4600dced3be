"""One tree search at the largest budget, read off at every smaller budget ("anytime").

A search with token budget B checks the budget before each policy call, caps each call at the
tokens left (the policy stops generating there) and stops once B is spent; nothing else in the
loop depends on B. `anytime_search` wraps the policy so that no call crosses the next smaller
budget either, and so that, just before each call, it records a `Snapshot` for every budget the
tokens so far have reached: the node the search would return then (`SearchTree.best()`: visible
signals only), every node so far (for oracle coverage) and the compute so far. Each snapshot is
then exactly the end state of a run with that budget: the same calls, the last one capped at B.

With a deterministic policy (the seeded LMPolicy on CPU, the scripted test policy) the smallest
budget's snapshot equals a separate run's result; a larger budget's run differs from a separate
run only in that one call was cut at each smaller budget on the way (a run of that budget all
the same, at a fraction of the cost). Hidden tests are not run here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from agent.search.budget import Budget, ComputeStats, Meter, clip_request, samples_that_fit
from agent.search.loop import (
    EvaluateFn, LintFn, SearchResult, SearchSettings, Strategy, sample_length_prior, search,
)
from agent.search.requests import clip_groups
from agent.search.tree import SearchTree
from envs.problem import Problem
from envs.locations import Location
from policies.base import Policy, ProposalBatch, ProposeGroup, State

SNAPSHOT_COMPUTE = ("lm_calls", "samples", "prompt_tokens", "generated_tokens", "tokens", "flops", "wall_s",
                    "doomed_samples", "doomed_tokens_saved")


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


class _SnapshotPolicy:
    """The policy, taking the due snapshots before each call and counting what calls spend."""

    def __getattr__(self, name: str):
        # Everything else is the policy's own (edit_style, max_new_tokens, ...): the search must
        # see the same policy here as in a separate run.
        if name == "policy":  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.policy, name)

    def reset(self) -> None:
        self.policy.reset()

    def __init__(self, policy: Policy, limits: Sequence[tuple[str, int]]) -> None:
        self.policy, self.name = policy, policy.name
        self.pending = sorted(limits, key=lambda item: item[1])
        self.meter = Meter()
        self.tree: SearchTree | None = None
        self.parsed = 0
        self.snapshots: dict[str, Snapshot] = {}

    def on_node(self, tree: SearchTree, digest: str, stats: ComputeStats) -> None:
        self.tree = tree  # the search's own tree object; it exists once the root is scored

    def snapshot(self, label: str, stop_reason: str) -> Snapshot:
        nodes = tuple(n.digest for n in self.tree.nodes())
        return Snapshot(label, self.tree.best().digest, nodes, compute_dict(self.meter.stats()), self.parsed,
                        stop_reason)

    def _before_call(self) -> None:
        spent = self.meter.stats().tokens
        while self.pending and spent >= self.pending[0][1]:
            label, _ = self.pending.pop(0)
            self.snapshots[label] = self.snapshot(label, "budget")

    def _count(self, batch: ProposalBatch) -> ProposalBatch:
        self.meter.add_batch(batch)
        self.parsed += sum(p.status == "ok" and p.program is not None for p in batch.proposals)
        return batch

    def _to_next(self) -> int | None:
        return self.pending[0][1] - self.meter.stats().tokens if self.pending else None

    def _caps(self, max_tokens: int | None) -> dict:
        """The call may not cross the next snapshot's limit either: a run with that budget would
        have been stopped there (policies stop generating at `max_tokens`), so the snapshot is
        exactly that run's end state, at every budget, not one call past it."""
        to_next = self._to_next()
        if to_next is not None:
            max_tokens = to_next if max_tokens is None else min(max_tokens, to_next)
        return {} if max_tokens is None else {"max_tokens": max_tokens}

    def _rows(self, n_locations: int, n: int) -> tuple[int, int]:
        """Rows clipped to what the tokens before the next snapshot pay for, as the search loop
        clips them for its own budget (`samples_that_fit` on the same counts)."""
        fit = samples_that_fit(self._to_next(), self.meter.stats(), prior=sample_length_prior(self.policy))
        return clip_request(n_locations, n, fit)

    def _call(self, run, max_tokens: int | None) -> ProposalBatch:
        """Run one call (`run(caps)`, the rows clipped by `run` itself) under the next snapshot's
        cap. A call refused there (its prompt would cross that budget) is where a run with that
        budget ends: the snapshot is taken and the call made again under the following cap. A
        call the search's own cap refuses goes back to the search, which stops."""
        while True:
            self._before_call()
            batch = run(self._caps(max_tokens))
            if not batch.refused:
                return self._count(batch)
            if not self.pending or (max_tokens is not None and max_tokens <= self._to_next()):
                return batch  # the search's own budget refused it: nothing was spent
            label, _ = self.pending.pop(0)
            self.snapshots[label] = self.snapshot(label, "budget")

    def propose(self, problem: Problem, state: State, locations: Sequence[Location | None], n: int,
                *, seed: int | None = None, max_tokens: int | None = None, **caps) -> ProposalBatch:
        def run(call_caps: dict) -> ProposalBatch:
            k, rows = self._rows(len(locations), n)
            return self.policy.propose(problem, state, list(locations)[:k], rows, seed=seed, **call_caps, **caps)
        return self._call(run, max_tokens)

    def propose_groups(self, problem: Problem, groups: Sequence[ProposeGroup], *, seed: int | None = None,
                       max_tokens: int | None = None, **caps) -> ProposalBatch:
        def run(call_caps: dict) -> ProposalBatch:
            fit = samples_that_fit(self._to_next(), self.meter.stats(), prior=sample_length_prior(self.policy))
            kept = clip_groups(list(groups), fit)  # in order, as the search clips them
            return self.policy.propose_groups(problem, kept, seed=seed, **call_caps, **caps)
        return self._call(run, max_tokens)

    def sample_programs(self, problem: Problem, n: int, *, seed: int | None = None,
                        max_tokens: int | None = None, **caps) -> ProposalBatch:
        def run(call_caps: dict) -> ProposalBatch:
            _, rows = self._rows(1, n)
            return self.policy.sample_programs(problem, rows, seed=seed, **call_caps, **caps)
        return self._call(run, max_tokens)


def anytime_search(
    problem: Problem, policy: Policy, *, lint: LintFn, evaluate: EvaluateFn, strategy: Strategy,
    settings: SearchSettings, limits: dict[str, int],
) -> tuple[SearchResult, dict[str, Snapshot]]:
    """Search to the largest token limit; a Snapshot for every label of `limits` (the largest
    one, and any the search never reached, are its final state)."""
    wrapped = _SnapshotPolicy(policy, list(limits.items()))
    largest = max(limits.values())
    result = search(problem, wrapped, lint=lint, evaluate=evaluate, strategy=strategy,
                    budget=Budget(tokens=largest), settings=settings, on_node=wrapped.on_node)
    if result.stop_reason == "interrupted":  # a partial search is not a measurement
        raise KeyboardInterrupt
    wrapped.tree = result.tree
    for label, limit in wrapped.pending:
        reached = result.compute.tokens >= limit
        wrapped.snapshots[label] = wrapped.snapshot(label, "budget" if reached else result.stop_reason)
    return result, wrapped.snapshots
