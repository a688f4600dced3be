"""The rex strategy (fresh samples vs refining near-misses) and cut children in the search."""

import dataclasses

from scripted import ADD, DEF_MINUS, Candidate, InProcessEvaluator, ScriptedPolicy, ToyLintGate

from agent.search.budget import Budget
from agent.search.loop import search
from agent.search.rex import FILL_MAX_ROWS
from agent.search.types import SearchSettings
from agent.search.strategies import make_strategy
from envs.program import Program
from policies.base import CallCaps

WRONG = Candidate(("def add(a, b):", "    return 7"), -1.0)  # passes no visible test
NEAR = Candidate(tuple(DEF_MINUS.splitlines()), -1.0)  # passes 1 of 3: a near-miss
ADD_SOLUTION = "def add(a, b):\n    return a + b\n"


# REx's own allocation (a fresh arm that never learns, one failure a refinement), for the tests
# of its mechanics; the defaults add the fresh arm's evidence and a floor of tokens left
PLAIN_REX = dict(c=10.0, fresh_b=None, refine_decay=1.0, fresh_after_solution=False)


def _run(policy, *, samples=24, settings=SearchSettings(samples_per_location=2, max_locations=2, seed=0), **rex):
    return search(ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
                  strategy=make_strategy("rex", **(PLAIN_REX | rex)), budget=Budget(samples=samples), settings=settings)


def test_with_no_near_miss_rex_is_repeated_sampling():
    policy = ScriptedPolicy({}, programs=[WRONG])
    result = _run(policy, fresh_temperatures=())  # every draw at the policy's temperature, as sampling's
    assert {call["kind"] for call in policy.calls} == {"sample_programs"}
    assert [call["n"] for call in policy.calls] == [4] * 6  # samples_per_location * max_locations rows
    assert result.stop_reason == "budget" and result.compute.samples == 24


def test_the_first_fresh_programs_are_drawn_at_their_own_temperatures():
    policy = ScriptedPolicy({}, programs=[WRONG])
    _run(policy, samples=8, fresh_temperatures=(0.0, 0.5, 0.5, 0.5, 0.5))
    # draws 0-4 at the schedule's temperatures, each in a call of its own; then the policy's own (None)
    assert [call["temperatures"] for call in policy.calls] == [[0.0], [0.5], [0.5], [0.5], [0.5], None]
    assert [call["n"] for call in policy.calls] == [1, 1, 1, 1, 1, 3]
    plain = ScriptedPolicy({}, programs=[WRONG])
    _run(plain, samples=8, fresh_temperatures=())
    assert [call["temperatures"] for call in plain.calls] == [None, None]  # exactly `sample`'s draws


def test_fresh_temperatures_must_be_numbers_at_least_zero():
    import pytest

    from agent.search.rex import RExSettings

    assert RExSettings(fresh_temperatures=[0, 0.7]).fresh_temperatures == (0.0, 0.7)  # a YAML list is read
    for bad in ([-0.1], ["hot"], [True]):
        with pytest.raises(ValueError, match="fresh_temperatures"):
            RExSettings(fresh_temperatures=bad)


def test_a_near_miss_is_refined_and_the_fix_found():
    fix = Candidate(("    return a + b",), -1.0, at=1)  # replaces nothing: inserted before the bad return
    policy = ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR])
    result = _run(policy, samples=200)
    kinds = [call["kind"] for call in policy.calls]
    assert "propose" in kinds  # the near-miss got refined ...
    refined = [call for call in policy.calls if call["kind"] == "propose"]
    assert all(call["state"].program == Program.from_text(DEF_MINUS) for call in refined)
    assert result.solved  # ... and its child passes every visible test


