"""The `sample` strategy of the study: n independent draws per problem, all of them kept.

`agent solve --strategy sample` stops at the first program that passes the visible tests,
which is right for solving but wrong for pass@k (it needs every one of the n draws). Here the
same search runs told to keep going (`draw_samples`): the policy's `sample_programs` in batches
of `batch_size` (one shared prompt per call, seeded as every search call is) until enough draws
exist, and every draw is kept with what it cost and what it is worth *by visible signals*:

- status: the format's parse verdict ("ok" or a failure class); an unparsed draw has no
  program and leaves the starter unchanged (pass@k scores it as the starter);
- lint_ok: whether the lint gate admits its program, as the search would judge it;
- visible: the visible-test report, run only on admitted programs (the search never runs
  tests on a program the gate rejected).

Cost of a draw: its generated tokens, plus the whole prompt of its call for the call's first
draw (the prompt is encoded once, before any draw of the call, so a prefix of draws pays
for the prompts of the calls it touches, exactly); FLOPs split by those tokens; seconds are
an even share of the call's wall time, generation, lint and tests.

`prefix_tree(run, k)` is the tree a sampling search holds after the first k draws (the
starter as root, each admitted program a child), and its `tree.best()` the program returned
at budget k, by the rule every strategy uses (a visible solution first, then the best visible
score; among several solutions the likeliest, where `agent solve` would stop at the batch of
its first one). Hidden tests are not run here.

`stop_doomed=True` (the bench's `sample+stop`) draws the same way but lets the policy stop a
draw whose complete lines already hold a syntax error no later line can repair (as the search
strategies do): such a draw is marked `doomed` and costs only the tokens written up to there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.search.budget import doomed_shares
from agent.search.types import EvaluateFn, Expansion, LintFn
from agent.search.tree import EdgeInfo, SearchTree
from envs.problem import Problem
from envs.program import Program
from envs.testcase import TestReport
from policies.base import Policy


@dataclass(frozen=True)
class Draw:
    index: int  # 0-based, in draw order
    call: int  # the policy call that drew it (0-based)
    status: str
    program: Program | None  # None: nothing parsed
    logprob: float
    tokens: int  # generated tokens, plus the call's prompt for a call's first draw
    generated_tokens: int
    flops: float
    seconds: float
    lint_ok: bool | None  # None when there is no program
    visible: TestReport | None  # None unless the gate admitted the program
    clean: bool = True  # admitted with no lint error at all (not only "none new", as a repair)
    doomed: bool = False  # stopped early at an unrepairable syntax error (only with stop_doomed)
    doomed_saved: int = 0  # its share of the decode steps its call ran on after doomed draws stopped

    @property
    def parsed(self) -> bool:
        return self.status == "ok" and self.program is not None


@dataclass(frozen=True)
class SamplingRun:
    root: Program  # the starter
    root_lint: Any
    root_clean: bool
    root_visible: TestReport
    draws: tuple[Draw, ...]

    @property
    def tokens_per_draw(self) -> float:
        """Mean tokens per draw (recorded as unit_tokens; the budgets use each prefix's own tokens)."""
        return sum(d.tokens for d in self.draws) / len(self.draws)


def draw_samples(
    problem: Problem, policy: Policy, *, lint: LintFn, evaluate: EvaluateFn, batch_size: int, seed: int,
    min_draws: int, min_tokens: int = 0, stop_doomed: bool = False,
) -> SamplingRun:
    """At least `min_draws` draws whose tokens add up to at least `min_tokens`.

    The search's own `sample` strategy draws them (`agent.search.loop.search`, which gates,
    evaluates and seeds exactly as `agent solve --strategy sample` does), told to keep going after
    a visible solution and never to cut a sample short; doomed samples stop early only with
    `stop_doomed` (not in the plain protocol). Every proposal of every call is recorded as a Draw
    through `on_batch`.
    `problem` must be the search's view (no hidden tests); `evaluate` runs visible tests only.
    """
    from agent.search.budget import Budget
    from agent.search.loop import search
    from agent.search.types import SearchSettings
    from agent.search.strategies import make_strategy

    draws: list[Draw] = []

    def record(tree: SearchTree, expansion: Expansion, stats) -> None:
        batch, digests, admitted, seconds = expansion.batch, expansion.digests, expansion.admitted, expansion.seconds
        call = draws[-1].call + 1 if draws else 0
        costs = [p.generated_tokens + (batch.prompt_tokens_encoded if i == 0 else 0)
                 for i, p in enumerate(batch.proposals)]
        flops_per_token = batch.flops / max(1, sum(costs))
        share_s = seconds / max(1, len(batch.proposals))
        doomed = [p.finish == "doomed" for p in batch.proposals]
        saved = doomed_shares(int((batch.extra or {}).get("doomed_tokens_saved", 0)), doomed)
        for proposal, cost, digest, ok, stopped, spared in zip(batch.proposals, costs, digests, admitted, doomed,
                                                               saved):
            node = tree.node(digest) if ok else None
            draws.append(Draw(len(draws), call, proposal.status, proposal.program if digest else None,
                              proposal.logprob, cost, proposal.generated_tokens, cost * flops_per_token, share_s,
                              ok, None if node is None else node.report, node is None or node.clean, stopped, spared))

    budget = Budget(samples=min_draws, tokens=min_tokens or None, until="all")
    settings = SearchSettings(seed=seed, stop_when_solved=False, stop_doomed=stop_doomed)
    result = search(problem, policy, lint=lint, evaluate=evaluate, strategy=make_strategy("sample", batch_size=batch_size),
                    budget=budget, settings=settings, on_batch=record)
    if result.stop_reason == "interrupted":  # a partial run is not a measurement
        raise KeyboardInterrupt
    root = result.tree.node(result.tree.root)
    return SamplingRun(root.program, root.lint, root.clean, root.report, tuple(draws))


def prefix_length(run: SamplingRun, *, draws: int | None = None, tokens: int | None = None) -> int:
    """Draws in the prefix for a budget: exactly `draws`, or the shortest prefix reaching `tokens`."""
    if draws is not None:
        return min(draws, len(run.draws))
    spent = 0
    for i, draw in enumerate(run.draws):
        spent += draw.tokens
        if spent >= tokens:
            return i + 1
    return len(run.draws)


def prefix_tree(run: SamplingRun, k: int) -> SearchTree:
    """The tree a sampling search holds after the first k draws (see the module docstring)."""
    tree = SearchTree(run.root, run.root_lint, root_clean=run.root_clean)
    tree.set_report(tree.root, run.root_visible)
    for draw in run.draws[:k]:
        if not draw.lint_ok:
            continue
        edge = EdgeInfo(None, None, draw.logprob, draw.generated_tokens, 0, draw.call + 1)
        new = draw.program.digest not in tree
        tree.add_child(tree.root, draw.program, edge, lint=None, clean=draw.clean)
        if new:
            tree.set_report(draw.program.digest, draw.visible)
    return tree


def prefix_compute(run: SamplingRun, k: int) -> dict:
    """What the first k draws cost, in the keys of the other strategies' records."""
    draws = run.draws[:k]
    generated = sum(d.generated_tokens for d in draws)
    tokens = sum(d.tokens for d in draws)
    return {"lm_calls": len({d.call for d in draws}), "samples": len(draws), "prompt_tokens": tokens - generated,
            "generated_tokens": generated, "tokens": tokens, "flops": sum(d.flops for d in draws),
            "wall_s": sum(d.seconds for d in draws), "doomed_samples": sum(d.doomed for d in draws),
            "doomed_tokens_saved": sum(d.doomed_saved for d in draws)}
