"""One loop of expert iteration, as steps of the other commands (the logic of `agent iterate`).

    solve      agent bench SUITE --problems TRAIN (the base model's search on the training split)
    export     its visible-test solutions -> edit sequences from each task's starter (+ LintSeq samples)
    corpus     standard-library functions (optional)
    lintseq    ... framed as tasks: the starter (signature + docstring) is the first state
    finetune   the base model on both
    eval-base, eval-finetuned
               agent bench SUITE --problems EVAL, same search, seed and budgets, for each model
    compare    OUT/comparison.md and comparison.json from the two summaries

Every step runs in this process through `agent.cli.main`, so it writes what the command
writes (its own folder, summary, provenance). Hidden tests never choose training data: the
export keeps solutions by their visible tests. The finetuned model records the training
problems, so its evaluation refuses any of them (`agent bench`'s contamination check).

Resumable: OUT/iterate.json records the settings and each finished step; a rerun with the
same settings skips finished steps and continues the unfinished one (benches with --resume,
finetuning from its last checkpoint). A rerun with other settings is refused (new --out).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from agent.output.files import write_text_atomic

STATE = "iterate.json"


class IterateError(ValueError):
    """Settings that cannot run, or an OUT folder made with other settings."""


@dataclass(frozen=True)
class IterateSettings:
    suite: str
    train_problems: str
    eval_problems: str
    out: Path
    model: str = "smollm2"
    seed: int = 0
    workers: int = 1
    train_strategies: str = "rex"
    train_budget: str = "tokens:2000"
    export_lintseq_samples: int = 4
    stdlib_samples: int = 4  # 0: no standard-library data
    finetune_args: tuple[str, ...] = ("--lora", "--max-steps", "150", "--batch-size", "8", "--max-length", "512")
    eval_strategies: str = "sample,rex"
    eval_budgets: str = "1,5,10,20"
    eval_n: int = 20
    config: str | None = None  # a YAML config for every bench

    def record(self) -> dict:
        values = asdict(self)
        values.update(out=str(self.out), finetune_args=list(self.finetune_args))
        return values


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]  # an `agent` command line
    ok_statuses: tuple[int, ...] = (0,)  # export: 1 (no solution kept) still lets the loop go on


@dataclass
class Plan:
    settings: IterateSettings
    steps: list[Step] = field(default_factory=list)


def plan(settings: IterateSettings) -> Plan:
    """The command lines of every step (see the module docstring)."""
    s, out = settings, settings.out
    data = out / "data"
    bench_common = (["--config", s.config] if s.config else []) + ["--seed", str(s.seed), "--workers", str(s.workers)]
    expert, stdlib = data / "expert.jsonl", data / "stdlib-edits.jsonl"
    steps = [
        Step("solve", ("bench", s.suite, "--problems", s.train_problems, "--strategies", s.train_strategies,
                       "--budgets", s.train_budget, "--n", "1", "--model", s.model, "--out", str(out / "train-solve"),
                       *bench_common)),
        Step("export", ("export", str(out / "train-solve"), "--problems", s.suite, "--out", str(expert), "--lintseq-samples",
                        str(s.export_lintseq_samples), "--seed", str(s.seed)), ok_statuses=(0, 1)),
    ]
    if s.stdlib_samples:
        steps += [
            Step("corpus", ("corpus", "stdlib", "--out", str(data / "stdlib-pairs.jsonl"))),
            Step("lintseq", ("lintseq", str(data / "stdlib-pairs.jsonl"), "--framing", "task", "--samples",
                             str(s.stdlib_samples), "--seed", str(s.seed), "--out", str(stdlib))),
        ]
    steps.append(Step("finetune", ("finetune", str(expert), *([str(stdlib)] if s.stdlib_samples else []),
                                   "--model", s.model, "--out", str(out / "model"), "--seed", str(s.seed),
                                   *s.finetune_args)))
    for name, model in (("eval-base", s.model), ("eval-finetuned", str(out / "model"))):
        steps.append(Step(name, ("bench", s.suite, "--problems", s.eval_problems, "--strategies", s.eval_strategies,
                                 "--budgets", s.eval_budgets, "--n", str(s.eval_n), "--model", model,
                                 "--out", str(out / name), *bench_common)))
    return Plan(settings, steps)


def run_plan(the_plan: Plan, run_command: Callable[[list[str]], int], say: Callable[[str], None] = print) -> int:
    """Run the steps not yet finished; 0 when the comparison is written, else the failing
    step's exit status (the state file keeps what finished)."""
    out = the_plan.settings.out
    (out / "data").mkdir(parents=True, exist_ok=True)  # the commands write into folders that exist
    state = _read_state(out, the_plan.settings)
    for step in the_plan.steps:
        if step.name in state["finished"]:
            say(f"iterate: {step.name}: done before, skipped")
            continue
        argv = list(step.argv) + _resume_flags(step, out)
        if step.name == "finetune":
            argv = _without_empty_data(argv)
        say(f"iterate: {step.name}: agent {' '.join(argv)}")
        started = time.perf_counter()
        status = run_command(argv)
        if status not in step.ok_statuses:
            say(f"iterate: {step.name} failed (exit {status}); fix it and rerun the same command to continue")
            return status or 1
        state["finished"][step.name] = {"argv": argv, "status": status, "seconds": round(time.perf_counter() - started, 1)}
        _write_state(out, state)
    from agent.training.comparison import write_comparison

    write_comparison(out / "eval-base", out / "eval-finetuned", out)
    say(f"iterate: comparison in {out / 'comparison.md'}")
    return 0


def _resume_flags(step: Step, out: Path) -> list[str]:
    """--resume for a step that left work behind: a bench folder, finetuning checkpoints."""
    if step.argv[0] == "bench":
        folder = Path(step.argv[step.argv.index("--out") + 1])
        return ["--resume"] if (folder / "results.jsonl").is_file() else []
    if step.argv[0] == "finetune":
        return ["--resume"] if any((out / "model" / "checkpoints").glob("checkpoint-*")) else []
    return []


def _without_empty_data(argv: list[str]) -> list[str]:
    """Drop data files with no lines (an export that kept no solution); finetune needs one."""
    end = argv.index("--model")
    files = [a for a in argv[1:end] if Path(a).is_file() and Path(a).read_text(encoding="utf-8").strip()]
    if not files:
        raise IterateError("no training data: the export kept no solution and the standard-library data is off "
                           "(--stdlib-samples 0); raise the training budget or turn the stdlib data on")
    return [argv[0], *files, *argv[end:]]


def _read_state(out: Path, settings: IterateSettings) -> dict:
    path = out / STATE
    if not path.is_file():
        state = {"settings": settings.record(), "finished": {}}
        _write_state(out, state)
        return state
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise IterateError(f"{path}: unreadable ({exc}); remove it to start over") from None
    if state.get("settings") != settings.record():
        changed = sorted(k for k, v in settings.record().items() if state.get("settings", {}).get(k) != v)
        raise IterateError(f"{out} was started with other settings ({', '.join(changed)}); "
                           "rerun with the same ones to continue, or choose a new --out")
    return state


def _write_state(out: Path, state: dict) -> None:
    write_text_atomic(out / STATE, json.dumps(state, indent=2) + "\n")
