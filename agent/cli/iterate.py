"""`agent iterate`: solve a training split, export, finetune, evaluate on a held-out split, compare
(logic in agent.training.iterate; the comparison in agent.training.comparison).

    agent iterate humaneval --train HumanEval/80-163 --eval HumanEval/40-79 --out runs/iter1
    agent iterate humaneval --train HumanEval/80-163 --eval HumanEval/40-79 --out runs/iter1   # again: resumes
    agent iterate --compare runs/bench-base runs/bench-ft --out runs/cmp     # only the comparison

Exit status: 0 comparison written, 2 bad input (overlapping splits, other settings in --out),
else the exit status of the step that failed (rerun the same command to continue).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from agent.cli import UsageError

HELP = "expert iteration: solve a training split, export, finetune, evaluate base vs finetuned"
DESCRIPTION = """\
One loop of expert iteration with the other commands as steps, each writing what it always
writes under OUT:
  solve           agent bench SUITE --problems TRAIN with the base model (OUT/train-solve)
  export          its visible-test solutions as edit sequences from each task's starter (OUT/data)
  corpus, lintseq standard-library functions framed as tasks (--stdlib-samples 0: none)
  finetune        the base model on both (OUT/model, checkpoints, loss.png)
  eval-base, eval-finetuned
                  agent bench SUITE --problems EVAL, same search, seed and budgets
  compare         OUT/comparison.md, comparison.json, comparison.png
Hidden tests never choose training data; the finetuned model's evaluation refuses its training
problems. OUT/iterate.json records the settings and finished steps: rerunning the same command
resumes (benches with --resume, finetuning from its last checkpoint).

examples:
  agent iterate humaneval --train HumanEval/80-163 --eval HumanEval/40-79 --out runs/iter1
  agent iterate humaneval --train HumanEval/0-39 --eval HumanEval/40-79 --out runs/small \\
      --train-budget tokens:1000 --finetune-args "--lora --max-steps 20" --eval-budgets 1,5 --n 5
  agent iterate --compare runs/bench-base runs/bench-ft --out runs/cmp

exit status: 0 comparison written, 2 bad input, else the failing step's exit status"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from agent.training.iterate import IterateSettings as S

    parser.add_argument("suite", nargs="?", metavar="SUITE", help="humaneval, or a problems file or folder")
    parser.add_argument("--train", metavar="IDS", help="training problems: ids or ranges (HumanEval/80-163)")
    parser.add_argument("--eval", metavar="IDS", help="held-out problems, disjoint from --train")
    parser.add_argument("--out", required=True, metavar="DIR", help="the folder for every step's output")
    parser.add_argument("--model", default=S.model, help=f"the base model (default {S.model})")
    parser.add_argument("--seed", type=int, default=S.seed, help="seed of every step (default 0)")
    parser.add_argument("--workers", type=int, default=S.workers, help="bench worker processes (default 1)")
    parser.add_argument("--config", metavar="FILE", help="YAML config for both benches")
    parser.add_argument("--train-strategies", default=S.train_strategies, metavar="S,...",
                        help=f"strategies that solve the training split (default {S.train_strategies})")
    parser.add_argument("--train-budget", default=S.train_budget, metavar="B",
                        help=f"their budget per problem (default {S.train_budget})")
    parser.add_argument("--export-lintseq-samples", type=int, default=S.export_lintseq_samples, metavar="K",
                        help=f"LintSeq samples of each solution (default {S.export_lintseq_samples})")
    parser.add_argument("--stdlib-samples", type=int, default=S.stdlib_samples, metavar="K",
                        help=f"LintSeq samples of each standard-library function; 0: none (default {S.stdlib_samples})")
    parser.add_argument("--finetune-args", default=shlex.join(S.finetune_args), metavar="ARGS",
                        help=f"flags for agent finetune (default {shlex.join(S.finetune_args)!r})")
    parser.add_argument("--eval-strategies", default=S.eval_strategies, metavar="S,...",
                        help=f"default {S.eval_strategies}")
    parser.add_argument("--eval-budgets", default=S.eval_budgets, metavar="K,...", help=f"default {S.eval_budgets}")
    parser.add_argument("--n", type=int, default=S.eval_n, help=f"draws for pass@k (default {S.eval_n})")
    parser.add_argument("--compare", nargs=2, metavar=("BASE_DIR", "FINETUNED_DIR"),
                        help="only write the comparison of two finished bench folders into --out")


def run(args: argparse.Namespace) -> int:
    from agent.cli import main
    from agent.training.comparison import ComparisonError, write_comparison
    from agent.training.iterate import IterateError, IterateSettings, plan, run_plan

    out = Path(args.out)
    if args.compare:
        out.mkdir(parents=True, exist_ok=True)
        try:
            write_comparison(Path(args.compare[0]), Path(args.compare[1]), out)
        except ComparisonError as exc:
            raise UsageError(str(exc)) from None
        print(f"iterate: comparison in {out / 'comparison.md'}")
        return 0
    if not (args.suite and args.train and args.eval):
        raise UsageError("give SUITE, --train and --eval (or --compare BASE_DIR FINETUNED_DIR)")
    _check_splits(args.suite, args.train, args.eval)
    try:
        finetune_args = tuple(shlex.split(args.finetune_args))
    except ValueError as exc:
        raise UsageError(f"--finetune-args: {exc}") from None
    settings = IterateSettings(
        suite=args.suite, train_problems=args.train, eval_problems=args.eval, out=out, model=args.model,
        seed=args.seed, workers=args.workers, train_strategies=args.train_strategies, train_budget=args.train_budget,
        export_lintseq_samples=args.export_lintseq_samples, stdlib_samples=args.stdlib_samples,
        finetune_args=finetune_args, eval_strategies=args.eval_strategies, eval_budgets=args.eval_budgets,
        eval_n=args.n, config=args.config)
    try:
        return run_plan(plan(settings), main)
    except (IterateError, ComparisonError) as exc:
        raise UsageError(str(exc)) from None


def _check_splits(suite: str, train: str, held_out: str) -> None:
    """Both splits name known problems and share none."""
    from agent.bench.problem_ids import expand_problem_ids
    from envs.problems import ProblemError, load_problems

    try:
        known = {p.id for p in load_problems(suite)}
    except ProblemError as exc:
        raise UsageError(str(exc)) from None
    try:
        train_ids, eval_ids = expand_problem_ids(train, known), expand_problem_ids(held_out, known)
    except ValueError as exc:
        raise UsageError(f"{exc} in {suite}") from None
    shared = sorted(set(train_ids) & set(eval_ids))
    if shared:
        raise UsageError(f"--train and --eval share {len(shared)} problems ({', '.join(shared[:3])}...); "
                         "held-out problems must never be trained on")
