"""The search loop and its strategies, on toy problems whose best edit path is known."""

import dataclasses

import pytest
from scripted import (
    ADD, ADD_TESTS, DEF_MINUS, DEF_TOTAL, SOLUTION, Candidate, InProcessEvaluator, ScriptedPolicy,
    ToyLintGate, add_policy, endless_candidates,
)

from agent.search.budget import Budget
from agent.search.rollouts import RolloutError, RolloutWriter, read_rollouts, replay
from agent.search.loop import search
from agent.search.types import SearchSettings, Selection
from agent.search.strategies import STRATEGIES, child_priors, make_strategy, select_puct
from envs.problem import Problem
from envs.program import Program
from envs.testcase import TestCase

SETTINGS = SearchSettings(samples_per_location=4)  # >= the script's candidates: every one is seen
TREE_STRATEGIES = ("best-first", "beam", "mcts")


def run(strategy="best-first", *, policy=None, problem=ADD, budget=Budget(samples=100), settings=SETTINGS,
        lint=None, evaluate=None, **strategy_settings):
    return search(
        problem, policy or add_policy(), lint=lint or ToyLintGate(),
        evaluate=evaluate or InProcessEvaluator(problem.tests),
        strategy=make_strategy(strategy, **strategy_settings), budget=budget, settings=settings,
    )


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_finds_the_known_solution(strategy):
    result = run(strategy)
    assert result.solved and result.stop_reason == "solved"
    assert result.program == Program.from_text(SOLUTION)
    node = result.tree.node(result.node)
    assert node.solved and node.score == 1.0
    if strategy not in ("sample", "rex"):  # the two-edit path through the less likely first edit
        # (rex's fresh arm is repeated sampling: whole programs, tests/agent/test_rex.py)
        assert [n.program.text for n in result.tree.path(result.node)] == ["", DEF_TOTAL, SOLUTION]


def test_a_search_stops_once_enough_visible_solutions_agree():
    """search.stop_votes: every call draws the solution and a wrong program; with 3 votes the
    search goes on until the solution has been drawn 3 times (duplicates are votes), with 1 it
    stops at the first; a votes function that never agrees lets it run to the budget."""
    policy = lambda: ScriptedPolicy({}, programs=[Candidate(tuple(SOLUTION.splitlines()), -1.0),
                                                  Candidate(tuple(DEF_MINUS.splitlines()), -2.0)])
    def calls(votes, **settings):
        result = search(ADD, policy(), lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD.tests),
                        strategy=make_strategy("sample", batch_size=2), budget=Budget(samples=20),
                        settings=dataclasses.replace(SETTINGS, **settings), votes=votes)
        return result.stop_reason, result.compute.samples, result.tree.node(result.node).drawn

    assert calls(None, stop_votes=1) == ("solved", 2, 1)
    assert calls(None, stop_votes=3) == ("solved", 6, 3)
    asked = []
    assert calls(lambda tree: asked.append(len(tree)) or 0, stop_votes=3) == ("budget", 20, 10)
    assert len(asked) == 10  # after every call that drew a visible solution
    assert calls(None, stop_votes=3, stop_when_solved=False)[0] == "budget"


def test_lint_rejected_and_unparsable_proposals_are_counted_not_added():
    result = run("best-first")
    texts = {n.program.text for n in result.tree.nodes()}
    assert "def add(a, b)\n    return a + b\n" not in texts  # syntax error
    assert DEF_TOTAL + "    return undefined_name\n" not in texts  # undefined variable
    assert result.counters.lint_rejected >= 2
    assert result.counters.parse_failure_kinds["bad_header"] >= 1
    assert result.counters.parse_failures == sum(result.counters.parse_failure_kinds.values())
    assert result.counters.nodes == len(result.tree) == result.counters.evaluations + result.counters.evaluations_reused


