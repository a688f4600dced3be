"""Search strategies: each is the one loop of `agent.search.loop` with different functions plugged in.

    sample      repeated sampling: whole programs from the starter, every call at the root
    best-first  expand the best least-expanded node (visible score, then edit log-prob)
    beam        level by level, keep the `width` best children of the current level
    mcts        PUCT descent with the policy's sibling-normalised probabilities as prior,
                value = the visible-test fraction, one backed-up value per new child, Q their
                mean or max; optionally a resample arm at the root (MCTSSettings)
    rex         Thompson sampling between a fresh sample from the root and refining a
                near-miss node at its cut points (agent.search.rex); the default

Re-expansion: an expansion can yield nothing (every sample unparsable, lint-rejected or a
duplicate), which with a small model is common. Ending the search then ("exhausted") left most
of the budget unspent, so every tree strategy may expand a node again; each policy call gets a
fresh seed (the loop derives it from the call count), so a second expansion draws new samples.
The budget ends such searches; the rules are deterministic for a seed:
    best-first  the least-expanded nodes first, then by priority (below)
    beam        a level whose expansions produced no new child is expanded again
    mcts        a childless node is expanded again when selected; others by progressive
                widening, while expansions < `widening * visits ** PW_ALPHA` (`_widen`)

`make_strategy(name, **settings)` builds one by name; unknown names or settings raise ValueError.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

from agent.search.requests import propose_edits, propose_programs
from agent.search.rex import RExSettings, propose_rex, rex
from agent.search.types import SearchSettings, Selection, Strategy, no_backup
from agent.search.tree import Node, SearchTree, UNSCORED


def _score(node: Node) -> float:
    return 0.0 if node.score is UNSCORED else node.score


def _below_depth_limit(node: Node, settings: SearchSettings) -> bool:
    return node.depth < settings.max_depth


def _priority(node: Node) -> tuple:
    """Larger is better: visible score, then edit log-prob, then earlier creation."""
    return (_score(node), node.logprob, -node.order)


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
    """The node with the fewest expansions, best `_priority` among those.

    While unexpanded nodes exist this is classic best-first (the order is unchanged); once
    every node has been expanded k times the best one is expanded a (k+1)-th time with a fresh
    seed, instead of stopping with budget left. The rule is lexicographic, not a score decay,
    so a misleading visible score (a 1/3 node whose children go nowhere) cannot starve a
    0-score node that was never expanded.
    """
    frontier = [n for n in tree.nodes() if _below_depth_limit(n, settings)]
    if not frontier:
        return None
    best = max(frontier, key=lambda n: (-n.expanded, *_priority(n)))
    return Selection.of(tree, best.digest)


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
    """The first unexpanded node of the last level; when the whole last level was expanded and
    gave no new child (`beam_levels` stopped there), its least-expanded node again (best first),
    so the level is re-sampled with fresh seeds until the budget ends it."""
    levels = beam_levels(tree, width, settings.max_depth)
    depth = len(levels) - 1
    if depth >= settings.max_depth:
        return None
    fewest = min(n.expanded for n in levels[-1])
    node = next(n for n in levels[-1] if n.expanded == fewest)  # levels are sorted best first
    return Selection.of(tree, node.digest)


def beam(settings: BeamSettings = BeamSettings()) -> Strategy:
    return Strategy("beam", partial(select_beam, width=settings.width), propose_edits, no_backup)


# -- mcts --------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class MCTSSettings:
    c_puct: float = 1.0  # exploration weight; values are fractions in [0, 1], so ~1 balances them
    length_normalise: bool = True  # prior from per-token log-probs: raw sums favour short edits
    widening: float = 1.0  # progressive widening k: re-expand while expansions < k * visits ** PW_ALPHA
    # Q of a node: the "mean" of the values backed up through it (AlphaZero), or their "max"
    # (PG-TD: a subtree is worth the best program found in it).
    backup: str = "mean"
    # Where new programs come from at the root. "widen": the root is a node like any other (its
    # children are the policy's edits of the starter; progressive widening re-expands it).
    # "free": a resample arm, a virtual child of the root with prior `fresh_prior` that draws
    # whole programs as `sample` does (rex's fresh arm); the root's children share the rest.
    # Unlike rex, PUCT also refines children worth 0 (by prior and visit count), so with no
    # signal it does not reduce to repeated sampling.
    fresh: str = "widen"
    fresh_prior: float = 0.5
    fresh_max_new_tokens: int | None = None  # as RExSettings.fresh_max_new_tokens; fresh "free" only


PW_ALPHA = 0.25  # progressive-widening exponent; low because one expansion adds up to n * locations children


def _widen(tree: SearchTree, node: Node, settings: SearchSettings, widening: float) -> bool:
    """Expand `node` (again)? Never above the depth limit. Yes when it was never expanded or has
    no child (a dead end: every sample failed or was a duplicate; the loop gives a fresh seed).
    Otherwise progressive widening on expansions (Couetoux et al. 2011): again while
    expansions < widening * visits ** PW_ALPHA; with widening 1: a 2nd expansion from 2 visits, a
    3rd from 17, a 4th from 82.
    Counting expansions, not children, bounds re-expansions that only yield duplicates."""
    if node.depth >= settings.max_depth:
        return False
    if not node.expanded or not tree.children(node.digest):
        return True
    return node.expanded < widening * node.visits ** PW_ALPHA


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


def _q(node: Node, backup: str) -> float:
    return node.value_max if backup == "max" else node.value


def select_puct(tree: SearchTree, settings: SearchSettings, *, c_puct: float, length_normalise: bool,
                widening: float = 1.0, backup: str = "mean", fresh_prior: float | None = None) -> Selection | None:
    """Descend from the root by PUCT until a node to expand (`_widen`) or a dead end.

    PUCT(child) = Q(child) + c_puct * P(child) * sqrt(sum of sibling visits) / (1 + N(child)).
    Ties go to the higher prior, then the earlier child. A dead end (depth limit, or children
    only on the path: a cycle) is returned with expand=False, for a backup only; the backed-up
    visits widen its ancestors, which are then expanded again. With no node above the depth
    limit (max_depth 0) the search is exhausted (None).
    fresh_prior: the root holds a resample arm with this prior instead of widening; choosing it
    selects the root (a fresh draw). The root's own statistics are the arm's (`backup_values`).
    """
    if not any(_below_depth_limit(n, settings) for n in tree.nodes()):
        return None
    path = [tree.root]
    while True:
        node = tree.node(path[-1])
        arm = fresh_prior is not None and node.digest == tree.root
        # With the arm, the root is expanded only when it has nothing to descend into; else by widening.
        expand = not node.expanded or not tree.children(node.digest) if arm else _widen(tree, node, settings, widening)
        if expand:
            return Selection(node.digest, tuple(path))
        children = [c for c in tree.children(node.digest) if c.digest not in path]
        if node.depth >= settings.max_depth or not children:
            return Selection(node.digest, tuple(path), expand=False)
        priors = child_priors(tree, node.digest, children, length_normalise=length_normalise)
        visits = sum(c.visits for c in children)
        if arm:
            priors = [(1.0 - fresh_prior) * p for p in priors]
            visits += node.visits
        total = math.sqrt(visits)
        scored = [
            (_q(c, backup) + c_puct * p * total / (1 + c.visits), p, -c.order, c.digest)
            for c, p in zip(children, priors)
        ]
        if arm:
            scored.append((_q(node, backup) + c_puct * fresh_prior * total / (1 + node.visits), fresh_prior, 0, node.digest))
        best = max(scored)[3]
        if best == tree.root:
            return Selection(tree.root, (tree.root,))
        path.append(best)


def backup_values(tree: SearchTree, selection: Selection, new: list[str], *, fresh_arm: bool = False) -> None:
    """Each new child is one simulation valued by its visible score; without new children the
    selected node's own score is backed up once (so PUCT moves away from dead ends). Each node
    on the path keeps the count, sum and best of its values. With a resample arm (`fresh_arm`)
    the root's statistics are the arm's: only fresh draws are backed up into it."""
    if new:
        values = [_score(tree.node(d)) for d in new]
        for digest, value in zip(new, values):
            child = tree.node(digest)
            child.visits, child.value_sum = child.visits + 1, child.value_sum + value
            child.value_max = max(child.value_max, value)
    else:
        values = [_score(tree.node(selection.node))]
    path = selection.path[1:] if fresh_arm and selection.node != tree.root else selection.path
    for digest in path:
        node = tree.node(digest)
        node.visits += len(values)
        node.value_sum += sum(values)
        node.value_max = max(node.value_max, *values)


def mcts(settings: MCTSSettings = MCTSSettings()) -> Strategy:
    if settings.backup not in ("mean", "max"):
        raise ValueError(f"mcts: backup must be 'mean' or 'max', got {settings.backup!r}")
    if settings.fresh not in ("widen", "free"):
        raise ValueError(f"mcts: fresh must be 'widen' or 'free', got {settings.fresh!r}")
    if not 0.0 < settings.fresh_prior < 1.0:
        raise ValueError(f"mcts: fresh_prior must be between 0 and 1 (exclusive), got {settings.fresh_prior}")
    if settings.fresh_max_new_tokens is not None and settings.fresh_max_new_tokens < 1:
        raise ValueError(f"mcts: fresh_max_new_tokens must be >= 1 or null, got {settings.fresh_max_new_tokens}")
    arm = settings.fresh == "free"
    select = partial(select_puct, c_puct=settings.c_puct, length_normalise=settings.length_normalise,
                     widening=settings.widening, backup=settings.backup,
                     fresh_prior=settings.fresh_prior if arm else None)
    propose = (partial(propose_rex, fresh_rows=None, fresh="free", fresh_max_new_tokens=settings.fresh_max_new_tokens)
               if arm else propose_edits)
    return Strategy("mcts", select, propose, partial(backup_values, fresh_arm=arm))


# -- registry ----------------------------------------------------------------------------------
STRATEGIES: dict[str, tuple[Callable[..., Strategy], type]] = {
    "sample": (sample, SampleSettings),
    "best-first": (best_first, BestFirstSettings),
    "beam": (beam, BeamSettings),
    "mcts": (mcts, MCTSSettings),
    "rex": (rex, RExSettings),
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
