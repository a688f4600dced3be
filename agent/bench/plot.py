"""coverage.png: coverage against compute, one colour per strategy, from summary.json.

Two panels share the y axis (share of problems solved): x = mean tokens per problem (prompt
tokens encoded + generated: the unit the budgets equalise, so equal budgets sit at equal x) and
x = mean FLOPs per problem, both log scale, at each budget's actual spend (not its nominal value,
so overshoot shows). Solid lines: oracle coverage; dashed: deployable pass@1;
for `sample` and `sample+stop` also dotted: unbiased pass@k at what k draws cost as `sample` draws
them (summary's pass_at_k_cost: its calls' prompts and k draws' generated tokens). Every point
is labelled with its budget. On a small run many points coincide (same cost, same share), so each strategy has
its own hollow marker size (the first is largest: coinciding points nest as rings), and its
labels a vertical offset of their own.

    plot_coverage(summary, Path("runs/bench/coverage.png"))

matplotlib is imported here only (Agg backend: no display needed).
"""

from __future__ import annotations

from pathlib import Path

from agent.output.files import write_atomic

PLOT = "coverage.png"
AXES = (("mean_tokens", "tokens", "tokens per problem (prompt encoded + generated)"),
        ("mean_flops", "flops", "FLOPs per problem"))


def y_top(summary: dict) -> float:
    """Where the y axis ends: 25% above the highest share plotted, between 0.1 and 1. Small
    shares (a 135M model on HumanEval: ~10%) would be a flat line at the bottom of a 0-1 axis."""
    shares = [0.0]
    for entry in summary["strategies"].values():
        shares += [r[key] or 0.0 for r in entry["budgets"] for key in ("oracle_coverage", "deployable_pass1")]
        shares += list((entry.get("pass_at_k") or {}).values())
    return min(1.0, max(0.1, 1.25 * max(shares)))


def _k_draws_cost(entry: dict, k: str, key: str) -> float | None:
    """What k draws cost (summary's pass_at_k_cost); summaries written before it: k x a draw's mean."""
    cost = (entry.get("pass_at_k_cost") or {}).get(k)
    if cost is not None:
        return cost.get(key)
    per_draw = (entry.get("per_draw") or {}).get(key)
    return None if per_draw is None else int(k) * per_draw


def plot_coverage(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    count = len(summary["strategies"])
    for (row_key, draw_key, label), ax in zip(AXES, axes):
        for i, (name, entry) in enumerate(summary["strategies"].items()):
            colour = colours[i % len(colours)]
            hollow = {"markersize": 6 + 4 * (count - 1 - i), "markerfacecolor": "none", "markeredgewidth": 1.8,
                      "alpha": 0.9}
            rows = [r for r in entry["budgets"] if r["problems"] and r[row_key]]
            xs = [r[row_key] for r in rows]
            ax.plot(xs, [r["oracle_coverage"] for r in rows], "-o", color=colour, label=f"{name} oracle", **hollow)
            ax.plot(xs, [r["deployable_pass1"] for r in rows], "--s", color=colour, label=f"{name} deployable",
                    **hollow)
            for r, x in zip(rows, xs):
                ax.annotate(str(r["budget"]), (x, r["oracle_coverage"]), textcoords="offset points",
                            xytext=(6, 6 + 10 * i), fontsize=7, color=colour)
            ks = sorted(entry.get("pass_at_k") or {}, key=int)
            xs = [_k_draws_cost(entry, k, draw_key) for k in ks]
            if ks and None not in xs:
                ax.plot(xs, [entry["pass_at_k"][k] for k in ks], ":^", color=colour, label=f"{name} pass@k", **hollow)
        ax.set_xscale("log")
        ax.set_xlabel(label + " (log)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("share of problems")
    top = y_top(summary)
    axes[0].set_ylim(-0.06 * top, 1.06 * top)  # room for hollow markers at 0 and at the top
    axes[1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    budget_kind = (summary.get("run") or {}).get("budget_kind", "")
    figure.text(0.01, 0.01, f"point labels: the budget ({budget_kind or 'budget'}), in the colour of its strategy",
                fontsize=8, color="#555")
    run = summary.get("run") or {}
    figure.suptitle(f"coverage vs compute: {Path(run.get('suite', '')).name} with {run.get('model', '')} "
                    f"({summary['problems']} problems)")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)
