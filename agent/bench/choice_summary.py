"""The choice-by-agreement columns of the bench summary (agent.search.selection, agent.bench.unit).

Per strategy and budget, over the records that carry a `selection`:
    deployable_pass1_without_choice  share whose strategy's own pick (visible signals alone)
                                     passes the hidden tests; `deployable_pass1` is the chosen one's
    choice_changed                   share of problems where the choice returned another program
    choice_executions, choice_seconds  mean sandbox executions and seconds the choice cost
    choice_policy_tokens             mean tokens the policy spent proposing example calls (0 unless
                                     selection.policy_answers > 0)
    choice_extra_compute             choice seconds (sandbox + policy) / search seconds, summed over problems
"""

from __future__ import annotations


def choice_columns(records: list[dict]) -> dict:
    chosen = [r for r in records if r.get("selection")]
    seconds = sum(r["selection"]["sandbox_s"] + r["selection"].get("policy_s", 0.0) for r in chosen)
    search_s = sum(r["compute"]["wall_s"] for r in chosen)
    return {
        "deployable_pass1_without_choice": _mean([r["selection"]["baseline_hidden_passed"] for r in chosen]),
        "choice_changed": _mean([r["selection"]["changed"] for r in chosen]),
        "choice_executions": _mean([r["selection"]["executions"] for r in chosen]),
        "choice_seconds": _mean([r["selection"]["sandbox_s"] for r in chosen]),
        "choice_policy_tokens": _mean([r["selection"].get("policy_tokens", 0) for r in chosen]),
        "choice_extra_compute": seconds / search_s if chosen and search_s else None,
    }


def choice_table(summary: dict) -> list[str]:
    """Markdown lines: deployable pass@1 with and without the choice, beside oracle coverage."""
    rows = [(name, row) for name, entry in summary["strategies"].items() for row in entry["budgets"]
            if row.get("deployable_pass1_without_choice") is not None]
    if not rows:
        return []
    lines = ["", "Choice by agreement among visible solutions (agent/search/selection.py):", "",
             "| strategy | budget | deployable pass@1 without choice | with choice | best visible solution | "
             "oracle coverage | changed | executions | seconds | policy tokens | extra compute (of search seconds) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows:
        lines.append(f"| {name} | {row['budget']} | {_pct(row['deployable_pass1_without_choice'])} | "
                     f"{_pct(row['deployable_pass1'])} | {_pct(row.get('oracle_visible_coverage'))} | "
                     f"{_pct(row['oracle_coverage'])} | "
                     f"{_pct(row['choice_changed'])} | {_num(row['choice_executions'], '.1f')} | "
                     f"{_num(row['choice_seconds'], '.2f')} | {_num(row.get('choice_policy_tokens'), '.0f')} | "
                     f"{_pct(row['choice_extra_compute'])} |")
    lines += ["", "Best visible solution: some program passing every visible test passes the hidden tests, the "
              "most any choice among visible solutions can reach (on a problem without visible tests, any "
              "program the policy wrote); oracle coverage above it is out of the choice's reach (a hidden-passing "
              "program that fails a visible test)."]
    return lines


def _mean(values: list) -> float | None:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)