def test_programs_that_differ_only_in_comments_run_once():
    same = [Candidate(("def add(a, b):", "    return a - b  # guess"), -1.0),
            Candidate(("def add(a, b):", "    return a - b  # another guess"), -1.1),
            Candidate(("def add(a, b):", "    return a - b"), -1.2)]
    evaluator = InProcessEvaluator(ADD.tests)
    calls = []
    result = run("sample", policy=ScriptedPolicy({}, programs=same), budget=Budget(samples=3), batch_size=3,
                 evaluate=lambda program: calls.append(program) or evaluator(program))
    assert result.counters.nodes == 4 and len(calls) == 2  # the root, then one of the three variants
    assert result.counters.evaluations == 2 and result.counters.evaluations_reused == 2
    assert {n.score for n in result.tree.nodes() if n.digest != result.tree.root} == {1 / 3}


def test_programs_that_differ_in_what_they_can_read_run_apart():
    """A docstring (`__doc__`) and a line number (`f_lineno`) are visible to the program: two
    programs that differ only there may behave differently, so each is run."""
    reads_doc = [Candidate(("def add(a, b):", '    """%s"""' % doc, "    return len(add.__doc__)"), -1.0 - i)
                 for i, doc in enumerate(("abc", "ab"))]
    reads_line = [Candidate(("import sys", "def add(a, b):", *[""] * blank, "    return sys._getframe().f_lineno"),
                            -2.0 - blank) for blank in (0, 1)]
    evaluator = InProcessEvaluator(ADD.tests)
    calls = []
    result = run("sample", policy=ScriptedPolicy({}, programs=reads_doc + reads_line), budget=Budget(samples=4),
                 batch_size=4, evaluate=lambda program: calls.append(program) or evaluator(program))
    assert result.counters.nodes == 5 and len(calls) == 5 and result.counters.evaluations_reused == 0
    assert len({program.behaviour_digest for program in calls}) == 5


def test_beam_width_one_follows_the_distractor_and_runs_out():
    narrow = run("beam", width=1)  # the dead-end level is re-expanded until the budget ends it
    assert not narrow.solved and narrow.stop_reason == "budget"
    assert narrow.program.text == DEF_MINUS  # best by visible score (1/3), shallower than its child
    assert run("beam", width=2).solved


def test_best_first_expands_by_score_then_logprob():
    policy = add_policy()
    run("best-first", policy=policy)
    expanded = [call["state"].program.text for call in policy.calls]
    assert expanded[:2] == ["", DEF_MINUS]  # 1/3 beats 0 at depth 1
    assert expanded[-1] == DEF_TOTAL  # reached once the 1/3-branch is spent


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("budget", [Budget(samples=5), Budget(samples=1), Budget(tokens=60),
                                    Budget(generated_tokens=20), Budget(flops=2e8)])
def test_every_strategy_stops_at_the_same_budget(strategy, budget):
    programs = [Candidate((f"w = {i}",), -1.0) for i in range(3)]
    policy = ScriptedPolicy({}, programs=programs, default=endless_candidates)
    result = run(strategy, policy=policy, budget=budget, settings=SearchSettings(samples_per_location=3))
    stats = result.compute
    assert result.stop_reason == "budget" and budget.exhausted(stats)
    assert stats.lm_calls == len(policy.batches)
    if budget.samples is not None:  # every call is clipped: the count is exact
        assert stats.samples == budget.samples
        return
    # checked before each call: the budget was not yet spent when the last call started
    last = policy.batches[-1]
    before = dataclasses.replace(
        stats, samples=stats.samples - len(last.proposals), flops=stats.flops - last.flops,
        prompt_tokens=stats.prompt_tokens - last.prompt_tokens_encoded,
        generated_tokens=stats.generated_tokens - last.generated_tokens,
    )
    assert not budget.exhausted(before)


