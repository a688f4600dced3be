"""rex, the default strategy: Thompson sampling between the next fresh program and refining a
near-miss at its cut points (RExSettings). `mcts` with a resample arm borrows its `propose_rex`."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from functools import partial

from agent.search.requests import propose_edits, propose_programs, propose_rewrites
from agent.search.tree import SearchTree, UNSCORED
from agent.search.types import SEED_STRIDE, ProposeRequest, SearchSettings, Selection, Strategy, no_backup
from policies.base import ProposalBatch


@dataclass(frozen=True, kw_only=True)
class RExSettings:
    """REx-style allocation (Tang et al. 2024, "Code Repair with LLMs gives an
    Exploration-Exploitation Tradeoff"): each step Thompson-samples one arm.

    Arms: "fresh", the next program of the problem's stream of draws (the very programs repeated
    sampling draws, in its order: agent.search.requests.propose_programs), and "refine n" for
    every node n that passes some but not all visible tests (a near-miss). Refine n draws
    Beta(1 + c*h, 1 + c*(1 - h) + refine_decay*N), h its visible pass fraction and N how often it
    was refined; fresh draws Beta(fresh_a, fresh_b + F), F its failed draws on this problem. With
    no near-miss, or too few tokens left for a refinement's prompt, the search is repeated
    sampling, draw for draw (unless `fresh_temperatures` sets the first draws' own); a
    near-miss is refined once fresh draws keep failing, until its own failures pile up.

    The defaults are those of the HumanEval study with the code model (docs/results/README.md,
    first section): at budgets of 1-5 samples-equivalent the search then equals sampling draw for
    draw where it refines nothing (the earlier defaults, c=10 with a fresh arm that never learnt,
    refined at once and lost 11-15 points there).
    """

    c: float = 4.0  # how strongly a visible pass fraction vouches for refining a node
    # rows of a fresh call; None: samples_per_location * max_locations, the rows of a refinement
    fresh_rows: int | None = None
    # How a fresh program is drawn. "free": the policy's whole-program prompt (a chat model's free
    # answer, as `sample` draws it). "cut": a child of the starter at its cut points (the answer
    # prefilled with the signature and docstring, the model writes only the body), for policies
    # with cut children. "cut" looked cheaper per hidden-passing program in a calibration on
    # HumanEval/0-39, but in whole runs "free" solved more (docs/results/README.md, section 0).
    fresh: str = "free"
    # Length cap of a fresh program's sample (None: the policy's max_new_tokens). Of sampling's
    # draws on all 164 HumanEval problems at 160, the 35% that ran into the cap spent 52% of the
    # generated tokens and 1 of them passed the hidden tests (72 of the rest did); at 96 the
    # hidden-passing draws keep 66 of 73 for 26% fewer tokens. In the search (where doomed samples
    # already stop early) it saved 11% of a fresh sample's tokens and left coverage within one
    # problem of the policy's cap on all 164 (docs/results/README.md, section 0).
    # Only the search's fresh arm, one arm a call: `sample` stays the plain protocol.
    # Those figures are SmolLM2's, which rambles. The default code model's fresh programs (the
    # starter's body continued) stop where the function ends, at 25-175 tokens on HumanEval, so
    # a cap of 96 cut off working bodies: None, the same cap as sampling's draws.
    fresh_max_new_tokens: int | None = None
    # Arms drawn for one policy call (needs fresh "cut" and a cut-children policy): each draw takes
    # the best arm not drawn yet, the fresh arm excepted, which may win several and gets that many
    # shares of rows. 1: one arm a call, each allocation seeing every earlier call's results.
    arms_per_call: int = 1
    # The fresh arm's Beta prior, (a, b): it draws Beta(a, b + F), F the fresh programs drawn so
    # far on this problem that pass not every visible test, so the longer fresh draws fail here,
    # the likelier a near-miss is refined (REx's fresh arm with the problem's own evidence).
    # b = None: the fresh arm never learns (Beta(a, 1) whatever was drawn).
    fresh_a: float = 1.0
    fresh_b: float | None = 1.0
    # Once a program passes every visible test (a search told to keep going), only fresh
    # programs are drawn: independent programs are the votes of the choice by agreement.
    fresh_after_solution: bool = True
    # Failures one refinement call adds to its node's Beta: 1 is REx's (one per refinement); the
    # rows a call asks for (samples_per_location * max_locations) puts both arms in one unit,
    # programs drawn, as the fresh arm counts its own.
    refine_decay: float = 8.0
    # Fewest tokens left (to the budget or its next checkpoint) for which a near-miss is refined:
    # a refinement's prompt is new (the parent's code, its failures), ~300-450 tokens for the
    # code model on HumanEval, where a fresh program's prompt is cached and costs nothing again;
    # with less left, a refinement would buy a row or two for the price of several fresh draws.
    # None: no such floor.
    refine_min_tokens: int | None = 600
    # The same floor in this problem's own rows: refine only with tokens left for this many fresh
    # programs of the mean length drawn here so far (8: the rows a refinement call asks for).
    # 600 tokens is ~8 of HumanEval's mean fresh rows (~77 tokens); where a problem's programs
    # are longer, a fixed floor let a refinement run with room for a row or two: on
    # HumanEval/124, seed 1 (fresh rows ~150-250 tokens), two one-row refinements spent 906
    # tokens in place of sampling's last five draws, one of them hidden-passing. None: no such floor.
    refine_min_rows: float | None = 8.0
    # Temperatures of the first fresh programs, draw k at fresh_temperatures[k] (0: greedy), each
    # in a call of its own; the later ones at the policy's temperature, the draws of `sample`.
    # (): every draw as `sample` draws it. The code model's greedy answer passes HumanEval's hidden
    # tests on 57.3% of the 164 problems against 43.4% for a draw at T = 1, yet drawn first it
    # changed nothing at 2 and 5 samples-equivalent (+0.6 points each, 95% intervals across zero)
    # and lost 8.5 at 1, where a budget is one of sampling's draws and the greedy one fits in 45%
    # of the problems (docs/results/README.md, first section). On the first 93 problems alone it
    # looked like +5.4 at 2 and 5: its gain is on the easy problems, which 5 draws solve anyway.
    fresh_temperatures: tuple[float, ...] = ()
    # How a near-miss is refined: "cut", children that keep its code up to a cut point and
    # rewrite the rest (`propose_edits`); "whole", whole rewrites answering its code and failing
    # visible tests (`propose_rewrites`, self-debugging's request).
    refine: str = "cut"

    def __post_init__(self) -> None:
        temperatures = tuple(self.fresh_temperatures or ())
        if any(not isinstance(t, (int, float)) or isinstance(t, bool) or t < 0 for t in temperatures):
            raise ValueError(f"rex: fresh_temperatures must be numbers >= 0 (0: greedy), got {self.fresh_temperatures!r}")
        object.__setattr__(self, "fresh_temperatures", tuple(float(t) for t in temperatures))


def _rex_rng(tree: SearchTree, settings: SearchSettings) -> random.Random:
    # Deterministic per (seed, tree state): the same seed replays the same allocation.
    return random.Random(settings.seed * SEED_STRIDE + sum(n.expanded for n in tree.nodes()) * 7919 + len(tree))


def select_rex(tree: SearchTree, settings: SearchSettings, *, c: float, **arms) -> Selection:
    return select_rex_arms(tree, settings, c=c, arms=1, **arms)[0][0]


def fresh_failures(tree: SearchTree) -> int:
    """Fresh programs drawn on this problem that pass not every visible test (unparsed and
    lint-rejected draws included): the fresh arm's evidence against itself."""
    solutions = sum(1 for n in tree.children(tree.root) if n.solved)
    return max(0, tree.programs_drawn - solutions)


def fresh_row_tokens(tree: SearchTree) -> float | None:
    """Mean generated tokens of the fresh programs admitted on this problem so far (None: none yet)."""
    rows = [n.edge.generated_tokens for n in tree.children(tree.root) if n.edge is not None]
    return sum(rows) / len(rows) if rows else None


def refine_floor(tree: SearchTree, min_tokens: int | None, min_rows: float | None) -> float:
    """Fewest tokens left for which a near-miss may be refined (RExSettings.refine_min_tokens, _rows)."""
    row = fresh_row_tokens(tree)
    return max(min_tokens or 0, (min_rows or 0) * (row or 0))


def select_rex_arms(tree: SearchTree, settings: SearchSettings, *, c: float, arms: int, fresh_a: float = 1.0,
                    fresh_b: float | None = None, fresh_after_solution: bool = False,
                    refine_decay: float = 1.0, refine_min_tokens: int | None = None,
                    refine_min_rows: float | None = None) -> list[tuple[Selection, int]]:
    """`arms` Thompson draws (RExSettings); a near-miss drawn once sits out the later draws (its
    refinement is already in the call), the fresh arm does not. Each chosen node with its number
    of draws, in the order first drawn."""
    rng = _rex_rng(tree, settings)
    near_misses = [n for n in tree.nodes() if n.digest != tree.root and n.score is not UNSCORED
                   and 0.0 < n.score < 1.0 and n.depth < settings.max_depth]
    if fresh_after_solution and any(n.solved for n in tree.nodes()):
        near_misses = []
    if tree.tokens_left is not None and tree.tokens_left < refine_floor(tree, refine_min_tokens, refine_min_rows):
        near_misses = []
    fresh = (fresh_a, 1.0) if fresh_b is None else (fresh_a, fresh_b + fresh_failures(tree))
    drawn: dict[str, int] = {}
    for _ in range(arms):
        best, best_draw = tree.root, rng.betavariate(*fresh)  # the fresh arm
        for node in near_misses:
            if node.digest in drawn:
                continue
            draw = rng.betavariate(1.0 + c * node.score, 1.0 + c * (1.0 - node.score) + refine_decay * node.expanded)
            if draw > best_draw:
                best, best_draw = node.digest, draw
        drawn[best] = drawn.get(best, 0) + 1
    return [(Selection.of(tree, digest), shares) for digest, shares in drawn.items()]


# The most rows a call drawn ahead (`agent.search.loop._Run.draw_fresh`) may ask for: the policy
# sizes it to the tokens left, and rows surely past them stop early (`CallCaps.fill_tokens`), so
# one call draws what calls of `fresh_rows` drew one after another. Rows it cannot know are
# past the tokens run beside the others until that is known: a decode step of the code model
# costs ~1.2x at 16 rows what it costs at 8, ~1.8x at 32 (benchmarks/policy_speed.py); at 32,
# HumanEval problems with long draws asked for 3x the rows they read and ran slower than sampling.
FILL_MAX_ROWS = 16


def propose_rex(request: ProposeRequest, *, fresh_rows: int | None, fresh: str = "free",
                fresh_max_new_tokens: int | None = None, fresh_temperatures: tuple[float, ...] = (),
                refine: str = "cut") -> ProposalBatch | None:
    """The root means the fresh arm: whole programs as `sample` draws them ("free"; the first
    at `fresh_temperatures`), or children of the starter at its cut points ("cut", when the
    policy makes cut children), each at most `fresh_max_new_tokens` long; any other node is
    refined at its cut points (`propose_edits`) or rewritten whole (`refine` "whole")."""
    if request.node != request.tree.root:
        return propose_rewrites(request) if refine == "whole" else propose_edits(request)
    request = dataclasses.replace(request, caps=dataclasses.replace(request.caps, max_new_tokens=fresh_max_new_tokens))
    if fresh == "cut" and request.policy.edit_style == "cut":
        return propose_edits(request)
    rows = fresh_rows or request.settings.samples_per_location * request.settings.max_locations
    if request.caps.fill_tokens is not None:  # drawn ahead: as many as fill the budget, in one call
        rows = max(rows, FILL_MAX_ROWS)
    return propose_programs(request, batch_size=rows, temperatures=fresh_temperatures)


def rex(settings: RExSettings = RExSettings()) -> Strategy:
    if settings.fresh not in ("free", "cut"):
        raise ValueError(f"rex: fresh must be 'free' or 'cut', got {settings.fresh!r}")
    if settings.refine not in ("cut", "whole"):
        raise ValueError(f"rex: refine must be 'cut' or 'whole', got {settings.refine!r}")
    if settings.refine_min_tokens is not None and settings.refine_min_tokens < 1:
        raise ValueError(f"rex: refine_min_tokens must be >= 1 or null, got {settings.refine_min_tokens}")
    if settings.refine_min_rows is not None and settings.refine_min_rows < 0:
        raise ValueError(f"rex: refine_min_rows must be >= 0 or null, got {settings.refine_min_rows}")
    if settings.refine_decay < 0:
        raise ValueError(f"rex: refine_decay must be >= 0, got {settings.refine_decay}")
    if settings.fresh_a <= 0 or (settings.fresh_b is not None and settings.fresh_b <= 0):
        raise ValueError(f"rex: fresh_a and fresh_b must be > 0, got {settings.fresh_a} and {settings.fresh_b}")
    if settings.arms_per_call < 1:
        raise ValueError(f"rex: arms_per_call must be >= 1, got {settings.arms_per_call}")
    if settings.arms_per_call > 1 and settings.fresh != "cut":  # a free answer's prompt cannot join a cut batch
        raise ValueError(f"rex: arms_per_call={settings.arms_per_call} needs fresh programs cut from the starter: "
                         "also set search.rex.fresh=cut")
    if settings.fresh_max_new_tokens is not None and settings.fresh_max_new_tokens < 1:
        raise ValueError(f"rex: fresh_max_new_tokens must be >= 1 or null, got {settings.fresh_max_new_tokens}")
    propose = partial(propose_rex, fresh_rows=settings.fresh_rows, fresh=settings.fresh,
                      fresh_max_new_tokens=settings.fresh_max_new_tokens, fresh_temperatures=settings.fresh_temperatures,
                      refine=settings.refine)
    arms = dict(c=settings.c, fresh_a=settings.fresh_a, fresh_b=settings.fresh_b,
                fresh_after_solution=settings.fresh_after_solution, refine_decay=settings.refine_decay,
                refine_min_tokens=settings.refine_min_tokens, refine_min_rows=settings.refine_min_rows)
    many = partial(select_rex_arms, arms=settings.arms_per_call, **arms) if settings.arms_per_call > 1 else None
    # only free fresh programs are the fresh stream's draws (a cut child depends on its call's seed and rows)
    return Strategy("rex", partial(select_rex, **arms), propose, no_backup, many, fresh_stream=settings.fresh == "free")
