"""The choice by agreement with and without inputs the policy proposes, replayed on a bench run.

`agent bench` records, for every `sample` record, the visible solutions the choice ran (digests,
likeliest first), and its largest record keeps every draw's program and hidden verdict. This
script re-runs the choice on exactly those candidates: once as the bench ran it (mutated inputs
only: it must reproduce the recorded choice, and says how many it did), once with the policy also
asked for example calls (`selection.policy_answers`, `policies.calls`), and prints deployable
pass@1 without the choice, with each variant, oracle coverage, and what the policy's calls cost
beside the tokens sampling spent:

    choice budget=<k> problems=<n> without=<%> mutations=<%> with_policy=<%> oracle=<%> policy_tokens=<mean>
           extra_compute=<policy tokens / sampling tokens> changed_by_policy=<problems>
    choice replayed=<records whose recorded choice the replay reproduced>/<records with a choice>

Hidden verdicts are read from the records (judged after the run); nothing here reads a hidden
test. Only `sample` records are replayed (their candidates' programs are all in the draws).

    python benchmarks/choice_inputs.py runs/he0-163-free --answers 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

from agent import wiring
from agent.bench.results import read_results, read_run_info
from agent.config import load_config
from agent.search.selection import BehaviourCache, choose
from agent.search.tree import EdgeInfo, SearchTree
from envs.problems import load_problems
from envs.program import Program
from envs.testcase import TestOutcome, TestReport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a finished `agent bench` folder with sample records")
    parser.add_argument("--answers", type=int, default=4, help="policy answers asked for example calls")
    parser.add_argument("--max-policy-inputs", type=int, default=6)
    args = parser.parse_args()

    info = read_run_info(args.run / "run.json")
    records = [r for r in read_results(args.run / "results.jsonl") if r["strategy"] == "sample"]
    config = load_config(None)
    problems = {p.id: p for p in load_problems(info["suite"])}
    largest = {r["problem_id"]: r for r in records if "draws" in r}
    sandbox = wiring.build_sandbox(config.sandbox)
    policy = wiring.build_policy(config.policy)
    base = config.selection
    with_policy = dataclasses.replace(base, policy_answers=args.answers, max_policy_inputs=args.max_policy_inputs)
    rows: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    caches: dict[str, tuple[BehaviourCache, BehaviourCache]] = {}
    replayed = choices = 0
    try:
        for record in sorted(records, key=lambda r: (r["problem_id"], r["budget_value"])):
            row, selection = rows[record["budget"]], record["selection"]
            row["problems"] += 1
            row["sample_tokens"] += record["compute"]["tokens"]
            row["without"] += bool(selection["baseline_hidden_passed"])
            row["oracle"] += bool(record["oracle"])
            if len(selection["candidates"]) < 2:  # nothing to choose: the same program either way
                row["mutations"] += bool(record["hidden_passed"])
                row["with_policy"] += bool(record["hidden_passed"])
                continue
            problem = problems[record["problem_id"]].without_hidden_tests()
            draws = {Program.from_text(d["program"]).digest: d for d in largest[problem.id]["draws"] if d["program"]}
            tree = _tree(problem, [Program.from_text(draws[c]["program"]) for c in selection["candidates"]])
            plain_cache, policy_cache = caches.setdefault(problem.id, (BehaviourCache(), BehaviourCache()))
            plain = choose(tree.nodes(), problem, sandbox, base, cache=plain_cache, baseline=selection["baseline"])
            mine = choose(tree.nodes(), problem, sandbox, with_policy, cache=policy_cache,
                          baseline=selection["baseline"], propose_calls=policy.propose_calls)
            choices += 1
            replayed += plain.chosen == selection["chosen"]
            row["mutations"] += bool(draws[plain.chosen]["hidden_passed"])
            row["with_policy"] += bool(draws[mine.chosen]["hidden_passed"])
            row["policy_tokens"] += mine.policy_tokens
            row["changed_by_policy"] += mine.chosen != plain.chosen
    finally:
        sandbox.close()
    for budget, row in sorted(rows.items(), key=lambda item: int(item[0])):
        n = row["problems"]
        pct = {k: f"{100 * row[k] / n:.1f}%" for k in ("without", "mutations", "with_policy", "oracle")}
        print(f"choice budget={budget} problems={n:.0f} without={pct['without']} mutations={pct['mutations']} "
              f"with_policy={pct['with_policy']} oracle={pct['oracle']} policy_tokens={row['policy_tokens'] / n:.1f} "
              f"extra_compute={row['policy_tokens'] / row['sample_tokens']:.2%} "
              f"changed_by_policy={row['changed_by_policy']:.0f}")
    print(f"choice replayed={replayed}/{choices}")
    print(json.dumps({"run": str(args.run), "answers": args.answers, "max_policy_inputs": args.max_policy_inputs}))


def _tree(problem, programs: list[Program]) -> SearchTree:
    """The starter and the candidates as its children, likeliest first, each passing the visible tests."""
    tree = SearchTree(problem.starter, None, root_clean=True)
    tree.set_report(tree.root, TestReport(tuple(TestOutcome(t.name, "fail") for t in problem.tests)))
    for rank, program in enumerate(programs):
        tree.add_child(tree.root, program, EdgeInfo(None, None, logprob=-float(rank)))
        tree.set_report(program.digest, TestReport(tuple(TestOutcome(t.name, "pass") for t in problem.tests)))
    return tree


if __name__ == "__main__":
    main()
