"""Does refining a near-miss pay more than drawing again? The REx decision, measured per 1,000 tokens.

For each problem: a first batch of fresh programs (as repeated sampling draws them). Where none
passes every visible test but some pass a few (near-misses), the best near-miss (visible
fraction, then log-prob) is refined by each arm below, and one more batch of fresh programs
is drawn beside them, the same number of rows each:

    fresh      more fresh programs (the same prompt as the first batch, a new seed)
    cut        cut children of the near-miss at its cut points (keep its code up to a point,
               the model rewrites the rest of the function), no feedback
    cut_tests  the same, the prompt also showing the near-miss's code and its failing visible
               tests (call, got, expected, or the exception); code and kept head leave out the
               docstring the task shows (the default, `policies.formats.elision`)
    cut_tests_whole  cut_tests with the docstring in the code and head, as before elision
    cut_tests_nocode cut_tests without the near-miss's code (its failing tests and the kept head only)
    free_tests a whole new function asked for with that code and those failures shown
    free_turns the same as a conversation: the task, the code as the model's answer, then the
               failures and the ask (`ContinuationFormat.feedback_turns`; docstring left out)
    cut_turns  cut_tests as that conversation, the kept head prefilled in the next answer

Per arm: the problems it solved (some program passes every visible test) and solved for real
(one of those passes the hidden tests too), its lint-clean programs, and the tokens it cost
(prompt tokens the model ran + generated; the prefix cache is warm from the first batch, as
in a search), and per 1,000 generated tokens alone: what a cut child would cost if it reused
its parent's own tokens (the head it keeps) instead of encoding them again. Hidden tests are run only here, after the fact, never shown to a policy.

Usage: python benchmarks/repair_yield.py [--problems 0-163] [--rows 8] [--seed 0] [--workers 2] [--out FILE]
                                         [--arms fresh,cut,cut_tests,...,free_turns,cut_turns]
                                         [--only SOME_OF_PROBLEMS]
Prints one line per arm and writes every problem's counts to FILE (JSON lines) when given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ARMS = ("fresh", "cut", "cut_tests", "cut_tests_whole", "cut_tests_nocode", "free_tests", "free_turns", "cut_turns")
_PIECES: dict = {}


def _pieces():
    """The worker's policy, lint gate and sandbox, built once."""
    if not _PIECES:
        import torch

        from agent.config import LintConfig, PolicyConfig, SandboxConfig
        from agent.wiring import build_lint, build_policy, build_sandbox

        torch.set_num_threads(1)
        _PIECES.update(policy=build_policy(PolicyConfig()), lint=build_lint(LintConfig()),
                       sandbox=build_sandbox(SandboxConfig(workers=1)))
    return _PIECES


def _judge(problem, proposals, lint, evaluate, hidden) -> dict:
    """Counts for one arm's proposals: lint-clean, visible solutions, hidden-passing solutions."""
    clean = solutions = real = 0
    for proposal in proposals:
        if proposal.program is None or not lint(proposal.program, None).ok:
            continue
        clean += 1
        if evaluate(proposal.program).all_passed:
            solutions += 1
            real += bool(hidden.passed(proposal.program))
    return {"clean": clean, "solutions": solutions, "real": real}