def test_a_near_miss_may_be_rewritten_whole_instead_of_at_its_cut_points():
    import pytest

    fix = Candidate(("    return a + b",), -1.0, at=1)
    policy = ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR])
    result = _run(policy, samples=200, refine="whole")
    refined = [call for call in policy.calls if call["kind"] == "propose"]
    # one request, location None (the policy's free answer to the code and its failures), the
    # rows of a refinement (samples_per_location * max_locations), the failures in its state
    assert refined and all(call["locations"] == (None,) and call["n"] == 4 for call in refined)
    assert all(call["state"].program == Program.from_text(DEF_MINUS) and call["state"].feedback for call in refined)
    assert result.solved
    with pytest.raises(ValueError, match="refine must be 'cut' or 'whole'"):
        make_strategy("rex", refine="both")


def test_rex_spends_the_whole_budget_after_a_visible_solution_when_asked():
    fix = Candidate(("    return a + b",), -1.0, at=1)
    keep_going = SearchSettings(samples_per_location=2, max_locations=2, seed=0, stop_when_solved=False)
    stopped = _run(ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR]), samples=200)
    kept = _run(ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR]), samples=200, settings=keep_going)
    assert stopped.stop_reason == "solved" and stopped.compute.samples < 200
    assert kept.solved and kept.stop_reason == "budget" and kept.compute.samples == 200
    assert kept.program == stopped.program  # the only visible solution, found on the same path


def test_refinements_of_one_node_become_rarer_as_they_fail():
    dud = Candidate(("    x = 0",), -1.0)  # a child that still scores 1/3: no progress
    policy = ScriptedPolicy({DEF_MINUS: [dud]}, programs=[NEAR], default=lambda program: [dud])
    _run(policy, samples=400)
    kinds = [call["kind"] for call in policy.calls]
    first, last = kinds[: len(kinds) // 3], kinds[-len(kinds) // 3:]
    assert first.count("propose") > last.count("propose")  # Beta(.., .. + N) decays with N
    assert "sample_programs" in last  # the fresh arm is never starved


def test_same_seed_same_allocation():
    runs = []
    for _ in range(2):
        policy = ScriptedPolicy({DEF_MINUS: [Candidate(("    x = 0",), -1.0)]}, programs=[NEAR, WRONG], sample=True)
        _run(policy, samples=60)
        runs.append([(c["kind"], c["seed"]) for c in policy.calls])
    assert runs[0] == runs[1]


def test_fresh_programs_continue_the_starter_when_asked_and_the_policy_makes_cut_children():
    class CutPolicy(ScriptedPolicy):
        edit_style = "cut"

    starter_problem = ADD.__class__(id="toy/add2", prompt=ADD.prompt, entry_point="add", tests=ADD.tests,
                                    starter_code='def add(a, b):\n    """Add."""\n')
    policy = CutPolicy({}, programs=[WRONG], default=lambda program: [Candidate(("    return 7",), -1.0)])
    search(starter_problem, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
           strategy=make_strategy("rex", fresh="cut"), budget=Budget(samples=16), settings=SearchSettings(seed=0))
    assert {call["kind"] for call in policy.calls} == {"propose"}  # no free answers
    assert all(call["state"].program == starter_problem.starter for call in policy.calls)
    free = CutPolicy({}, programs=[WRONG])
    search(starter_problem, free, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
           strategy=make_strategy("rex"), budget=Budget(samples=16), settings=SearchSettings(seed=0))
    assert {call["kind"] for call in free.calls} == {"sample_programs"}  # the default: free answers


def test_fresh_programs_may_be_capped_shorter_than_refinements():
    fix = Candidate(("    return a + b",), -1.0, at=1)
    policy = ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR])
    search(ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
           strategy=make_strategy("rex", fresh_max_new_tokens=96), budget=Budget(samples=200))
    caps = {(call["kind"], call["caps"].max_new_tokens) for call in policy.calls}
    assert caps == {("sample_programs", 96), ("propose", None)}  # refinements keep the policy's cap
    default = ScriptedPolicy({}, programs=[WRONG])
    _run(default, samples=8)
    assert {call["caps"].max_new_tokens for call in default.calls} == {None}  # by default sampling's cap


