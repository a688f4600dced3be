"""What `agent solve` leaves in its output folder, and the `result.json` record.

    solution.py      the returned program (chosen by visible signals alone)
    result.json      `result_record` below: outcome, compute, counters, config, program
    tree.graphml     the search tree (`SearchTree.to_graphml`), loadable with networkx
    tree.html        a picture of the tree for a person (`agent.output.picture`)
    rollouts.jsonl   one record per node (`agent.search.rollouts`), appended during the search

Every file but the rollouts is written whole to a temporary name in the same folder and
renamed into place, so a reader never sees half a file. The rollouts are appended to
`rollouts.jsonl.partial` while the search runs and renamed at the end.

Timing values are the only fields that differ between two runs with the same seed: their
keys end in "_s" (seconds) or are "started_at". `strip_timings` drops them for comparisons.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.output.files import write_atomic, write_text_atomic
from agent.output.logs import LOG_FILE
from agent.output.versions import versions

if TYPE_CHECKING:
    from agent.config import Config
    from agent.search.types import SearchResult
    from envs.problem import Problem
    from envs.testcase import TestReport

SOLUTION, RESULT, GRAPHML, PICTURE, ROLLOUTS = "solution.py", "result.json", "tree.graphml", "tree.html", "rollouts.jsonl"
PARTIAL_SUFFIX = ".partial"  # rollouts while the search still appends to them
OUTPUT_FILES = (SOLUTION, RESULT, GRAPHML, PICTURE, ROLLOUTS, LOG_FILE)
RESULT_SCHEMA = 1


def report_dict(report: TestReport | None) -> dict | None:
    """passed / total / per-test status of one TestReport (None stays None)."""
    if report is None:
        return None
    return {"passed": report.passed, "total": report.total, "all_passed": report.all_passed,
            "tests": {o.name: o.status for o in report.outcomes},
            "judged_in_host": report.judged_in_parent}  # the rest ran in the program's process


def result_record(
    result: SearchResult, *, problem_id: str, model: str, config: Config, budget: dict,
    hidden: TestReport | None, timings: dict[str, float], started_at: str,
    problem: Problem | None = None, problem_source: str | None = None,
) -> dict[str, Any]:
    """The `result.json` object.

    solved: the returned program passes every visible test. hidden_passed: it passes every
    hidden test (run once, after the search); null when the problem has none.
    problem: id, prompt, entry_point and source file of the problem (never its tests), so
    `agent export` can write the instruction; null when the caller did not pass it.
    compute: `ComputeStats.to_dict()` (samples, prompt/generated tokens, FLOPs, wall and the
    generate / lint / sandbox / other split, in seconds). timings: load_s, hidden_s, total_s.
    """
    node = result.tree.node(result.node)
    counters = dataclasses.asdict(result.counters)
    return {
        "schema": RESULT_SCHEMA,
        "problem_id": problem_id,
        "problem": None if problem is None else {
            "id": problem.id, "prompt": problem.prompt, "entry_point": problem.entry_point,
            "source": problem_source,
        },
        "solved": result.solved,
        "hidden_passed": None if hidden is None else hidden.all_passed,
        "stop_reason": result.stop_reason,
        "strategy": result.strategy,
        "model": model,
        "seed": config.search.seed,
        "budget": budget,
        "compute": result.compute.to_dict(),
        **counters,  # nodes, expansions, lint_rejected, parse_failures, parse_failure_kinds, ...
        "score": node.score,
        "depth": node.depth,
        "node": result.node,
        "visible": report_dict(node.report),
        "hidden": report_dict(hidden),
        "program": result.program.text,
        "config": config.solve_dict(),  # the sections a search reads (not the bench's)
        "config_hash": config.digest(),
        "versions": versions(),
        "files": list(OUTPUT_FILES),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "started_at": started_at,
    }


def strip_timings(value: Any) -> Any:
    """`value` without the fields that vary between identical runs (see the module docstring)."""
    if isinstance(value, dict):
        return {k: strip_timings(v) for k, v in value.items()
                if not (k.endswith("_s") or k in ("started_at", "timings"))}
    if isinstance(value, list):
        return [strip_timings(v) for v in value]
    return value


def write_outputs(out: Path, result: SearchResult, record: dict[str, Any], *, title: str) -> None:
    """Write solution.py, result.json, tree.graphml and tree.html, and finish the rollouts."""
    from agent.output.picture import render_html

    write_text_atomic(out / SOLUTION, result.program.text)
    write_atomic(out / GRAPHML, result.tree.to_graphml)
    write_text_atomic(out / PICTURE, render_html(result.tree, chosen=result.node, title=title,
                                                 summary=summary_line(record)))
    partial = out / (ROLLOUTS + PARTIAL_SUFFIX)
    if partial.exists():
        os.replace(partial, out / ROLLOUTS)
    elif not (out / ROLLOUTS).exists():
        write_text_atomic(out / ROLLOUTS, "")
    write_text_atomic(out / RESULT, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def summary_line(record: dict[str, Any]) -> str:
    """One line for people: the outcome in tests passed, what the search spent, and what the
    seconds cover."""
    compute, timings = record["compute"], record.get("timings") or {}
    visible, hidden = record["visible"] or {"passed": 0, "total": 0}, record["hidden"]
    if record["solved"]:
        outcome = "SOLVED: the program passes"
    else:
        reason = STOP_WORDS.get(record["stop_reason"], record["stop_reason"])
        outcome = f"not solved ({reason}): the best program passes"
    if hidden is not None:
        hidden_text = f"{hidden['passed']} of {hidden['total']} hidden tests"
    else:
        hidden_text = "no hidden tests" if record["stop_reason"] != "interrupted" else "hidden tests not run"
    seconds = f"{compute['wall_s']:.1f} s of search"
    if "load_s" in timings:
        seconds += f" + {timings['load_s']:.1f} s loading the model"
    return (
        f"{record['problem_id']}: {outcome} {visible['passed']} of {visible['total']} visible tests, "
        f"{hidden_text} · {record['strategy']} search with {record['model']}: {_count(record['nodes'], 'node')}, "
        f"{_count(compute['samples'], 'sample')}, {compute['tokens']:,} tokens, {seconds}"
    )


STOP_WORDS = {"budget": "budget spent", "exhausted": "nothing left to expand", "interrupted": "interrupted"}


def unsolved_note(record: dict[str, Any], solution: Path) -> str:
    """Why stdout is empty after a search that found no visible solution, and where the best
    program went."""
    if record["depth"] == 0:
        return f"no program passed every visible test, and none beat the starter code ({solution} holds it)"
    visible = record["visible"] or {"passed": 0, "total": 0}
    return (f"no program passed every visible test; the best one passes {visible['passed']} of {visible['total']} "
            f"and is in {solution} (not printed)")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
