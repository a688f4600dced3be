"""Budgets and compute accounting."""

import time

import pytest

from agent.search.budget import Budget, ComputeStats, Meter, clip_request
from policies.base import ProposalBatch


def test_a_budget_needs_a_limit_and_no_negative_ones():
    with pytest.raises(ValueError, match="at least one limit"):
        Budget()
    with pytest.raises(ValueError, match="samples"):
        Budget(samples=-1)


@pytest.mark.parametrize("budget, stats, exhausted", [
    (Budget(samples=10), ComputeStats(samples=9), False),
    (Budget(samples=10), ComputeStats(samples=10), True),
    (Budget(tokens=100), ComputeStats(prompt_tokens=60, generated_tokens=39), False),
    (Budget(tokens=100), ComputeStats(prompt_tokens=60, generated_tokens=40), True),  # prompt counts
    (Budget(generated_tokens=100), ComputeStats(prompt_tokens=500, generated_tokens=99), False),
    (Budget(flops=1e9), ComputeStats(flops=1e9), True),
    (Budget(seconds=1.0), ComputeStats(wall_s=0.5), False),
    (Budget(samples=10, seconds=1.0), ComputeStats(samples=1, wall_s=2.0), True),  # any limit stops
])
def test_exhausted_by_any_limit(budget, stats, exhausted):
    assert budget.exhausted(stats) is exhausted


def test_samples_left():
    assert Budget(samples=10).samples_left(ComputeStats(samples=7)) == 3
    assert Budget(samples=10).samples_left(ComputeStats(samples=12)) == 0
    assert Budget(tokens=10).samples_left(ComputeStats(samples=7)) is None


@pytest.mark.parametrize("locations, n, left, expected", [
    (3, 2, None, (3, 2)),  # no cap
    (3, 2, 6, (3, 2)),  # fits exactly
    (3, 4, 7, (3, 2)),  # fewer samples per location first
    (4, 2, 3, (3, 1)),  # then fewer locations
    (2, 2, 0, (0, 0)),  # nothing may be asked
    (0, 2, 5, (0, 2)),  # no locations: nothing to clip
])
def test_clip_request_never_asks_for_more_than_left(locations, n, left, expected):
    got = clip_request(locations, n, left)
    assert got == expected
    if left is not None:
        assert got[0] * got[1] <= left


def test_meter_counts_batches_and_splits_time():
    meter = Meter()
    batch = ProposalBatch((), prompt_tokens_encoded=10, prompt_tokens_saved=30, generated_tokens=40,
                          generate_s=0.0, flops=123.0)
    meter.add_batch(batch)
    meter.add_batch(batch)
    with meter.timed("lint"):
        time.sleep(0.01)
    with pytest.raises(RuntimeError), meter.timed("sandbox"):  # time is counted even on errors
        raise RuntimeError
    with pytest.raises(ValueError, match="phases"), meter.timed("thinking"):
        pass
    stats = meter.stats()
    assert (stats.lm_calls, stats.prompt_tokens, stats.prompt_tokens_saved, stats.generated_tokens) == (2, 20, 60, 80)
    assert stats.tokens == 100 and stats.flops == 246.0
    assert stats.lint_calls == 1 and stats.sandbox_calls == 1
    assert stats.lint_s >= 0.01 and stats.wall_s >= stats.lint_s + stats.sandbox_s
    assert stats.other_s == pytest.approx(stats.wall_s - stats.lint_s - stats.sandbox_s - stats.generate_s)
    assert stats.to_dict()["tokens"] == 100


def test_rows_are_clipped_to_the_samples_the_tokens_left_pay_for():
    from agent.search.budget import ComputeStats, samples_that_fit

    stats = ComputeStats(samples=6, generated_tokens=410, whole_samples=4, whole_sample_tokens=400)
    assert samples_that_fit(250, stats) == 2  # 100 tokens a whole sample; the 2 cut ones do not count
    assert samples_that_fit(30, stats) == 1  # at least one: the call then stops at the budget
    assert samples_that_fit(None, stats) is None and samples_that_fit(250, ComputeStats()) is None
    assert samples_that_fit(250, ComputeStats(samples=8, generated_tokens=8), prior=80) == 3  # none whole yet


