"""What a refinement's prompt costs, with and without the docstring left out: a replay on a bench run.

A refinement (a cut child with feedback, `policies.formats.continuation`) shows its parent's code
and failing visible tests, then prefills the head it keeps. The prefix cache holds the fresh
prompt, so what the call pays is the refinement prompt's tokens after the longest prefix it
shares with that prompt. For every draw of the run's `sample` records that fails some visible
test (its parent), at each of its first four cut points (as the search and
`benchmarks/repair_yield.py` take them), this prints the mean of those new prompt tokens with
the docstring in the code and head (`whole`), without it (`elided`, the default,
`policies.formats.elision`) and without the parent's code as well (`nocode`: the failing tests
and the kept head), as a conversation (`turns`: the task, the parent's code as the model's
answer, its failures as the user's reply, `ContinuationFormat.feedback_turns`), and a whole
rewrite asked for in that conversation (`turns_whole`, once a parent, not per cut point), and
the fresh prompt's length and a draw's generated tokens beside them:

    refine_prompt parents=<draws> near_misses=<of them, some visible test passed> prompts=<parents x cut points>
    refine_prompt variant=<whole|elided|nocode|turns|turns_whole> new_tokens_mean=<mean> median=<median> near_miss_mean=<mean over near-misses>
    refine_prompt fresh_prompt_mean=<tokens> draw_generated_mean=<tokens>

Visible tests run in the sandbox (as the search runs them); nothing reads a hidden test; the
model is not loaded (its tokenizer is).

    python benchmarks/refine_prompt_cost.py runs/he164 [more runs ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="`agent bench` folders with samples.jsonl (sample's draws)")
    args = parser.parse_args(argv)
    from transformers import AutoTokenizer

    from agent.config import LintConfig, SandboxConfig
    from agent.search.tree import failure_lines
    from agent.wiring import build_lint, build_sandbox, visible_evaluator
    from envs.locations import cut_locations
    from envs.problems import load_humaneval
    from envs.program import Program
    from policies.base import State
    from policies.formats.continuation import ContinuationFormat
    from policies.loading import QWEN_SPEC, locate
    from policies.prefix_cache import _common_prefix

    draws: dict[str, list[str]] = defaultdict(list)
    for run in args.runs:
        for line in (run / "samples.jsonl").read_text().splitlines():
            sample = json.loads(line)
            draws[sample["task_id"]].append(sample["completion"])
    tokenizer = AutoTokenizer.from_pretrained(locate(QWEN_SPEC)[1])
    fmt = ContinuationFormat(tokenizer, mode="free_cut", fresh="cut")  # the code model's default (policy.fresh: auto)
    lint, sandbox = build_lint(LintConfig()), build_sandbox(SandboxConfig(workers=1))
    ids = lambda text: tokenizer(text)["input_ids"]  # noqa: E731
    # (elide, show code, as a conversation)
    variants = {"whole": (False, True, False), "elided": (True, True, False), "nocode": (True, False, False),
                "turns": (True, True, True)}
    new = {name: [] for name in [*variants, "turns_whole"]}
    near = {name: [] for name in new}
    fresh_lengths, generated, parents, near_misses = [], [], 0, 0
    for problem in load_humaneval():
        if problem.id not in draws:
            continue
        view = problem.without_hidden_tests()
        fresh = ids(fmt.render_program_prompt(view).text)
        fresh_lengths.append(len(fresh))
        evaluate = visible_evaluator(view, sandbox)
        for completion in draws[problem.id]:
            generated.append(len(ids(completion)))
            program = Program.from_text(problem.prompt + completion)
            if not lint(program, None).ok:
                continue
            report = evaluate(program)
            if report.all_passed:
                continue
            parents += 1
            near_misses += report.fraction > 0
            feedback = failure_lines(report, program=program)

            def count(variant: str, location) -> None:
                prompt = ids(fmt.render_prompt(view, State(program, feedback=feedback), location).text)
                cost = len(prompt) - _common_prefix(prompt, fresh)
                new[variant].append(cost)
                if report.fraction > 0:
                    near[variant].append(cost)

            for location in cut_locations(program, problem.entry_point, report=report)[:4]:
                for variant, (elide, show_code, turns) in variants.items():
                    fmt.elide_docstring, fmt.feedback_shows_code, fmt.feedback_turns = elide, show_code, turns
                    count(variant, location)
            fmt.elide_docstring, fmt.feedback_shows_code, fmt.feedback_turns = True, True, True
            count("turns_whole", None)
    print(f"refine_prompt parents={parents} near_misses={near_misses} prompts={len(new['whole'])} "
          f"(turns_whole: {len(new['turns_whole'])})")
    for variant, costs in new.items():
        print(f"refine_prompt variant={variant} new_tokens_mean={statistics.mean(costs):.1f} "
              f"median={statistics.median(costs):.0f} near_miss_mean={statistics.mean(near[variant]):.1f}")
    print(f"refine_prompt fresh_prompt_mean={statistics.mean(fresh_lengths):.1f} "
          f"draw_generated_mean={statistics.mean(generated):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
