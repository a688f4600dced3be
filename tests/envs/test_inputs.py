"""Extra inputs from the visible tests' call arguments (envs.inputs)."""

import ast

from envs.inputs import EXTRA_PREFIX, PROPOSED_PREFIX, call_arguments, extra_inputs
from envs.testcase import TestCase

VISIBLE = (
    TestCase("a", "has_close([1.0, 2.0, 3.0], 0.5)", "False"),
    TestCase("b", "assert has_close([1.0, 2.8, 3.0], 0.3) == True"),
    TestCase("c", "has_close(xs, 0.3)", "True"),  # not literal: skipped
    TestCase("d", "other([1.0], 0.3)", "True"),  # another function: skipped
)


def test_call_arguments_reads_literal_calls_of_the_entry_point_only():
    assert call_arguments(VISIBLE, "has_close") == [([1.0, 2.0, 3.0], 0.5), ([1.0, 2.8, 3.0], 0.3)]


def test_extra_inputs_keep_types_and_shapes_and_are_new():
    inputs = extra_inputs(VISIBLE, "has_close", limit=10)
    assert len(inputs) == 10
    seen = set()
    for test in inputs:
        call = ast.parse(test.code, mode="eval").body
        assert call.func.id == "has_close" and test.name == EXTRA_PREFIX + test.code
        xs, eps = (ast.literal_eval(a) for a in call.args)
        assert isinstance(xs, list) and all(isinstance(x, float) for x in xs) and isinstance(eps, float)
        assert (repr(xs), eps) not in {("[1.0, 2.0, 3.0]", 0.5), ("[1.0, 2.8, 3.0]", 0.3)}  # not a visible input
        seen.add(test.code)
    assert len(seen) == 10


def test_extra_inputs_are_deterministic_per_seed_and_bounded():
    assert extra_inputs(VISIBLE, "has_close", seed=3) == extra_inputs(VISIBLE, "has_close", seed=3)
    assert extra_inputs(VISIBLE, "has_close", seed=3) != extra_inputs(VISIBLE, "has_close", seed=4)
    assert len(extra_inputs(VISIBLE, "has_close", limit=3)) == 3
    long = (TestCase("s", "f('" + "x" * 400 + "')", "1"),)
    assert all(len(t.code) < 400 for t in extra_inputs(long, "f", limit=50))  # large values dropped


def test_no_literal_call_gives_no_inputs():
    assert extra_inputs((TestCase("c", "f(x)", "1"),), "f") == ()
    assert extra_inputs(VISIBLE, "missing") == ()


def test_strings_and_ints_mutate_within_their_type():
    inputs = extra_inputs((TestCase("a", "f('abc', 3)", "'c'"),), "f", limit=40)
    values = [tuple(ast.literal_eval(a) for a in ast.parse(t.code, mode="eval").body.args) for t in inputs]
    assert all(isinstance(s, str) and isinstance(n, int) for s, n in values)
    assert ("", 3) in values and ("cba", 3) in values and ("abc", 4) in values


def test_lists_come_in_other_orders_too_so_neighbours_become_strangers():
    from random import Random

    from envs.inputs import mutations

    items = [1.0, 2.8, 3.0, 4.0, 5.0, 2.0]
    orders = [m for m in mutations(items, Random(0)) if sorted(m) == sorted(items) and m != items]
    # beside the reversed and sorted lists, shuffles: an input where 2.8 and 3.0 are not adjacent
    # tells "any two close" from "two neighbours close" (HumanEval/0's choice went wrong on that)
    assert len(orders) == 4 and items[::-1] in orders and sorted(items) in orders
    assert any(abs(m.index(2.8) - m.index(3.0)) > 1 for m in orders)
    assert mutations([1, 2], Random(0)).count([2, 1]) == 1  # two items: no shuffle beside the reversal


def test_proposed_calls_come_after_the_mutations_filtered_alike():
    mutated = extra_inputs(VISIBLE, "has_close", limit=4)
    proposed = [([1.0, 2.0, 3.0], 0.5),  # a visible call: not new
                ([2.0, 2.0], 0.0), ([2.0, 2.0], 0.0),  # a repeat
                (float("nan"), 1.0),  # does not read back
                (["x" * 400], 1.0),  # too large
                ([5.0], 1.0), ([6.0], 1.0)]
    inputs = extra_inputs(VISIBLE, "has_close", limit=4, proposed=proposed, proposed_limit=2)
    assert inputs[:4] == mutated  # the mutations are the same with or without proposals
    assert [t.code for t in inputs[4:]] == ["has_close([2.0, 2.0], 0.0)", "has_close([5.0], 1.0)"]
    assert all(t.name == PROPOSED_PREFIX + t.code for t in inputs[4:])
    # Without a literal visible call, proposals are the only inputs; limit 0 keeps none.
    alone = extra_inputs((TestCase("c", "f(x)", "1"),), "f", proposed=[(1,), (2,)], proposed_limit=6)
    assert [t.code for t in alone] == ["f(1)", "f(2)"]
    assert extra_inputs(VISIBLE, "has_close", limit=4, proposed=proposed) == mutated
