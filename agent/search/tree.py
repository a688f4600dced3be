"""The search tree: program states as nodes of a `networkx.DiGraph`, keyed by program digest.

A node is a program state that passed the lint gate (the root, the starter program, is kept
whatever its lint result, since the search has to start somewhere). An edge parent -> child is
one edit the policy proposed at `parent` whose result is `child`. Identical programs reached
twice are merged (a transposition): the second parent only gets a new edge, the node keeps the
data of its first arrival, so the tree may be a DAG. Cycles are never created: a proposal whose
program is the parent itself or one of its ancestors is counted as a duplicate and dropped.

The first parent of every node defines its *path* (root -> node): its depth, its history for the
policy, and the edit path written to rollouts. Other parents appear only as extra edges.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import networkx as nx

from envs.diff import Edit, render_edit
from envs.program import Program
from envs.testcase import TestReport
from envs.locations import Location
from policies.base import State

ROOT_DEPTH = 0
NO_PARENT = None  # the parent of the root
UNSCORED = None  # score of a node whose visible tests have not run (yet)


class LintLike(Protocol):
    """What the tree reads from a lint result (envs.lint.LintResult has these fields)."""

    ok: bool
    messages: Any


@dataclass(frozen=True)
class EdgeInfo:
    """How one child was made from one parent: the sampled edit and what it cost.

    logprob: sum of the generated tokens' log-probs (policy units: nats).
    generated_tokens: tokens of this sample; prompt_tokens: its prompt length (maybe shared).
    """

    edit: Edit | None
    location: Location | None
    logprob: float = 0.0
    generated_tokens: int = 0
    prompt_tokens: int = 0
    step: int = 0  # the policy call (1-based, in the search's order) that proposed it
    uncertain: tuple[str, int] | None = None  # Proposal.uncertain: where the child may branch


@dataclass
class Node:
    """One program state. Set once at creation, except the fields marked mutable.

    `clean` says whether the program has no lint errors in absolute terms (children of an
    unclean node are gated by "no new errors versus the parent").
    """

    digest: str
    program: Program
    parent: str | None  # first parent (NO_PARENT for the root)
    depth: int  # along the first-parent path
    order: int  # creation index: a deterministic last tie-break
    edge: EdgeInfo | None  # the edge from the first parent (None for the root)
    lint: Any  # the LintResult that admitted it
    clean: bool
    # Mutable: evaluation and search statistics.
    score: float | None = UNSCORED  # fraction of visible tests passed
    report: TestReport | None = None
    visits: int = 0  # MCTS visit count N
    value_sum: float = 0.0  # MCTS sum of backed-up values W (Q = W / N)
    value_max: float = 0.0  # MCTS best backed-up value (Q under the max backup, as in PG-TD)
    expanded: int = 0  # how many policy calls were made at it (0 = unexpanded)
    drawn: int = 1  # proposals that wrote this program, duplicates and merges included (its votes)

    @property
    def logprob(self) -> float:
        return self.edge.logprob if self.edge else 0.0

    @property
    def solved(self) -> bool:
        return self.report is not None and self.report.all_passed

    @property
    def value(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0


class Added(str, enum.Enum):
    """What `SearchTree.add_child` did with an admitted program."""

    NEW = "new"  # a new node and its edge
    MERGED = "merged"  # an existing node reached from a new parent: a new edge only
    DUPLICATE = "duplicate"  # the edge exists already, or the edit would close a cycle


class SearchTree:
    """The DiGraph of `Node`s (under the node attribute "node") and `EdgeInfo`s (edge "info")."""

    def __init__(self, root: Program, root_lint: Any, *, root_clean: bool) -> None:
        self.graph = nx.DiGraph()
        self.root = root.digest
        self.merges = 0
        self.duplicates = 0
        self.programs_drawn = 0  # whole programs drawn from the starter so far: the next one's index in the stream
        # Tokens the next policy call may spend (to the budget, or to the next checkpoint of an
        # anytime run), set by the search loop before each selection; None: no token limit.
        self.tokens_left: int | None = None
        self._add_node(Node(root.digest, root, NO_PARENT, ROOT_DEPTH, 0, None, root_lint, root_clean))

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __contains__(self, digest: str) -> bool:
        return digest in self.graph

    def node(self, digest: str) -> Node:
        return self.graph.nodes[digest]["node"]

    def nodes(self) -> list[Node]:
        """All nodes in creation order."""
        return sorted((d["node"] for _, d in self.graph.nodes(data=True)), key=lambda n: n.order)

    def children(self, digest: str) -> list[Node]:
        """Successors (including merged ones) in creation order."""
        return sorted((self.node(c) for c in self.graph.successors(digest)), key=lambda n: n.order)

    def edge(self, parent: str, child: str) -> EdgeInfo:
        return self.graph.edges[parent, child]["info"]

    def path(self, digest: str) -> list[Node]:
        """Nodes along the first-parent path, root first, `digest` last."""
        out = [self.node(digest)]
        while out[-1].parent is not NO_PARENT:
            out.append(self.node(out[-1].parent))
        return out[::-1]

    def edit_path(self, digest: str) -> list[tuple[Program, Edit | None, Program]]:
        """(before, edit, after) for each step of the first-parent path from the root."""
        nodes = self.path(digest)
        return [(a.program, b.edge.edit if b.edge else None, b.program) for a, b in zip(nodes, nodes[1:])]

    def state(self, digest: str, *, feedback: bool = False) -> State:
        """What the policy sees: the program, the programs along its path (root first) and,
        with `feedback`, the node's failing visible tests."""
        path = self.path(digest)
        history = tuple(n.program for n in path)
        return State(program=history[-1], history=history, feedback=failure_lines(path[-1].report, program=history[-1]) if feedback else ())

    def best(self) -> Node:
        """Best node by visible signals: a solution if any, else the highest score; ties go to a
        written program over the starter, then the shallower node, the higher edit log-prob, the
        earlier one (`rank_key`)."""
        return max(self.nodes(), key=rank_key)

    def solutions(self) -> list[Node]:
        return [n for n in self.nodes() if n.solved]

    # -- writing ---------------------------------------------------------------------------
    def _add_node(self, node: Node) -> None:
        self.graph.add_node(node.digest, node=node)

    def add_child(
        self, parent: str, program: Program, edge: EdgeInfo, *, lint: Any = None, clean: bool = True
    ) -> Added:
        """Record that `edge` at `parent` produced `program` (already admitted by the lint gate).

        NEW: a node was created. MERGED: the program was already a node; only an edge was added
        (counted in `merges`). DUPLICATE: nothing changed (counted in `duplicates`).
        """
        child = program.digest
        if child in self.graph:
            self.node(child).drawn += 1
            if self.graph.has_edge(parent, child) or child == parent or nx.has_path(self.graph, child, parent):
                self.duplicates += 1
                return Added.DUPLICATE
            self.graph.add_edge(parent, child, info=edge)
            self.merges += 1
            return Added.MERGED
        depth = self.node(parent).depth + 1
        self._add_node(Node(child, program, parent, depth, len(self.graph), edge, lint, clean))
        self.graph.add_edge(parent, child, info=edge)
        return Added.NEW

    def set_report(self, digest: str, report: TestReport) -> None:
        node = self.node(digest)
        node.report, node.score = report, report.fraction

    # -- export ----------------------------------------------------------------------------
    def to_graphml(self, path: str | Path) -> None:
        """Write the tree as GraphML. Programs and edits become strings; an unscored node has
        no "score" attribute (GraphML has no null)."""
        out = nx.DiGraph(root=self.root, merges=self.merges, duplicates=self.duplicates)
        for node in self.nodes():
            out.add_node(node.digest, **_node_attrs(node))
        for parent, child, data in self.graph.edges(data=True):
            out.add_edge(parent, child, **_edge_attrs(data["info"]))
        nx.write_graphml(out, str(path))


