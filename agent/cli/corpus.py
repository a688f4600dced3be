"""`agent corpus stdlib`: mine (instruction, program) pairs from Python's standard library.

    agent corpus stdlib --out pairs.jsonl
    agent corpus stdlib --out pairs.jsonl --exclude mbpp.jsonl --max-lines 30
    agent lintseq pairs.jsonl --samples 5 --out edits.jsonl

Writes one JSON line per pair, `{"instruction", "program", "source": "module:qualname"}`
(see `agent.training.corpus` for what is mined and why), and prints on stderr how many functions were
left after each filter. HumanEval problems are always excluded; MBPP is not installed here,
so pass it (or any problem file `envs.problems.load_problems` reads) with `--exclude`.

Exit status: 0 when pairs were written, 1 when no function survived the filters, 2 bad input,
130 interrupted (nothing is written).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from agent.cli import UsageError

HELP = "mine (docstring, function) pairs from the standard library"
DESCRIPTION = """\
Mine (instruction, program) pairs from the Python standard library, offline: the docstring's
first paragraph is the instruction, the module-level function made standalone (with the
imports it needs, without its docstring) is the program. Kept: functions that parse, lint
clean, have a sane length, are not duplicates and do not overlap benchmark problems
(HumanEval always; more with --exclude, e.g. MBPP, which is not installed here).

examples:
  agent corpus stdlib --out pairs.jsonl
  agent corpus stdlib --out pairs.jsonl --exclude mbpp.jsonl --min-lines 4 --max-lines 30
  agent corpus stdlib --out pairs.jsonl --limit 50

output: one JSON line per pair: instruction, program, source ("module:function").
exit status: 0 written, 1 nothing survived the filters, 2 bad input, 130 interrupted"""

SOURCES = ("stdlib",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from agent.training.corpus import DEFAULT_MAX_LINES, DEFAULT_MIN_LINES

    parser.add_argument("source", choices=SOURCES, help="where to mine: the standard library")
    parser.add_argument("--out", required=True, metavar="FILE", help="the pairs.jsonl to write")
    parser.add_argument("--exclude", action="append", default=[], metavar="FILE",
                        help="more benchmark problems to keep out (HumanEval/MBPP/our format; repeatable)")
    parser.add_argument("--limit", type=int, metavar="N", help="stop after N pairs")
    parser.add_argument("--min-lines", type=int, default=DEFAULT_MIN_LINES, metavar="N",
                        help=f"shortest program kept, imports included (default {DEFAULT_MIN_LINES})")
    parser.add_argument("--max-lines", type=int, default=DEFAULT_MAX_LINES, metavar="N",
                        help=f"longest program kept (default {DEFAULT_MAX_LINES})")
    parser.add_argument("--root", metavar="DIR", help="mine this folder instead (default: this Python's stdlib)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    from agent.training import corpus
    from agent.output.files import write_text_atomic
    from envs.problems import ProblemError

    if args.min_lines < 1 or args.max_lines < args.min_lines:
        raise UsageError(f"need 1 <= --min-lines <= --max-lines, got {args.min_lines} and {args.max_lines}")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, got {args.limit}")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: the folder {out.parent} does not exist")
    root = Path(args.root) if args.root else corpus.stdlib_root()
    if not root.is_dir():
        raise UsageError(f"--root {root}: no such folder")
    exclusion = corpus.humaneval_exclusion()
    for path in args.exclude:
        try:
            exclusion |= corpus.file_exclusion(path)
        except ProblemError as exc:
            raise UsageError(f"--exclude: {exc}") from None

    started = time.perf_counter()
    with _LintProgress(enabled=not args.no_progress) as on_lint:
        found = corpus.mine(root, exclusion=exclusion, min_lines=args.min_lines,
                            max_lines=args.max_lines, limit=args.limit, on_lint=on_lint)
    write_text_atomic(out, "".join(json.dumps(pair.to_json()) + "\n" for pair in found.pairs))

    print(f"corpus: mined {root}", file=sys.stderr)
    for stage, count in found.counts.items():
        note = ""
        if stage == "lint clean" and args.limit is not None:
            note = f"  (of the first {found.linted} linted; --limit {args.limit})"
        print(f"  {stage:<22} {count:>6}{note}", file=sys.stderr)
    print(f"corpus: overlap checked against {', '.join(exclusion.described)}", file=sys.stderr)
    if not args.exclude:
        print("corpus: no MBPP copy is installed here, so MBPP overlap was not checked "
              "(pass it with --exclude FILE)", file=sys.stderr)
    print(f"corpus: wrote {len(found.pairs)} pairs to {out} in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    return 0 if found.pairs else 1


class _LintProgress:
    """A rich progress bar over the lint stage on stderr (only on a terminal)."""

    def __init__(self, *, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        self.progress = Progress(TextColumn("[bold]corpus: linting"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console,
                                 disable=not (enabled and console.is_terminal))
        self.task = self.progress.add_task("lint", total=None)

    def __enter__(self):
        self.progress.start()

        def on_lint(done: int, total: int) -> None:
            self.progress.update(self.task, completed=done, total=total)

        return on_lint

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