def test_rex_refuses_a_fresh_cap_below_one_token():
    import pytest

    with pytest.raises(ValueError, match="fresh_max_new_tokens"):
        make_strategy("rex", fresh_max_new_tokens=0)


def test_compute_is_counted_by_arm():
    fix = Candidate(("    return a + b",), -1.0, at=1)
    result = _run(ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR]), samples=200)
    arms = result.counters.arms
    assert set(arms) == {"at_root", "below_root"}
    assert sum(a["calls"] for a in arms.values()) == result.counters.expansions
    assert sum(a["samples"] for a in arms.values()) == result.compute.samples
    assert sum(a["generated_tokens"] for a in arms.values()) == result.compute.generated_tokens
    # hits: the fresh arm wrote the near-miss (1 of 3 visible tests), the refinement the solution
    assert (arms["at_root"]["solutions"], arms["at_root"]["near_misses"]) == (0, 1)
    assert (arms["below_root"]["solutions"], arms["below_root"]["near_misses"]) == (1, 0)


# -- several arms in one policy call -----------------------------------------------------------
STARTER_ADD = ADD.__class__(id="toy/add2", prompt=ADD.prompt, entry_point="add", tests=ADD.tests,
                            starter_code='def add(a, b):\n    """Add."""\n')


class CutOnly(ScriptedPolicy):
    edit_style = "cut"


class GroupingPolicy(CutOnly):
    can_propose_groups = True


def _near_miss_policy(cls=GroupingPolicy):
    """Fresh programs from the starter are near-misses (a - b) or wrong (7); refinements of a
    near-miss add a line that changes nothing, so near-misses stay near-misses."""
    def default(program):
        if program == STARTER_ADD.starter:
            return [Candidate(("    return a - b",), -1.0), Candidate(("    return 7",), -1.0)]
        return [Candidate((f"    x{len(program)} = 0",), -1.0)]
    return cls({}, default=default)


def _run_arms(policy, arms, samples=120, seed=0):
    return search(STARTER_ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
                  strategy=make_strategy("rex", arms_per_call=arms, fresh="cut"), budget=Budget(samples=samples),
                  settings=SearchSettings(samples_per_location=2, max_locations=2, seed=seed))


def test_several_arms_share_one_call_and_children_go_to_their_own_parents():
    policy = _near_miss_policy()
    result = _run_arms(policy, arms=4)
    grouped = [call for call in policy.calls if call["kind"] == "propose_groups"]
    assert grouped and len(policy.calls) == result.counters.expansions  # one node alone: a plain propose
    assert any(len({g.state.program for g in call["groups"]}) > 1 for call in grouped)  # root and near-misses together
    first = policy.calls[0]  # only the root exists: the fresh arm takes all 4 shares in one call
    assert first["kind"] == "propose_groups" and sum(len(g.locations) * g.n for g in first["groups"]) == 16
    for call in grouped:  # at most 4 arms' rows (4 each), never one node twice
        assert sum(len(g.locations) * g.n for g in call["groups"]) <= 16
        assert len({g.state.program for g in call["groups"]}) == len(call["groups"])
    tree = result.tree
    for node in tree.nodes():
        if node.edge is not None and node.edge.location is not None:
            parent = tree.node(node.parent).program  # every scripted child inserts one line into its parent
            assert len(node.program) == len(parent) + 1
            assert node.program.lines[: node.edge.location.after_line] == parent.lines[: node.edge.location.after_line]
    arms = result.counters.arms
    assert sum(a["samples"] for a in arms.values()) == result.compute.samples <= 120
    assert sum(a["generated_tokens"] for a in arms.values()) == result.compute.generated_tokens
    assert arms["below_root"]["calls"] > 0 and arms["at_root"]["calls"] > 0


