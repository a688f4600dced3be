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
  a call whose prompt the tokens left cannot pay for is refused by the policy, unrun, and the
  search ends there at its budget.
- Every new node is evaluated once (the tree is the cache: one node per program digest), and
  programs that differ only in comments are run once between them (`Program.behaviour_digest`:
  docstrings and positions count, since a program can read them).
- The search stops when a node passes every visible test ("solved"), the budget is spent
  ("budget"), the strategy has nothing left to expand ("exhausted": the tree strategies
  re-expand nodes, so in practice only at max_depth 0 or MCTS idling), or on KeyboardInterrupt
  ("interrupted", with the partial result).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from agent.search.budget import Budget, ComputeStats, Meter, samples_that_fit
from agent.search.requests import ProposeRequest, can_propose_groups, propose_nodes
from agent.search.tree import UNSCORED, EdgeInfo, SearchTree
from envs.problem import Problem
from envs.program import Program
from envs.testcase import TestReport
from policies.base import Policy, Proposal, ProposalBatch

logger = logging.getLogger(__name__)

StopReason = Literal["solved", "budget", "exhausted", "interrupted"]
LintFn = Callable[[Program, "Program | None"], Any]  # (program, parent or None) -> result with .ok
EvaluateFn = Callable[[Program], TestReport]  # runs the VISIBLE tests only
NodeHook = Callable[[SearchTree, str, ComputeStats], None]  # called once per new, evaluated node
# Called after each policy call, its new nodes scored: (tree, the batch, per proposal the digest of
# its program or None when nothing parsed, per proposal whether the lint gate admitted it (None:
# nothing to lint), the call's wall seconds with lint and tests). How `agent bench` records draws.
BatchHook = Callable[[SearchTree, ProposalBatch, list, list, float], None]


@dataclass(frozen=True, kw_only=True)
class SearchSettings:
    """Settings shared by all strategies (strategy-specific ones live in agent.search.strategies)."""

    # n: policy samples per hunk location per expansion; siblings share one prompt encoding
    samples_per_location: int = 2
    # locations per expansion: an expansion asks n * this samples (8 rows a call). Cut children
    # (rex, the default) share the task and the program up to the earliest cut, so several
    # locations cost little more than one; free-answer formats give every location the same prompt
    max_locations: int = 4
    max_depth: int = 8  # edits from the starter; LintSeq splits a HumanEval solution into a handful
    model_choice: bool = False  # also offer MODEL_CHOICE (None): only edit-sequence formats write headers
    # Show the policy the node's failing VISIBLE tests (formats that can). Off: with SmolLM2-135M it
    # solved none of the 3 examples best-first leaves unsolved, and in rex's cut children it cost
    # 2 problems at 20 on HumanEval/0-81 (docs/results, rex_feedback_humaneval0-81)
    feedback: bool = False
    # Stop a sample once its complete lines hold a syntax error no later line can repair
    # (envs.syntax): the lint gate would reject it, so its remaining tokens return to the budget.
    stop_doomed: bool = True
    seed: int = 0  # base seed: policy call k gets seed * SEED_STRIDE + k, so runs replay exactly
    max_idle_steps: int = 1000  # selections in a row that call no policy (MCTS revisiting dead ends)
    # False: keep going after a visible solution, until the budget, so the returned program is
    # chosen among all the visible solutions the budget buys (agent.search.selection); the bench's
    # repeated-sampling baseline always does (pass@k needs every one of its n draws)
    stop_when_solved: bool = True


SEED_STRIDE = 1_000_003  # spreads base seeds apart so two runs never share a call's seed


@dataclass(frozen=True)
class Selection:
    """The node to work on and the path the strategy took to it (root first, node last).

    expand=False: the node is a dead end (depth limit, or a cycle); the loop calls no policy
    and only backs up (MCTS counts the visit). A node may be selected for expansion again:
    the strategies re-expand nodes (agent.search.strategies), each call with a fresh seed.
    """

    node: str
    path: tuple[str, ...]
    expand: bool = True


