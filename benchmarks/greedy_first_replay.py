"""rex's first fresh program drawn greedily (`search.rex.fresh_temperatures`), replayed from two bench runs.

With no refinement (budgets where rex refines nothing: `refine_min_tokens`), rex's fresh programs
are sampling's draws, but for the temperatures of the first ones: every draw has its own seed, so
draw k at the policy's temperature is the same program whatever draw 0 was. Its draws with
`fresh_temperatures = [0]` are then the greedy run's one draw followed by the sample run's draws
1, 2, ...; this script takes them in that order while their tokens (the prompt once, then each
draw's generated tokens) fit the tokens sampling spent at each budget, and returns what the
choice by agreement picks among their visible solutions (the greedy one ranked likeliest), with
the run's own selection settings. A draw that would overrun the budget is dropped (the search
cuts it there, worth nothing). Hidden verdicts come from the records (judged after each run).

It is a replay, not the search: draws are taken one after another, where the search draws the
greedy program in a call of its own and the rest in calls of several rows that share the tokens
(the budget may cut a row the sequence would have finished, or leave room for one it drops), and
it has only the sample run's n draws (the search may draw one more where the greedy program is
short). `agent bench` with rex is the measurement; this says what to expect in a minute.

    agent bench humaneval --strategies sample --budgets 1,2,5 --n 5 --out runs/he164        # T = 1 draws
    agent bench humaneval --strategies sample --budgets 1 --n 1 --temperature 0 \\
        --set search.sample.batch_size=1 --out runs/he164-greedy                             # the greedy draw
    python benchmarks/greedy_first_replay.py runs/he164 runs/he164-greedy

prints per budget: problems, sampling's deployable pass@1 (as recorded), the greedy-first
replay's, their paired difference (95% interval; problems only one side solved), oracle coverage
of each, draws a problem, and the greedy draw alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from choice_replay import _report

from agent import wiring
from agent.bench.paired import paired_difference
from agent.bench.results import read_results, read_run_info
from agent.config import config_from_dict
from agent.search.selection import BehaviourCache, choose
from agent.search.tree import EdgeInfo, SearchTree
from envs.problems import load_problems
from envs.program import Program


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sample_run", type=Path, help="a finished `agent bench` folder with sample records (n >= the largest budget)")
    parser.add_argument("greedy_run", type=Path, help="the same suite's `sample` run at --temperature 0, n = 1")
    parser.add_argument("--at", type=int, default=0,
                        help="the greedy draw's place in the stream (fresh_temperatures with 0 at this index, null before it)")
    args = parser.parse_args()

    info = read_run_info(args.sample_run / "run.json")
    config = config_from_dict(info["config"], "run.json config")
    records = [r for r in read_results(args.sample_run / "results.jsonl") if r["strategy"] == "sample"]
    greedy = {r["problem_id"]: r["draws"][0] for r in read_results(args.greedy_run / "results.jsonl")
              if r["strategy"] == "sample" and r.get("draws")}
    largest = {r["problem_id"]: r for r in records if "draws" in r}
    problems = {p.id: p for p in load_problems(info["suite"])}
    budgets = sorted({r["budget_value"] for r in records})
    sandbox = wiring.build_sandbox(config.sandbox)
    try:
        for k in budgets:
            base, mine, base_oracle, mine_oracle, draws_used, alone, fits = [], [], [], [], [], [], []
            for record in sorted((r for r in records if r["budget_value"] == k), key=lambda r: r["problem_id"]):
                pid = record["problem_id"]
                if pid not in greedy:
                    continue
                sampled = largest[pid]["draws"]
                order = {d: i for i, d in enumerate(largest[pid]["selection"]["candidates"])}
                stream = sampled[:args.at] + [greedy[pid]] + sampled[args.at + 1:]
                draws = _within(stream, record["compute"]["tokens"], args.at)
                problem = problems[pid].without_hidden_tests()
                chosen = _choice(problem, draws, order, sandbox, config.selection, args.at)
                base.append(bool(record["hidden_passed"]))
                mine.append(bool(chosen is not None and chosen["hidden_passed"]))
                base_oracle.append(bool(record["oracle"]))
                mine_oracle.append(any(d["hidden_passed"] for d in draws if d["program"]))
                draws_used.append(len(draws))
                alone.append(bool(greedy[pid]["hidden_passed"]))
                fits.append(any(d is greedy[pid] for d in draws))
            n = len(base)
            diff = paired_difference(base, mine)
            lo, hi = diff["ci95"]
            print(f"greedy_first budget={k} problems={n} sample={100 * sum(base) / n:.1f}% greedy_first={100 * sum(mine) / n:.1f}% "
                  f"difference={100 * diff['difference']:+.1f} ({100 * lo:+.1f}, {100 * hi:+.1f}; "
                  f"{diff['only_other']}/{diff['only_base']}) oracle_sample={100 * sum(base_oracle) / n:.1f}% "
                  f"oracle_greedy_first={100 * sum(mine_oracle) / n:.1f}% draws={sum(draws_used) / n:.2f} "
                  f"greedy_alone={100 * sum(alone) / n:.1f}% greedy_fits={100 * sum(fits) / n:.1f}%")
    finally:
        sandbox.close()


def _within(draws: list[dict], tokens: int, at: int) -> list[dict]:
    """The draws, in order, whose tokens fit `tokens`: the prompt once (carried by the first
    draw of either run, as its `tokens`), then each draw's generated tokens."""
    prompt = draws[0]["tokens"] - draws[0]["generated_tokens"]
    kept, spent = [], prompt
    for draw in draws:
        spent += draw["generated_tokens"]
        if spent > tokens:
            break
        kept.append(draw)
    return kept


def _choice(problem, draws: list[dict], order: dict[str, int], sandbox, settings, at: int) -> dict | None:
    """The draw the choice by agreement returns among the draws' visible solutions (the greedy
    draw, at `at`, ranked likeliest; the others in the sample run's recorded order), else the best
    visible score's; None when no draw was admitted."""
    tree = SearchTree(problem.starter, None, root_clean=True)
    tree.set_report(tree.root, _report(problem, 0.0))
    by_digest = {}
    for i, draw in enumerate(draws):
        if not (draw["program"] and draw["lint_ok"]) or draw["visible"] is None:
            continue
        program = Program.from_text(draw["program"])
        if program.digest in by_digest:
            continue
        by_digest[program.digest] = draw
        rank = 0 if i == at else 1 + order.get(program.digest, len(order))
        tree.add_child(tree.root, program, EdgeInfo(None, None, logprob=-float(rank)))
        tree.set_report(program.digest, _report(problem, draw["visible"] if draw["visible"] >= 1.0 else min(draw["visible"], 0.99)))
    if not by_digest:
        return None
    choice = choose(tree.nodes(), problem, sandbox, settings, cache=BehaviourCache())
    return by_digest.get(choice.chosen)


if __name__ == "__main__":
    main()
