"""The search loop: select -> expand -> evaluate -> backup, shared by every strategy.

A strategy (`agent.search.strategies`) is not a subclass: it is a `Strategy` record of three functions
that plug into this one loop. `select` picks the node to extend (or says nothing is left),
`propose` asks the policy for candidates there (edits at hunk locations, or whole programs for
the repeated-sampling baseline; `agent.search.requests`), `backup` updates the strategy's
statistics afterwards. An optional fourth, `select_many`, picks several nodes whose requests
share one policy call (rex's `arms_per_call`).

What the loop guarantees, for every strategy:
- The search only ever sees `problem.without_hidden_tests()`; `evaluate` must run the visible
  tests only (the caller binds it to a sandbox and `problem.tests`).
- A node exists only if its program passed `lint`; a child of a node that has lint errors itself
  (only the starter can) is gated by "no new errors versus the parent".
- The budget is checked before each policy call and the call asks for at most the samples left;
  its `CallCaps` carry the tokens left (to the next of the budget's checkpoints, if any) down to
  the sampler. A call whose prompt the tokens left cannot pay for is refused by the policy,
  unrun, and the search ends there at its budget (or passes that checkpoint and asks again).
  A strategy's fresh programs (`Strategy.fresh_stream`) come instead in calls of whole rows,
  drawn ahead and read one by one, the strategy asked before each (`_Run.draw_fresh`): a row
  the budget does not pay for is not drawn, and the tokens of rows never drawn are counted
  apart (`ComputeStats.unused_tokens`).
- Every new node is evaluated once (the tree is the cache: one node per program digest), and
  programs that differ only in comments are run once between them (`Program.behaviour_digest`:
  docstrings and positions count, since a program can read them).
- The search stops when a node passes every visible test ("solved"; with `stop_votes` k > 1,
  once k draws passing every visible test agree with the program it would return, `VotesFn`),
  the budget is spent
  ("budget"), the strategy has nothing left to expand ("exhausted": the tree strategies
  re-expand nodes, so in practice only at max_depth 0 or MCTS idling), or on KeyboardInterrupt
  ("interrupted", with the partial result).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from typing import Any, Sequence

from agent.search.budget import Budget, ComputeStats, Meter, call_limits, joined_rows, row_batches, sample_length_prior
from agent.search.requests import can_propose_groups, propose_nodes
from agent.search.tree import UNSCORED, EdgeInfo, SearchTree
from agent.search.types import (
    SEED_STRIDE, BatchHook, CheckpointHook, Counters, EvaluateFn, Expansion, LintFn, NodeHook, ProposeRequest,
    SearchResult, SearchSettings, Selection, StopReason, Strategy, VotesFn,
)
from envs.problem import Problem
from envs.program import Program
from envs.testcase import TestReport
from policies.base import CallCaps, Policy, Proposal, ProposalBatch

logger = logging.getLogger(__name__)


class _Run:
    """One search's mutable working state: the tree, the meter, the counts and the checkpoints
    not reached yet."""

    def __init__(self, problem: Problem, policy: Policy, lint: LintFn, evaluate: EvaluateFn,
                 settings: SearchSettings, budget: Budget, on_node: NodeHook | None,
                 on_checkpoint: CheckpointHook | None, votes: VotesFn | None = None) -> None:
        self.problem, self.policy, self.lint, self.evaluate = problem, policy, lint, evaluate
        self.votes = votes or solution_draws
        self.settings, self.budget, self.on_node, self.on_checkpoint = settings, budget, on_node, on_checkpoint
        self.meter = Meter()
        self.counts: Counter[str] = Counter()
        self.failure_kinds: Counter[str] = Counter()
        self.tree: SearchTree | None = None
        self.reports: dict[str, TestReport] = {}  # by Program.behaviour_digest
        self.arms: dict[str, Counter[str]] = {}  # see _count_arm
        self.node_arm: dict[str, str] = {}  # digest -> the arm whose call first made the node
        self.checkpoints = list(budget.checkpoints)  # not reached yet, ascending
        # fresh rows drawn ahead and not read yet, in stream order: (one-row batch with its share
        # of its call's seconds, whether it is its call's first row)
        self.ahead: list[tuple[ProposalBatch, bool]] = []

    def start(self) -> None:
        """Lint and evaluate the root (the starter program, kept whatever its lint result)."""
        root = self.problem.starter
        with self.meter.timed("lint"):
            result = self.lint(root, None)
        self.tree = SearchTree(root, result, root_clean=bool(result.ok))
        self.score([self.tree.root])

    def agreed(self, expansion: Expansion) -> bool:
        """Has the call just made brought the returned program's votes to `stop_votes`? Only
        a call that drew a visible solution (new or again) can."""
        tree = self.tree
        drew = [d for d in expansion.digests if d is not None and d in tree and tree.node(d).solved]
        if not drew:
            return False
        if self.settings.stop_votes <= 1:
            return True
        with self.meter.timed("sandbox"):  # the choice's executions on its extra inputs
            return self.votes(tree) >= self.settings.stop_votes

    def limits(self) -> tuple[int | None, CallCaps, bool]:
        """The next call's limits, its tokens those left to the next checkpoint (or the budget)."""
        checkpoint = self.checkpoints[0] if self.checkpoints else None
        return call_limits(self.budget, self.meter.stats(), checkpoint,
                           prior=sample_length_prior(self.policy), stop_doomed=self.settings.stop_doomed)

    def draws_ahead(self, strategy: Strategy, selections: list[tuple[Selection, int]]) -> bool:
        """Is the next call the strategy's fresh arm alone, drawn ahead (`draw_fresh`)? Only
        for a search that spends its budget: one that may stop at a solution draws what the
        next checkpoint pays for, so it never waits for rows it would not have drawn."""
        return (strategy.fresh_stream and not self.settings.stop_when_solved and self.budget.tokens is not None
                and len(selections) == 1 and selections[0][1] == 1 and selections[0][0].node == self.tree.root)

    def pass_checkpoints(self, strategy: Strategy, *, next_one: bool = False) -> None:
        """Report every checkpoint the tokens spent have reached (and the next one, if
        `next_one`: a call that would cross it was refused, so a search with that budget ends
        here) with the result such a search would have returned."""
        spent = self.meter.stats().tokens
        while self.checkpoints and (next_one or spent >= self.checkpoints[0]):
            limit, next_one = self.checkpoints.pop(0), False
            if self.on_checkpoint is not None:
                self.on_checkpoint(limit, self.result(strategy, "budget"))

    def expand(self, strategy: Strategy, selections: list[tuple[Selection, int]]) -> Expansion | None:
        """Ask the policy at the selected node(s), in one call; lint-gate and add what comes back.
        Returns what the call made, or None when the budget allows no sample."""
        if self.draws_ahead(strategy, selections):
            return self.draw_fresh(strategy)
        while True:
            self.pass_checkpoints(strategy)
            samples, caps, at_checkpoint = self.limits()
            with self.meter.timed("generate"):
                batch, sizes = self._call(strategy, selections, samples, caps)
            if batch is None or not (batch.refused and at_checkpoint):
                break
            self.pass_checkpoints(strategy, next_one=True)  # and ask again, under the next cap
        if batch is None or batch.refused:  # refused: the tokens left do not pay for the call's prompt
            return None
        self.meter.add_batch(batch)
        self.counts["expansions"] += 1
        tree, new, digests, admitted_flags, start = self.tree, [], [], [], 0
        for (selection, _), size in zip(selections, sizes):
            part, start = batch.proposals[start:start + size], start + size
            if not part:
                continue
            tree.node(selection.node).expanded += 1
            added = self._add_children(selection.node, part, digests, admitted_flags)
            arm = "at_root" if selection.node == tree.root else "below_root"
            self._count_arm(arm, batch, part, added)
            self.node_arm.update(dict.fromkeys(added, arm))
            new += added
        return Expansion(batch, tuple(digests), tuple(admitted_flags), tuple(new))

    def draw_fresh(self, strategy: Strategy) -> Expansion | None:
        """The strategy's next fresh programs (`Strategy.fresh_stream`), read one row at a time
        from rows drawn ahead, as `agent bench` reads sampling's draws: each row's tokens counted
        (the prompt with its call's first), its program linted, added and scored, every checkpoint
        before it reported first, and the strategy asked again before the next one, as if each
        row were a call of its own. Where it picks another arm, the rows left wait for its next
        fresh pick: they are the stream's next draws whoever draws them.

        With none ahead, one call draws them: whole rows (no token cap, so none is cut), as many
        as fill the tokens left to the budget (`CallCaps.fill_tokens`), as sampling draws its n.
        (Drawn as the checkpoints and the strategy's picks came, rex's tokens cost 1.35x
        sampling's seconds: docs/results/README.md.) A row the budget does not pay for is not
        drawn (a search with that budget would have cut it); rows never drawn are counted apart
        when the search ends (`finish`). Each row brings an even share of its call's seconds, as
        sampling's draws do. None: the budget pays for no row."""
        self.pass_checkpoints(strategy)
        tree, root = self.tree, self.tree.root
        if not self.ahead and not self._draw_ahead(strategy):
            return None
        digests, admitted_flags, new, drawn = [], [], [], []
        while self.ahead and not self.budget.exhausted(self.meter.stats()):
            row, opens_call = self.ahead[0]
            spent, cost = self.meter.stats().tokens, row.prompt_tokens_encoded + row.generated_tokens
            if spent + cost > self.budget.tokens:
                break
            if drawn and not self._picks_fresh(strategy):  # asked as the loop asks it, before the row
                break
            while self.checkpoints and spent + cost > self.checkpoints[0]:  # the checkpoint ends before this row
                self.pass_checkpoints(strategy, next_one=True)
            self.ahead.pop(0)
            drawn.append(row)
            tree.programs_drawn += 1
            self.counts["expansions"] += 1  # each row an expansion of the root, as if drawn alone
            tree.node(root).expanded += 1
            self.meter.release(row.generate_s)
            self.meter.add_batch(row, call=opens_call)
            added = self._add_children(root, row.proposals, digests, admitted_flags)
            self._count_arm("at_root", row, row.proposals, added, call=opens_call)
            self.node_arm.update(dict.fromkeys(added, "at_root"))
            self.score(added)
            new += added
            self.pass_checkpoints(strategy)
        if not drawn:
            return None
        return Expansion(joined_rows(drawn), tuple(digests), tuple(admitted_flags), tuple(new))

    def _draw_ahead(self, strategy: Strategy) -> bool:
        """One fresh call of whole rows filling the tokens left (`draw_fresh`); False: no row."""
        stats, root = self.meter.stats(), self.tree.root
        caps = CallCaps(fill_tokens=self.budget.tokens_left(stats), stop_doomed=self.settings.stop_doomed)
        with self.meter.timed("generate"):
            batch, _ = self._call(strategy, [(Selection(root, (root,)), 1)], self.budget.samples_left(stats), caps)
        if batch is None or not batch.proposals:
            return False
        self.tree.programs_drawn -= len(batch.proposals)  # counted as each is read
        self.meter.hold(batch.generate_s)
        self.ahead = [(row, i == 0) for i, row in enumerate(row_batches(batch))]
        return True

    def _picks_fresh(self, strategy: Strategy) -> bool:
        """Would the strategy, asked now as the loop asks it, pick its fresh arm again?"""
        self.tree.tokens_left = self.limits()[1].tokens
        selection = strategy.select(self.tree, self.settings)
        return selection is not None and selection.expand and selection.node == self.tree.root

    def finish(self) -> None:
        """Rows drawn ahead and never read: counted apart, their seconds with the rest."""
        if self.ahead:
            self.meter.add_unused([row for row, _ in self.ahead])
            self.meter.release(sum(row.generate_s for row, _ in self.ahead))
            self.ahead = []

    def _call(self, strategy: Strategy, selections: list[tuple[Selection, int]], samples: int | None,
              caps: CallCaps) -> tuple[ProposalBatch | None, list[int]]:
        """One policy call for the selections: the batch (None: the cap allows no sample) and
        how many of its proposals belong to each selection, in order."""
        seed = self.settings.seed * SEED_STRIDE + self.counts["expansions"]
        requests = [ProposeRequest(self.policy, self.problem, self.tree, selection.node, self.settings, samples, seed,
                                   caps) for selection, _ in selections]
        if selections == [(selections[0][0], 1)]:  # one node, one share: the strategy's own call
            batch = strategy.propose(requests[0])
            return batch, [len(batch.proposals)] if batch is not None else []
        return propose_nodes(requests, [share for _, share in selections])

    def _add_children(self, parent_digest: str, proposals, digests: list, admitted_flags: list) -> list[str]:
        """Lint-gate the proposals made at one node and add them as its children; the digests of
        the new nodes. Appends each proposal's digest and whether it was admitted (the batch hook)."""
        tree, parent = self.tree, self.tree.node(parent_digest)
        new = []
        for proposal in proposals:
            if proposal.status != "ok" or proposal.program is None:
                self.counts["parse_failures"] += 1
                self.failure_kinds[proposal.status if proposal.status != "ok" else "no_program"] += 1
                digests.append(None)
                admitted_flags.append(None)
                continue
            digests.append(proposal.program.digest)
            admitted_flags.append(True)
            edge = EdgeInfo(proposal.edit, proposal.location, proposal.logprob,
                            proposal.generated_tokens, proposal.prompt_tokens, self.counts["expansions"],
                            proposal.uncertain)
            if proposal.program.digest not in tree:
                admitted = self.admit(proposal.program, parent.program if not parent.clean else None)
                if admitted is None:
                    admitted_flags[-1] = False
                    continue
                result, clean = admitted
                tree.add_child(parent_digest, proposal.program, edge, lint=result, clean=clean)
                new.append(proposal.program.digest)
            else:  # lint passed when it was first added: only the edge is new, if anything
                tree.add_child(parent_digest, proposal.program, edge)
        return new

    def _count_arm(self, arm: str, batch: ProposalBatch, part: tuple[Proposal, ...], new: list[str], *,
                   call: bool = True) -> None:
        """Where the compute went: calls at the root (fresh programs) vs below it (refinements).
        A call carrying several nodes counts once per node it carried; its generated tokens go to
        the rows that wrote them, its encoded prompt tokens in proportion to rows. `call=False`:
        more rows of a call already counted."""
        counts = self.arms.setdefault(arm, Counter())
        if len(part) == len(batch.proposals):
            prompt, generated = batch.prompt_tokens_encoded, batch.generated_tokens
        else:
            prompt = batch.prompt_tokens_encoded * len(part) / len(batch.proposals)
            generated = sum(p.generated_tokens for p in part)
        counts.update(calls=int(call), samples=len(part), prompt_tokens=int(prompt), generated_tokens=int(generated),
                      new_nodes=len(new))

    def _arm_hits(self, arm: str) -> dict[str, int]:
        """The arm's new nodes that pass every visible test, and those that pass some (near-misses)."""
        nodes = [self.tree.node(d) for d, a in self.node_arm.items() if a == arm]
        scored = [n for n in nodes if n.score is not UNSCORED]
        return {"solutions": sum(1 for n in scored if n.solved),
                "near_misses": sum(1 for n in scored if 0.0 < n.score < 1.0)}

    def admit(self, program: Program, against: Program | None) -> tuple[Any, bool] | None:
        """The lint result that admits `program` and whether it is clean, or None (rejected)."""
        with self.meter.timed("lint"):
            result = self.lint(program, against)
        if not result.ok:
            self.counts["lint_rejected"] += 1
            return None
        if against is None:
            return result, True
        with self.meter.timed("lint"):  # repair mode: does it still carry the parent's errors?
            clean = bool(self.lint(program, None).ok)
        return result, clean

    def score(self, digests: Sequence[str]) -> None:
        """Evaluate the nodes not scored yet (a call taken row by row scored its own)."""
        for digest in digests:
            if self.tree.node(digest).score is not UNSCORED:
                continue
            program = self.tree.node(digest).program
            report = self.reports.get(program.behaviour_digest)
            if report is None:  # run once per behaviour: comments aside
                with self.meter.timed("sandbox"):
                    report = self.evaluate(program)
                self.counts["evaluations"] += 1
                self.reports[program.behaviour_digest] = report
            else:
                self.counts["evaluations_reused"] += 1
            self.tree.set_report(digest, report)
            if self.on_node is not None:
                self.on_node(self.tree, digest, self.meter.stats())

    def result(self, strategy: Strategy, stop: StopReason) -> SearchResult:
        if self.tree is None:  # interrupted before the root existed
            self.tree = SearchTree(self.problem.starter, None, root_clean=True)
        best = self.tree.best()
        counters = Counters(
            nodes=len(self.tree), expansions=self.counts["expansions"],
            lint_rejected=self.counts["lint_rejected"], parse_failures=self.counts["parse_failures"],
            parse_failure_kinds=dict(sorted(self.failure_kinds.items())), merges=self.tree.merges,
            duplicates=self.tree.duplicates, evaluations=self.counts["evaluations"],
            evaluations_reused=self.counts["evaluations_reused"],
            arms={arm: dict(counts) | self._arm_hits(arm) for arm, counts in sorted(self.arms.items())},
        )
        return SearchResult(best.solved, best.program, best.digest, stop, strategy.name, self.tree,
                            self.meter.stats(), counters)