SelectFn = Callable[[SearchTree, SearchSettings], "Selection | None"]  # None: nothing left
ProposeFn = Callable[[ProposeRequest], "ProposalBatch | None"]  # None: the cap allows no sample
BackupFn = Callable[[SearchTree, Selection, list[str]], None]  # new children's digests
# Several nodes for one policy call, each with its share of rows (see agent.search.requests)
SelectManyFn = Callable[[SearchTree, SearchSettings], "list[tuple[Selection, int]]"]


@dataclass(frozen=True)
class Strategy:
    name: str
    select: SelectFn
    propose: ProposeFn
    backup: BackupFn
    # When set and the policy can take several nodes in one call (`can_propose_groups`), each step
    # expands the nodes this picks together; `propose` is then not used.
    select_many: SelectManyFn | None = None


@dataclass(frozen=True)
class Counters:
    nodes: int = 0  # nodes in the tree, root included
    expansions: int = 0  # policy calls
    lint_rejected: int = 0  # parsed proposals whose program failed the lint gate (not in the tree)
    parse_failures: int = 0  # proposals without a program (malformed diff, empty, ...)
    parse_failure_kinds: dict[str, int] = field(default_factory=dict)  # by proposal status
    merges: int = 0  # programs reached again from a new parent (transpositions): edge added
    duplicates: int = 0  # programs proposed again at the same parent (or closing a cycle)
    evaluations: int = 0  # visible-test runs: one per distinct behaviour_digest
    evaluations_reused: int = 0  # nodes scored with an equivalent program's report (not run again)
    # {"at_root" | "below_root": {calls, samples, prompt_tokens, generated_tokens, new_nodes,
    # solutions, near_misses}}: fresh programs vs refinements (for rex: its two arms); the last two
    # count the arm's new nodes that pass every visible test / some but not all of them
    arms: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    """The outcome of one search. `program` is chosen by visible signals alone: the best
    solution if any, else the best-scoring node (see `SearchTree.best`)."""

    solved: bool
    program: Program
    node: str  # digest of the returned node
    stop_reason: StopReason
    strategy: str
    tree: SearchTree
    compute: ComputeStats
    counters: Counters


def sample_length_prior(policy: Policy) -> float | None:
    """Tokens a sample is expected to cost before any has ended: half the policy's length cap."""
    cap = getattr(policy, "max_new_tokens", None)
    return cap / 2 if isinstance(cap, (int, float)) and cap > 0 else None


