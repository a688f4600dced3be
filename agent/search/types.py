"""What flows through the search: its settings, the strategy record and the functions that plug
into it, what a node asks the policy, and what a search returns.

The loop (`agent.search.loop`) runs select -> expand -> evaluate -> backup over these; a strategy
(`agent.search.strategies`) is a `Strategy` record of functions, not a subclass; `ProposeRequest`
is what a strategy's `propose` turns into one policy call (`agent.search.requests`). This module
imports none of them, so they import it and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from agent.search.budget import ComputeStats
from agent.search.tree import SearchTree
from envs.problem import Problem
from envs.program import Program
from envs.testcase import TestReport
from policies.base import CallCaps, Policy, ProposalBatch

StopReason = Literal["solved", "budget", "exhausted", "interrupted"]
LintFn = Callable[[Program, "Program | None"], Any]  # (program, parent or None) -> result with .ok
EvaluateFn = Callable[[Program], TestReport]  # runs the VISIBLE tests only
NodeHook = Callable[[SearchTree, str, ComputeStats], None]  # called once per new, evaluated node
# The votes of the program a search would return: its draws and those of the visible solutions
# behaving like it (SearchSettings.stop_votes); visible tests and their calls only.
VotesFn = Callable[[SearchTree], int]
# Called after each policy call, its new nodes scored, with the compute spent so far: how
# `agent bench` records draws, and how a progress display stays current when a call made no node.
BatchHook = Callable[[SearchTree, "Expansion", ComputeStats], None]
# Called when the tokens spent reach one of the budget's checkpoints (`Budget.checkpoints`), with
# the checkpoint's token total and the result a search with that token budget would have returned
# (its tree is the live one: read it at once). How `agent bench` reads every smaller budget off
# one search.
CheckpointHook = Callable[[int, "SearchResult"], None]


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
    # Show the policy the node's code and failing VISIBLE tests (formats that can): the call, what
    # it got and expected, an exception with the line it names. On for the code model, as
    # self-repair work with coder models prescribes; not yet measured with it (at 1-10 samples'
    # tokens rex refined nothing, docs/results). With SmolLM2-135M it cost 2 problems at 20 on
    # HumanEval/0-81 (rex_feedback_humaneval0-81): `--set search.feedback=false`.
    feedback: bool = True
    # Stop a sample once its complete lines hold a syntax error no later line can repair
    # (envs.syntax): the lint gate would reject it, so its remaining tokens return to the budget.
    stop_doomed: bool = True
    seed: int = 0  # base seed: policy call k gets seed * SEED_STRIDE + k, so runs replay exactly
    max_idle_steps: int = 1000  # selections in a row that call no policy (MCTS revisiting dead ends)
    # False: keep going after a visible solution, until the budget, so the returned program is
    # chosen among all the visible solutions the budget buys (agent.search.selection); the bench's
    # repeated-sampling baseline always does (pass@k needs every one of its n draws)
    stop_when_solved: bool = True
    # With stop_when_solved: stop once the program the search would return has this many votes,
    # draws passing every visible test that behave alike on the choice's extra inputs (`VotesFn`;
    # agent.search.selection.agreement_votes). 1: at the first visible solution; `agent solve`
    # and `agent bench` take 3 (agent.config.SearchConfig: why).
    stop_votes: int = 1


SEED_STRIDE = 1_000_003  # spreads base seeds apart so two runs never share a call's seed
# Where a search's stream of fresh programs starts within its seed's stride: draw k of the
# stream is seeded FRESH_STREAM + k (Policy.sample_programs), apart from the per-call seeds.
FRESH_STREAM = SEED_STRIDE // 2


def fresh_stream_seed(seed: int) -> int:
    """The seed of draw 0 of the fresh programs of a search with this base seed."""
    return seed * SEED_STRIDE + FRESH_STREAM


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

    @classmethod
    def of(cls, tree: SearchTree, digest: str) -> Selection:
        """Expand `digest`, reached by the tree's path to it."""
        return cls(digest, tuple(n.digest for n in tree.path(digest)))


@dataclass(frozen=True)
class ProposeRequest:
    """Everything a `propose` function may use to ask the policy for candidates at `node`."""

    policy: Policy
    problem: Problem  # hidden tests already removed
    tree: SearchTree
    node: str
    settings: SearchSettings
    samples_left: int | None  # the most samples (rows) this call may ask for (None = no cap)
    seed: int
    caps: CallCaps = CallCaps()  # what the call may spend: handed to the policy as it is


SelectFn = Callable[[SearchTree, SearchSettings], "Selection | None"]  # None: nothing left
ProposeFn = Callable[[ProposeRequest], "ProposalBatch | None"]  # None: the cap allows no sample
BackupFn = Callable[[SearchTree, Selection, list[str]], None]  # new children's digests
# Several nodes for one policy call, each with its share of rows (see agent.search.requests)
SelectManyFn = Callable[[SearchTree, SearchSettings], "list[tuple[Selection, int]]"]

def no_backup(tree: SearchTree, selection: Selection, new: list[str]) -> None:
    """Strategies that keep no statistics beyond the scores already on the nodes."""


@dataclass(frozen=True)
class Strategy:
    name: str
    select: SelectFn
    propose: ProposeFn
    backup: BackupFn
    # When set and the policy can take several nodes in one call (`can_propose_groups`), each step
    # expands the nodes this picks together; `propose` is then not used.
    select_many: SelectManyFn | None = None
    # True: expanding the root draws the next programs of the fresh stream, one a row, each the
    # same program whichever call draws it (`agent.search.requests.propose_programs`), and `select`
    # is a function of the tree alone. The loop may then draw fresh rows ahead, in calls as large
    # as sampling's, and read them one at a time, asking `select` again before each (the rows
    # of a call: agent.search.loop._Run.draw_fresh).
    fresh_stream: bool = False


@dataclass(frozen=True)
class Expansion:
    """What one policy call made at the selected node(s)."""

    batch: ProposalBatch
    digests: tuple[str | None, ...]  # per proposal: its program's digest, None when nothing parsed
    admitted: tuple[bool | None, ...]  # per proposal: did the lint gate admit it (None: nothing to lint)
    new: tuple[str, ...]  # the new nodes, in the order they were added
    seconds: float = 0.0  # wall time of the call with lint and tests (set once the new nodes are scored)


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
