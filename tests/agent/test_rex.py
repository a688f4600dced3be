"""The rex strategy (fresh samples vs refining near-misses) and cut children in the search."""

from scripted import ADD, DEF_MINUS, Candidate, InProcessEvaluator, ScriptedPolicy, ToyLintGate

from agent.search.budget import Budget
from agent.search.loop import SearchSettings, search
from agent.search.strategies import make_strategy
from envs.program import Program

WRONG = Candidate(("def add(a, b):", "    return 7"), -1.0)  # passes no visible test
NEAR = Candidate(tuple(DEF_MINUS.splitlines()), -1.0)  # passes 1 of 3: a near-miss


def _run(policy, *, samples=24, settings=SearchSettings(samples_per_location=2, max_locations=2, seed=0)):
    return search(ADD, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
                  strategy=make_strategy("rex"), budget=Budget(samples=samples), settings=settings)


def test_with_no_near_miss_rex_is_repeated_sampling():
    policy = ScriptedPolicy({}, programs=[WRONG])
    result = _run(policy)
    assert {call["kind"] for call in policy.calls} == {"sample_programs"}
    assert [call["n"] for call in policy.calls] == [4] * 6  # samples_per_location * max_locations rows
    assert result.stop_reason == "budget" and result.compute.samples == 24


def test_a_near_miss_is_refined_and_the_fix_found():
    fix = Candidate(("    return a + b",), -1.0, at=1)  # replaces nothing: inserted before the bad return
    policy = ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR])
    result = _run(policy, samples=200)
    kinds = [call["kind"] for call in policy.calls]
    assert "propose" in kinds  # the near-miss got refined ...
    refined = [call for call in policy.calls if call["kind"] == "propose"]
    assert all(call["state"].program == Program.from_text(DEF_MINUS) for call in refined)
    assert result.solved  # ... and its child passes every visible test


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


def test_the_bench_wrapper_shows_the_search_the_policy_it_wraps():
    from agent.bench.anytime import _SnapshotPolicy

    class CutPolicy(ScriptedPolicy):
        edit_style = "cut"
        max_new_tokens = 64

    wrapped = _SnapshotPolicy(CutPolicy({}, programs=[WRONG]), [("1", 10)])
    assert wrapped.edit_style == "cut" and wrapped.max_new_tokens == 64


def test_fresh_programs_continue_the_starter_when_the_policy_makes_cut_children():
    class CutPolicy(ScriptedPolicy):
        edit_style = "cut"

    starter_problem = ADD.__class__(id="toy/add2", prompt=ADD.prompt, entry_point="add", tests=ADD.tests,
                                    starter_code='def add(a, b):\n    """Add."""\n')
    policy = CutPolicy({}, programs=[WRONG], default=lambda program: [Candidate(("    return 7",), -1.0)])
    search(starter_problem, policy, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
           strategy=make_strategy("rex"), budget=Budget(samples=16), settings=SearchSettings(seed=0))
    assert {call["kind"] for call in policy.calls} == {"propose"}  # no free answers
    assert all(call["state"].program == starter_problem.starter for call in policy.calls)
    free = CutPolicy({}, programs=[WRONG])
    search(starter_problem, free, lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
           strategy=make_strategy("rex", fresh="free"), budget=Budget(samples=16), settings=SearchSettings(seed=0))
    assert {call["kind"] for call in free.calls} == {"sample_programs"}


def test_compute_is_counted_by_arm():
    fix = Candidate(("    return a + b",), -1.0, at=1)
    result = _run(ScriptedPolicy({DEF_MINUS: [fix]}, programs=[NEAR]), samples=200)
    arms = result.counters.arms
    assert set(arms) == {"at_root", "below_root"}
    assert sum(a["calls"] for a in arms.values()) == result.counters.expansions
    assert sum(a["samples"] for a in arms.values()) == result.compute.samples
    assert sum(a["generated_tokens"] for a in arms.values()) == result.compute.generated_tokens