def test_one_arm_a_call_is_the_plain_search_and_arms_replay_per_seed():
    plain, one = _near_miss_policy(CutOnly), _near_miss_policy()
    _run_arms(plain, arms=1)
    _run_arms(one, arms=1)
    assert [(c["kind"], c["seed"], c["state"].program) for c in one.calls] == \
        [(c["kind"], c["seed"], c["state"].program) for c in plain.calls]
    first, again = _near_miss_policy(), _near_miss_policy()
    a, b = _run_arms(first, arms=4, seed=3), _run_arms(again, arms=4, seed=3)
    assert [n.digest for n in a.tree.nodes()] == [n.digest for n in b.tree.nodes()]


def test_a_policy_without_groups_gets_one_node_a_call():
    policy = _near_miss_policy(CutOnly)
    _run_arms(policy, arms=4)
    assert {c["kind"] for c in policy.calls} == {"propose"}


def test_rex_refuses_zero_arms_and_several_arms_without_cut_fresh_programs():
    import pytest

    with pytest.raises(ValueError, match="arms_per_call"):
        make_strategy("rex", arms_per_call=0)
    with pytest.raises(ValueError, match="search.rex.fresh=cut"):  # free answers cannot share a cut batch
        make_strategy("rex", arms_per_call=4)


def test_a_checkpoint_clips_a_grouped_call_in_order_and_caps_its_tokens():
    from agent.search.budget import ComputeStats
    from agent.search.budget import call_limits
    from agent.search.requests import propose_nodes
    from agent.search.tree import EdgeInfo, SearchTree
    from agent.search.types import ProposeRequest

    policy = _near_miss_policy()
    near = Program.from_text('def add(a, b):\n    """Add."""\n    return a - b\n')
    tree = SearchTree(STARTER_ADD.starter, None, root_clean=True)
    tree.add_child(tree.root, near, EdgeInfo(None, None))
    settings = SearchSettings(samples_per_location=2, max_locations=2, seed=0)
    # What the loop asks for before the checkpoint at 100 tokens of a 1,000-token budget, a sample
    # expected to cost 32 tokens (half a 64-token cap) before any has ended:
    samples, caps, at_checkpoint = call_limits(Budget(tokens=1000, checkpoints=(100,)), ComputeStats(), 100,
                                               prior=64 / 2, stop_doomed=True)
    assert (samples, caps.tokens, at_checkpoint) == (3, 100, True)  # 100 tokens pay for 3 samples of 32
    requests = [ProposeRequest(policy, STARTER_ADD, tree, digest, settings, samples, 0, caps)
                for digest in (tree.root, near.digest)]
    batch, sizes = propose_nodes(requests, [1, 1])
    assert sizes == [3, 0] and len(batch.proposals) == 3  # in order: the second node is clipped away
    assert policy.calls[-1]["caps"] == caps


# -- calls the tokens left cannot pay for ------------------------------------------------------
class PricedPolicy(ScriptedPolicy):
    """Refuses a call whose prompt and one token a row cost more than `caps.tokens`, as LMPolicy
    does (policies.lm); its prompt is priced at the problem's prompt plus the state's program."""

    def propose(self, problem, state, locations, n, *, seed=None, caps=CallCaps()):
        from scripted import n_tokens
        from policies.base import ProposalBatch

        cost = n_tokens(problem.prompt + state.program.text) * len(locations) + n * len(locations)
        if caps.tokens is not None and cost > caps.tokens:
            self.calls.append(dict(kind="refused", caps=caps, cost=cost))
            return ProposalBatch((), 0, 0, 0, 0.0, refused=True)
        return super().propose(problem, state, locations, n, seed=seed, caps=caps)


