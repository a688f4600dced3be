"""Two bench runs of one strategy, paired by problem: e.g. sampling at two temperatures, or two models.

For every budget both runs recorded, over the problems both hold: deployable pass@1 and oracle
coverage of each, and B minus A with its 95% interval and the problems only one side solved
(agent.bench.paired). Nothing is rerun; hidden verdicts are the records' own.

    agent bench humaneval --strategies sample --budgets 1,2,5 --n 5 --out runs/t10
    agent bench humaneval --strategies sample --budgets 1,2,5 --n 5 --temperature 0.7 --out runs/t07
    python benchmarks/compare_runs.py runs/t10 runs/t07

prints, per budget:

    compare strategy=<s> budget=<k> problems=<n> a=<%> b=<%> difference=<points> (<lo>, <hi>; <only b>/<only a>)
            oracle_a=<%> oracle_b=<%> tokens_a=<mean> tokens_b=<mean>
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.bench.paired import paired_difference
from agent.bench.results import read_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path, help="a finished `agent bench` folder (the base)")
    parser.add_argument("b", type=Path, help="another, on some of the same problems")
    parser.add_argument("--strategy", default="sample", help="the strategy compared (default: sample)")
    args = parser.parse_args()
    a, b = _records(args.a, args.strategy), _records(args.b, args.strategy)
    shared = sorted(set(a) & set(b), key=lambda key: (key[1], key[0]))
    if not shared:
        raise SystemExit(f"compare: no problem and budget of strategy {args.strategy!r} is in both runs")
    for budget in sorted({k for _, k in shared}):
        keys = [key for key in shared if key[1] == budget]
        base, other = [bool(a[k]["hidden_passed"]) for k in keys], [bool(b[k]["hidden_passed"]) for k in keys]
        diff = paired_difference(base, other)
        lo, hi = diff["ci95"]
        n = len(keys)
        print(f"compare strategy={args.strategy} budget={budget} problems={n} a={100 * sum(base) / n:.1f}% "
              f"b={100 * sum(other) / n:.1f}% difference={100 * diff['difference']:+.1f} ({100 * lo:+.1f}, "
              f"{100 * hi:+.1f}; {diff['only_other']}/{diff['only_base']}) "
              f"oracle_a={100 * sum(bool(a[k]['oracle']) for k in keys) / n:.1f}% "
              f"oracle_b={100 * sum(bool(b[k]['oracle']) for k in keys) / n:.1f}% "
              f"tokens_a={sum(a[k]['compute']['tokens'] for k in keys) / n:.0f} "
              f"tokens_b={sum(b[k]['compute']['tokens'] for k in keys) / n:.0f}")


def _records(run: Path, strategy: str) -> dict[tuple[str, int], dict]:
    """(problem id, budget value) -> record, for one strategy of a run."""
    if not (run / "results.jsonl").is_file():
        raise SystemExit(f"compare: {run} holds no bench run (no results.jsonl)")
    return {(r["problem_id"], r["budget_value"]): r for r in read_results(run / "results.jsonl")
            if r["strategy"] == strategy}


if __name__ == "__main__":
    main()