class _Run:
    """One search's mutable working state: the tree, the meter and the counts."""

    def __init__(self, problem: Problem, policy: Policy, lint: LintFn, evaluate: EvaluateFn,
                 settings: SearchSettings, on_node: NodeHook | None) -> None:
        self.problem, self.policy, self.lint, self.evaluate = problem, policy, lint, evaluate
        self.settings, self.on_node = settings, on_node
        self.meter = Meter()
        self.counts: Counter[str] = Counter()
        self.failure_kinds: Counter[str] = Counter()
        self.tree: SearchTree | None = None
        self.reports: dict[str, TestReport] = {}  # by Program.behaviour_digest
        self.arms: dict[str, Counter[str]] = {}  # see _count_arm
        self.node_arm: dict[str, str] = {}  # digest -> the arm whose call first made the node

    def start(self) -> None:
        """Lint and evaluate the root (the starter program, kept whatever its lint result)."""
        root = self.problem.starter
        with self.meter.timed("lint"):
            result = self.lint(root, None)
        self.tree = SearchTree(root, result, root_clean=bool(result.ok))
        self.score([self.tree.root])

    def expand(self, strategy: Strategy, selections: list[tuple[Selection, int]], budget: Budget) -> list[str] | None:
        """Ask the policy at the selected node(s), in one call; lint-gate and add what comes back.
        Returns the digests of the new nodes, or None when the budget allows no sample."""
        tree = self.tree
        stats = self.meter.stats()
        tokens_left = budget.tokens_left(stats)
        fit = samples_that_fit(tokens_left, stats, prior=sample_length_prior(self.policy))
        caps = [c for c in (budget.samples_left(stats), fit) if c is not None]
        seed = self.settings.seed * SEED_STRIDE + self.counts["expansions"]
        requests = [ProposeRequest(self.policy, self.problem, tree, selection.node, self.settings,
                                   min(caps) if caps else None, seed, tokens_left) for selection, _ in selections]
        with self.meter.timed("generate"):
            if selections == [(selections[0][0], 1)]:  # one node, one share: the strategy's own call
                batch = strategy.propose(requests[0])
                sizes = [len(batch.proposals)] if batch is not None else []
            else:
                batch, sizes = propose_nodes(requests, [share for _, share in selections])
        if batch is None or batch.refused:  # refused: the tokens left do not pay for the call's prompt
            return None
        self.meter.add_batch(batch)
        self.counts["expansions"] += 1
        new, digests, admitted_flags, start = [], [], [], 0
        self.last_batch, self.last_outcomes = batch, (digests, admitted_flags)
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
        return new

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
                            getattr(proposal, "uncertain", None))
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

    def _count_arm(self, arm: str, batch: ProposalBatch, part: tuple[Proposal, ...], new: list[str]) -> None:
        """Where the compute went: calls at the root (fresh programs) vs below it (refinements).
        A call carrying several nodes counts once per node it carried; its generated tokens go to
        the rows that wrote them, its encoded prompt tokens in proportion to rows."""
        counts = self.arms.setdefault(arm, Counter())
        if len(part) == len(batch.proposals):
            prompt, generated = batch.prompt_tokens_encoded, batch.generated_tokens
        else:
            prompt = batch.prompt_tokens_encoded * len(part) / len(batch.proposals)
            generated = sum(p.generated_tokens for p in part)
        counts.update(calls=1, samples=len(part), prompt_tokens=int(prompt), generated_tokens=int(generated),
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

    def score(self, digests: list[str]) -> None:
        for digest in digests:
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


def _loop(run: _Run, strategy: Strategy, budget: Budget, on_batch: BatchHook | None = None) -> StopReason:
    run.start()
    stop_when_solved = run.settings.stop_when_solved
    if stop_when_solved and run.tree.node(run.tree.root).solved:
        return "solved"
    idle = 0
    select_many = strategy.select_many if can_propose_groups(run.policy) else None
    while True:
        if budget.exhausted(run.meter.stats()):
            return "budget"
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
        new = run.expand(strategy, selections, budget)
        if new is None:
            return "budget"
        run.score(new)
        if on_batch is not None:
            on_batch(run.tree, run.last_batch, *run.last_outcomes, time.perf_counter() - start)
        for chosen, _ in selections:
            strategy.backup(run.tree, chosen, [d for d in new if run.tree.node(d).parent == chosen.node])
        if stop_when_solved and any(run.tree.node(d).solved for d in new):
            return "solved"


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
) -> SearchResult:
    """Search for a program that passes the problem's visible tests.

    problem:  only `problem.without_hidden_tests()` is used (hidden tests are never read).
    policy:   proposes edits (`propose`) or whole programs (`sample_programs`).
    lint:     `lint(program, parent)`; parent None = absolute check, else "no new errors".
    evaluate: runs the visible tests on a program, returns its TestReport (infra errors raise).
    on_node:  called after each new node is evaluated (e.g. a rollout writer); it sees the tree.
    on_batch: called after each policy call with what became of every proposal (BatchHook).
    """
    if hasattr(policy, "reset"):  # a policy that keeps state across calls starts afresh
        policy.reset()
    run = _Run(problem.without_hidden_tests(), policy, lint, evaluate, settings, on_node)
    try:
        stop = _loop(run, strategy, budget, on_batch)
    except KeyboardInterrupt:
        logger.warning("search interrupted; returning the partial result")
        stop = "interrupted"
    result = run.result(strategy, stop)
    logger.info("%s: %s after %d nodes, %d samples (solved=%s)", problem.id, stop,
                result.counters.nodes, result.compute.samples, result.solved)
    return result