def test_a_refused_call_ends_the_search_at_its_budget_and_costs_nothing():
    policy = PricedPolicy({}, default=lambda program: [Candidate(("    x = 0",), -1.0)])
    result = search(STARTER_ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
                    strategy=make_strategy("best-first"), budget=Budget(tokens=150),
                    settings=SearchSettings(samples_per_location=1, max_locations=1, seed=0))
    assert result.stop_reason == "budget" and policy.calls[-1]["kind"] == "refused"
    ran = policy.batches  # the calls that ran (a refused one records no batch)
    assert result.counters.expansions == len(ran)  # the refused call is not counted
    assert result.compute.tokens == sum(b.prompt_tokens_encoded + b.generated_tokens for b in ran) <= 150


def test_a_refused_call_ends_that_checkpoints_budget_and_is_asked_again_under_the_next():
    from agent.bench.anytime import anytime_search

    policy = PricedPolicy({}, default=lambda program: [Candidate(("    x = 0",), -1.0)])
    limits = {"small": 60, "large": 400}
    result, snapshots = anytime_search(
        STARTER_ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
        strategy=make_strategy("best-first"), limits=limits,
        settings=SearchSettings(samples_per_location=1, max_locations=1, seed=0))
    refused = [i for i, call in enumerate(policy.calls) if call["kind"] == "refused"]
    assert refused and policy.calls[refused[0] + 1]["kind"] == "propose"  # the same call, under the next cap
    assert policy.calls[refused[0] + 1]["seed"] == policy.calls[refused[0] - 1]["seed"] + 1
    for label, limit in limits.items():  # no budget is crossed by a prompt it could not pay for
        assert snapshots[label].compute["tokens"] <= limit
    assert snapshots["small"].compute["lm_calls"] < snapshots["large"].compute["lm_calls"]
    assert result.compute.tokens == snapshots["large"].compute["tokens"]


def test_fresh_programs_are_the_next_draws_of_one_stream_in_every_strategy():
    """Each call for fresh programs asks for the draws after those already made (seed = the
    stream's start + programs drawn), so rex's fresh programs are the draws `sample` makes."""
    from agent.search.types import fresh_stream_seed

    settings = SearchSettings(samples_per_location=2, max_locations=2, seed=3)
    for name, options in (("rex", {}), ("sample", {"batch_size": 3})):
        policy = ScriptedPolicy({}, programs=[WRONG])
        search(ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
               strategy=make_strategy(name, **options), budget=Budget(samples=10), settings=settings)
        calls = [call for call in policy.calls if call["kind"] == "sample_programs"]
        starts = [sum(c["n"] for c in calls[:i]) for i in range(len(calls))]
        assert [c["seed"] for c in calls] == [fresh_stream_seed(3) + k for k in starts], name
        assert sum(c["n"] for c in calls) == 10


# -- the fresh arm's evidence, the refinement floor, fresh programs after a solution -------------
def _rex_kinds(policy, samples, **settings):
    search(ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
           strategy=make_strategy("rex", **(PLAIN_REX | settings)), budget=Budget(samples=samples),
           settings=SearchSettings(samples_per_location=2, max_locations=2, seed=0, stop_when_solved=False))
    return [call["kind"] for call in policy.calls]


def test_a_fresh_arm_that_learns_refines_more_as_its_draws_fail():
    dud = Candidate(("    x = 0",), -1.0)  # a refinement that stays a near-miss
    fixed = _rex_kinds(ScriptedPolicy({}, programs=[NEAR], default=lambda p: [dud]), 400, c=1.0)
    learns = _rex_kinds(ScriptedPolicy({}, programs=[NEAR], default=lambda p: [dud]), 400, c=1.0, fresh_b=1.0)
    assert learns.count("propose") > fixed.count("propose")  # Beta(1, 1 + F) falls as fresh draws fail


def test_refinement_failures_counted_in_rows_make_refinements_rarer():
    dud = Candidate(("    x = 0",), -1.0)
    per_call = _rex_kinds(ScriptedPolicy({}, programs=[NEAR], default=lambda p: [dud]), 400)
    per_row = _rex_kinds(ScriptedPolicy({}, programs=[NEAR], default=lambda p: [dud]), 400, refine_decay=4.0)
    assert per_row.count("propose") < per_call.count("propose")


