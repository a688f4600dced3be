"""report.html of a bench run: a page to browse a study problem by problem.

One self-contained file (styles inline, coverage.png embedded as a data URI, nothing fetched):
the run, the summary table (per strategy and budget), the plot, then one row per problem with
a cell per strategy at the largest budget: solved (visible tests), hidden outcome, tokens.
Each cell opens the returned program in place (report.html#programs opens them all) and links
to the search tree picture that the bench run wrote beside the page (`trees/<problem>-<strategy>.html`; `sample` has none).

    write_tree(out, "HumanEval/0", "mcts", html)        # as each unit finishes
    write_report(out, summary, records, out / "coverage.png")
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from agent.output.files import write_text_atomic

REPORT = "report.html"
TREES = "trees"

OVERSHOOT = ("A policy call stops generating where a token budget ends, so a run exceeds its budget by the "
             "last decoding step at most (one token for each row still writing); the compute columns show what "
             "was actually spent.")


def tree_name(problem_id: str, strategy: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{problem_id}-{strategy}").strip("._") or "tree"
    return f"{TREES}/{safe}.html"


def write_tree(out: Path, problem_id: str, strategy: str, page: str) -> None:
    path = out / tree_name(problem_id, strategy)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, page)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def _summary_table(summary: dict) -> str:
    head = ("strategy", "budget", "problems", "deployable pass@1", "oracle coverage", "visible solved",
            "samples", "tokens", "generated", "seconds")
    rows = []
    for name, entry in summary["strategies"].items():
        for row in entry["budgets"]:
            cells = (name, str(row["budget"]) + (" †" if row.get("overshot") else ""), str(row["problems"]), _pct(row["deployable_pass1"]),
                     _pct(row["oracle_coverage"]), _pct(row["visible_solved"]), _num(row["mean_samples"], ".1f"),
                     _num(row["mean_tokens"]), _num(row["mean_generated_tokens"]), _num(row["mean_seconds"], ".1f"))
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return ("<table class='summary'><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join(rows) + "</table>")


def _cell(out: Path, record: dict | None) -> str:
    if record is None:
        return "<td class='none'>not run</td>"
    solved = record.get("solved")
    hidden = {True: "hidden passed", False: "hidden failed", None: "no hidden tests"}[record.get("hidden_passed")]
    tokens = record.get("compute", {}).get("tokens")
    verdict = "solved" if solved else "not solved"
    css = "pass" if record.get("hidden_passed") else ("visible" if solved else "fail")
    tree = tree_name(record["problem_id"], record["strategy"])
    link = (f" · <a href='{html.escape(tree)}'>tree</a>" if (out / tree).exists() else "")
    program = html.escape(record.get("program") or "")
    return (f"<td class='{css}'><b>{verdict}</b>, {hidden}<br>{_num(tokens)} tokens{link}"
            f"<details><summary>program</summary><pre>{program}</pre></details></td>")


def render(out: Path, summary: dict, records: list[dict], plot: Path | None) -> str:
    run = summary.get("run") or {}
    strategies = list(summary["strategies"])
    largest = summary["budgets"][-1] if summary["budgets"] else None
    by_key = {(r["problem_id"], r["strategy"]): r for r in records if r["budget"] == largest}
    problems = list(dict.fromkeys(r["problem_id"] for r in records))
    rows = []
    for pid in problems:
        cells = "".join(_cell(out, by_key.get((pid, s))) for s in strategies)
        rows.append(f"<tr><th>{html.escape(pid)}</th>{cells}</tr>")
    image = ""
    if plot is not None and plot.exists():
        data = base64.b64encode(plot.read_bytes()).decode("ascii")
        image = f"<img alt='coverage against compute' src='data:image/png;base64,{data}'>"
    title = f"bench: {Path(str(run.get('suite', ''))).name or 'suite'} with {run.get('model', '?')}"
    return _PAGE.format(
        title=html.escape(title),
        run=html.escape(f"suite {run.get('suite')}, model {run.get('model')}, seed {run.get('seed')}, "
                        f"config {run.get('config_hash')}, budgets in {run.get('budget_kind', '?')}; "
                        f"{summary['problems']} problems"),
        summary=_summary_table(summary), overshoot=html.escape(OVERSHOOT), image=image,
        largest=html.escape(str(largest)),
        head="".join(f"<th>{html.escape(s)}</th>" for s in strategies), rows="".join(rows))


def write_report(out: Path, summary: dict, records: list[dict], plot: Path | None) -> Path:
    path = out / REPORT
    write_text_atomic(path, render(out, summary, records, plot))
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.8em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; font-size: 14px; }}
table.summary td {{ text-align: right; }}
td.pass {{ background: #e3f6e3; }} td.visible {{ background: #fff6d5; }} td.fail {{ background: #fbe4e4; }}
td.none {{ color: #999; }}
pre {{ background: #f6f6f6; padding: 6px; max-width: 60ch; overflow-x: auto; font-size: 12px; }}
img {{ max-width: 100%; }}
.note {{ color: #555; max-width: 80ch; }}
</style></head><body>
<h1>{title}</h1>
<p>{run}</p>
<h2 id="summary">Summary</h2>
{summary}
<p class="note">Deployable: the program the strategy returns (chosen on visible tests) passes the hidden tests.
Oracle: some program it produced does. Compute columns are means per problem. † {overshoot}</p>
<h2 id="plot">Coverage against compute</h2>
{image}
<h2 id="problems">Problems (largest budget, {largest})</h2>
<p class="note">Green: hidden tests pass; yellow: visible tests pass, hidden fail; red: not solved.
Open "program" for the returned program (<a href="#programs">open all</a>), "tree" for the search tree.</p>
<table class="problems" id="programs"><tr><th>problem</th>{head}</tr>{rows}</table>
<script>
// report.html#programs opens every program (for reading them all, or a screenshot)
function openAll() {{ if (location.hash === "#programs") document.querySelectorAll("details").forEach(d => d.open = true); }}
window.addEventListener("hashchange", openAll); openAll();
</script>
</body></html>
"""
