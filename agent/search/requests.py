"""What the search asks the policy for at a selected node, and how several nodes share one call.

A strategy's `propose` function turns a `ProposeRequest` into one policy call: edits at the
node's hunk locations or cut points (`propose_edits`), or whole programs from the starter
(`propose_programs`, the repeated-sampling baseline).

`propose_nodes` puts several selected nodes' requests into one call (`Policy.propose_groups`):
the policy generates ~2.8x more tokens a second at 32 rows than at 8 on a CPU
(benchmarks/generation.py), and one node's refinement is 8 rows. The rows are the nodes' own
requests, in the order the strategy chose them, clipped together to the budget's cap.
"""

from __future__ import annotations

import dataclasses

from agent.search.budget import clip_request
from agent.search.types import ProposeRequest, SearchSettings, fresh_stream_seed
from envs.locations import cut_locations, hunk_locations
from policies.base import Policy, ProposalBatch, ProposeGroup


def edit_group(request: ProposeRequest, share: int = 1) -> ProposeGroup | None:
    """What to ask the policy at the node: its best hunk locations, `samples_per_location` each
    (times `share`), clipped to the request's cap; None when the cap allows no sample.

    A policy whose `edit_style` is "cut" (children rewrite the rest of the entry function from
    a cut point) gets cut points instead (`envs.locations.cut_locations`): `max_locations` of
    them, rotated by how often the node was expanded so re-expansions try new ones, and the
    call keeps its `samples_per_location * max_locations` rows when a node has fewer points.
    """
    node = request.tree.node(request.node)
    settings = request.settings
    if request.policy.edit_style == "cut":
        locations, per = _cut_points(node, request.problem.entry_point, settings)
    else:
        locations = hunk_locations(
            node.program, request.problem.entry_point, report=node.report,
            model_choice=settings.model_choice, limit=settings.max_locations,
        )
        per = settings.samples_per_location
    n_locations, n = clip_request(len(locations), per * share, request.samples_left)
    if n_locations == 0:
        return None
    return ProposeGroup(request.tree.state(request.node, feedback=settings.feedback), tuple(locations[:n_locations]), n)


def propose_edits(request: ProposeRequest) -> ProposalBatch | None:
    """Edits at the node's locations (`edit_group`), in one policy call."""
    group = edit_group(request)
    if group is None:
        return None
    return request.policy.propose(request.problem, group.state, list(group.locations), group.n, seed=request.seed,
                                  caps=request.caps)


def propose_rewrites(request: ProposeRequest) -> ProposalBatch | None:
    """Whole rewrites of the node's program in one call, `samples_per_location * max_locations`
    rows (clipped): the policy's free answer to its code and failing visible tests (location
    None), where `propose_edits` keeps the code up to a hunk location or cut point."""
    settings = request.settings
    _, n = clip_request(1, settings.samples_per_location * settings.max_locations, request.samples_left)
    if n == 0:
        return None
    state = request.tree.state(request.node, feedback=settings.feedback)
    return request.policy.propose(request.problem, state, [None], n, seed=request.seed, caps=request.caps)


def _cut_points(node, entry_point: str, settings: SearchSettings) -> tuple[tuple, int]:
    uncertain = node.edge.uncertain if node.edge is not None else None
    points = cut_locations(node.program, entry_point, report=node.report, uncertain=uncertain)
    if not points:  # no entry function to cut (e.g. an empty starter): write at its end
        points = hunk_locations(node.program, entry_point, limit=1)
    k = min(settings.max_locations, len(points))
    first = node.expanded * k
    chosen = tuple(points[(first + i) % len(points)] for i in range(k))
    return chosen, max(1, settings.samples_per_location * settings.max_locations // k)


def propose_programs(request: ProposeRequest, *, batch_size: int,
                     temperatures: tuple[float, ...] = ()) -> ProposalBatch | None:
    """Whole programs from the starter state (repeated sampling), `batch_size` per call (clipped).

    They are the next draws of the search's stream of fresh programs (`fresh_stream_seed`):
    draw k is the same program whichever call makes it, so every strategy that draws fresh
    programs draws exactly the ones `sample` draws, in the same order (common random numbers:
    a search and sampling differ only where the search spends its tokens otherwise).
    `temperatures[k]`: draw k's temperature (0: greedy) for the first draws of the stream; later
    draws, and every draw when it is empty, at the policy's own (then the very draws of `sample`).
    Each of those first draws gets a call of its own (the prompt is cached, so this costs wall
    time, not tokens): a call's rows share its tokens, and where they cannot finish every row the
    sampler cuts all the unfinished ones, a greedy draw with them."""
    _, n = clip_request(1, batch_size, request.samples_left)
    if n == 0:
        return None
    tree = request.tree
    seed = fresh_stream_seed(request.settings.seed) + tree.programs_drawn
    first = tree.programs_drawn
    if first < len(temperatures):
        batch = request.policy.sample_programs(request.problem, 1, seed=seed, caps=request.caps,
                                               temperatures=[temperatures[first]])
    else:
        batch = request.policy.sample_programs(request.problem, n, seed=seed, caps=request.caps)
    tree.programs_drawn += len(batch.proposals)
    return batch


def can_propose_groups(policy: Policy) -> bool:
    """Does the policy take several nodes' requests in one call? (LMPolicy does.) Only
    cut-children policies are batched: there,
    every request, the fresh arm's included, is an edit request (`edit_group`)."""
    return policy.can_propose_groups and policy.edit_style == "cut"


def propose_nodes(requests: list[ProposeRequest], shares: list[int]) -> tuple[ProposalBatch | None, list[int]]:
    """One policy call carrying every request's `edit_group` (request i with `shares[i]` times
    its rows), clipped in order to the first request's sample cap (so what is clipped away is a
    suffix); all requests share its seed and caps. Returns the batch (None when the cap allows
    no sample) and how many proposals of it belong to each request, in order (0: clipped away,
    that node is not expanded; none for a refused call)."""
    first = requests[0]
    wanted = [edit_group(dataclasses.replace(request, samples_left=None), share)
              for request, share in zip(requests, shares)]
    groups = clip_groups([g for g in wanted if g is not None], first.samples_left)
    if not groups:
        return None, []
    batch = first.policy.propose_groups(first.problem, groups, seed=first.seed, caps=first.caps)
    if batch.refused:
        return batch, []
    sizes = [len(g.locations) * g.n for g in groups]
    if sum(sizes) != len(batch.proposals):
        raise RuntimeError(f"policy returned {len(batch.proposals)} proposals for groups of {sizes}")
    return batch, sizes + [0] * (len(requests) - len(sizes))


def clip_groups(groups: list[ProposeGroup], cap: int | None) -> list[ProposeGroup]:
    """The groups with at most `cap` rows in all, clipped in order (`clip_request` each): what is
    clipped away is a suffix, so proposals still map onto the first groups in order."""
    kept: list[ProposeGroup] = []
    for group in groups:
        left = None if cap is None else cap - sum(len(g.locations) * g.n for g in kept)
        k, n = clip_request(len(group.locations), group.n, left)
        if not k:
            break
        kept.append(ProposeGroup(group.state, group.locations[:k], n))
    return kept
