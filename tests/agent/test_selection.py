"""Choosing among visible solutions by agreement on extra inputs (agent.search.selection)."""

import pytest
from fakes import InProcessSandbox

from agent.search.selection import BehaviourCache, SelectionSettings, agreement_votes, choose, outcome_key
from agent.search.tree import EdgeInfo, SearchTree
from envs.inputs import extra_inputs
from envs.problem import Problem
from envs.program import Program
from envs.testcase import TestCase, TestOutcome, TestReport
from policies.calls import ProposedCalls

VISIBLE = (TestCase("v", "f(2)", "4"),)
HIDDEN = (TestCase("h", "assert f(12345) == 24690"),)
PROBLEM = Problem(id="toy/double", prompt="Double x.", entry_point="f", tests=VISIBLE, hidden_tests=HIDDEN)
RIGHT = ["def f(x):\n    return 2 * x\n", "def f(x):\n    return x + x\n", "def f(x):\n    return x * 2\n"]
WRONG = "def f(x):\n    return x * x\n"  # passes f(2) == 4 too
CRASH = "def f(x):\n    if x != 2:\n        raise ValueError\n    return 4\n"


def tree_of(*texts, logprobs=None):
    """A tree whose children of the root are `texts`, each marked as passing the visible test."""
    tree = SearchTree(Program.from_text(""), None, root_clean=True)
    tree.set_report(tree.root, TestReport((TestOutcome("v", "error"),)))
    for i, text in enumerate(texts):
        program = Program.from_text(text)
        tree.add_child(tree.root, program, EdgeInfo(None, None, logprob=(logprobs or [0.0] * len(texts))[i]))
        tree.set_report(program.digest, TestReport((TestOutcome("v", "pass"),)))
    return tree


def digest(text):
    return Program.from_text(text).digest




def test_the_largest_group_wins_over_the_likeliest_program():
    tree = tree_of(WRONG, *RIGHT, logprobs=[0.0, -5.0, -6.0, -7.0])
    assert tree.best().digest == digest(WRONG)  # the tree alone returns the wrong one
    choice = choose(tree.nodes(), PROBLEM, InProcessSandbox(), SelectionSettings())
    assert choice.chosen == digest(RIGHT[0]) and choice.baseline == digest(WRONG) and choice.changed
    assert [len(g) for g in choice.groups] == [3, 1] and choice.groups[1] == (digest(WRONG),)
    assert choice.executions == 4 and "largest of 2 groups" in choice.reason
    assert choice.to_dict()["groups"][0] == [digest(t) for t in RIGHT]


def test_votes_are_the_draws_of_the_group_the_choice_returns():
    """A wrong program drawn twice against two right ones drawn once each: the right group wins
    the choice (two programs to one) and its votes are its draws; duplicates count, near-misses
    do not; the outputs run once across calls (the search asks after every call)."""
    tree = tree_of(WRONG, RIGHT[0], RIGHT[1], logprobs=[0.0, -1.0, -2.0])
    tree.add_child(tree.root, Program.from_text(WRONG), EdgeInfo(None, None, logprob=0.0))  # drawn again
    sandbox = InProcessSandbox()
    cache = BehaviourCache()
    votes = agreement_votes(PROBLEM, sandbox, SelectionSettings(), cache)
    assert votes(tree) == 2 and set(cache.runs) == {digest(WRONG), digest(RIGHT[0]), digest(RIGHT[1])}
    near = Program.from_text("def f(x):\n    return 2 * x if x != 3 else 0\n")  # fails the visible test
    tree.add_child(tree.root, near, EdgeInfo(None, None, logprob=-3.0))
    tree.set_report(near.digest, TestReport((TestOutcome("v", "fail"),)))
    for _ in range(2):
        tree.add_child(tree.root, Program.from_text(RIGHT[1]), EdgeInfo(None, None, logprob=-2.0))
    assert votes(tree) == 4  # RIGHT[0] once, RIGHT[1] three times
    assert votes(tree_of(WRONG)) == 1  # one visible solution: its own draws


def test_ties_go_to_the_likelier_program():
    tree = tree_of(RIGHT[0], WRONG, logprobs=[-2.0, -1.0])
    choice = choose(tree.nodes(), PROBLEM, InProcessSandbox(), SelectionSettings())
    assert choice.chosen == digest(WRONG) and not choice.changed and "tie" in choice.reason


def test_other_programs_vote_for_the_group_they_behave_like_when_asked():
    """A 1-1 tie between visible solutions; two near-misses (failing the visible test) behave like
    the right one on every extra input but f(2), so with voters: all the right one wins."""
    near = ["def f(x):\n    return 2 * x if x != 2 else 5\n", "def f(x):\n    return x + x if x != 2 else 0\n"]
    tree = tree_of(WRONG, RIGHT[0], logprobs=[-1.0, -2.0])
    for text in near:
        program = Program.from_text(text)
        tree.add_child(tree.root, program, EdgeInfo(None, None, logprob=0.0))
        tree.set_report(program.digest, TestReport((TestOutcome("v", "fail"),)))
    alone = choose(tree.nodes(), PROBLEM, InProcessSandbox(), SelectionSettings())
    voted = choose(tree.nodes(), PROBLEM, InProcessSandbox(), SelectionSettings(voters="all"))
    assert alone.chosen == digest(WRONG) and "tie" in alone.reason and alone.executions == 2
    assert voted.chosen == digest(RIGHT[0]) and voted.executions == 4  # the voters' runs are counted
    assert voted.candidates == alone.candidates  # voters vote; they are never returned
    assert "2 other programs voting: 3 votes" in voted.reason
    capped = choose(tree.nodes(), PROBLEM, InProcessSandbox(), SelectionSettings(voters="all", max_voters=0))
    assert capped.chosen == digest(WRONG) and capped.executions == 2