def test_sample_strategy_spends_the_whole_budget_when_nothing_solves():
    policy = ScriptedPolicy({}, programs=[Candidate(("def add(a, b):", "    return 0"), -1.0)])
    result = run("sample", policy=policy, budget=Budget(samples=20), batch_size=8)
    assert result.stop_reason == "budget" and not result.solved
    assert [c["n"] for c in policy.calls] == [8, 8, 4]  # the last call is clipped
    assert result.counters.duplicates == 19 and len(result.tree) == 2


XY_SCRIPT = {  # two orders of the same two insertions reach the same program
    "": [Candidate(("x = 1",), -1.0), Candidate(("y = 2",), -1.0)],
    "x = 1\n": [Candidate(("y = 2",), -1.0, at=1)],
    "y = 2\n": [Candidate(("x = 1",), -1.0, at=0)],
}
XY = Problem(id="toy/xy", prompt="Set x and y.", entry_point="main", tests=(TestCase("sum", "assert x + y == 4"),))


@pytest.mark.parametrize("strategy", TREE_STRATEGIES)
def test_transpositions_are_merged(strategy):
    result = run(strategy, policy=ScriptedPolicy(XY_SCRIPT), problem=XY, settings=SearchSettings(samples_per_location=2))
    assert not result.solved and result.stop_reason == "budget"  # re-expansions spend the rest
    both = Program(("x = 1", "y = 2")).digest
    assert len(result.tree) == 4 and result.counters.merges == 1
    assert result.tree.graph.in_degree(both) == 2


def test_keyboard_interrupt_returns_the_partial_result():
    class Interrupting(ScriptedPolicy):
        def propose(self, *args, **kwargs):
            if len(self.calls) == 2:
                raise KeyboardInterrupt
            return super().propose(*args, **kwargs)

    from scripted import ADD_PROGRAMS, ADD_SCRIPT
    result = run("best-first", policy=Interrupting(ADD_SCRIPT, programs=ADD_PROGRAMS))
    assert result.stop_reason == "interrupted" and not result.solved
    assert len(result.tree) >= 3 and result.compute.lm_calls == 2  # the interrupted call is not counted
    assert result.program.text == DEF_MINUS  # best visible score (1/3), shallower than its child


class Tripwire:
    """Hidden tests that raise if the search so much as looks at them."""

    def _touched(self, *args, **kwargs):
        raise AssertionError("the search touched the hidden tests")

    __iter__ = __len__ = __bool__ = __eq__ = __hash__ = __repr__ = __getitem__ = __contains__ = _touched


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_the_search_never_sees_hidden_tests(strategy):
    problem = dataclasses.replace(ADD, hidden_tests=Tripwire())
    with pytest.raises(AssertionError, match="hidden"):
        list(problem.hidden_tests)  # the tripwire works
    policy = add_policy()
    result = run(strategy, policy=policy, problem=problem)
    assert result.solved
    assert policy.calls and all(call["problem"].hidden_tests == () for call in policy.calls)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_same_seed_same_search(strategy):
    def trace(seed):
        result = run(strategy, policy=add_policy(sample=True), budget=Budget(samples=24),
                     settings=SearchSettings(samples_per_location=2, seed=seed))
        return [n.digest for n in result.tree.nodes()], result.node, result.compute.samples, result.counters

    assert trace(7) == trace(7)


def test_seeds_reach_the_policy_and_differ_between_calls():
    policy = add_policy(sample=True)
    run("mcts", policy=policy, settings=SearchSettings(samples_per_location=2, seed=3))
    seeds = [call["seed"] for call in policy.calls]
    assert len(set(seeds)) == len(seeds) > 1


MCTS_SCRIPT = {"": [Candidate(("a = 1",), -3.0), Candidate(("b = 1",), -1.0), Candidate(("c = 1",), -2.0)]}


