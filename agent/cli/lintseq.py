"""`agent lintseq`: turn programs into LintSeq edit sequences (finetuning data).

    agent lintseq pairs.jsonl --samples 5 --out edits.jsonl
    agent lintseq my_scripts/ --samples 2 --out edits.jsonl --no-lint   # RandSeq ablation

INPUT is a JSONL file of (instruction, program) records, keys `instruction` + `program` (or
`prompt` + `completion`, or `text` + `code`; an optional `source` is kept), or a folder of .py
files (each file's module docstring is its instruction and is taken out of its program).
Each program is sampled `--samples` times by `agent.training.lintseq` in worker processes; the output
holds one line per (program, sample), in input order, the same whatever `--workers`:

    {"instruction": str, "program": str, "source": str, "sample": int,
     "mode": "lintseq" | "randseq", "edits": [diff_1, ..., diff_k]}

`edits[i] = render_lintseq(state_{i-1}, state_i)` from the empty program, so applying them in
order rebuilds `program` (its canonical text: "\\n" line ends, one final newline) exactly.
`--framing task` writes each program as a task, the way an edit-sequence policy meets one at
inference (`agent.training.framing`): the instruction becomes the docstring of a starter (the
code up to the function's body), the starter's code is the instruction, every state keeps the
starter, and the record adds `"starter"` and `"prompt_edits": 1` (the first diff, the starter,
is part of the prompt and carries no loss in `agent finetune`).
Programs that do not parse, are not lint clean or are empty are skipped and counted (both
modes skip the same ones, so an ablation sees the same programs). The output is written to a
temporary file and renamed into place when complete.

Exit status: 0 when at least one sequence was written, 1 when every program was skipped,
2 bad input, 130 interrupted (nothing is written).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from agent.cli import UsageError

HELP = "turn programs into LintSeq edit sequences (training data)"
DESCRIPTION = """\
Sample LintSeq edit sequences: delete random lines (with what depends on them) and whatever
the linter then flags, until nothing is left; reversed, the states write the program by
insertions only, every intermediate program lint clean. --no-lint: the RandSeq ablation.

examples:
  agent lintseq pairs.jsonl --samples 5 --out edits.jsonl
  agent corpus stdlib --out pairs.jsonl && agent lintseq pairs.jsonl --out edits.jsonl
  agent lintseq scripts/ --no-lint --seed 1 --out randseq.jsonl
  agent lintseq pairs.jsonl --framing task --samples 4 --out edits.jsonl   # starts from a task's starter

input: JSONL records with instruction + program (or prompt + completion, text + code), or a
folder of .py files (module docstring = instruction).
output: one JSON line per (program, sample): instruction, program, source, sample, mode,
edits (LintSeq diffs from the empty program).

