"""`agent solve`: search for a program that passes a problem's visible tests.

    agent solve examples/sum_evens.json
    agent solve examples/fizzbuzz.json --strategy mcts --budget-tokens 40000 --seed 1

Wiring: config (defaults < configs/default.yaml < --config < flags) -> a policy, the lint
gate and a sandbox (agent.wiring) -> `agent.search.loop.search` with an evaluate function bound to
the VISIBLE tests only -> the hidden tests, run once on the returned program after the search
-> the output folder (agent.output.report): solution.py, result.json, tree.graphml, tree.html,
rollouts.jsonl. The solution program is printed on stdout; progress and the summary go to
stderr.

Exit status: 0 solved (every visible test passes), 1 not solved within the budget, 2 bad
input (problem, config, flags, model or sandbox that cannot be used), 130 interrupted (the
files are written first, with what was found so far; Ctrl-C while the model loads exits
130 before any search and writes nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from agent.cli import UsageError, add_set_argument, load_config_or_exit
from envs.sandbox import BACKENDS

if TYPE_CHECKING:
    from agent.search.budget import ComputeStats
    from agent.config import Config
    from agent.search.types import SearchResult
    from agent.search.tree import SearchTree
    from agent.wiring import PolicyFactory, SandboxFactory

HELP = "search for a program that solves a problem"
DESCRIPTION = """\
Search for a program that passes the problem's visible tests: the policy proposes diff
edits at hunk locations, the lint gate admits programs as nodes, the sandbox scores them.
The hidden tests run once, on the returned program, after the search.

examples:
  agent solve examples/sum_evens.json
  agent solve examples/fizzbuzz.json --strategy mcts --budget-tokens 40000 --seed 1
  agent solve HumanEval_0.json --config configs/my.yaml --out runs/he0

budget: --budget-samples / --budget-tokens / --budget-seconds replace the config's whole
budget when any of them is given (so one flag means exactly that limit).

output (DIR = --out, default runs/<problem-id>-<strategy>-<time>):
  DIR/solution.py  DIR/result.json  DIR/tree.graphml  DIR/tree.html  DIR/rollouts.jsonl
  DIR/agent.log  library warnings and log records (shown on stderr with agent -v solve ...)

exit status: 0 solved, 1 not solved within the budget, 2 bad input, 130 interrupted"""

EXIT_SOLVED, EXIT_UNSOLVED, EXIT_INTERRUPTED = 0, 1, 130
RUNS_DIR = Path("runs")  # parent of the default output folders, relative to the working directory


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("problem", metavar="PROBLEM.json", help="a problem file (our schema, HumanEval or MBPP record)")
    parser.add_argument("--model", help="qwen-coder-0.5b (the default code model), smollm2 (small and fast), "
                        "a save_pretrained folder, a .gguf file or a hub id (config policy.model)")
    parser.add_argument("--format", help="edit format: auto, a format name, or continuation:MODE")
    parser.add_argument("--strategy", help="rex (default) | sample | best-first | beam | mcts")
    parser.add_argument("--budget-samples", type=int, metavar="N", help="at most N policy samples")
    parser.add_argument("--budget-tokens", type=int, metavar="N", help="at most N tokens (prompt encoded + generated)")
    parser.add_argument("--budget-seconds", type=float, metavar="S", help="at most S seconds of search")
    parser.add_argument("--seed", type=int, help="base seed (same seed, same search)")
    parser.add_argument("--keep-going", action="store_true",
                        help="spend the whole budget, then return the program the most visible solutions agree "
                             "with (search.stop_when_solved=false); by default the search stops once 3 visible "
                             "solutions agree (search.stop_votes; 1: at the first)")
    parser.add_argument("--config", metavar="FILE", help="YAML config over configs/default.yaml")
    parser.add_argument("--out", metavar="DIR", help="output folder (default runs/<problem-id>-<strategy>-<time>)")
    parser.add_argument("--sandbox", choices=BACKENDS, help="execution backend ('subprocess' is NOT isolated)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress display on stderr")
    add_set_argument(parser)


def run(args: argparse.Namespace) -> int:
    return run_solve(args)


def resolve_config(args: argparse.Namespace) -> Config:
    """The config: defaults < configs/default.yaml < --config < flags (see DESCRIPTION on budgets)."""
    overrides = {
        "policy.model": args.model, "policy.format": args.format, "search.strategy": args.strategy,
        "search.seed": args.seed, "sandbox.backend": args.sandbox,
        "search.stop_when_solved": False if args.keep_going else None,
    }
    config = load_config_or_exit(args.config, overrides, args.set)
    flags = (args.budget_samples, args.budget_tokens, args.budget_seconds)
    if any(flag is not None for flag in flags):
        search = dataclasses.replace(config.search, budget_samples=flags[0], budget_tokens=flags[1],
                                     budget_seconds=flags[2])
        config = dataclasses.replace(config, search=search)
    return config


def default_out(problem_id: str, strategy: str, now: datetime) -> Path:
    """runs/<problem-id>-<strategy>-<YYYYmmdd-HHMMSS>, made unique with a counter if taken."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", problem_id).strip("._") or "problem"
    base = RUNS_DIR / f"{safe}-{strategy}-{now.strftime('%Y%m%d-%H%M%S')}"
    out, k = base, 1
    while out.exists():
        out, k = base.with_name(f"{base.name}-{k}"), k + 1
    return out


