"""How often the search's call sizing cuts one of sampling's draws: a replay on a bench run.

rex's fresh arm draws sampling's own programs, in its order (agent.search.rex), but at a token
budget its calls must guess how many rows the tokens left can finish: the rows of a call share
them and the sampler cuts every row still writing where they end. A cut draw of sampling's is a
program sampling had and the search lost. This replays every problem x samples-equivalent budget
of a run's `sample` records through that sizing (the loop's `samples_that_fit`, then the
policy's clip after the prompt at ROW_MARGIN, `policies.lm`), the rows of a call decoding side by
side, and counts the problem-budgets where a draw of sampling's was cut, and the calls made:

    sizing rule=<name> budget=<k> cut=<problem-budgets> calls=<mean a problem>

Rules: `mean`, the mean length of the samples that ended so far (the sizing before
`policies.base.expected_sample_tokens`), and `prior`, that function (the prior, half the
length cap, as one more sample). Draw lengths are exact where the records pin them (draws 1 and
2 from budgets 1 and 2); within a later stretch of budgets, whose sum is exact, they are shared
out in proportion to the tokens of each draw's recorded completion. The first call pays the
prompt, later calls nothing (the prefix cache keeps a whole prompt's logits). Nothing here runs
the model; it needs the run's folder and the code model's tokenizer.

    python benchmarks/call_sizing.py runs/he164
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from agent.bench.results import read_results, read_run_info
from agent.search.budget import ComputeStats, samples_that_fit
from policies.base import expected_sample_tokens
from policies.lm import ROW_MARGIN


def draw_lengths(records: dict[int, dict], completions: list[int]) -> list[int]:
    """Generated tokens of each draw: each budget's sum from its record, shared out within a
    stretch of budgets in proportion to the completions' token counts."""
    lengths: list[int] = []
    spent = done = 0
    for budget in sorted(records):
        total = records[budget]["compute"]["generated_tokens"] - spent
        weights = [max(1, w) for w in completions[done:budget]]
        share = [max(1, round(total * w / sum(weights))) for w in weights]
        share[-1] += total - sum(share)
        lengths += share
        spent, done = spent + total, budget
    return lengths


def decode(lengths: list[int], allowance: int) -> tuple[list[bool], int]:
    """Rows decoded side by side, one token a row a step, until `allowance` ends: which rows
    finished, and the tokens spent (all of them once a row is cut)."""
    finished = [False] * len(lengths)
    left, step, active = allowance, 0, len(lengths)
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        need = (lengths[i] - step) * active
        if need > left:
            return finished, allowance
        left -= need
        step, active = lengths[i], active - 1
        finished[i] = True
    return finished, allowance - left


def expected_length(stats: ComputeStats, prior: float, rule: str) -> float:
    if rule == "prior":
        return expected_sample_tokens(stats.whole_sample_tokens, stats.whole_samples, prior)
    return stats.whole_sample_tokens / stats.whole_samples if stats.whole_samples else prior


def replay(lengths: list[int], prompt: int, tokens: int, budget: int, *, rows: int, prior: float,
           rule: str) -> tuple[bool, int]:
    """(whether one of draws 0..budget-1 was cut, calls made) for the fresh arm at `tokens`."""
    stats = ComputeStats()
    drawn, calls, cut = 0, 0, False
    while tokens - stats.tokens > 0:
        left = tokens - stats.tokens
        expected = expected_length(stats, prior, rule)
        fit = samples_that_fit(left, stats, prior=prior) if rule == "prior" else max(1, int(left // expected))
        cost = prompt if calls == 0 else 0
        paid = max(1, int((left - cost) // max(1.0, ROW_MARGIN * expected)))
        n = min(rows, fit, paid)
        if cost + n > left:
            break
        later = [round(sum(lengths) / len(lengths))] * (drawn + n)  # beyond sampling's draws: their mean
        batch = (lengths + later)[drawn:drawn + n]
        finished, spent = decode(batch, left - cost)
        calls += 1
        whole = [length for length, done in zip(batch, finished) if done]
        stats = ComputeStats(samples=stats.samples + n, prompt_tokens=stats.prompt_tokens + cost,
                             generated_tokens=stats.generated_tokens + spent,
                             whole_samples=stats.whole_samples + len(whole),
                             whole_sample_tokens=stats.whole_sample_tokens + sum(whole))
        cut |= any(not done and drawn + i < budget for i, done in enumerate(finished))
        drawn += n
        if not all(finished):
            break
    return cut, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished `agent bench` folder with sample records")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from policies.loading import QWEN_SPEC, locate

    config = read_run_info(args.run / "run.json")["config"]
    search, policy = config["search"], config["policy"]
    rows = search["rex"]["fresh_rows"] or search["samples_per_location"] * search["max_locations"]
    prior = policy["max_new_tokens"] / 2
    tokenizer = AutoTokenizer.from_pretrained(locate(QWEN_SPEC)[1])
    completions: dict[str, list[int]] = defaultdict(list)
    for line in (args.run / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        completions[sample["task_id"]].append(len(tokenizer(sample["completion"])["input_ids"]))
    records: dict[str, dict[int, dict]] = defaultdict(dict)
    for record in read_results(args.run / "results.jsonl"):
        if record["strategy"] == "sample" and record["budget_kind"] == "samples":
            records[record["problem_id"]][record["budget_value"]] = record
    for rule in ("mean", "prior"):
        for budget in sorted({b for by in records.values() for b in by}):
            cuts = calls = 0
            for problem, by_budget in records.items():
                lengths = draw_lengths(by_budget, completions[problem])
                record = by_budget[budget]
                cut, n = replay(lengths, record["compute"]["prompt_tokens"], record["compute"]["tokens"], budget,
                                rows=rows, prior=prior, rule=rule)
                cuts, calls = cuts + cut, calls + n
            print(f"sizing rule={rule} budget={budget} cut={cuts} calls={calls / len(records):.2f}")


if __name__ == "__main__":
    main()
