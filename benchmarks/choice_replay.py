"""The choice by agreement replayed on a bench run's `sample` records, as recorded and with other settings.

`agent bench` records, for every `sample` record, the visible solutions the choice ran (digests,
likeliest first), and its largest record keeps every draw's program, visible score and hidden
verdict. This script rebuilds each budget's tree from those draws (the visible solutions, and the
other lint-admitted draws with their visible scores) and re-runs the choice twice: once with the
run's own selection settings (it must reproduce the recorded choice, and says how many it did),
once with `--set` overrides of `selection.*`, e.g. `policy_answers=4` (the policy also proposes
example calls, `policies.calls`) or `voters=all` (the other draws vote for the group they behave
like). It prints deployable pass@1 without the choice, with each, the best visible solution, oracle
coverage, and what the variant cost beside the tokens sampling spent; `first` is what stopping at
the first visible solution returns (the first draw, in draw order, passing every visible test,
after `first_draws` draws a problem on average; the budget's draws when none does):

    choice budget=<k> problems=<n> first=<%> first_draws=<mean> without=<%> recorded=<%> variant=<%>
           best_visible=<%> oracle=<%>
           policy_tokens=<mean> executions=<recorded>/<variant> extra_compute=<policy tokens / sampling tokens>
           changed_by_variant=<problems>
    choice budget=<k> not_reproduced=<problem>:<recorded program's hidden verdict>-><the replay's> ...
    choice replayed=<records whose recorded choice the replay reproduced>/<records with a choice>

Hidden verdicts are read from the records (judged after the run); nothing here reads a hidden
test. Only `sample` records are replayed (their programs are all in the draws).

    python benchmarks/choice_replay.py runs/he0-81 --set voters=all
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import yaml

from agent import wiring
from agent.bench.results import read_results, read_run_info
from agent.config import config_from_dict
from agent.search.selection import BehaviourCache, choose
from agent.search.tree import EdgeInfo, SearchTree
from envs.problems import load_problems
from envs.program import Program
from envs.testcase import TestOutcome, TestReport


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a finished `agent bench` folder with sample records")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a selection setting of the variant (repeatable), e.g. voters=all")
    args = parser.parse_args()

    info = read_run_info(args.run / "run.json")
    config = config_from_dict(info["config"], "run.json config")
    base = config.selection
    overrides = dict(_parse(item) for item in args.set)
    try:
        variant = dataclasses.replace(base, **overrides)
    except (TypeError, ValueError) as exc:  # an unknown key, or a value the settings refuse
        valid = ", ".join(f.name for f in dataclasses.fields(base))
        raise SystemExit(f"--set: {exc} (selection settings: {valid})") from None
    records = [r for r in read_results(args.run / "results.jsonl") if r["strategy"] == "sample"]
    problems = {p.id: p for p in load_problems(info["suite"])}
    largest = {r["problem_id"]: r for r in records if "draws" in r}
    sandbox = wiring.build_sandbox(config.sandbox)
    policy = wiring.build_policy(config.policy) if variant.policy_answers > 0 else None
    rows: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    caches: dict[str, tuple[BehaviourCache, BehaviourCache]] = {}
    replayed = choices = 0
    moved: dict[str, list[str]] = defaultdict(list)
    try:
        for record in sorted(records, key=lambda r: (r["problem_id"], r["budget_value"])):
            row, selection = rows[record["budget"]], record["selection"]
            row["problems"] += 1
            row["sample_tokens"] += record["compute"]["tokens"]
            row["without"] += bool(selection["baseline_hidden_passed"])
            row["best_visible"] += bool(record.get("oracle_visible"))
            row["oracle"] += bool(record["oracle"])
            budget_draws = largest[record["problem_id"]]["draws"][:record["compute"]["samples"]]
            first = next((i for i, d in enumerate(budget_draws) if d["program"] and d["lint_ok"] and d["visible"] == 1.0), None)
            row["first"] += bool(first is not None and budget_draws[first]["hidden_passed"])
            row["first_draws"] += len(budget_draws) if first is None else first + 1
            if len(selection["candidates"]) < 2:  # nothing to choose: the same program either way
                row["recorded"] += bool(record["hidden_passed"])
                row["variant"] += bool(record["hidden_passed"])
                continue
            problem = problems[record["problem_id"]].without_hidden_tests()
            draws = largest[problem.id]["draws"][:record["compute"]["samples"]]  # this budget's draws
            verdicts = {Program.from_text(d["program"]).digest: d["hidden_passed"] for d in draws if d["program"]}
            tree = _tree(problem, record["selection"]["candidates"], draws)
            plain_cache, variant_cache = caches.setdefault(problem.id, (BehaviourCache(), BehaviourCache()))
            plain = choose(tree.nodes(), problem, sandbox, base, cache=plain_cache, baseline=selection["baseline"])
            mine = choose(tree.nodes(), problem, sandbox, variant, cache=variant_cache, baseline=selection["baseline"],
                          propose_calls=policy.propose_calls if policy else None)
            choices += 1
            replayed += plain.chosen == selection["chosen"]
            if plain.chosen != selection["chosen"]:  # this code chooses otherwise than the run's did
                moved[record["budget"]].append(f"{problem.id}:{_mark(record['hidden_passed'])}->{_mark(verdicts[plain.chosen])}")
            row["recorded"] += bool(verdicts[plain.chosen])
            row["variant"] += bool(verdicts[mine.chosen])
            row["policy_tokens"] += mine.policy_tokens
            row["executions_recorded"] += plain.executions
            row["executions_variant"] += mine.executions
            row["changed_by_variant"] += mine.chosen != plain.chosen
    finally:
        sandbox.close()
    for budget, row in sorted(rows.items(), key=lambda item: int(item[0])):
        n = row["problems"]
        pct = {k: f"{100 * row[k] / n:.1f}%" for k in ("first", "without", "recorded", "variant", "best_visible", "oracle")}
        print(f"choice budget={budget} problems={n:.0f} first={pct['first']} first_draws={row['first_draws'] / n:.2f} "
              f"without={pct['without']} recorded={pct['recorded']} "
              f"variant={pct['variant']} best_visible={pct['best_visible']} oracle={pct['oracle']} "
              f"policy_tokens={row['policy_tokens'] / n:.1f} "
              f"executions={row['executions_recorded']:.0f}/{row['executions_variant']:.0f} "
              f"extra_compute={row['policy_tokens'] / row['sample_tokens']:.2%} "
              f"changed_by_variant={row['changed_by_variant']:.0f}")
    for budget, changes in sorted(moved.items(), key=lambda item: int(item[0])):
        print(f"choice budget={budget} not_reproduced={' '.join(changes)}")
    print(f"choice replayed={replayed}/{choices}")
    print(json.dumps({"run": str(args.run), "variant": overrides}))


def _mark(hidden_passed) -> str:
    return "pass" if hidden_passed else "fail"


def _parse(item: str) -> tuple[str, object]:
    key, sep, value = item.partition("=")
    if not sep:
        raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. voters=all")
    return key.removeprefix("selection."), yaml.safe_load(value)


def _tree(problem, candidates: list[str], draws: list[dict]) -> SearchTree:
    """The starter and this budget's lint-admitted draws as its children: the recorded candidates
    (likeliest first) passing the visible tests, the other draws with their visible scores."""
    tree = SearchTree(problem.starter, None, root_clean=True)
    tree.set_report(tree.root, _report(problem, 0.0))
    programs = {Program.from_text(d["program"]).digest: d for d in draws if d["program"] and d["lint_ok"]}
    for rank, digest in enumerate(candidates):
        tree.add_child(tree.root, Program.from_text(programs[digest]["program"]),
                       EdgeInfo(None, None, logprob=-float(rank)))
        tree.set_report(digest, _report(problem, 1.0))
    for digest, draw in programs.items():
        if digest not in candidates and draw["visible"] is not None:
            tree.add_child(tree.root, Program.from_text(draw["program"]), EdgeInfo(None, None, logprob=-1e6))
            tree.set_report(digest, _report(problem, min(draw["visible"], 0.99)))
    return tree


def _report(problem, fraction: float) -> TestReport:
    """A visible report passing `fraction` of the tests (below 1: at least one fails)."""
    n = len(problem.tests)
    passed = n if fraction >= 1.0 else min(int(fraction * n + 1e-9), n - 1)
    return TestReport(tuple(TestOutcome(t.name, "pass" if i < passed else "fail") for i, t in enumerate(problem.tests)))


if __name__ == "__main__":
    main()