def test_mcts_prefers_the_higher_prior_child_when_values_tie():
    problem = dataclasses.replace(XY, tests=(TestCase("never", "assert False"),))
    result = run("mcts", policy=ScriptedPolicy(MCTS_SCRIPT), problem=problem, budget=Budget(samples=3),
                 settings=SearchSettings(samples_per_location=3))
    tree = result.tree
    assert {c.score for c in tree.children(tree.root)} == {0.0}  # every value ties
    # widening=0: no re-expansion of the root, so the descent picks a child by PUCT
    selection = select_puct(tree, SETTINGS, c_puct=1.0, length_normalise=True, widening=0.0)
    assert tree.node(selection.node).program.text == "b = 1\n" and selection.expand
    assert selection.path == (tree.root, selection.node)


def test_child_priors_are_a_softmax_over_sibling_logprobs():
    result = run("mcts", policy=ScriptedPolicy(MCTS_SCRIPT), problem=XY, budget=Budget(samples=3),
                 settings=SearchSettings(samples_per_location=3))
    tree = result.tree
    children = tree.children(tree.root)
    raw = child_priors(tree, tree.root, children, length_normalise=False)
    assert sum(raw) == pytest.approx(1.0)
    assert raw[1] > raw[2] > raw[0]  # logprobs -1 > -2 > -3
    assert raw[1] / raw[2] == pytest.approx(2.718281828, rel=1e-6)


def test_mcts_backs_up_one_value_per_new_child():
    result = run("mcts", budget=Budget(samples=4))  # the root's expansion only
    tree = result.tree
    root = tree.node(tree.root)
    children = tree.children(tree.root)
    assert root.visits == len(children) == 2
    assert root.value_sum == pytest.approx(sum(c.score for c in children)) == pytest.approx(1 / 3)


def test_mcts_backup_keeps_each_nodes_best_value_beside_the_sum():
    result = run("mcts", budget=Budget(samples=4))
    tree = result.tree
    scores = [c.score for c in tree.children(tree.root)]
    assert tree.node(tree.root).value_max == max(scores) > 0.0
    assert all(c.value_max == c.score for c in tree.children(tree.root))


def _three_unscored_children():
    """The root's three children of MCTS_SCRIPT on XY (all score 0), never expanded."""
    result = run("mcts", policy=ScriptedPolicy(MCTS_SCRIPT), problem=XY, budget=Budget(samples=3),
                 settings=SearchSettings(samples_per_location=3))
    return result.tree, {c.program.text: c for c in result.tree.children(result.tree.root)}


def _picked(tree, **puct):
    selection = select_puct(tree, SETTINGS, c_puct=puct.pop("c_puct", 1.0), length_normalise=True, **puct)
    return tree.node(selection.node).program.text, selection


def test_mcts_max_backup_follows_the_best_program_below_a_child_not_the_mean():
    tree, kids = _three_unscored_children()
    # a: one near-miss among misses below it (mean 0.2, best 0.5); b: steadier (mean 0.3, best 0.3)
    for text, (visits, total, best) in {"a = 1\n": (5, 1.0, 0.5), "b = 1\n": (5, 1.5, 0.3)}.items():
        kids[text].visits, kids[text].value_sum, kids[text].value_max = visits, total, best
    assert _picked(tree, c_puct=0.0, widening=0.0, backup="mean")[0] == "b = 1\n"
    assert _picked(tree, c_puct=0.0, widening=0.0, backup="max")[0] == "a = 1\n"


def test_mcts_resample_arm_draws_fresh_without_signal_and_descends_to_a_near_miss():
    tree, kids = _three_unscored_children()
    root = tree.node(tree.root)
    root.visits, root.value_sum = 1, 0.0  # the arm's statistics: one fresh draw, worth nothing
    text, selection = _picked(tree, widening=0.0, fresh_prior=0.5)
    assert selection.node == tree.root and selection.path == (tree.root,) and selection.expand
    kids["c = 1\n"].value_sum = kids["c = 1\n"].value_max = 0.5  # the least likely child half passes
    assert _picked(tree, widening=0.0, fresh_prior=0.5)[0] == "c = 1\n"


