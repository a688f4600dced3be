"""A bench run's output folder: made, locked, its run.json written, resumed or seeded.

`prepare_out` creates --out (default runs/bench-<suite>-<time>) and holds its lock; a folder that
already holds records needs --resume, which checks that the run is the same one
(agent.bench.results); --sample-records-from starts the folder with another run's sampling draws
(agent.bench.reuse).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING

from agent.cli import UsageError

if TYPE_CHECKING:
    from agent.config import Config

RUNS_DIR = Path("runs")


def suite_name(suite: str) -> str:
    return "humaneval" if suite.lower() == "humaneval" else str(Path(suite).resolve())


def default_out(suite: str, now: datetime) -> Path:
    stem = "humaneval" if suite.lower() == "humaneval" else Path(suite).name.split(".")[0]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._") or "suite"
    return RUNS_DIR / f"bench-{safe}-{now.strftime('%Y%m%d-%H%M%S')}"


# -- the output folder ------------------------------------------------------------------------
def prepare_out(args: argparse.Namespace, run_info: dict, problem_ids: list[str]) -> tuple[Path, IO[str]]:
    """Create --out and lock it (closing the returned handle unlocks it); then `_write_run_info`."""
    from agent.bench.results import ResultsError, lock_run

    out = Path(args.out) if args.out else default_out(args.suite, datetime.now(timezone.utc))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    try:
        lock = lock_run(out)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    try:
        _write_run_info(args, out, run_info, problem_ids)
    except BaseException:
        lock.close()
        raise
    return out, lock


def _write_run_info(args: argparse.Namespace, out: Path, run_info: dict, problem_ids: list[str]) -> None:
    """Refuse a used folder without --resume, or check that --resume continues the same run; write run.json
    (and, with --sample-records-from, results.jsonl holding those draws)."""
    from agent.bench.results import RESULTS, RUN, ResultsError, check_resume, read_run_info, settings_added
    from agent.output.files import write_text_atomic

    has_results = (out / RESULTS).exists() and (out / RESULTS).stat().st_size > 0
    if has_results and not args.resume:
        raise UsageError(f"{out} already holds a bench run; pass --resume to continue it, or choose another --out")
    if args.sample_records_from:
        if has_results:
            raise UsageError(f"--sample-records-from starts a run, but {out} already holds one; choose a new --out "
                             "(or --resume it without --sample-records-from)")
        _seed_sample_records(Path(args.sample_records_from), out, run_info, problem_ids)
        return
    if args.resume and (out / RUN).exists():
        try:
            recorded = read_run_info(out / RUN)
            check_resume(recorded, run_info)
        except ResultsError as exc:
            raise UsageError(str(exc)) from None
        # Each resume's config and versions: its records may differ from run.json's in settings added since.
        resume = {"at": run_info["started_at"], "config_hash": run_info["config_hash"], "versions": run_info["versions"]}
        added = settings_added(recorded.get("config", {}), run_info["config"])
        if added:
            resume["settings_added"] = added
            print(f"note: {out}'s run.json was written before {', '.join(added)} existed; its records ran without "
                  f"{'it' if len(added) == 1 else 'them'}, the ones written from here on at today's defaults "
                  "(each record's config_hash says which config wrote it)", file=sys.stderr)
        run_info = {**recorded, "resumed_at": [*recorded.get("resumed_at", []), run_info["started_at"]],
                    "resumes": [*recorded.get("resumes", []), resume]}
    write_text_atomic(out / RUN, json.dumps(run_info, indent=2) + "\n")


def _seed_sample_records(source: Path, out: Path, run_info: dict, problem_ids: list[str]) -> None:
    """run.json naming the source, then results.jsonl with its sampling draws (both written whole)."""
    from agent.bench.results import RESULTS, RUN, ResultsError
    from agent.bench.reuse import sample_records
    from agent.output.files import write_text_atomic

    try:
        records, provenance = sample_records(source, run_info, list(problem_ids))
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    write_text_atomic(out / RUN, json.dumps({**run_info, "sample_records_from": provenance}, indent=2) + "\n")
    write_text_atomic(out / RESULTS, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    print(f"agent bench: {len(records)} sampling records from {source} ({len(problem_ids)} problems asked); "
          "only the other units run", file=sys.stderr)


def make_run_info(args: argparse.Namespace, config: Config) -> dict:
    from agent.output.versions import versions

    return {
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]], "suite": suite_name(args.suite),
        "model": config.policy.model, "seed": config.search.seed, "config": dataclasses.asdict(config),
        "config_hash": config.digest(), "versions": versions(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