def test_one_short_sample_does_not_size_the_next_call_for_rows_it_cannot_finish():
    # After one 20-token sample, a plain mean says 95 tokens pay for 4 more; the code model's next
    # bodies run to 30-100 tokens, and rows sharing 95 tokens were all cut. The prior (half the
    # length cap) counts as one more sample: (20 + 128) / 2 = 74 tokens a sample, one row.
    from agent.search.budget import ComputeStats, samples_that_fit
    from policies.base import expected_sample_tokens

    one_short = ComputeStats(samples=1, generated_tokens=20, whole_samples=1, whole_sample_tokens=20)
    assert samples_that_fit(95, one_short) == 4  # no prior: the plain mean
    assert samples_that_fit(95, one_short, prior=128) == 1
    assert expected_sample_tokens(20, 1, 128) == 74
    assert expected_sample_tokens(400, 4, 128) == pytest.approx(105.6)  # evidence outweighs the prior as it grows
    assert expected_sample_tokens(1000, 5, 128) == 200  # never lowered below the mean: too many rows lose the call
    assert expected_sample_tokens(0, 0, 128) == 128 and expected_sample_tokens(0, 0, None) is None


def test_until_all_stops_once_every_limit_is_reached_and_never_caps_tokens():
    from agent.search.budget import Budget, ComputeStats

    budget = Budget(samples=4, tokens=100, until="all")
    assert not budget.exhausted(ComputeStats(samples=4, prompt_tokens=10, generated_tokens=50))  # tokens short
    assert not budget.exhausted(ComputeStats(samples=2, prompt_tokens=10, generated_tokens=200))  # samples short
    assert budget.exhausted(ComputeStats(samples=5, prompt_tokens=10, generated_tokens=200))
    assert budget.tokens_left(ComputeStats(samples=1, generated_tokens=10)) is None  # a minimum, not a cap
    assert budget.samples_left(ComputeStats(samples=1, generated_tokens=10)) is None  # tokens still to reach
    assert budget.samples_left(ComputeStats(samples=1, generated_tokens=500)) == 3


def test_a_calls_rows_as_one_row_batches_add_up_to_the_call():
    from agent.search.budget import row_batches
    from policies.base import Proposal, ProposalBatch

    rows = tuple(Proposal("ok", None, None, -1.0, 10, tokens, "", None, finish=finish)
                 for tokens, finish in ((5, "eos"), (7, "doomed"), (3, "doomed")))
    batch = ProposalBatch(rows, 10, 20, 15, generate_s=3.0, flops=250.0,
                          extra={"finish": {"eos": 1, "doomed": 2}, "doomed_tokens_saved": 9})
    parts = row_batches(batch)
    assert [p.prompt_tokens_encoded for p in parts] == [10, 0, 0]  # the prompt with the first row
    assert [p.generated_tokens for p in parts] == [5, 7, 3]
    assert sum(p.flops for p in parts) == 250.0 and parts[0].flops == 250.0 * 15 / 25
    assert [p.extra["doomed_tokens_saved"] for p in parts] == [0, 5, 4]
    meter = Meter()
    for i, part in enumerate(parts):
        meter.add_batch(part, call=i == 0)
    stats = meter.stats()
    assert (stats.lm_calls, stats.samples, stats.tokens, stats.doomed_samples, stats.doomed_tokens_saved) == \
        (1, 3, 25, 2, 9)


def test_held_generate_seconds_stay_out_of_the_stats_until_released():
    meter = Meter()
    with meter.timed("generate"):
        time.sleep(0.01)
    spent = meter.stats().generate_s
    meter.hold(spent * 0.75)
    assert abs(meter.stats().generate_s - spent * 0.25) < 1e-9
    meter.release(spent * 0.75)
    assert meter.stats().generate_s == spent
