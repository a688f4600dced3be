"""`agent solve` on the example problems with the real model: what is solved, at what cost.

Runs each example x strategy through `agent.cli.solve.run_solve` (the model, the lint gate and
the sandbox are built once and shared), writes each run's folder under `--out`, and prints
one line per run, then, as its last line, the share of search wall time not spent generating:

    solve example=<id> strategy=<s> solved=<bool> hidden_passed=<bool|None> tokens=<n> samples=<n> seconds=<s>
    solve non_lm_share=<(lint + sandbox + other) / wall, summed over all runs>

The target is non_lm_share <= 0.10: the lint gate and the sandbox must stay a small fraction
of what the model costs. Seconds are the search's wall time (model loading excluded).

    python benchmarks/solve.py                                   # every example, configured strategy
    python benchmarks/solve.py --strategies sample,best-first,beam,mcts --budget-tokens 30000
    python benchmarks/solve.py --examples sum_evens,fizzbuzz --config configs/my.yaml
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

from agent import wiring
from agent.cli import build_parser
from agent.config import load_config
from agent.cli.solve import run_solve

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("sum_evens", "fizzbuzz", "count_vowels", "max_of_three", "is_palindrome", "reverse_words",
            "run_length_encode", "second_largest")


class _Shared:
    """Builds each piece once and hands the same one to every run (close() at the end)."""

    def __init__(self) -> None:
        self.policy = self.sandbox = self.lint = None

    def policy_factory(self, config):
        if self.policy is None:
            self.policy = wiring.build_policy(config)
        return self.policy

    def sandbox_factory(self, config):
        if self.sandbox is None:
            self.sandbox = wiring.build_sandbox(config)
        return _Unclosed(self.sandbox)

    def lint_factory(self, config):
        if self.lint is None:
            self.lint = wiring.build_lint(config)
        return self.lint


class _Unclosed:
    """The shared sandbox, whose close() by one run must not stop it for the next."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox

    def run(self, *args, **kwargs):
        return self.sandbox.run(*args, **kwargs)

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", default=",".join(EXAMPLES), help="comma-separated example names")
    parser.add_argument("--strategies", default="", help="comma-separated; default: the config's strategy")
    parser.add_argument("--config", help="YAML config over configs/default.yaml")
    parser.add_argument("--budget-samples", type=int)
    parser.add_argument("--budget-tokens", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--out", default=f"runs/bench-solve-{time.strftime('%Y%m%d-%H%M%S')}")
    args = parser.parse_args()

    strategies = [s for s in args.strategies.split(",") if s] or [load_config(args.config).search.strategy]
    shared = _Shared()
    wall = non_lm = 0.0
    try:
        for example in args.examples.split(","):
            for strategy in strategies:
                flags = ["solve", str(ROOT / "examples" / f"{example}.json"), "--strategy", strategy,
                         "--out", str(Path(args.out) / f"{example}-{strategy}"), "--no-progress"]
                for flag in ("config", "budget_samples", "budget_tokens", "seed"):
                    if getattr(args, flag) is not None:
                        flags += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
                with contextlib.redirect_stdout(io.StringIO()):  # the solution text: in the run folder
                    run_solve(build_parser().parse_args(flags), policy_factory=shared.policy_factory,
                              sandbox_factory=shared.sandbox_factory, lint_factory=shared.lint_factory)
                result = json.loads((Path(args.out) / f"{example}-{strategy}" / "result.json").read_text())
                c = result["compute"]
                wall += c["wall_s"]
                non_lm += c["lint_s"] + c["sandbox_s"] + c["other_s"]
                print(f"solve example={example} strategy={strategy} solved={result['solved']} "
                      f"hidden_passed={result['hidden_passed']} tokens={c['tokens']} samples={c['samples']} "
                      f"seconds={c['wall_s']:.1f}", flush=True)
    finally:
        if shared.sandbox is not None:
            shared.sandbox.close()
    print(f"solve non_lm_share={non_lm / wall if wall else 0.0:.3f}")


if __name__ == "__main__":
    main()