def test_no_refinement_below_the_floor_of_tokens_left():
    fix = Candidate(("    return a + b",), -1.0, at=1)
    policy = ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR])
    search(ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
           strategy=make_strategy("rex", refine_min_tokens=10**6), budget=Budget(tokens=2000))
    assert {call["kind"] for call in policy.calls} == {"sample_programs"}  # never this many tokens left
    allowed = ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR])
    search(ADD, allowed, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
           strategy=make_strategy("rex", refine_min_tokens=10), budget=Budget(tokens=2000))
    assert "propose" in {call["kind"] for call in allowed.calls}


def test_no_refinement_without_room_for_the_rows_of_this_problems_length():
    from agent.search.rex import fresh_row_tokens, refine_floor

    fix = Candidate(("    return a + b",), -1.0, at=1)
    policy = ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR])
    result = search(ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
                    strategy=make_strategy("rex", refine_min_tokens=None, refine_min_rows=None),
                    budget=Budget(tokens=2000))
    row = fresh_row_tokens(result.tree)
    assert row and row > 0 and "propose" in {call["kind"] for call in policy.calls}
    assert refine_floor(result.tree, 600, 8.0) == max(600, 8 * row)
    assert refine_floor(result.tree, None, 2.0) == 2 * row and refine_floor(result.tree, None, None) == 0
    rows = 2000 / row + 1  # more rows of this length than the whole budget holds: never refined
    held_back = ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR])
    search(ADD, held_back, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
           strategy=make_strategy("rex", refine_min_tokens=None, refine_min_rows=rows), budget=Budget(tokens=2000))
    assert {call["kind"] for call in held_back.calls} == {"sample_programs"}


def test_only_fresh_programs_after_a_visible_solution_when_asked():
    fix = Candidate(("    return a + b",), -1.0, at=1)
    programs = [NEAR, Candidate(tuple(ADD_SOLUTION.splitlines()), -1.0)]
    kinds = _rex_kinds(ScriptedPolicy({DEF_MINUS: [fix]}, programs=programs), 200, fresh_after_solution=True,
                       fresh_temperatures=())
    assert kinds[0] == "sample_programs" and set(kinds) == {"sample_programs"}  # solved in the first call
    refining = _rex_kinds(ScriptedPolicy({DEF_MINUS: [fix]}, programs=programs), 200, fresh_temperatures=())
    assert "propose" in refining  # without it the near-miss is still refined


def test_rex_refuses_bad_arm_settings():
    import pytest

    for bad in ({"fresh_a": 0.0}, {"fresh_b": -1.0}, {"refine_decay": -1.0}, {"refine_min_tokens": 0},
                {"refine_min_rows": -1.0}):
        with pytest.raises(ValueError, match="rex:"):
            make_strategy("rex", **bad)


# -- fresh rows drawn in one call past the budget's checkpoints --------------------------------
class StreamPolicy(ScriptedPolicy):
    """Fresh draw k of the stream is `programs[k]` whichever call draws it (as LMPolicy's row
    seeds make it), each as long as its text: budgets can be set at exactly k draws' tokens.
    A call returns the rows its `caps.tokens` pays for, in order (a policy that knew each row's
    length; LMPolicy prices rows at their expected length); only the first pays the prompt."""

    def sample_programs(self, problem, n, *, seed=None, caps=CallCaps(), temperatures=None):
        from scripted import n_tokens

        from agent.search.types import fresh_stream_seed

        self.caps_seen = [*getattr(self, "caps_seen", []), caps]
        first = seed - fresh_stream_seed(0)
        script = self.programs
        rows = [script[(first + i) % len(script)] for i in range(n)]
        if caps.tokens is not None:
            prompt = n_tokens(problem.prompt) if len(self.caps_seen) == 1 else 0
            spent = [prompt + sum(n_tokens("\n".join(c.lines)) for c in rows[:k + 1])
                     for k in range(n)]
            rows = rows[:max(1, sum(1 for cost in spent if cost <= caps.tokens))]
        self.programs = tuple(rows)
        try:  # draw i of this call is program i of the reordered list (sample=False)
            batch = super().sample_programs(problem, len(rows), seed=seed, caps=caps, temperatures=temperatures)
        finally:
            self.programs = script
        if len(self.caps_seen) > 1:  # the prompt is paid once, as LMPolicy's prefix cache keeps it
            batch = self.batches[-1] = dataclasses.replace(batch, prompt_tokens_encoded=0)
        return batch