exit status: 0 written, 1 every program skipped, 2 bad input, 130 interrupted"""

KEY_PAIRS = (("instruction", "program"), ("prompt", "completion"), ("text", "code"))
SKIP_REASONS = ("empty", "does not parse", "not lint clean", "cannot be framed as a task")
FRAMINGS = ("plain", "task")


@dataclass(frozen=True)
class Source:
    """One input program."""

    instruction: str
    program: str
    source: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="a JSONL file of (instruction, program) records, or a folder of .py files")
    parser.add_argument("--out", required=True, metavar="FILE", help="the edits.jsonl to write")
    parser.add_argument("--samples", type=int, default=1, metavar="S", help="sequences per program (default 1)")
    parser.add_argument("--no-lint", action="store_true", help="RandSeq ablation: random line subsets, no linter")
    parser.add_argument("--framing", choices=FRAMINGS, default="plain",
                        help="plain: sequences from the empty program, the instruction as given (default); "
                             "task: as a task's starter (the code up to the function's body, the instruction "
                             "as its docstring) is the instruction and the first diff, as at inference")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0); same seed, same output")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="worker processes (default: the CPU count); the output does not depend on it")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N programs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


# --- reading the input ---------------------------------------------------------------------
def read_sources(path: Path) -> list[Source]:
    """The programs of INPUT (see the module docstring). Raises UsageError on bad input."""
    if path.is_dir():
        files = sorted(path.rglob("*.py"))
        if not files:
            raise UsageError(f"{path}: no .py files in this folder; give a folder of Python files or a JSONL file")
        return [_from_python_file(file, path) for file in files]
    if not path.is_file():
        raise UsageError(f"{path}: no such file or folder")
    try:
        with path.open(encoding="utf-8") as lines:
            return [_from_record(line, path, number)
                    for number, line in enumerate(lines, 1) if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None


def _from_record(line: str, path: Path, number: int) -> Source:
    where = f"{path}:{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: invalid JSON ({exc.msg}); expected one JSON object per line") from None
    if not isinstance(record, dict):
        raise UsageError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for instruction_key, program_key in KEY_PAIRS:
        if instruction_key in record and program_key in record:
            instruction, program = record[instruction_key], record[program_key]
            source = record.get("source", f"{path.name}:{number}")
            if not all(isinstance(v, str) for v in (instruction, program, source)):
                raise UsageError(f"{where}: fields {instruction_key!r}, {program_key!r} and 'source' must be strings")
            return Source(instruction, program, source)
    wanted = ", ".join(" + ".join(pair) for pair in KEY_PAIRS)
    raise UsageError(f"{where}: expected the keys {wanted}; got {sorted(record)}")


def _from_python_file(file: Path, root: Path) -> Source:
    """A .py file: its module docstring is the instruction and leaves the program."""
    name = file.relative_to(root).as_posix()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{file}: cannot read: {exc}") from None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return Source("", text, name)  # skipped later, and counted, as a program that does not parse
    docstring = ast.get_docstring(tree)
    if docstring is None:
        return Source("", text, name)
    node = tree.body[0]
    lines = text.split("\n")
    rest = lines[node.end_lineno:]
    if lines[node.end_lineno - 1].encode("utf-8")[node.end_col_offset:].strip():
        return Source(docstring, text, name)  # code follows on the docstring's last line
    while rest and not rest[0].strip():
        rest = rest[1:]
    return Source(docstring, "\n".join(lines[: node.lineno - 1] + rest), name)


# --- the work of one program (runs in a worker process) -----------------------------------
@dataclass(frozen=True)
class Task:
    source: Source
    samples: int
    use_lint: bool
    seed: int
    framing: str = "plain"


def sequences_for(task: Task) -> tuple[str | None, list[dict]]:
    """(skip reason or None, the output records of one program). Each sample's generator is
    seeded by (seed, sample, program), so the records do not depend on which process or in
    which order programs are handled."""
    from agent.training.lintseq import default_linter, edit_sequence_diffs, sample_edit_sequence
    from envs.lint import syntax_error_message
    from envs.program import Program

    from agent.training.framing import FramingError, task_framing

    program = Program.from_text(task.source.program)
    if not program.lines:
        return "empty", []
    if syntax_error_message(program.text) is not None:
        return "does not parse", []
    instruction, starter, framed = task.source.instruction, None, {}
    if task.framing == "task":
        try:
            task_framed = task_framing(instruction, program.text)
        except FramingError:
            return "cannot be framed as a task", []
        instruction, starter, program = task_framed.instruction, task_framed.starter, task_framed.program
        # The starter is the instruction's code and the first diff: the prompt, not the loss.
        framed = {"starter": starter.text, "prompt_edits": 1}
    lint = default_linter()
    if not lint(program).ok:
        return "not lint clean", []
    records = []
    for sample in range(task.samples):
        rng = random.Random(f"{task.seed}/{sample}/{program.digest}")
        states = sample_edit_sequence(program, rng, lint=lint, use_lint=task.use_lint, starter=starter)
        records.append({
            "instruction": instruction, "program": program.text,
            "source": task.source.source, "sample": sample,
            "mode": "lintseq" if task.use_lint else "randseq",
            "edits": edit_sequence_diffs(states), **framed,
        })
    return None, records


def run_tasks(tasks: list[Task], workers: int) -> Iterator[tuple[str | None, list[dict]]]:
    """`sequences_for` over `tasks`, in order: in this process for one worker, else in a pool
    of spawned processes (each builds its own lint gate: gates are not thread-safe, and a
    fork would copy this process's threads, such as the progress display's)."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(sequences_for, tasks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    executor = ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                                   mp_context=multiprocessing.get_context("spawn"))
    try:
        # Small chunks keep the bar moving; more than one per trip saves pickling round trips.
        chunksize = max(1, min(8, len(tasks) // (workers * 8)))
        yield from executor.map(sequences_for, tasks, chunksize=chunksize)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


# --- the command -------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    from agent.output.files import write_atomic

    if args.samples < 1:
        raise UsageError(f"--samples must be at least 1, got {args.samples}")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the folder {out.parent} does not exist")
    sources = read_sources(Path(args.input))[: args.limit]
    tasks = [Task(s, args.samples, not args.no_lint, args.seed, args.framing) for s in sources]

    skipped = dict.fromkeys(SKIP_REASONS, 0)
    written, edits = 0, 0
    started = time.perf_counter()

    def write(tmp: Path) -> None:
        nonlocal written, edits
        with tmp.open("w", encoding="utf-8") as file, ProgramProgress(len(tasks), not args.no_progress) as advance:
            for reason, records in run_tasks(tasks, args.workers):
                if reason is not None:
                    skipped[reason] += 1
                for record in records:
                    file.write(json.dumps(record) + "\n")
                    written += 1
                    edits += len(record["edits"])
                advance()

    write_atomic(out, write)
    seconds = time.perf_counter() - started
    kept = len(tasks) - sum(skipped.values())
    mode = "randseq" if args.no_lint else "lintseq"
    print(f"lintseq: {len(tasks)} programs read, {sum(skipped.values())} skipped ("
          + ", ".join(f"{n} {reason}" for reason, n in skipped.items()
                      if args.framing == "task" or reason != "cannot be framed as a task") + ")", file=sys.stderr)
    print(f"lintseq: wrote {written} {mode} sequences ({args.samples} per program, "
          f"{edits / max(written, 1):.1f} edits each on average) to {out} in {seconds:.1f} s "
          f"({kept / seconds if seconds else 0.0:.1f} programs/s)", file=sys.stderr)
    return 0 if written else 1


class ProgramProgress:
    """A rich progress bar over programs on stderr (only on a terminal); yields `advance()`."""

    def __init__(self, total: int, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        console = Console(stderr=True)
        self.progress = Progress(TextColumn("[bold]lintseq"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                                 disable=not (enabled and console.is_terminal))
        self.task = self.progress.add_task("programs", total=total)

    def __enter__(self):
        self.progress.start()
        return lambda: self.progress.advance(self.task)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
