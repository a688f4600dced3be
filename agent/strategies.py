"""Search strategies: each is the one loop of `agent.search` with different functions plugged in.

    sample      repeated sampling: whole programs from the starter, every call at the root
    best-first  expand the best unexpanded node (visible score, then edit log-prob)
    beam        level by level, keep the `width` best children of the current level
    mcts        PUCT descent with the policy's sibling-normalised probabilities as prior,
                value = the visible-test fraction, one backed-up value per new child

`make_strategy(name, **settings)` builds one by name; unknown names or settings raise ValueError.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

from agent.search import (
    SearchSettings, Selection, Strategy, propose_edits, propose_programs,
)
from agent.tree import Node, SearchTree, UNSCORED


def _path(tree: SearchTree, digest: str) -> tuple[str, ...]:
    return tuple(n.digest for n in tree.path(digest))


def _score(node: Node) -> float:
    return 0.0 if node.score is UNSCORED else node.score


def _expandable(node: Node, settings: SearchSettings) -> bool:
    return not node.expanded and node.depth < settings.max_depth


def _priority(node: Node) -> tuple:
    """Larger is better: visible score, then edit log-prob, then earlier creation."""
    return (_score(node), node.logprob, -node.order)


def no_backup(tree: SearchTree, selection: Selection, new: list[str]) -> None:
    """Strategies that keep no statistics beyond the scores already on the nodes."""


# -- sample ------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SampleSettings:
    batch_size: int = 8  # whole programs per policy call; a shared prompt is encoded once per call


def select_root(tree: SearchTree, settings: SearchSettings) -> Selection:
    return Selection(tree.root, (tree.root,))


def sample(settings: SampleSettings = SampleSettings()) -> Strategy:
    return Strategy("sample", select_root, partial(propose_programs, batch_size=settings.batch_size), no_backup)


# -- best-first --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class BestFirstSettings:
    pass  # nothing beyond SearchSettings: the priority is fixed (score, then log-prob)


def select_best_first(tree: SearchTree, settings: SearchSettings) -> Selection | None:
    frontier = [n for n in tree.nodes() if _expandable(n, settings)]
    if not frontier:
        return None
    best = max(frontier, key=_priority)
    return Selection(best.digest, _path(tree, best.digest))


def best_first(settings: BestFirstSettings = BestFirstSettings()) -> Strategy:
    return Strategy("best-first", select_best_first, propose_edits, no_backup)


# -- beam --------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class BeamSettings:
    width: int = 4  # nodes kept per level; width * samples per expansion bounds a level's cost


def beam_levels(tree: SearchTree, width: int, max_depth: int) -> list[list[Node]]:
    """The beam, recomputed from the tree: level 0 is the root; level d+1 is the `width` best
    children (by priority) of level d, once every node of level d has been expanded."""
    levels, seen = [[tree.node(tree.root)]], {tree.root}
    while len(levels) <= max_depth and all(n.expanded for n in levels[-1]):
        children = {c.digest: c for n in levels[-1] for c in tree.children(n.digest) if c.digest not in seen}
        if not children:
            break
        level = sorted(children.values(), key=_priority, reverse=True)[:width]
        seen.update(n.digest for n in level)
        levels.append(level)
    return levels


def select_beam(tree: SearchTree, settings: SearchSettings, *, width: int) -> Selection | None:
    levels = beam_levels(tree, width, settings.max_depth)
    depth = len(levels) - 1
    todo = [n for n in levels[-1] if not n.expanded]
    if not todo or depth >= settings.max_depth:
        return None
    node = todo[0]  # levels are sorted best first
    return Selection(node.digest, _path(tree, node.digest))


def beam(settings: BeamSettings = BeamSettings()) -> Strategy:
    return Strategy("beam", partial(select_beam, width=settings.width), propose_edits, no_backup)


# -- mcts --------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class MCTSSettings:
    c_puct: float = 1.0  # exploration weight; values are fractions in [0, 1], so ~1 balances them
    length_normalise: bool = True  # prior from per-token log-probs: raw sums favour short edits


def child_priors(tree: SearchTree, parent: str, children: list[Node], *, length_normalise: bool) -> list[float]:
    """Softmax over the children's edge log-probs (per generated token if length_normalise).

    Raw policy probabilities of sibling edits are tiny and not comparable across locations and
    lengths; the softmax turns them into a distribution over the siblings actually sampled.
    """
    logits = []
    for child in children:
        edge = tree.edge(parent, child.digest)
        logits.append(edge.logprob / max(1, edge.generated_tokens) if length_normalise else edge.logprob)
    top = max(logits)
    weights = [math.exp(x - top) for x in logits]
    total = sum(weights)
    return [w / total for w in weights]


def select_puct(tree: SearchTree, settings: SearchSettings, *, c_puct: float,
                length_normalise: bool) -> Selection | None:
    """Descend from the root by PUCT until an unexpanded node (expand it) or a dead end.

    PUCT(child) = Q(child) + c_puct * P(child) * sqrt(sum of sibling visits) / (1 + N(child)).
    Ties go to the higher prior, then the earlier child. A dead end (depth limit, or expanded
    without children) is returned with expand=False, for a backup only, while some node is
    still expandable; when none is, the search is exhausted (None).
    """
    path = [tree.root]
    while True:
        node = tree.node(path[-1])
        if not node.expanded and node.depth < settings.max_depth:
            return Selection(node.digest, tuple(path))
        children = [c for c in tree.children(node.digest) if c.digest not in path]
        if node.depth >= settings.max_depth or not children:
            if not any(_expandable(n, settings) for n in tree.nodes()):
                return None
            return Selection(node.digest, tuple(path), expand=False)
        priors = child_priors(tree, node.digest, children, length_normalise=length_normalise)
        total = math.sqrt(sum(c.visits for c in children))
        scored = [
            (c.value + c_puct * p * total / (1 + c.visits), p, -c.order, c.digest)
            for c, p in zip(children, priors)
        ]
        path.append(max(scored)[3])


def backup_values(tree: SearchTree, selection: Selection, new: list[str]) -> None:
    """Each new child is one simulation valued by its visible score; without new children the
    selected node's own score is backed up once (so PUCT moves away from dead ends)."""
    if new:
        values = [_score(tree.node(d)) for d in new]
        for digest, value in zip(new, values):
            child = tree.node(digest)
            child.visits, child.value_sum = child.visits + 1, child.value_sum + value
    else:
        values = [_score(tree.node(selection.node))]
    for digest in selection.path:
        node = tree.node(digest)
        node.visits += len(values)
        node.value_sum += sum(values)


def mcts(settings: MCTSSettings = MCTSSettings()) -> Strategy:
    select = partial(select_puct, c_puct=settings.c_puct, length_normalise=settings.length_normalise)
    return Strategy("mcts", select, propose_edits, backup_values)


# -- registry ----------------------------------------------------------------------------------
STRATEGIES: dict[str, tuple[Callable[..., Strategy], type]] = {
    "sample": (sample, SampleSettings),
    "best-first": (best_first, BestFirstSettings),
    "beam": (beam, BeamSettings),
    "mcts": (mcts, MCTSSettings),
}


def make_strategy(name: str, **settings: object) -> Strategy:
    """Build a strategy by name with its settings, e.g. make_strategy("mcts", c_puct=1.5)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choices: {sorted(STRATEGIES)}")
    build, settings_type = STRATEGIES[name]
    valid = sorted(f.name for f in dataclasses.fields(settings_type))
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise ValueError(f"strategy {name!r}: unknown setting(s) {unknown}; valid: {valid}")
    return build(settings_type(**settings))