def _loop(run: _Run, strategy: Strategy, on_batch: BatchHook | None = None) -> StopReason:
    run.start()
    stop_when_solved = run.settings.stop_when_solved
    if stop_when_solved and run.tree.node(run.tree.root).solved:
        return "solved"
    idle = 0
    select_many = strategy.select_many if can_propose_groups(run.policy) else None
    while True:
        if run.budget.exhausted(run.meter.stats()):
            return "budget"
        run.pass_checkpoints(strategy)  # first: the tokens left are those to the next checkpoint not reached
        run.tree.tokens_left = run.limits()[1].tokens  # what the next call may spend, for strategies that price it
        selections = select_many(run.tree, run.settings) if select_many is not None else None
        selection = selections[0][0] if selections else strategy.select(run.tree, run.settings)
        if selection is None:
            return "exhausted"
        if not selection.expand:
            strategy.backup(run.tree, selection, [])
            idle += 1
            if idle > run.settings.max_idle_steps:
                return "exhausted"
            continue
        idle = 0
        start = time.perf_counter()
        selections = selections or [(selection, 1)]
        expansion = run.expand(strategy, selections)
        if expansion is None:
            return "budget"
        new = expansion.new
        run.score(new)
        if on_batch is not None:
            on_batch(run.tree, dataclasses.replace(expansion, seconds=time.perf_counter() - start), run.meter.stats())
        for chosen, _ in selections:
            strategy.backup(run.tree, chosen, [d for d in new if run.tree.node(d).parent == chosen.node])
        if stop_when_solved and run.agreed(expansion):
            return "solved"


