"""Base vs finetuned on the same problems, search, seed and budgets: comparison.md / .json / .png.

    write_comparison(Path("runs/it/eval-base"), Path("runs/it/eval-finetuned"), Path("runs/it"))

Reads each bench folder's summary.json (rates, pass@k, well-formed and lint-rejection rates)
and results.jsonl (each problem's hidden verdict, for the paired difference). The difference
of deployable pass@1 is paired by problem: d = mean(finetuned_i - base_i), with a 95% interval
from the normal approximation (d +- 1.96 * sd / sqrt(n)) and the discordant counts (problems
only the finetuned model solved / only the base did), since a few dozen problems cannot
separate small differences. Problems either side left out as contaminated are not compared.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent.bench.paired import paired_difference as bench_paired_difference
from agent.output.files import write_atomic, write_text_atomic

MD, JSON, PNG = "comparison.md", "comparison.json", "comparison.png"


class ComparisonError(ValueError):
    """A bench folder without a summary, or two runs that did not measure the same thing."""


def _read(folder: Path) -> tuple[dict, dict]:
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        lines = (folder / "results.jsonl").read_text(encoding="utf-8").splitlines()
    except (OSError, json.JSONDecodeError) as exc:
        raise ComparisonError(f"{folder}: no readable bench summary ({exc}); run agent bench there first") from None
    verdicts: dict = {}
    for line in lines:
        record = json.loads(line)
        if not record.get("contaminated"):
            verdicts[(record["strategy"], record["budget"], record["problem_id"])] = bool(record.get("hidden_passed"))
    return summary, verdicts


def paired_difference(base: list[bool], tuned: list[bool]) -> dict:
    """`agent.bench.paired.paired_difference`, its sides named base and finetuned."""
    d = bench_paired_difference(base, tuned)
    return {"problems": d["problems"], "base": d["base"], "finetuned": d["other"], "difference": d["difference"],
            "ci95": d["ci95"], "only_finetuned": d["only_other"], "only_base": d["only_base"]}


def compare(base_dir: Path, tuned_dir: Path) -> dict:
    base, base_verdicts = _read(base_dir)
    tuned, tuned_verdicts = _read(tuned_dir)
    if base["budgets"] != tuned["budgets"] or base["run"].get("seed") != tuned["run"].get("seed"):
        raise ComparisonError(f"{base_dir} and {tuned_dir} used different budgets or seeds; nothing to compare")
    rows = []
    for strategy in [s for s in base["strategies"] if s in tuned["strategies"]]:
        for budget in base["budgets"]:
            keys = sorted(k[2] for k in base_verdicts if k[:2] == (strategy, budget)
                          and (strategy, budget, k[2]) in tuned_verdicts)
            paired = paired_difference([base_verdicts[(strategy, budget, p)] for p in keys],
                                       [tuned_verdicts[(strategy, budget, p)] for p in keys])
            entry = {"strategy": strategy, "budget": budget, **paired}
            for name, summary in (("base", base), ("finetuned", tuned)):
                cell = next(b for b in summary["strategies"][strategy]["budgets"] if b["budget"] == budget)
                entry[f"{name}_oracle"] = cell["oracle_coverage"]
                entry[f"{name}_tokens"] = cell["mean_tokens"]
            rows.append(entry)
    rates = {name: {s: {k: v for k, v in entry.items() if k in ("well_formed_rate", "lint_rejection_rate", "pass_at_k")}
                    for s, entry in summary["strategies"].items()}
             for name, summary in (("base", base), ("finetuned", tuned))}
    return {"base": {"folder": str(base_dir), **base["run"]}, "finetuned": {"folder": str(tuned_dir), **tuned["run"]},
            "rows": rows, "rates": rates}


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render_markdown(result: dict) -> str:
    lines = [f"# Base vs finetuned: {result['base']['model']} vs {result['finetuned']['model']}", "",
             f"Same suite, search, seed ({result['base'].get('seed')}) and budgets (samples-equivalent: each model's "
             "own tokens per sample). Deployable pass@1 = the returned program passes the hidden tests; oracle = some "
             "program the run produced does. Difference paired by problem, 95% normal interval; `+a/-b`: problems "
             "only the finetuned / only the base model solved.", "",
             "| strategy | budget | base deployable | finetuned deployable | difference (95% CI) | +a/-b | "
             "base oracle | finetuned oracle | tokens base / finetuned |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        n = r["problems"]
        low, high = r["ci95"]
        lines.append(f"| {r['strategy']} | {r['budget']} | {_pct(r['base'] / n if n else None)} ({r['base']}/{n}) | "
                     f"{_pct(r['finetuned'] / n if n else None)} ({r['finetuned']}/{n}) | "
                     f"{100 * r['difference']:+.1f} ({100 * low:+.1f}, {100 * high:+.1f}) | "
                     f"+{r['only_finetuned']}/-{r['only_base']} | {_pct(r['base_oracle'])} | {_pct(r['finetuned_oracle'])} | "
                     f"{r['base_tokens']:,.0f} / {r['finetuned_tokens']:,.0f} |")
    lines += ["", "| model | strategy | well-formed | lint-rejected | pass@k (sample) |", "|---|---|---|---|---|"]
    for name, strategies in result["rates"].items():
        for strategy, rates in strategies.items():
            passk = ", ".join(f"@{k} {_pct(v)}" for k, v in (rates.get("pass_at_k") or {}).items()) or "-"
            lines.append(f"| {name} | {strategy} | {_pct(rates.get('well_formed_rate'))} | "
                         f"{_pct(rates.get('lint_rejection_rate'))} | {passk} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4.5))
    for strategy in dict.fromkeys(r["strategy"] for r in result["rows"]):
        rows = [r for r in result["rows"] if r["strategy"] == strategy]
        budgets = [int(r["budget"]) if r["budget"].isdigit() else i for i, r in enumerate(rows)]
        for name, style in (("base", "--"), ("finetuned", "-")):
            ax.plot(budgets, [r[name] / max(1, r["problems"]) for r in rows], style, marker="o",
                    label=f"{strategy}, {name}")
    ax.set_xlabel("budget (samples-equivalent)")
    ax.set_ylabel("deployable pass@1 (share of problems)")
    ax.set_xscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(figure)


def write_comparison(base_dir: Path, tuned_dir: Path, out: Path) -> dict:
    result = compare(base_dir, tuned_dir)
    write_text_atomic(out / JSON, json.dumps(result, indent=2) + "\n")
    write_text_atomic(out / MD, render_markdown(result))
    plot(result, out / PNG)
    return result
