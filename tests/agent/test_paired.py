"""Paired differences of per-problem verdicts (agent.bench.paired)."""

import math

import pytest

from agent.bench.paired import paired_difference


def test_difference_interval_and_discordant_counts_by_hand():
    d = paired_difference([True, True, False, False], [True, False, True, True])
    # per-problem differences 0, -1, +1, +1: mean 0.25, sample sd sqrt(2.75 / 3)
    half = 1.96 * math.sqrt(2.75 / 3) / 2
    assert d["difference"] == pytest.approx(0.25)
    assert d["ci95"] == pytest.approx([0.25 - half, 0.25 + half])
    assert (d["problems"], d["base"], d["other"], d["only_other"], d["only_base"]) == (4, 2, 3, 2, 1)


def test_identical_verdicts_have_no_difference_and_no_width():
    d = paired_difference([True, False, False], [True, False, False])
    assert d["difference"] == 0.0 and d["ci95"] == [0.0, 0.0] and d["only_other"] == d["only_base"] == 0


def test_no_problems_is_no_difference_rather_than_an_error():
    assert paired_difference([], [])["problems"] == 0
