"""`agent bench --sample-records-from DIR`: a run that starts from another run's sampling draws."""

import json

import pytest
from test_bench import PIECES, bench, by_key  # noqa: F401 (bench is a fixture)
from scripted import ADD_PROGRAMS, ADD_SCRIPT, ScriptedPolicy, endless_candidates

from agent.cli import UsageError
from agent.output.report import strip_timings

STUDY = ("--budgets", "1,5", "--n", "6", "--workers", "1")


class NoSamplingPolicy(ScriptedPolicy):
    def sample_programs(self, *args, **kwargs):
        raise AssertionError("the sampling draws were to be reused, not drawn again")


def no_sampling_policy(config):
    return NoSamplingPolicy(ADD_SCRIPT, programs=ADD_PROGRAMS, sample=True, default=endless_candidates)


def test_the_draws_are_reused_and_are_the_ones_this_run_would_draw(bench, tmp_path):
    _, source, drawn = bench("--strategies", "sample,mcts", *STUDY, out="source")
    # the search's settings and the refinements' prompt layout are not what sampling reads
    status, out, records = bench("--strategies", "sample,best-first", *STUDY, "--set", "search.max_depth=3",
                                 "--set", "policy.feedback_prompt=conversation",
                                 "--sample-records-from", source, out="reused", policy_factory=no_sampling_policy)
    assert status == 0
    sampled = {k: r for k, r in by_key(records).items() if k[1] == "sample"}
    assert sampled == {k: r for k, r in by_key(drawn).items() if k[1] == "sample"} and len(sampled) == 3 * 2
    assert {k[1] for k in by_key(records)} == {"sample", "best-first"}
    info = json.loads((out / "run.json").read_text())
    assert info["sample_records_from"]["from"] == str(source) and info["sample_records_from"]["records"] == 6
    assert info["config"]["search"]["max_depth"] == 3  # run.json is this run's config
    # ... and drawing them afresh under this run's config gives the same records
    _, _, fresh = bench("--strategies", "sample", *STUDY, "--set", "search.max_depth=3", out="fresh")
    def comparable(rows):
        return {k: {f: v for f, v in strip_timings(r).items() if f != "config_hash"} for k, r in rows.items()}
    assert comparable(by_key(fresh)) == comparable(sampled)


@pytest.mark.parametrize("flags, needle", [
    (("--seed", "1"), "its seed is 0, this run's 1"),
    (("--temperature", "0.5"), "policy.temperature"),
    (("--set", "search.sample.batch_size=2"), "search.sample.batch_size"),
    (("--n", "8"), "bench.n"),
])
def test_draws_that_this_run_would_not_make_are_refused(bench, flags, needle):
    _, source, _ = bench("--strategies", "sample", *STUDY, out="source")
    with pytest.raises(UsageError, match=needle.replace(".", r"\.")):
        bench("--strategies", "sample,rex", *STUDY, *flags, "--sample-records-from", source, out="reused")


def test_a_used_folder_or_a_folder_without_a_run_is_refused(bench, tmp_path):
    _, source, _ = bench("--strategies", "sample", *STUDY, out="source")
    with pytest.raises(UsageError, match="already holds"):
        bench("--strategies", "sample", *STUDY, "--resume", "--sample-records-from", source, out="source")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no run.json"):
        bench("--strategies", "sample", *STUDY, "--sample-records-from", tmp_path / "empty", out="other")
