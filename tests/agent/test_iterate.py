"""`agent iterate`: the steps, resuming, refusals, and the base-vs-finetuned comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.training.comparison import compare, paired_difference, write_comparison
from agent.training.iterate import IterateError, IterateSettings, plan, run_plan

PROBLEMS = [f"toy/{i}" for i in range(4)]


def write_bench(folder: Path, model: str, solved: dict[str, set[str]], seed: int = 0) -> Path:
    """A bench folder as `agent bench` leaves it: summary.json and results.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    records, strategies = [], {}
    for strategy, winners in solved.items():
        budgets = []
        for budget in ("1", "5"):
            for problem in PROBLEMS:
                records.append({"problem_id": problem, "strategy": strategy, "budget": budget,
                                "hidden_passed": problem in winners, "contaminated": False})
            share = len(winners) / len(PROBLEMS)
            budgets.append({"budget": budget, "deployable_pass1": share, "oracle_coverage": share, "mean_tokens": 100.0})
        strategies[strategy] = {"budgets": budgets, "well_formed_rate": 0.5, "lint_rejection_rate": 0.25}
    summary = {"run": {"model": model, "seed": seed}, "budgets": ["1", "5"], "strategies": strategies}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_paired_difference_counts_discordant_problems():
    result = paired_difference([True, True, False, False], [True, False, True, True])
    assert result["difference"] == pytest.approx(0.25)
    assert (result["only_finetuned"], result["only_base"], result["base"], result["finetuned"]) == (2, 1, 2, 3)
    low, high = result["ci95"]
    assert low < 0.25 < high


def test_comparison_pairs_by_problem_and_writes_its_files(tmp_path):
    base = write_bench(tmp_path / "base", "base", {"rex": {"toy/0"}})
    tuned = write_bench(tmp_path / "tuned", "tuned", {"rex": {"toy/0", "toy/1", "toy/2"}})
    result = write_comparison(base, tuned, tmp_path)
    [one, five] = result["rows"]
    assert (five["base"], five["finetuned"], five["only_finetuned"], five["only_base"]) == (1, 3, 2, 0)
    text = (tmp_path / "comparison.md").read_text()
    assert "| rex | 5 | 25.0% (1/4) | 75.0% (3/4) | +50.0" in text
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    assert json.loads((tmp_path / "comparison.json").read_text())["rows"] == result["rows"]


def test_runs_with_different_seeds_are_not_compared(tmp_path):
    base = write_bench(tmp_path / "base", "base", {"rex": set()})
    tuned = write_bench(tmp_path / "tuned", "tuned", {"rex": set()}, seed=1)
    with pytest.raises(ValueError, match="different budgets or seeds"):
        compare(base, tuned)


class FakeCommands:
    """Stands in for `agent.cli.main`: records each command line and leaves the files the real
    command would (a bench folder, a data file, a model folder); can fail a step once."""

    def __init__(self, fail: str | None = None, export_empty: bool = False):
        self.calls: list[list[str]] = []
        self.fail, self.export_empty = fail, export_empty

    def __call__(self, argv: list[str]) -> int:
        self.calls.append(argv)
        out = Path(argv[argv.index("--out") + 1])
        if self.fail == argv[0]:
            self.fail = None
            if argv[0] == "finetune":  # a checkpoint stays behind
                (out / "checkpoints" / "checkpoint-5").mkdir(parents=True)
            return 1
        if argv[0] == "bench":
            winners = {"toy/1"} if "model" not in argv[argv.index("--model") + 1] else {"toy/1", "toy/2"}
            write_bench(out, argv[argv.index("--model") + 1], {"rex": winners})
        elif argv[0] == "export":  # like the real commands, needs its folder to exist
            out.write_text("" if self.export_empty else '{"instruction": "x", "edits": ["@@ -0,0 +1 @@\\n+x = 1"]}\n')
            return 1 if self.export_empty else 0
        elif argv[0] in ("corpus", "lintseq"):
            out.write_text("{}\n")
        elif argv[0] == "finetune":
            out.mkdir(parents=True, exist_ok=True)
        return 0


def settings(tmp_path, **changes) -> IterateSettings:
    return IterateSettings(suite="suite.json", train_problems="toy/0-1", eval_problems="toy/2-3",
                           out=tmp_path / "it", finetune_args=("--max-steps", "3"), eval_budgets="1,5", eval_n=2,
                           **changes)


def test_the_loop_runs_every_step_in_order_and_writes_the_comparison(tmp_path):
    commands = FakeCommands()
    assert run_plan(plan(settings(tmp_path)), commands, say=lambda _: None) == 0
    assert [c[0] for c in commands.calls] == ["bench", "export", "corpus", "lintseq", "finetune", "bench", "bench"]
    solve, finetune, tuned = commands.calls[0], commands.calls[4], commands.calls[6]
    assert solve[solve.index("--problems") + 1] == "toy/0-1" and "--resume" not in solve
    assert finetune[1:3] == [str(tmp_path / "it" / "data" / "expert.jsonl"),
                             str(tmp_path / "it" / "data" / "stdlib-edits.jsonl")]
    assert tuned[tuned.index("--model") + 1] == str(tmp_path / "it" / "model")
    assert tuned[tuned.index("--problems") + 1] == "toy/2-3"
    assert "+25.0" in (tmp_path / "it" / "comparison.md").read_text()


def test_a_failed_step_stops_the_loop_and_a_rerun_resumes_it(tmp_path):
    commands = FakeCommands(fail="finetune")
    assert run_plan(plan(settings(tmp_path)), commands, say=lambda _: None) == 1
    assert not (tmp_path / "it" / "comparison.md").exists()
    commands.calls.clear()
    assert run_plan(plan(settings(tmp_path)), commands, say=lambda _: None) == 0
    assert [c[0] for c in commands.calls] == ["finetune", "bench", "bench"]  # finished steps are skipped
    assert commands.calls[0][-1] == "--resume"  # from the checkpoint the failed run left


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    run_plan(plan(settings(tmp_path)), FakeCommands(), say=lambda _: None)
    with pytest.raises(IterateError, match="other settings.*seed"):
        run_plan(plan(settings(tmp_path, seed=3)), FakeCommands(), say=lambda _: None)


def test_an_export_with_no_solution_leaves_only_the_stdlib_data(tmp_path):
    commands = FakeCommands(export_empty=True)
    assert run_plan(plan(settings(tmp_path)), commands, say=lambda _: None) == 0
    finetune = next(c for c in commands.calls if c[0] == "finetune")
    assert finetune[1:finetune.index("--model")] == [str(tmp_path / "it" / "data" / "stdlib-edits.jsonl")]
    with pytest.raises(IterateError, match="no training data"):
        run_plan(plan(settings(tmp_path / "b", stdlib_samples=0)), FakeCommands(export_empty=True), say=lambda _: None)


def test_the_command_refuses_overlapping_splits(tmp_path, capsys):
    suite = tmp_path / "suite.jsonl"
    suite.write_text("".join(json.dumps({"id": p, "prompt": "Add.", "entry_point": "add",
                                         "tests": ["assert add(1, 2) == 3"]}) + "\n" for p in PROBLEMS))
    status = main(["iterate", str(suite), "--train", "toy/0-2", "--eval", "toy/2-3", "--out", str(tmp_path / "x")])
    assert status == 2 and "share 1 problems (toy/2" in capsys.readouterr().err
    status = main(["iterate", str(suite), "--train", "toy/7-9", "--eval", "toy/2-3", "--out", str(tmp_path / "x")])
    assert status == 2 and "no problem in the range 'toy/7-9'" in capsys.readouterr().err