STREAM = [WRONG, NEAR, Candidate(("def add(a, b):", "    return a * b  # a longer wrong program"), -1.0),
          Candidate(tuple(ADD_SOLUTION.splitlines()), -1.0), NEAR]


def _draw_limits(draws: int = 5) -> dict[str, int]:
    """Token budgets of the first 1, 2 and 5 fresh draws: the prompt once, then each draw's
    generated tokens (how `agent bench` sets a search's samples-equivalent budgets)."""
    from scripted import n_tokens

    generated = [n_tokens("\n".join(c.lines)) for c in STREAM[:draws]]
    return {str(k): n_tokens(ADD.prompt) + sum(generated[:k]) for k in (1, 2, draws)}


def _anytime_rex(policy, *, ahead: bool = True, stop_when_solved: bool = False, limits=None, **rex):
    from agent.bench.anytime import anytime_search

    strategy = make_strategy("rex", fresh_temperatures=(), **rex)
    if not ahead:
        strategy = dataclasses.replace(strategy, fresh_stream=False)
    return anytime_search(ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
                          strategy=strategy, limits=limits or _draw_limits(),
                          settings=SearchSettings(samples_per_location=4, max_locations=2, seed=0,
                                                  stop_when_solved=stop_when_solved))


def test_fresh_rows_past_checkpoints_come_in_one_call_and_each_checkpoint_sees_its_own_draws():
    one_call, stepwise = StreamPolicy({}, programs=STREAM), StreamPolicy({}, programs=STREAM)
    result, snapshots = _anytime_rex(one_call)  # no refinement fits these budgets (refine_min_tokens)
    _anytime_rex(stepwise, ahead=False)
    # one call of whole rows, as many as the policy finds fill the budget's tokens (this one
    # gives all it is asked for), none cut (CallCaps.fill_tokens)
    assert [len(b.proposals) for b in one_call.batches] == [FILL_MAX_ROWS]
    assert [(c.tokens, c.fill_tokens) for c in one_call.caps_seen] == [(None, _draw_limits()["5"])]
    assert len(stepwise.batches) > 1  # without: each call stops at the next checkpoint
    for label, limit in _draw_limits().items():
        got, k = snapshots[label], int(label)
        assert (got.compute["tokens"], got.compute["samples"], got.compute["lm_calls"]) == (limit, k, 1)
        drawn = {Program(c.lines).digest for c in STREAM[:k]}
        assert set(got.nodes) == drawn | {result.tree.root}  # the first k draws, no later one
    assert snapshots["2"].best != snapshots["5"].best == Program(STREAM[3].lines).digest  # the solution, draw 4
    assert result.counters.arms["at_root"]["calls"] == 1 and result.counters.arms["at_root"]["samples"] == 5
    # draws 6 on would cross the budget: generated, counted apart, and still the stream's next draws
    assert (result.compute.unused_samples, result.tree.programs_drawn) == (FILL_MAX_ROWS - 5, 5)
    assert result.compute.unused_tokens == sum(b.generated_tokens for b in one_call.batches) - \
        (result.compute.generated_tokens)


