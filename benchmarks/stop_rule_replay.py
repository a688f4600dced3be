"""When should a search stop after its first visible solution? Stop rules replayed on a bench run's `sample` draws.

A search that draws sampling's programs (rex's fresh arm) and stops at some point returns the
choice by agreement among the visible solutions drawn so far. This script replays, problem by
problem, sampling's draws in draw order up to the run's largest budget and applies each rule:

    first     stop at the first draw that passes every visible test (`agent solve`'s default)
    agree=k   stop once the choice's group holds k draws passing every visible test (duplicates
              count: a program drawn twice is two votes)
    all       draw the whole budget, then choose (`agent solve --keep-going`, `agent bench`)

and prints, per rule, deployable pass@1 (the returned program passes the hidden tests), the draws
and tokens a problem spent (the prompt once, then each draw's generated tokens), and the problems
it gains and loses against `all`:

    stop rule=<name> deployable=<%> (<problems>/<n>) draws=<mean> tokens=<mean> vs_all=+<gains>/-<losses>
    stop replayed=<recorded choices among 2+ visible solutions that `all` reproduces>/<such choices>

The visible solutions' likelihood order is the recorded one (the largest budget's candidates,
likeliest first), so `all` must reproduce the recorded choice. Hidden verdicts come from the
records (judged after the run); nothing here reads a hidden test.

    python benchmarks/stop_rule_replay.py runs/t07 --agree 2,3
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from agent import wiring
from agent.bench.results import read_results, read_run_info
from agent.config import config_from_dict
from agent.search.selection import BehaviourCache, choose
from agent.search.tree import EdgeInfo, SearchTree
from choice_replay import _report
from envs.problems import load_problems
from envs.program import Program


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a finished `agent bench` folder with sample records")
    parser.add_argument("--agree", default="2,3", help="the k of the agree=k rules, comma-separated")
    args = parser.parse_args()
    ks = [int(k) for k in args.agree.split(",") if k]

    info = read_run_info(args.run / "run.json")
    config = config_from_dict(info["config"], "run.json config")
    records = [r for r in read_results(args.run / "results.jsonl") if r["strategy"] == "sample"]
    largest = {r["problem_id"]: r for r in records if "draws" in r}
    top = {r["problem_id"]: r for r in records if r["budget_value"] == max(x["budget_value"] for x in records)}
    problems = {p.id: p for p in load_problems(info["suite"])}
    rules = ["first", *(f"agree={k}" for k in ks), "all"]
    totals = {rule: Counter() for rule in rules}
    wins: dict[str, list[bool]] = {rule: [] for rule in rules}
    reproduced = choices = 0
    sandbox = wiring.build_sandbox(config.sandbox)
    try:
        for pid, record in sorted(top.items()):
            problem = problems[pid].without_hidden_tests()
            draws = largest[pid]["draws"][:record["compute"]["samples"]]
            ranks = {d: i for i, d in enumerate(record["selection"]["candidates"])}
            outcome = _replay(problem, draws, ranks, record["compute"]["prompt_tokens"], ks, sandbox, config.selection)
            if len(ranks) >= 2:  # a choice among visible solutions was recorded: the replay must make it
                choices += 1
                reproduced += outcome["all"][3] == record["selection"]["chosen"]
            for rule in rules:
                passed, n, tokens, _ = outcome[rule]
                totals[rule].update(passed=passed, draws=n, tokens=tokens, problems=1)
                wins[rule].append(passed)
    finally:
        sandbox.close()
    for rule in rules:
        t = totals[rule]
        gains = sum(a and not b for a, b in zip(wins[rule], wins["all"]))
        losses = sum(b and not a for a, b in zip(wins[rule], wins["all"]))
        print(f"stop rule={rule} deployable={100 * t['passed'] / t['problems']:.1f}% ({t['passed']}/{t['problems']}) "
              f"draws={t['draws'] / t['problems']:.2f} tokens={t['tokens'] / t['problems']:.0f} vs_all=+{gains}/-{losses}")
    print(f"stop replayed={reproduced}/{choices}")


def _replay(problem, draws: list[dict], ranks: dict[str, int], prompt_tokens: int, ks: list[int], sandbox,
            settings) -> dict[str, tuple[bool, int, int, str]]:
    """Each rule's (hidden verdict of the returned program, draws, tokens, its digest)."""
    cache = BehaviourCache()
    verdicts = {Program.from_text(d["program"]).digest: bool(d["hidden_passed"]) for d in draws if d["program"]}
    tree = SearchTree(problem.starter, None, root_clean=True)
    tree.set_report(tree.root, _report(problem, 0.0))
    votes: Counter[str] = Counter()
    out: dict[str, tuple[bool, int, int, str]] = {}
    tokens = prompt_tokens
    for i, draw in enumerate(draws):
        tokens += draw["generated_tokens"]
        admitted = draw["program"] and draw["lint_ok"] and draw["visible"] is not None
        solved = admitted and draw["visible"] == 1.0
        if admitted:
            program = Program.from_text(draw["program"])
            votes[program.digest] += solved
            if program.digest not in tree:
                tree.add_child(tree.root, program, EdgeInfo(None, None, logprob=-float(ranks.get(program.digest, 1e6))))
                tree.set_report(program.digest, _report(problem, 1.0 if solved else min(draw["visible"], 0.99)))
        last = i == len(draws) - 1
        if not (solved or last):
            continue
        choice = choose(tree.nodes(), problem, sandbox, settings, cache=cache)
        group = next((g for g in choice.groups if choice.chosen in g), (choice.chosen,))
        agreeing = sum(votes[d] for d in group)
        result = (verdicts.get(choice.chosen, False), i + 1, tokens, choice.chosen)
        if "first" not in out and (solved or last):
            out["first"] = result
        for k in ks:
            if f"agree={k}" not in out and (agreeing >= k or last):
                out[f"agree={k}"] = result
        if last:
            out["all"] = result
    return out


if __name__ == "__main__":
    main()
