"""`agent bench --pool`: one run from runs of disjoint problems, as if measured at once."""

from __future__ import annotations

import json

from test_bench import HIDDEN, bench, by_key  # noqa: F401 (bench is a fixture)

from agent.cli import main

STUDY = ("--budgets", "1,5", "--n", "4", "--workers", "1")
SAME = ("problem_id", "strategy", "budget", "solved", "hidden_passed", "oracle", "programs", "program")


def test_pooled_parts_equal_one_run_of_all_problems(bench, tmp_path, capsys):
    ids = sorted(HIDDEN)
    _, whole, records = bench("--strategies", "sample,mcts", *STUDY, out="whole")
    bench("--strategies", "sample,mcts,best-first", "--problems", ids[0], *STUDY, out="part1")
    bench("--strategies", "sample,mcts", "--problems", ",".join(ids[1:]), *STUDY, out="part2")
    assert main(["bench", "--pool", str(tmp_path / "part1"), str(tmp_path / "part2"),
                 "--out", str(tmp_path / "pooled")]) == 0
    assert "left out best-first" in capsys.readouterr().err
    pooled = [json.loads(line) for line in (tmp_path / "pooled" / "results.jsonl").read_text().splitlines()]
    want, got = by_key(records), by_key(pooled)
    assert set(got) == set(want)  # best-first, run on one part only, is left out
    for key, record in want.items():
        assert {f: got[key][f] for f in SAME} == {f: record[f] for f in SAME}
        assert got[key]["compute"]["tokens"] == record["compute"]["tokens"]
    mine, theirs = (json.loads((d / "summary.json").read_text()) for d in (tmp_path / "pooled", whole))
    for strategy in ("sample", "mcts"):
        for a, b in zip(mine["strategies"][strategy]["budgets"], theirs["strategies"][strategy]["budgets"]):
            assert (a["deployable_pass1"], a["oracle_coverage"], a["mean_tokens"]) == \
                (b["deployable_pass1"], b["oracle_coverage"], b["mean_tokens"])
    run = json.loads((tmp_path / "pooled" / "run.json").read_text())
    assert [p["problems"] for p in run["pooled_from"]] == [1, len(ids) - 1]


def test_pool_refuses_overlap_other_settings_and_a_used_folder(bench, tmp_path, capsys):
    ids = sorted(HIDDEN)
    bench("--strategies", "sample", "--problems", ",".join(ids[:2]), *STUDY, out="a")
    bench("--strategies", "sample", "--problems", ids[1], *STUDY, out="b")
    bench("--strategies", "sample", "--problems", ids[2], *STUDY, "--seed", "5", out="c")
    bench("--strategies", "sample", "--problems", ids[2], "--budgets", "1,5", "--n", "5", "--workers", "1", out="d")
    capsys.readouterr()
    cases = [(["a", "b"], "in both"), (["a", "c"], "seed"), (["a", "d"], "config differs"), (["a"], "at least two")]
    for parts, needle in cases:
        status = main(["bench", "--pool", *(str(tmp_path / p) for p in parts), "--out", str(tmp_path / "p")])
        err = capsys.readouterr().err.strip()
        assert status == 2 and needle in err and len(err.splitlines()) == 1, (parts, err)
        assert not (tmp_path / "p").exists()
    status = main(["bench", "--pool", str(tmp_path / "a"), str(tmp_path / "c"), "--out", str(tmp_path / "b")])
    assert status == 2 and "already holds" in capsys.readouterr().err


def test_parts_of_one_config_pool_under_its_digest(bench, tmp_path):
    ids = sorted(HIDDEN)
    bench("--strategies", "sample", "--problems", ids[0], *STUDY, out="one")
    bench("--strategies", "sample", "--problems", ",".join(ids[1:]), *STUDY, out="two")
    assert main(["bench", "--pool", str(tmp_path / "one"), str(tmp_path / "two"), "--out", str(tmp_path / "p")]) == 0
    parts = {json.loads((tmp_path / d / "run.json").read_text())["config_hash"] for d in ("one", "two")}
    pooled = json.loads((tmp_path / "p" / "run.json").read_text())["config_hash"]
    assert len(parts) == 1 and pooled in parts  # the config the parts measured, not a digest of its own
