"""What a prompt shape buys per 1,000 tokens: the sampling draws of one or more `agent bench` runs.

For each run folder (its results.jsonl; the `sample` strategy's largest budget carries every draw),
counts the draws that were well formed (the format turned them into a program), lint clean,
passed every visible test and passed the hidden tests, and divides by the tokens they cost
(prompt encoded + generated, as the bench counts them). Prints one line per run:

    draws run=<dir> problems=<p> draws=<d> tokens=<t> well_formed=<a> lint_clean=<b> visible=<c> hidden=<h> \
        per_1k_tokens: well_formed=<> lint_clean=<> visible=<> hidden=<> tokens_per_draw=<>

Compare runs on the same problems (`--problems` of `agent bench`): only problems present in every
run given are counted.

Usage: python benchmarks/draw_quality.py RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def largest_sample_records(run: Path) -> dict[str, dict]:
    """problem id -> the `sample` record of the largest budget (the one holding every draw)."""
    best: dict[str, dict] = {}
    for line in (run / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("strategy") == "sample" and record.get("draws"):
            old = best.get(record["problem_id"])
            if old is None or len(record["draws"]) > len(old["draws"]):
                best[record["problem_id"]] = record
    return best


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.split("Usage: ")[1].strip(), file=sys.stderr)
        return 2
    runs = {Path(a): largest_sample_records(Path(a)) for a in argv}
    common = set.intersection(*(set(records) for records in runs.values()))
    for run, records in runs.items():
        draws = [d for pid in sorted(common) for d in records[pid]["draws"]]
        tokens = sum(d["tokens"] for d in draws)
        counts = {
            "well_formed": sum(d["program"] is not None for d in draws),
            "lint_clean": sum(bool(d.get("lint_ok")) for d in draws),
            "visible": sum(d.get("visible") == 1.0 for d in draws),
            "hidden": sum(bool(d.get("hidden_passed")) for d in draws),
        }
        per_k = " ".join(f"{k}={1000 * v / max(tokens, 1):.2f}" for k, v in counts.items())
        print(f"draws run={run} problems={len(common)} draws={len(draws)} tokens={tokens} "
              + " ".join(f"{k}={v}" for k, v in counts.items())
              + f" per_1k_tokens: {per_k} tokens_per_draw={tokens / max(len(draws), 1):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
