"""`--problems` ranges: HumanEval/40-79 names the known ids in it."""

import pytest

from agent.bench.problem_ids import expand_problem_ids

KNOWN = {f"HumanEval/{i}" for i in range(10)} | {"task-1-2"}


def test_ids_and_ranges_expand_in_the_order_given_each_once():
    assert expand_problem_ids("HumanEval/7, HumanEval/2-4,HumanEval/3", KNOWN) == [
        "HumanEval/7", "HumanEval/2", "HumanEval/3", "HumanEval/4"]


def test_a_known_id_with_a_dash_is_an_id_not_a_range():
    assert expand_problem_ids("task-1-2", KNOWN) == ["task-1-2"]


def test_a_range_keeps_only_known_ids():
    assert expand_problem_ids("HumanEval/8-20", KNOWN) == ["HumanEval/8", "HumanEval/9"]


@pytest.mark.parametrize("spec, message", [("HumanEval/x", "no problem 'HumanEval/x'"),
                                           ("HumanEval/20-30", "no problem in the range"),
                                           ("HumanEval/5-2", "ends before it starts")])
def test_unknown_names_and_empty_ranges_are_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        expand_problem_ids(spec, KNOWN)
