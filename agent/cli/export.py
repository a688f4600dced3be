"""`agent export`: solved search runs -> edit-sequence training data (logic in agent.training.export).

    agent export runs/ --out train.jsonl
    agent export runs/he0-mcts-* --out train.jsonl --require hidden --problems humaneval
    agent export runs/ --out train.jsonl --lintseq-samples 4 --seed 1

Exit status: 0 examples written, 1 none (no run met the requirement; an empty file and its
provenance record are still written), 2 bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.cli import UsageError

HELP = "turn solved search runs into edit-sequence training data"
DESCRIPTION = """\
Turn solved `agent solve` runs into finetuning data: for each run whose returned program
passes the visible tests (--require visible, the default) or also the hidden ones (--require
hidden), the edits from the root to that program, re-expressed as a LintSeq edit sequence from
the empty program, with the problem's prompt as the instruction. --lintseq-samples S adds S
fresh LintSeq samples of each solved program. Identical examples are written once.

RUN_DIR is a run folder (result.json + rollouts.jsonl) or a folder of them (one level down).
The prompt comes from the run's result.json when it records the problem, else from
--problems (a problem file, a folder of them, or humaneval), which otherwise takes precedence.

examples:
  agent export runs/ --out train.jsonl
  agent export runs/he0-mcts-* --out train.jsonl --require hidden --problems humaneval
  agent export runs/ --out train.jsonl --lintseq-samples 4 --seed 1
  agent finetune train.jsonl --model smollm2 --out models/ft1

output: OUT (JSONL: instruction, edits, program, source, problem_id, origin, run, ...) and
OUT.provenance.json (the problem ids; agent bench will not score a model trained on them).

exit status: 0 examples written, 1 none met the requirement, 2 bad input"""

EXIT_NONE = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="agent solve output folders, or folders of them")
    parser.add_argument("--out", required=True, metavar="OUT.jsonl", help="the training data file to write")
    parser.add_argument("--require", choices=("visible", "hidden"), default="visible",
                        help="keep solutions passing the visible tests (default) or also the hidden ones")
    parser.add_argument("--problems", metavar="FILE", help="problems for the prompts: a file, a folder or humaneval")
    parser.add_argument("--lintseq-samples", type=int, default=0, metavar="S",
                        help="also S fresh LintSeq samples of each solved program (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the LintSeq samples (default 0)")


def run(args: argparse.Namespace) -> int:
    from agent.training.export import ExportError, export_runs, find_runs, write_export

    if args.lintseq_samples < 0:
        raise UsageError(f"--lintseq-samples must be 0 or more, got {args.lintseq_samples}")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"{out.parent} does not exist; create it or choose another --out")
    problems = _load_problems(args.problems) if args.problems else None
    try:
        runs = find_runs(Path(p) for p in args.runs)
        export = export_runs(_progress(runs), require=args.require, lintseq_samples=args.lintseq_samples,
                             seed=args.seed, problems=problems)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    write_export(export, out)
    counts = export.counts
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.skipped.items())) or "none"
    print(f"runs read {counts.runs}, solved {counts.solved}, kept {counts.kept} (--require {args.require}; "
          f"skipped: {skipped})")
    print(f"examples written {counts.written} ({counts.rollout_examples} rollout, {counts.lintseq_examples} "
          f"lintseq; {counts.duplicates} duplicates dropped) from {len(export.problem_ids)} problems -> {out}")
    return 0 if counts.written else EXIT_NONE


def _progress(runs: list[Path]):
    """The runs, with a transient progress bar on stderr when it is a terminal."""
    from rich.console import Console
    from rich.progress import track

    console = Console(stderr=True)
    return track(runs, description="export", total=len(runs), console=console, transient=True,
                 disable=not console.is_terminal)


def _load_problems(spec: str) -> dict:
    from envs.problems import ProblemError, load_problems

    try:
        return {p.id: p for p in load_problems(spec)}
    except (ProblemError, OSError) as exc:
        raise UsageError(str(exc)) from None