def run_problem(args: tuple) -> dict:
    problem, rows, seed, arms = args
    from agent.bench.hidden import HiddenJudge
    from agent.search.tree import failure_lines
    from agent.wiring import visible_evaluator
    from envs.locations import cut_locations
    from policies.base import CallCaps, State

    pieces = _pieces()
    policy, lint, sandbox = pieces["policy"], pieces["lint"], pieces["sandbox"]
    view, evaluate, hidden = problem.without_hidden_tests(), visible_evaluator(problem, sandbox), HiddenJudge(problem, sandbox)
    caps = CallCaps(stop_doomed=True)
    policy.reset()
    first = policy.sample_programs(view, rows, seed=seed, caps=caps)
    scored = []
    for proposal in first.proposals:
        if proposal.program is not None and lint(proposal.program, None).ok:
            scored.append((evaluate(proposal.program), proposal))
    record = {"problem_id": problem.id, "first_tokens": first.prompt_tokens_encoded + first.generated_tokens,
              "first_solutions": sum(r.all_passed for r, _ in scored)}
    near = [(r, p) for r, p in scored if 0 < r.fraction < 1]
    if record["first_solutions"] or not near:
        return record
    report, parent = max(near, key=lambda rp: (rp[0].fraction, rp[1].logprob))
    feedback = failure_lines(report, program=parent.program)
    points = cut_locations(parent.program, problem.entry_point, report=report)[:4] or (None,)
    per_point = max(1, rows // len(points))
    record["parent_fraction"] = report.fraction
    for arm in arms:
        start = time.perf_counter()
        policy.fmt.elide_docstring = arm != "cut_tests_whole"
        policy.fmt.feedback_shows_code = arm != "cut_tests_nocode"
        policy.fmt.feedback_turns = arm.endswith("_turns")
        if arm == "fresh":
            batch = policy.sample_programs(view, rows, seed=seed + 1, caps=caps)
        elif arm in ("free_tests", "free_turns"):
            batch = policy.propose(view, State(parent.program, feedback=feedback), [None], rows, seed=seed + 1, caps=caps)
        else:
            state = State(parent.program, feedback=feedback if arm != "cut" else ())
            batch = policy.propose(view, state, list(points), per_point, seed=seed + 1, caps=caps)
        counts = _judge(problem, batch.proposals, lint, evaluate, hidden)
        counts.update(samples=len(batch.proposals), tokens=batch.prompt_tokens_encoded + batch.generated_tokens,
                      generated=batch.generated_tokens, seconds=round(time.perf_counter() - start, 2))
        record[arm] = counts
    return record


def summarise(records: list[dict]) -> list[str]:
    hard = [r for r in records if "parent_fraction" in r]
    lines = [f"repair_yield problems={len(records)} first_batch_solved={sum(bool(r['first_solutions']) for r in records)} "
             f"near_miss_only={len(hard)}"]
    for arm in [a for a in ARMS if any(a in r for r in hard)]:
        tokens = sum(r[arm]["tokens"] for r in hard)
        solved = sum(r[arm]["solutions"] > 0 for r in hard)
        real = sum(r[arm]["real"] > 0 for r in hard)
        sols = sum(r[arm]["solutions"] for r in hard)
        reals = sum(r[arm]["real"] for r in hard)
        clean = sum(r[arm]["clean"] for r in hard)
        samples = sum(r[arm]["samples"] for r in hard)
        seconds = sum(r[arm]["seconds"] for r in hard)
        k = 1000 / max(tokens, 1)
        line = (f"arm={arm} samples={samples} tokens={tokens} problems_solved={solved} problems_solved_hidden={real} "
                f"visible_solutions={sols} hidden_passing={reals} lint_clean={clean} "
                f"per_1k_tokens: solutions={sols * k:.2f} hidden_passing={reals * k:.2f} lint_clean={clean * k:.2f} "
                f"s_per_1k_tokens={seconds * k:.1f}")
        if all("generated" in r[arm] for r in hard):  # records before it kept only the sum
            generated = sum(r[arm]["generated"] for r in hard)
            g = 1000 / max(generated, 1)
            # what the arm would cost if its prompt were held already (a cut child's head is its
            # parent's own tokens): generated tokens only, the price of a cut child that reused them
            line += (f" generated={generated} per_1k_generated: solutions={sols * g:.2f} "
                     f"hidden_passing={reals * g:.2f}")
        lines.append(line)
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", default="0-163", help="HumanEval indices, e.g. 0-163 or 0-39,80-81")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--only", default=None,
                        help="run only these of --problems, each keeping its seed (its place in --problems): "
                             "another arm for the problems an earlier run refined")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, from {', '.join(ARMS)}")
    args = parser.parse_args(argv)
    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
    if not arms or set(arms) - set(ARMS):
        parser.error(f"--arms: choose from {', '.join(ARMS)}")
    from agent.bench.problem_ids import expand_problem_ids
    from envs.problems import load_humaneval

    by_id = {p.id: p for p in load_humaneval()}
    spec = ",".join(f"HumanEval/{item.strip()}" for item in args.problems.split(","))
    problems = [by_id[i] for i in expand_problem_ids(spec, by_id)]
    tasks = [(p, args.rows, args.seed * 1000 + i, arms) for i, p in enumerate(problems)]
    if args.only:
        only = set(expand_problem_ids(",".join(f"HumanEval/{item.strip()}" for item in args.only.split(",")), by_id))
        tasks = [task for task in tasks if task[0].id in only]
    records = []
    with ProcessPoolExecutor(args.workers) as pool:
        for record in pool.map(run_problem, tasks):
            records.append(record)
            print(json.dumps(record), file=sys.stderr, flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(record) + "\n")
    print("\n".join(summarise(records)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