def test_an_unknown_voters_setting_is_refused():
    with pytest.raises(ValueError, match="selection.voters must be 'solutions' or 'all'"):
        SelectionSettings(voters="everyone")


def test_inputs_that_crash_every_candidate_are_dropped():
    crashing = "def f(x):\n    if x != 2:\n        raise ValueError\n    return 2 * x\n"
    choice = choose(tree_of(CRASH, crashing).nodes(), PROBLEM, InProcessSandbox(), SelectionSettings())
    made = extra_inputs(VISIBLE, "f", limit=SelectionSettings().max_inputs)
    assert choice.inputs == () and choice.dropped_inputs == tuple(t.code for t in made) != ()
    assert choice.chosen == choice.baseline and "crashed every candidate" in choice.reason


def test_nothing_runs_without_two_candidates_or_when_switched_off():
    sandbox = InProcessSandbox()
    one = choose(tree_of(RIGHT[0]).nodes(), PROBLEM, sandbox, SelectionSettings())
    off = choose(tree_of(WRONG, *RIGHT).nodes(), PROBLEM, sandbox, SelectionSettings(by_agreement=False))
    assert sandbox.calls == [] and one.executions == off.executions == 0
    assert one.chosen == digest(RIGHT[0]) and off.chosen == digest(WRONG)


def test_candidates_and_inputs_are_bounded_and_hidden_tests_never_run():
    sandbox = InProcessSandbox()
    settings = SelectionSettings(max_candidates=2, max_inputs=3)
    choice = choose(tree_of(WRONG, *RIGHT).nodes(), PROBLEM, sandbox, settings)
    assert len(sandbox.calls) == 2 == choice.executions and len(choice.candidates) == 2
    ran = [t.code for _, tests, _ in sandbox.calls for t in tests]
    assert len(ran) == 6 and not any("12345" in code for code in ran)  # nothing from the hidden tests
    assert all(code.startswith("f(") for code in ran)


def test_a_cache_shares_executions_but_each_choice_counts_them():
    sandbox, cache = InProcessSandbox(), BehaviourCache()
    nodes = tree_of(WRONG, *RIGHT).nodes()
    first = choose(nodes[:3], PROBLEM, sandbox, SelectionSettings(), cache=cache)
    second = choose(nodes, PROBLEM, sandbox, SelectionSettings(), cache=cache)
    assert len(sandbox.calls) == 4  # the two programs of the first choice ran once
    assert (first.executions, second.executions) == (2, 4)


def test_inputs_the_policy_proposes_tell_apart_what_the_mutations_do_not():
    wrong_at_77 = "def f(x):\n    return 0 if x == 77 else 2 * x\n"  # agrees with 2 * x on every mutation of 2
    asked = []

    def propose(problem, answers, *, seed):
        asked.append((problem, answers, seed))
        return ProposedCalls(((77,), (2,)), answers, prompt_tokens=30, generated_tokens=12, flops=1.0, seconds=0.5)

    nodes = tree_of(wrong_at_77, *RIGHT[:2], logprobs=[0.0, -1.0, -2.0]).nodes()
    off = choose(nodes, PROBLEM, InProcessSandbox(), SelectionSettings(), propose_calls=propose)
    assert off.chosen == digest(wrong_at_77) and asked == [] and off.policy_tokens == 0  # policy_answers 0
    settings, cache = SelectionSettings(policy_answers=3), BehaviourCache()
    mine = choose(nodes, PROBLEM, InProcessSandbox(), settings, cache=cache, propose_calls=propose)
    assert mine.chosen == digest(RIGHT[0]) and [len(g) for g in mine.groups] == [2, 1]
    assert "f(77)" in mine.inputs and mine.policy_inputs == 1  # f(2) is the visible call itself
    assert mine.to_dict()["policy_tokens"] == 42 and mine.policy_s == 0.5
    again = choose(nodes, PROBLEM, InProcessSandbox(), settings, cache=cache, propose_calls=propose)
    assert len(asked) == 1 and again.policy_tokens == 42  # asked once per problem, counted in each choice
    problem, answers, seed = asked[0]
    assert (answers, seed) == (3, 0) and problem.hidden_tests == ()  # the policy never sees a hidden test
    choose(tree_of(RIGHT[0]).nodes(), PROBLEM, InProcessSandbox(), settings, propose_calls=propose)
    assert len(asked) == 1  # one visible solution: nothing to choose, nothing asked


def test_outcome_keys_compare_values_not_their_spelling():
    same = [TestOutcome("t", "fail", value="[1.0000000001, 2]"), TestOutcome("t", "pass", value="[1.0, 2]")]
    assert outcome_key(same[0]) == outcome_key(same[1])
    assert outcome_key(TestOutcome("t", "fail", value="1")) != outcome_key(TestOutcome("t", "fail", value="True"))
    assert outcome_key(TestOutcome("t", "error", "ValueError")) == outcome_key(TestOutcome("t", "error", "KeyError"))


def test_the_real_sandbox_reports_values_to_group_by():
    from sandboxes import make_or_skip

    sandbox = make_or_skip("bwrap", workers=1)
    try:
        choice = choose(tree_of(WRONG, *RIGHT[:2]).nodes(), PROBLEM, sandbox, SelectionSettings(max_inputs=4))
    finally:
        sandbox.close()
    assert choice.chosen == digest(RIGHT[0]) and [len(g) for g in choice.groups] == [2, 1]
    assert choice.executions == 3 and choice.sandbox_s > 0
