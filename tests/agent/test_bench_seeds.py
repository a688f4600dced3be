"""`agent bench --seeds`: one configuration's runs under several seeds, side by side."""

from __future__ import annotations

import json
import math

import pytest
from test_bench import HIDDEN, bench  # noqa: F401 (bench is a fixture)

from agent.bench.results import RESULTS
from agent.cli import main

STUDY = ("--strategies", "sample,mcts", "--budgets", "1,5", "--n", "4", "--workers", "1")
PROBLEMS = sorted(HIDDEN)  # toy/a, toy/b, toy/c
# Verdicts set by hand at budget 5, one list per seed, in PROBLEMS order.
DEPLOYABLE = {"sample": [[True, False, False], [True, True, False]],
              "mcts": [[True, True, False], [True, True, True]]}


def _set_verdicts(out, seed_index: int) -> None:
    """Overwrite the run's budget-5 verdicts with DEPLOYABLE; every oracle passes; sampling's own
    pick on toy/b under seed 0 passes although the chosen program does not (the choice lost it);
    on toy/c the oracle's programs all fail a visible test, except mcts's under seed 1."""
    path = out / RESULTS
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for r in records:
        if r["budget"] == "5":
            passed = DEPLOYABLE[r["strategy"]][seed_index][PROBLEMS.index(r["problem_id"])]
            r["hidden_passed"], r["oracle"] = passed, True
            r["oracle_visible"] = r["problem_id"] != "toy/c" or (r["strategy"], seed_index) == ("mcts", 1)
            own = passed or (r["strategy"], r["problem_id"], seed_index) == ("sample", "toy/b", 0)
            r["selection"] = {**(r.get("selection") or {}), "baseline_hidden_passed": own}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_seeds_compare_problem_by_problem_with_the_interval_over_problems(bench, tmp_path, capsys):
    for index, seed in enumerate((0, 1)):
        status, out, _ = bench(*STUDY, "--seed", str(seed), out=f"s{seed}")
        assert status == 0
        _set_verdicts(out, index)
    capsys.readouterr()
    assert main(["bench", "--seeds", str(tmp_path / "s1"), str(tmp_path / "s0"), "--out", str(tmp_path / "c")]) == 0
    shown = capsys.readouterr().out
    c = json.loads((tmp_path / "c" / "seeds.json").read_text())
    assert c["seeds"] == [0, 1] and c["problems"] == 3  # ordered by seed, whatever the order given
    sample5, mcts5 = c["strategies"]["sample"][1], c["strategies"]["mcts"][1]
    assert (sample5["deployable"], mcts5["deployable"]) == ([1, 2], [2, 3])
    assert sample5["deployable_pass1"] == pytest.approx(3 / 6) and mcts5["deployable_pass1"] == pytest.approx(5 / 6)
    assert sample5["deployable_without_choice"] == [2, 2] and sample5["oracle"] == [3, 3]
    assert sample5["oracle_visible"] == [2, 2] and mcts5["oracle_visible"] == [2, 3]
    d = c["versus_sampling"]["mcts"]["5"]
    # per problem, averaged over the seeds: toy/a 0, toy/b (1 + 0) / 2, toy/c (0 + 1) / 2
    half = 1.96 * math.sqrt(((1 / 3) ** 2 + 2 * (1 / 6) ** 2) / 2) / math.sqrt(3)
    assert d["difference"] == pytest.approx(1 / 3) and d["ci95"] == pytest.approx([1 / 3 - half, 1 / 3 + half])
    assert (d["other"], d["base"]) == ([2, 3], [1, 2])
    assert "| mcts | 5 | 83.3% | 2 / 3 |" in shown and "+33.3 (" in shown
    # oracle minus deployable: own pick 6 - 4, with the choice 6 - 3; minus the best visible solution 6 - 4
    assert "| sample | 5 | 2 | 3 | 2 |" in shown and "| mcts | 5 | 1 | 1 | 1 |" in shown
    assert c["runs"][0]["commits"] == c["runs"][1]["commits"] and "different code" not in shown


def test_seeds_say_when_the_runs_were_written_by_different_code(bench, tmp_path, capsys):
    for seed, commit in ((0, "a" * 40), (1, "b" * 40)):
        _, out, _ = bench(*STUDY, "--seed", str(seed), out=f"s{seed}")
        run = json.loads((out / "run.json").read_text())
        run["versions"]["git"] = {"commit": commit, "dirty": False}
        (out / "run.json").write_text(json.dumps(run))
    capsys.readouterr()
    assert main(["bench", "--seeds", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "c")]) == 0
    shown = capsys.readouterr().out
    assert "| aaaaaaa |" in shown and "| bbbbbbb |" in shown and "written by different code" in shown


def test_seeds_use_the_problems_every_run_has_and_say_how_many_were_left_out(bench, tmp_path, capsys):
    bench(*STUDY, "--seed", "0", out="all")
    bench(*STUDY, "--seed", "1", "--problems", ",".join(PROBLEMS[:2]), out="two")
    assert main(["bench", "--seeds", str(tmp_path / "all"), str(tmp_path / "two"), "--out", str(tmp_path / "c")]) == 0
    c = json.loads((tmp_path / "c" / "seeds.json").read_text())
    assert c["problems"] == 2 and [r["problems_left_out"] for r in c["runs"]] == [1, 0]


def test_seeds_refuse_runs_that_are_not_seeds_of_one_config(bench, tmp_path, capsys):
    bench(*STUDY, "--seed", "0", out="a")
    bench(*STUDY, "--seed", "0", out="same_seed")
    bench(*STUDY[:4], "--n", "5", "--workers", "1", "--seed", "1", out="other_n")
    bench(*STUDY, "--seed", "1", out="b")
    capsys.readouterr()
    cases = [(["a", "same_seed"], "both ran seed 0"), (["a", "other_n"], "config differs"),
             (["a"], "at least two"), (["a", "missing"], "no run.json")]
    for runs, needle in cases:
        status = main(["bench", "--seeds", *(str(tmp_path / r) for r in runs), "--out", str(tmp_path / "c")])
        err = capsys.readouterr().err.strip()
        assert status == 2 and needle in err and len(err.splitlines()) == 1, (runs, err)
        assert not (tmp_path / "c").exists()
    assert main(["bench", "--seeds", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "needs --out" in capsys.readouterr().err