def test_mcts_with_a_resample_arm_backs_up_only_fresh_draws_into_the_root():
    tree, kids = _three_unscored_children()
    root, child = tree.node(tree.root), kids["b = 1\n"]
    before = (root.visits, root.value_sum)
    strategy = make_strategy("mcts", fresh="free")
    new = kids["c = 1\n"].digest  # stands for a refinement's new child, valued 0
    strategy.backup(tree, Selection(child.digest, (tree.root, child.digest)), [new])
    assert (root.visits, root.value_sum) == before and child.visits == 2
    strategy.backup(tree, Selection(tree.root, (tree.root,)), [new])
    assert root.visits == before[0] + 1


def test_mcts_with_a_resample_arm_draws_whole_programs_at_the_root_and_solves():
    policy = add_policy()
    result = run("mcts", policy=policy, fresh="free", backup="max")
    assert result.solved and result.program == Program.from_text(SOLUTION)
    assert policy.calls[0]["kind"] == "sample_programs"


@pytest.mark.parametrize("setting, value", [("backup", "median"), ("fresh", "cut"), ("fresh_prior", 1.0),
                                            ("fresh_max_new_tokens", 0)])
def test_mcts_refuses_a_bad_setting_by_name(setting, value):
    with pytest.raises(ValueError, match=setting):
        make_strategy("mcts", **{setting: value})


def test_root_that_already_passes_is_solved_without_calling_the_policy():
    policy = add_policy()
    result = run("mcts", policy=policy, problem=dataclasses.replace(ADD, starter_code=SOLUTION))
    assert result.solved and result.stop_reason == "solved" and policy.calls == []


def test_repair_mode_gates_children_of_an_erroneous_starter_by_new_errors_only():
    starter = "z = undefined_name\n"
    script = {starter: [Candidate(("x = 1",), -1.0), Candidate(("y = undefined_name",), -1.0),
                        Candidate(("def f(:",), -1.0)]}
    lint = ToyLintGate()
    problem = dataclasses.replace(XY, starter_code=starter)
    result = run("best-first", policy=ScriptedPolicy(script), problem=problem, lint=lint, budget=Budget(samples=3),
                 settings=SearchSettings(samples_per_location=3, max_depth=1))  # one expansion
    texts = {n.program.text for n in result.tree.nodes()}
    assert texts == {starter, starter + "x = 1\n"}  # a new error and a syntax error are rejected
    assert result.counters.lint_rejected == 2
    assert not result.tree.node(result.tree.root).clean
    assert any(parent == Program.from_text(starter) for _, parent in lint.calls)  # relative checks ran


def test_unknown_strategy_or_setting_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="best-first"):
        make_strategy("dfs")
    with pytest.raises(ValueError, match="c_puct"):
        make_strategy("mcts", cpuct=2.0)


def test_rollouts_record_every_node_and_replay_their_edit_paths(tmp_path):
    path = tmp_path / "rollouts.jsonl"
    with RolloutWriter(path, problem_id=ADD.id, model="scripted", seed=0, config_hash="abc",
                       strategy="best-first") as writer:
        result = search(ADD, add_policy(), lint=ToyLintGate(), evaluate=InProcessEvaluator(ADD_TESTS),
                        strategy=make_strategy("best-first"), budget=Budget(samples=100), settings=SETTINGS,
                        on_node=writer)
    records = list(read_rollouts(path))
    assert [r["node"] for r in records] == [n.digest for n in result.tree.nodes()]
    solution = next(r for r in records if r["node"] == result.node)
    assert solution["states"][-1]["score"] == 1.0 and solution["parent"] == Program.from_text(DEF_TOTAL).digest
    assert solution["compute"]["samples"] > 0 and solution["config_hash"] == "abc"
    for record in records:
        states = replay(record)
        assert states[-1].text == record["program"] and len(states) == record["depth"] + 1