def _prepare_out(path: Path) -> tuple[Path, bool]:
    """The output folder, made if needed, and whether this run made it."""
    made = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {path}: {exc.strerror or exc}") from None
    if not path.is_dir():
        raise UsageError(f"{path} is not a folder")
    return path, made


def _discard(out: Path, made: bool) -> None:
    """A run that failed before its search leaves no folder behind: the one it made goes, with
    the log file it wrote there (a folder that was there before is left as it was found, but
    for that log, and nothing else is ever deleted)."""
    from agent.output.logs import LOG_FILE

    if made:
        (out / LOG_FILE).unlink(missing_ok=True)
        try:
            out.rmdir()
        except OSError:  # not empty: something else was written there meanwhile; keep it
            pass


def _explain_policy(name: str, policy) -> str:
    """What the parts of a policy name mean, for a reader who has not seen the source."""
    parts = name.split(":")
    meaning = "model:format" + (":mode" if len(parts) > 2 else "")
    summary = policy.summary
    return f"{meaning}; {summary}" if summary else meaning


def _hooks(*hooks: Callable[..., None]) -> Callable[..., None]:
    def on_node(tree: SearchTree, digest: str, stats: ComputeStats) -> None:
        for hook in hooks:
            hook(tree, digest, stats)
    return on_node


def run_solve(
    args: argparse.Namespace,
    *,
    policy_factory: PolicyFactory | None = None,
    sandbox_factory: SandboxFactory | None = None,
    lint_factory: Callable[[Any], Any] | None = None,
) -> int:
    """The command with injectable pieces (tests pass a scripted policy or a recording sandbox);
    each factory takes its config section. Returns the exit status; raises UsageError."""
    from agent import wiring
    from agent.output import logs
    from agent.output.progress import ProgressDisplay
    from agent.output.report import (
        PARTIAL_SUFFIX, ROLLOUTS, SOLUTION, result_record, summary_line, unsolved_note, write_outputs,
    )
    from agent.search.rollouts import RolloutWriter
    from agent.search.loop import search
    from agent.search.selection import BehaviourCache, agreement_votes
    from envs.problems import ProblemError, ProblemListError, load_problem

    started = datetime.now(timezone.utc)
    config = resolve_config(args)
    try:
        problem = load_problem(args.problem)
        strategy = wiring.build_strategy(config.search)
        settings = wiring.build_settings(config.search)
        budget = wiring.build_budget(config.search)
        wiring.check_policy(config.policy)
        if policy_factory is None:  # a model that cannot be found fails now, not after the sandbox and torch
            wiring.check_model(config.policy)
    except ProblemListError as exc:
        raise UsageError(f"{exc}; agent solve takes one problem: put it in a file of its own, or run them all "
                         f"with `agent bench {args.problem}`") from None
    except (ProblemError, wiring.WiringError) as exc:
        raise UsageError(str(exc)) from None
    out, made = _prepare_out(Path(args.out) if args.out else default_out(problem.id, strategy.name, started))

    with ExitStack() as stack:
        logs.to_file(out / logs.LOG_FILE)
        stack.callback(logs.stop_file)
        display = stack.enter_context(
            ProgressDisplay(f"{problem.id} [{strategy.name}]", budget, enabled=not args.no_progress))
        until = ("the budget is spent (--keep-going)" if not settings.stop_when_solved else
                 "the first visible solution" if settings.stop_votes == 1 else
                 f"{settings.stop_votes} visible solutions agree")
        display.line(f"solving {problem.id} with the {strategy.name} search, budget {wiring.describe_budget(budget)}, "
                     f"until {until}; files in {out}")
        if not problem.tests:  # e.g. a HumanEval record whose docstring shows no example call
            print(f"agent solve: {problem.id} has no visible tests: nothing can tell a right program from a wrong "
                  "one, so the search draws until its budget is spent and returns the likeliest program it wrote; "
                  "add tests (calls and expected values) to the problem file to let it check", file=sys.stderr)
        try:
            sandbox, lint, policy, load_s = _build_pieces(config, display, stack, policy_factory=policy_factory,
                                                          sandbox_factory=sandbox_factory, lint_factory=lint_factory)
        except (UsageError, KeyboardInterrupt) as exc:
            display.close("stopped before the search")
            stack.close()  # the log file too, before its folder goes
            _discard(out, made)
            if isinstance(exc, UsageError):
                raise
            print("agent solve: interrupted before the search started; nothing was written", file=sys.stderr)
            return EXIT_INTERRUPTED
        model = policy.name
        display.line(f"model {config.policy.model} loaded in {load_s:.1f}s; the policy is {model} "
                     f"({_explain_policy(model, policy)})")

        partial = out / (ROLLOUTS + PARTIAL_SUFFIX)
        partial.unlink(missing_ok=True)  # a stale one from an earlier run into the same folder
        rollouts = stack.enter_context(RolloutWriter(
            partial, problem_id=problem.id, model=model, seed=config.search.seed,
            config_hash=config.digest(), strategy=strategy.name))
        watched, lint, evaluate = display.watch(policy, lint, wiring.visible_evaluator(problem, sandbox))
        behaviours = BehaviourCache()  # outputs on the choice's extra inputs: the search's votes, then the choice
        votes = agreement_votes(problem.without_hidden_tests(), sandbox, config.selection, behaviours)
        result, choice, hidden, hidden_s = _search_and_judge(
            problem, config, display, lambda: search(problem, watched, lint=lint, evaluate=evaluate, strategy=strategy,
                                                     budget=budget, settings=settings,
                                                     on_node=_hooks(rollouts, display), on_batch=display.on_batch,
                                                     votes=votes),
            sandbox, propose_calls=policy.propose_calls, behaviours=behaviours)
        rollouts.close()
        timings = {"load_s": load_s, "hidden_s": hidden_s,
                   "total_s": (datetime.now(timezone.utc) - started).total_seconds()}
        record = result_record(result, problem_id=problem.id, problem=problem, problem_source=args.problem,
                               model=model, config=config,
                               budget=wiring.budget_dict(budget), hidden=hidden, timings=timings,
                               started_at=started.isoformat(timespec="seconds"))
        record["selection"] = choice.to_dict() if choice is not None else None  # the groups and why
        write_outputs(out, result, record, title=f"{problem.id}: {strategy.name} search")

    if result.solved:  # stdout carries a program only when it passes the visible tests
        sys.stdout.write(result.program.text)
        sys.stdout.flush()
    else:
        print(unsolved_note(record, out / SOLUTION), file=sys.stderr)
    print(summary_line(record), file=sys.stderr)
    print(f"files in {out}", file=sys.stderr)
    if result.stop_reason == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_SOLVED if result.solved else EXIT_UNSOLVED


