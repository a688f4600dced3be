"""Search rollouts -> edit-sequence training data (the logic of `agent export`).

    from agent.training.export import export_runs, find_runs, write_export
    runs = find_runs([Path("runs")])                      # run folders, or folders of them
    export = export_runs(runs, require="hidden")
    write_export(export, Path("train.jsonl"))             # + train.jsonl.provenance.json

A run folder is what `agent solve` writes (result.json, rollouts.jsonl), or what `agent bench`
writes (results.jsonl, problems.jsonl): each distinct program a bench record returned for a
problem counts as one run. For each run whose returned program is a solution -- it passes the
visible tests (`require="visible"`), or also the hidden ones (`require="hidden"`) -- the example
is the path of edits from the root to the returned node, replayed from its rollout record (so
every diff is checked to apply; a bench record keeps no path: starter -> program), and
re-expressed as a LintSeq edit sequence from the empty program: a HumanEval-style starter root
becomes the first diff, marked `"prompt_edits": 1` (it is the prompt at inference, so
`agent finetune` puts no loss on it). The instruction is the problem's prompt (`instruction_of`),
read from result.json's `problem` block (a bench folder's problems.jsonl: only the prompt and
starter are read), or from a problem set passed in (`problems`) for runs that do not record
it. `lintseq_samples=S` adds S fresh LintSeq samples of each solved program
(`agent.training.lintseq`), starting from the starter when the program begins with it, as the
policy starts at inference. Identical examples (same instruction and edits) are written once.

Each line has the schema `agent lintseq` writes, plus where it came from:

    {"instruction", "edits": [diff_1, ...], "prompt_edits", "program", "source", "problem_id",
     "origin": "rollout" | "lintseq", "run", "node", "strategy", "model", "hidden_passed"}

The ids of every kept run's problem (a run whose example was a duplicate too) go to
`<out>.provenance.json` (agent.training.provenance) BEFORE the data is written, so no data file exists
without the record that keeps `agent bench` off its problems.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from agent.training.provenance import data_provenance_path, write_provenance
from agent.output.files import write_text_atomic
from agent.output.report import RESULT, ROLLOUTS
from agent.search.rollouts import RolloutError, read_rollouts, replay
from envs.program import Program
from envs.problems import ProblemError, load_problems
from policies.formats.edit_sequence import history_diffs

REQUIREMENTS = ("visible", "hidden")


class ExportError(ValueError):
    """A path is not a run folder or a run folder is malformed; the message names it."""


@dataclass
class ExportCounts:
    runs: int = 0  # run folders read
    solved: int = 0  # returned program passes the visible tests
    kept: int = 0  # ... and meets the requirement
    rollout_examples: int = 0
    lintseq_examples: int = 0
    duplicates: int = 0  # examples dropped because an identical one was already kept
    skipped: Counter = field(default_factory=Counter)  # reason -> runs

    @property
    def written(self) -> int:
        return self.rollout_examples + self.lintseq_examples


@dataclass
class Export:
    """The examples and where they came from: every kept run counts, even one whose examples
    were all duplicates, since the data holds the same text for its problem."""

    examples: list[dict[str, Any]] = field(default_factory=list)
    counts: ExportCounts = field(default_factory=ExportCounts)
    problem_ids: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)  # the kept run folders


BENCH_RESULTS, BENCH_PROBLEMS, BENCH_RUN = "results.jsonl", "problems.jsonl", "run.json"


def is_run(path: Path) -> bool:
    return is_solve_run(path) or is_bench_run(path)


def is_solve_run(path: Path) -> bool:
    return (path / RESULT).is_file() and (path / ROLLOUTS).is_file()


def is_bench_run(path: Path) -> bool:
    return (path / BENCH_RESULTS).is_file() and (path / BENCH_RUN).is_file()


def find_runs(paths: Iterable[Path]) -> list[Path]:
    """Each path that is a run folder, else the run folders directly inside it (sorted); a
    folder named twice (`runs/a runs/`) is read once."""
    runs: dict[Path, Path] = {}  # resolved -> as given
    for path in paths:
        if is_run(path):
            inside = [path]
        else:
            inside = sorted(child for child in path.iterdir() if is_run(child)) if path.is_dir() else []
        if not inside:
            raise ExportError(f"{path} is not a run folder ({RESULT} and {ROLLOUTS}, as agent solve writes, "
                              f"or {BENCH_RESULTS} and {BENCH_RUN}, as agent bench writes) and holds none")
        for run in inside:
            runs.setdefault(run.resolve(), run)
    return list(runs.values())


def export_runs(runs: Iterable[Path], *, require: str = "visible", lintseq_samples: int = 0, seed: int = 0,
                problems: Mapping[str, Any] | None = None) -> Export:
    """Training examples from `runs` (see the module docstring) and what happened to each run.

    `problems` maps problem id -> Problem; when given it supplies every instruction.
    """
    if require not in REQUIREMENTS:
        raise ValueError(f"require must be one of {REQUIREMENTS}, got {require!r}")
    export = Export()
    counts = export.counts
    seen: set[tuple[str, tuple[str, ...]]] = set()

    def keep(candidate: dict[str, Any]) -> None:
        key = (candidate["instruction"], tuple(candidate["edits"]))
        if key in seen:
            counts.duplicates += 1
            return
        seen.add(key)
        export.examples.append(candidate)
        counts.rollout_examples += candidate["origin"] == "rollout"
        counts.lintseq_examples += candidate["origin"] == "lintseq"

    for run in runs:
        for solution in (bench_solutions(run, problems) if is_bench_run(run) and not is_solve_run(run)
                         else [solve_solution(run, problems)]):
            counts.runs += 1
            counts.solved += solution.result["solved"] is True
            reason = unkept_reason(solution.result, require)
            states = [] if reason else solution.states()
            diffs = history_diffs(states) if states else []
            prompt_edits = 1 if states and states[0].lines else 0  # the starter is the prompt's
            if not reason and len(diffs) <= prompt_edits:
                reason = "empty solution"  # nothing to write: the starter passed the tests
            if reason:
                counts.skipped[reason] += 1
                continue
            counts.kept += 1
            result = solution.result
            export.problem_ids.add(result["problem_id"])
            export.sources.add(str(run))
            meta = {
                "problem_id": result["problem_id"], "run": str(run), "node": result.get("node"),
                "strategy": result.get("strategy"), "model": result.get("model"),
                "hidden_passed": result.get("hidden_passed"),
            }
            program, instruction = states[-1], solution.instruction()
            keep(example(instruction, diffs, program, prompt_edits, source=solution.source,
                         origin="rollout", **meta))
            # LintSeq samples start from the starter, as the policy does at inference; a program
            # that rewrote its starter gets none (from the empty program they would teach hunks
            # numbered as if no starter were there).
            for index in range(lintseq_samples if _begins_with(program, states[0]) else 0):
                rng = random.Random(f"{seed}:{program.digest}:{index}")
                try:
                    sampled = lintseq_diffs(program, rng, states[0])
                except ValueError:  # the starter ends inside one of the program's statements
                    counts.skipped["lintseq: starter ends inside a statement"] += 1
                    break
                keep(example(instruction, sampled, program, 1 if states[0].lines else 0,
                             source=solution.source, origin="lintseq", **meta))
    return export


@dataclass
class Solution:
    """One candidate for an example: what the run returned and how to rebuild its states."""

    result: Mapping[str, Any]  # problem_id, solved, hidden_passed, node, strategy, model
    instruction: Callable[[], str]  # read only for a kept run (an unkept one need not record its prompt)
    source: str
    states: Callable[[], list[Program]]  # from the root to the returned program


def solve_solution(run: Path, problems: Mapping[str, Any] | None) -> Solution:
    result = read_result(run)
    return Solution(result, lambda: instruction_for(run, result, problems), str(run / ROLLOUTS),
                    lambda: solution_states(run, result))


def bench_solutions(run: Path, problems: Mapping[str, Any] | None = None) -> list[Solution]:
    """Each distinct program a bench record returned for a problem, in file order. Only the
    prompt and starter of each problem are read (its hidden tests never decide anything but
    `require="hidden"`, through the records' own hidden verdict). The problems come from
    `problems`, else the folder's problems.jsonl, else the suite its run.json names."""
    if problems is None:
        problems = _bench_problems(run)
    solutions: dict[tuple[str, str], Solution] = {}
    for number, line in enumerate((run / BENCH_RESULTS).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key = (record["problem_id"], record["program"])
            problem = problems[record["problem_id"]]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ExportError(f"{run / BENCH_RESULTS}:{number}: not a bench record with a known problem ({exc})") from None
        if key in solutions or not isinstance(record.get("program"), str):
            continue
        starter, program = problem.starter, Program.from_text(record["program"])
        solutions[key] = Solution(record, problem.prompt.rstrip, f"{run / BENCH_RESULTS}:{number}",
                                  lambda starter=starter, program=program: [starter, program])
    return list(solutions.values())


def _bench_problems(run: Path) -> Mapping[str, Any]:
    try:
        if (run / BENCH_PROBLEMS).is_file():
            return {p.id: p for p in load_problems(run / BENCH_PROBLEMS)}
        suite = json.loads((run / BENCH_RUN).read_text(encoding="utf-8")).get("suite")
        if not isinstance(suite, str):
            raise ProblemError(f"{run / BENCH_RUN} names no suite")
        return {p.id: p for p in load_problems(suite)}
    except (ProblemError, OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"{run}: cannot read its problems ({exc}); pass --problems FILE (or humaneval)") from None


def _begins_with(program: Program, starter: Program) -> bool:
    return tuple(program.lines[: len(starter.lines)]) == tuple(starter.lines)


def read_result(run: Path) -> dict[str, Any]:
    try:
        result = json.loads((run / RESULT).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"{run / RESULT}: unreadable ({exc})") from None
    missing = [k for k in ("problem_id", "solved", "node", "program") if k not in result]
    if missing:
        raise ExportError(f"{run / RESULT}: missing {', '.join(missing)}; not written by agent solve?")
    return result


def unkept_reason(result: Mapping[str, Any], require: str) -> str | None:
    """Why a run gives no example, or None when it does."""
    if result["solved"] is not True:
        return "not solved"
    if require == "hidden" and result.get("hidden_passed") is not True:
        return "no hidden tests" if result.get("hidden_passed") is None else "hidden tests failed"
    return None


def solution_states(run: Path, result: Mapping[str, Any]) -> list[Program]:
    """The states from the root to the returned node, replayed from its rollout record."""
    try:
        records = [r for r in read_rollouts(run / ROLLOUTS) if r.get("node") == result["node"]]
        if not records:
            raise ExportError(f"{run / ROLLOUTS}: no record of the returned node {result['node'][:12]}")
        states = replay(records[-1])
    except RolloutError as exc:
        raise ExportError(f"{run}: {exc}") from None
    if states[-1].text != result["program"]:
        raise ExportError(f"{run}: the replayed program differs from {RESULT}'s program")
    return states


def instruction_for(run: Path, result: Mapping[str, Any], problems: Mapping[str, Any] | None) -> str:
    """The problem's prompt as the edit-sequence instruction (trailing whitespace removed)."""
    problem_id = result["problem_id"]
    if problems is not None:
        if problem_id not in problems:
            raise ExportError(f"{run}: problem {problem_id!r} is not in the --problems set")
        return problems[problem_id].prompt.rstrip()
    recorded = result.get("problem") or {}
    if not isinstance(recorded.get("prompt"), str):
        raise ExportError(f"{run / RESULT} does not record the prompt of problem {problem_id!r}; "
                          "pass --problems FILE (or humaneval) to supply it")
    return recorded["prompt"].rstrip()


def lintseq_diffs(program: Program, rng: random.Random, starter: Program = Program(())) -> list[str]:
    """One fresh LintSeq sample of `program` as diffs from the empty program, every state
    keeping `starter` (a line prefix of `program`), which is then the first diff."""
    from agent.training.lintseq import edit_sequence_diffs, sample_edit_sequence  # pylint on first use

    return edit_sequence_diffs(sample_edit_sequence(program, rng, starter=starter))


def example(instruction: str, edits: Sequence[str], program: Program, prompt_edits: int, **meta: Any) -> dict[str, Any]:
    return {"instruction": instruction, "edits": list(edits), "prompt_edits": prompt_edits, "program": program.text,
            **meta}


def write_export(export: Export, out: Path) -> None:
    """Write the provenance record, then the JSONL data, each atomically."""
    # Provenance first: a data file must never exist without the record of where it came from.
    write_provenance(data_provenance_path(out), export.problem_ids, sources=export.sources)
    write_text_atomic(out, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in export.examples))