FEEDBACK_LINES = 3  # failing tests shown to the policy; more makes a 135M model's prompt ramble


_PROGRAM_LINE = re.compile(r" \(<program>, line (\d+)\)")


def failure_lines(report: TestReport | None, limit: int = FEEDBACK_LINES,
                  program: Program | None = None) -> tuple[str, ...]:
    """The first `limit` failing visible tests of a report as "test: detail" lines. With the
    `program` that ran, an exception's line number becomes that line's code ("IndexError: ...
    at `return xs[5]`"): the policy sees the code, not numbered lines."""
    if report is None:
        return ()
    failing = [o for o in report.outcomes if o.status != "pass"]
    lines = [f"{o.name}: {o.detail or o.status}" for o in failing[:limit]]
    if program is not None:
        lines = [_PROGRAM_LINE.sub(lambda m: _line_code(program, int(m[1])), line) for line in lines]
    return tuple(lines)


def _line_code(program: Program, number: int) -> str:
    if 1 <= number <= len(program.lines) and program.lines[number - 1].strip():
        return f" at `{program.lines[number - 1].strip()}`"
    return f" at line {number}"


def rank_key(node: Node) -> tuple:
    """Sort key, larger is better: solved, score, a program the policy wrote over the starter,
    shallower, higher log-prob, earlier.

    At an equal score the starter loses to any written program: on a problem with no visible
    tests (10 of HumanEval's 164, whose docstrings show no example calls) every program scores
    0, and the starter, the shallowest, was returned, a stub that fails every hidden test,
    where 4 of 5 draws passed them (HumanEval/116)."""
    score = -1.0 if node.score is UNSCORED else node.score
    return (node.solved, score, node.depth != ROOT_DEPTH, -node.depth, node.logprob, -node.order)


def _location_text(location: Location | None) -> str:
    if location is None:
        return "model_choice"
    column = "" if location.column is None else f";column={location.column}"
    return f"after_line={location.after_line};indent={location.indent!r};reason={location.reason}{column}"


def _edge_attrs(info: EdgeInfo) -> dict[str, Any]:
    return {
        "edit": render_edit(info.edit) if info.edit is not None else "",
        "location": _location_text(info.location),
        "logprob": float(info.logprob),
        "generated_tokens": int(info.generated_tokens),
        "prompt_tokens": int(info.prompt_tokens),
        "step": int(info.step),
    }


def _node_attrs(node: Node) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "program": node.program.text,
        "parent": node.parent or "",
        "depth": node.depth,
        "order": node.order,
        "lint_ok": bool(getattr(node.lint, "ok", True)),
        "lint_messages": "\n".join(map(str, getattr(node.lint, "messages", ()) or ())),
        "clean": node.clean,
        "visits": node.visits,
        "value_sum": float(node.value_sum),
        "value_max": float(node.value_max),
        "expanded": node.expanded,
        "solved": node.solved,
        "logprob": float(node.logprob),
    }
    if node.score is not UNSCORED:
        attrs["score"] = float(node.score)
    if node.report is not None:
        attrs["passed"], attrs["total"] = node.report.passed, node.report.total
    if node.edge is not None:
        attrs.update({f"edge_{k}": v for k, v in _edge_attrs(node.edge).items()})
    return attrs
