"""`agent bench` with the choice by agreement: records, summary columns, and no hidden leak.

Reuses the toy suite of test_bench with a scripted policy whose likeliest program passes the
visible tests of add but not the hidden ones (abs(a + b)), beside two right ones that agree."""

import json

import pytest
from scripted import Candidate, ScriptedPolicy, endless_candidates
from test_bench import EVENTS, LoggingSandbox, bench, write_suite  # noqa: F401 (bench is a fixture)

from envs.inputs import extra_inputs
from envs.problems import load_problem
from policies.calls import ProposedCalls

FLAGS = ("--strategies", "sample,mcts", "--budgets", "1,5", "--n", "5", "--workers", "1")
PROGRAMS = (Candidate(("def add(a, b):", "    return abs(a + b)"), -0.5),
            Candidate(("def add(a, b):", "    return a + b"), -2.0),
            Candidate(("def add(a, b):", "    return b + a"), -2.5))


def agreeing_policy(config):  # module level: it must pickle into spawned workers
    return ScriptedPolicy({}, programs=PROGRAMS, default=endless_candidates)


def test_extra_inputs_are_made_from_the_visible_tests_alone(bench, tmp_path):
    """Every execution of the choice runs exactly the inputs a function of the visible tests
    gives; the hidden tests (different per problem) change nothing in them."""
    EVENTS.clear()
    status, _, records = bench(*FLAGS, policy_factory=agreeing_policy, sandbox_factory=lambda c: LoggingSandbox())
    assert status == 0
    problem = load_problem(sorted(write_suite(tmp_path / "again").iterdir())[0])
    expected = tuple(t.code for t in extra_inputs(problem.tests, "add", limit=12, seed=0))
    runs = [e[2] for e in EVENTS if e[0] == "sandbox" and e[2] and all(c.startswith("add(") for c in e[2])
            and e[2][0] not in {t.code for t in problem.tests}]
    assert runs and all(codes == expected for codes in runs)
    assert sum(r["selection"]["executions"] for r in records) >= len(runs)  # every run counted


def test_records_and_summary_carry_both_deployable_figures(bench):
    status, out, records = bench(*FLAGS, policy_factory=agreeing_policy)
    assert status == 0
    sample5 = [r for r in records if r["strategy"] == "sample" and r["budget"] == "5"]
    assert all(r["selection"]["changed"] and r["hidden_passed"] and [len(g) for g in r["selection"]["groups"]]
               == [2, 1] for r in sample5)
    assert [r["problem_id"] for r in sample5 if not r["selection"]["baseline_hidden_passed"]] == ["toy/b"]
    assert all(r["oracle_visible"] for r in sample5)  # the choice reached the best visible solution
    for r in records:
        if not r["selection"]["changed"]:
            assert r["selection"]["baseline_hidden_passed"] == r["hidden_passed"]
    summary = json.loads((out / "summary.json").read_text())
    for strategy in ("sample", "mcts"):
        for row in summary["strategies"][strategy]["budgets"]:
            mine = [r for r in records if r["strategy"] == strategy and r["budget"] == row["budget"]]
            without = sum(r["selection"]["baseline_hidden_passed"] for r in mine) / len(mine)
            assert row["deployable_pass1_without_choice"] == pytest.approx(without)
            assert row["deployable_pass1"] <= row["oracle_visible_coverage"] <= row["oracle_coverage"]
            assert row["choice_executions"] == pytest.approx(sum(r["selection"]["executions"] for r in mine) / len(mine))
    shown = (out / "summary.md").read_text()
    assert "without choice" in shown and "best visible solution" in shown


def test_switched_off_the_strategy_pick_is_returned_and_nothing_runs(bench):
    status, _, records = bench(*FLAGS, "--set", "selection.by_agreement=false", policy_factory=agreeing_policy)
    assert status == 0
    assert all(r["selection"]["executions"] == 0 and not r["selection"]["changed"] for r in records)
    assert all(r["selection"]["baseline_hidden_passed"] == r["hidden_passed"] for r in records)
    assert not any(r["hidden_passed"] for r in records if r["strategy"] == "sample" and r["problem_id"] == "toy/b")


class CallingPolicy(ScriptedPolicy):
    """The agreeing policy, which also proposes an example call (and logs what it was shown)."""

    def propose_calls(self, problem, answers, *, seed):
        EVENTS.append(("propose_calls", problem.id, problem.hidden_tests, answers, seed))
        return ProposedCalls(((7, 8),), answers, prompt_tokens=20, generated_tokens=10, flops=1.0, seconds=0.01)


def calling_policy(config):
    return CallingPolicy({}, programs=PROGRAMS, default=endless_candidates)


def test_policy_proposed_inputs_are_asked_once_per_problem_and_counted(bench):
    EVENTS.clear()
    status, out, records = bench(*FLAGS, "--set", "selection.policy_answers=2", policy_factory=calling_policy)
    assert status == 0
    asked = [e for e in EVENTS if e[0] == "propose_calls"]
    chose = {(r["problem_id"], r["strategy"]) for r in records if len(r["selection"]["candidates"]) >= 2}
    assert chose and len(asked) == len(chose)  # once per unit that had a choice to make, not per budget
    assert all(hidden == () and (answers, seed) == (2, 0) for _, _, hidden, answers, seed in asked)
    for r in records:
        selection = r["selection"]
        if len(selection["candidates"]) >= 2:
            assert selection["policy_tokens"] == 30 and "add(7, 8)" in selection["inputs"]
            assert selection["policy_inputs"] == 1
        else:
            assert selection["policy_tokens"] == 0
    summary = json.loads((out / "summary.json").read_text())
    row = summary["strategies"]["sample"]["budgets"][-1]
    mine = [r for r in records if r["strategy"] == "sample" and r["budget"] == row["budget"]]
    assert row["choice_policy_tokens"] == pytest.approx(sum(r["selection"]["policy_tokens"] for r in mine) / len(mine))
    assert "policy tokens" in (out / "summary.md").read_text()