def test_mcts_re_expands_a_finite_tree_until_the_budget_without_spinning():
    policy = ScriptedPolicy(XY_SCRIPT)
    result = run("mcts", policy=policy, problem=XY, settings=SearchSettings(samples_per_location=2))
    assert result.stop_reason == "budget" and result.compute.samples == 100
    assert all(n.expanded >= 1 for n in result.tree.nodes()) and len(policy.calls) == result.counters.expansions
    leaf = result.tree.node(Program(("x = 1", "y = 2")).digest)  # childless: expanded again and again
    assert leaf.expanded > 1


@pytest.mark.parametrize("strategy", TREE_STRATEGIES)
def test_only_a_depth_limit_of_zero_exhausts_a_tree_strategy(strategy):
    policy = ScriptedPolicy(XY_SCRIPT)
    result = run(strategy, policy=policy, problem=XY, settings=SearchSettings(max_depth=0))
    assert result.stop_reason == "exhausted" and policy.calls == []


class FirstCallFails(ScriptedPolicy):
    """Every sample of the first policy call fails to parse; later calls follow the script."""

    def propose(self, *args, **kwargs):
        script, self.script = self.script, (self.script if self.calls else {})
        try:
            return super().propose(*args, **kwargs)
        finally:
            self.script = script


@pytest.mark.parametrize("strategy", TREE_STRATEGIES)
def test_a_node_whose_first_expansion_yields_nothing_is_expanded_again(strategy):
    policy = FirstCallFails({"": [Candidate(tuple(SOLUTION.splitlines()), -1.0)]})
    result = run(strategy, policy=policy)
    assert result.solved and result.stop_reason == "solved"
    assert [c["state"].program.text for c in policy.calls] == ["", ""]  # the root, twice
    assert policy.calls[0]["seed"] != policy.calls[1]["seed"]  # a fresh seed: new samples
    assert result.counters.parse_failure_kinds == {"empty": SETTINGS.samples_per_location}


def test_the_real_lint_gate_plugs_in():
    from envs.lint import LintGate

    result = run("best-first", lint=LintGate().check)
    assert result.solved and result.counters.lint_rejected >= 2  # E0001 and E0602, as with the toy gate


def test_a_truncated_last_rollout_line_is_skipped_and_a_bad_middle_line_raises(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"node": "a"}\n{"node": "b"}\n{"node": "c", "pro')  # killed mid-write
    assert [r["node"] for r in read_rollouts(path)] == ["a", "b"]
    path.write_text('{"node": "a"}\nnot json\n{"node": "c"}\n')
    with pytest.raises(RolloutError, match=":2:"):
        list(read_rollouts(path))


@pytest.mark.parametrize("feedback", [True, False])
def test_policy_sees_failing_visible_tests_as_feedback_only_when_enabled(feedback):
    policy = add_policy()
    run("best-first", policy=policy, settings=SearchSettings(samples_per_location=4, feedback=feedback))
    states = [call["state"] for call in policy.calls if call["kind"] == "propose"]
    shown = [line for state in states for line in state.feedback]
    if not feedback:
        assert not shown
        return
    assert shown, "the starter fails the visible tests, so its expansion must carry feedback"
    visible = {test.name for test in ADD.tests}
    assert all(line.split(": ", 1)[0] in visible for line in shown)


def test_keep_going_after_a_solution_when_asked():
    policy = ScriptedPolicy({}, programs=[Candidate(tuple(SOLUTION.splitlines()), -1.0)])
    kept = run("sample", policy=policy, budget=Budget(samples=12), batch_size=4,
               settings=dataclasses.replace(SETTINGS, stop_when_solved=False))
    assert kept.solved and kept.stop_reason == "budget" and kept.compute.samples == 12
    assert run("sample", policy=policy, budget=Budget(samples=12), batch_size=4).compute.samples == 4