def test_a_checkpoint_inside_a_row_is_reported_before_it():
    from agent.bench.anytime import anytime_search

    limits = _draw_limits()
    limits["2"] -= 1  # one token short of draw 2: a search with this budget cuts draw 2
    policy = StreamPolicy({}, programs=STREAM)
    _, snapshots = anytime_search(ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
                                  strategy=make_strategy("rex", fresh_temperatures=()), limits=limits,
                                  settings=SearchSettings(samples_per_location=4, max_locations=2, seed=0,
                                                          stop_when_solved=False))
    assert snapshots["2"].compute["samples"] == 1 and snapshots["2"].compute["tokens"] < limits["2"]
    assert snapshots["5"].compute["samples"] == 5 and snapshots["5"].compute["tokens"] == limits["5"]


def test_a_search_that_may_stop_at_a_solution_stops_its_calls_at_each_checkpoint():
    stops = StreamPolicy({}, programs=STREAM)
    _anytime_rex(stops, stop_when_solved=True)  # rows past a checkpoint might never be needed
    assert len(stops.batches[0].proposals) == 1


def test_fresh_rows_drawn_ahead_make_the_search_that_draws_each_in_a_call_of_its_own():
    # Refinements may come at any point (no floor of tokens left): the strategy is asked again
    # before each row; where it refines, the rows left wait and are its next fresh draws.
    def refine(program):
        return [Candidate(("    return b - a",), -1.0, at=1)]

    ahead, alone = StreamPolicy({}, programs=STREAM, default=refine), StreamPolicy({}, programs=STREAM, default=refine)
    got, got_snapshots = _anytime_rex(ahead, refine_min_tokens=1, refine_min_rows=None, c=50.0)
    want, want_snapshots = _anytime_rex(alone, ahead=False, refine_min_tokens=1, refine_min_rows=None, c=50.0,
                                        fresh_rows=1)
    kinds = [c["kind"] for c in ahead.calls]
    assert "propose" in kinds and kinds.count("sample_programs") == 1  # refined, and one fresh call for all
    assert [c["kind"] for c in alone.calls].count("sample_programs") > 1
    assert [n.digest for n in got.tree.nodes()] == [n.digest for n in want.tree.nodes()]
    assert [n.expanded for n in got.tree.nodes()] == [n.expanded for n in want.tree.nodes()]
    for label in _draw_limits():
        assert got_snapshots[label].nodes == want_snapshots[label].nodes
        assert got_snapshots[label].best == want_snapshots[label].best
        assert got_snapshots[label].compute["samples"] == want_snapshots[label].compute["samples"]
    assert got.compute.unused_samples == FILL_MAX_ROWS - got.tree.programs_drawn  # the rows never read


def test_rows_drawn_ahead_wait_through_a_refinement_for_the_next_fresh_pick(monkeypatch):
    monkeypatch.setattr("agent.search.rex.FILL_MAX_ROWS", 8)  # calls of 8: a second one within the budget

    def refine(program):  # children that pass no test: nothing more to refine
        return [Candidate(("    return None",), -1.0, at=1)]

    policy = StreamPolicy({}, programs=STREAM, default=refine)
    limits = _draw_limits() | {"5": _draw_limits()["5"] + 100}  # room for a refinement and more draws
    result, _ = _anytime_rex(policy, refine_min_tokens=1, refine_min_rows=None, refine_decay=50.0,
                              limits=limits)
    kinds = [c["kind"] for c in policy.calls]
    fresh = [c for c in policy.calls if c["kind"] == "sample_programs"]
    assert kinds[:3] == ["sample_programs", "propose", "propose"]  # draws 1-2, then refinements
    assert Program(STREAM[2].lines).digest in result.tree  # draw 3, after them, from the first call
    assert fresh[1]["seed"] - fresh[0]["seed"] == 8  # a second fresh call only once the first one's 8 were read
    assert result.tree.programs_drawn + result.compute.unused_samples == 16