def solution_draws(tree: SearchTree) -> int:
    """Votes without a choice to run: every draw of a visible solution (they all agree on the
    visible tests)."""
    return sum(n.drawn for n in tree.solutions())


def search(
    problem: Problem,
    policy: Policy,
    *,
    lint: LintFn,
    evaluate: EvaluateFn,
    strategy: Strategy,
    budget: Budget,
    settings: SearchSettings = SearchSettings(),
    on_node: NodeHook | None = None,
    on_batch: BatchHook | None = None,
    on_checkpoint: CheckpointHook | None = None,
    votes: VotesFn | None = None,
) -> SearchResult:
    """Search for a program that passes the problem's visible tests.

    problem:  only `problem.without_hidden_tests()` is used (hidden tests are never read).
    policy:   proposes edits (`propose`) or whole programs (`sample_programs`).
    lint:     `lint(program, parent)`; parent None = absolute check, else "no new errors".
    evaluate: runs the visible tests on a program, returns its TestReport (infra errors raise).
    on_node:  called after each new node is evaluated (e.g. a rollout writer); it sees the tree.
    on_batch: called after each policy call with what it made (BatchHook).
    on_checkpoint: called at each of `budget.checkpoints` the search reaches (CheckpointHook);
              the ones it never reaches are left to the caller (the final result is theirs).
    votes:    the votes of the program the search would return, for `settings.stop_votes` > 1
              (agent.search.selection.agreement_votes); default `solution_draws`.
    """
    policy.reset()  # a policy that keeps state across calls starts afresh
    run = _Run(problem.without_hidden_tests(), policy, lint, evaluate, settings, budget, on_node, on_checkpoint,
               votes)
    try:
        stop = _loop(run, strategy, on_batch)
    except KeyboardInterrupt:
        logger.warning("search interrupted; returning the partial result")
        stop = "interrupted"
    run.finish()
    result = run.result(strategy, stop)
    logger.info("%s: %s after %d nodes, %d samples (solved=%s)", problem.id, stop,
                result.counters.nodes, result.compute.samples, result.solved)
    return result