def _build_pieces(config: Config, display, stack: ExitStack, *, policy_factory, sandbox_factory, lint_factory):
    """(sandbox, lint, policy, model load seconds), each from its factory (None: agent.wiring),
    the display saying which is being built. Raises UsageError when one cannot be built."""
    from agent import wiring
    from agent.output import logs

    try:
        display.phase("starting the sandbox")
        sandbox = (sandbox_factory or wiring.build_sandbox)(config.sandbox)
        stack.callback(sandbox.close)
        lint = (lint_factory or wiring.build_lint)(config.lint)
        display.phase(f"loading model {config.policy.model}")
        display.line(f"loading model {config.policy.model}")
        load_start = time.perf_counter()
        # The loader says when it converts a model once (a minute on a small CPU): show it here
        with logs.shown("policies.loading", display.note):
            policy = (policy_factory or wiring.build_policy)(config.policy)
        logs.route_libraries()  # the model's libraries are imported now
    except wiring.WiringError as exc:
        raise UsageError(str(exc)) from None
    return sandbox, lint, policy, time.perf_counter() - load_start


def _search_and_judge(problem, config: Config, display, run_search: Callable[[], SearchResult], sandbox,
                      propose_calls=None, behaviours=None):
    """The search, then the returned program chosen by agreement among the visible solutions
    (extra inputs from the visible tests only), then the hidden tests, once, on it.
    Returns (result, choice, hidden report, hidden seconds)."""
    from agent.search.selection import choose_returned
    from envs.sandbox import SandboxUnavailable
    from envs.scoring import score_problem

    result, choice = None, None
    try:
        try:  # search() itself turns Ctrl-C into stop_reason "interrupted"
            result = run_search()
        finally:  # the live line ends before the hidden tests and the results
            display.close("search over" if result is None else f"search over: {_ending(result)}")
        result, choice = choose_returned(result, problem, sandbox, config.selection, propose_calls, behaviours)
        hidden, hidden_s = _run_hidden(result, problem, sandbox, score_problem)
    except SandboxUnavailable as exc:
        raise UsageError(f"sandbox {config.sandbox.backend!r} failed: {exc}") from None
    except KeyboardInterrupt:  # after the search (display teardown, hidden run): its result stands
        if result is None:
            raise
        hidden, hidden_s, result = None, 0.0, dataclasses.replace(result, stop_reason="interrupted")
    return result, choice, hidden, hidden_s


def _ending(result: SearchResult) -> str:
    if result.solved:
        return "a visible solution"
    return {"budget": "budget spent", "exhausted": "nothing left to expand"}.get(result.stop_reason, result.stop_reason)


def _run_hidden(result: SearchResult, problem, sandbox, score_problem) -> tuple[Any, float]:
    """The hidden tests, once, on the returned program: (TestReport, or None when the problem
    has none; seconds)."""
    if not problem.hidden_tests:
        return None, 0.0
    start = time.perf_counter()
    report = score_problem(result.program, problem, sandbox, hidden=True)
    return report, time.perf_counter() - start
