"""One configuration under several seeds, side by side (`agent bench --seeds DIR... --out DIR`).

On HumanEval one seed's trajectory moves a problem or two either way, as much as most changes to
a search do, so a comparison worth trusting runs the configuration under several seeds. Runs
compare when they measured the same thing but for the seed: the same suite and model and the same
resolved config with the seed set aside (as `--pool` resolves it); only the strategies every run
has are compared, over the problems every run has a record for at every budget of them (the
others are counted in the output, never silently mixed in).

Per strategy and budget: deployable pass@1 and oracle coverage for each seed and their mean, the
mean tokens spent, and the gap between oracle and deployable with and without the choice by
agreement. Against plain sampling: each problem's difference averaged over its seeds, with an
interval over problems (agent.bench.paired.paired_over_seeds).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from agent.bench.budgets import parse_budgets
from agent.bench.paired import paired_over_seeds
from agent.bench.pool import resolved_config, run_strategies
from agent.bench.results import RESULTS, RUN, ResultsError, check_budget_rule, read_results, read_run_info
from agent.output.files import write_text_atomic

SEEDS_JSON, SEEDS_MD = "seeds.json", "seeds.md"
SAMPLE = "sample"


@dataclasses.dataclass(frozen=True)
class _Run:
    where: Path
    info: dict
    records: dict[tuple[str, str, str], dict]  # (strategy, budget, problem) -> record


def _read(where: Path) -> _Run:
    if not (where / RUN).exists():
        raise ResultsError(f"{where} holds no bench run (no {RUN})")
    info = read_run_info(where / RUN)
    rows = [r for r in read_results(where / RESULTS) if not r.get("contaminated")]
    check_budget_rule(rows, where / RESULTS)
    return _Run(where, info, {(r["strategy"], r["budget"], r["problem_id"]): r for r in rows})


def _without_seed(run: _Run):
    config = resolved_config(run.info, run.where)
    return dataclasses.replace(config, search=dataclasses.replace(config.search, seed=0))


def compare_seeds(dirs: list[Path]) -> dict:
    """The comparison (module docstring) of the runs in `dirs`, one per seed. Raises ResultsError
    naming the first run that does not fit and why."""
    if len(dirs) < 2:
        raise ResultsError("--seeds needs at least two bench folders, one per seed")
    runs = [_read(d) for d in dirs]
    first, seeds_seen = runs[0], {}
    for run in runs:
        for name in ("suite", "model"):
            if run.info.get(name) != first.info.get(name):
                raise ResultsError(f"{run.where}: its {name} is {run.info.get(name)!r}, {first.where}'s is "
                                   f"{first.info.get(name)!r}; only runs of the same {name} compare")
        seed = run.info.get("seed")
        if seed in seeds_seen:
            raise ResultsError(f"{run.where} and {seeds_seen[seed]} both ran seed {seed}; give one run per seed "
                               "(runs of one seed over parts of a suite: --pool them first)")
        seeds_seen[seed] = run.where
        if _without_seed(run) != _without_seed(first):
            raise ResultsError(f"{run.where}: its config differs from {first.where}'s beyond the seed and the "
                               "list of strategies; runs of different settings are not seeds of one configuration")
    runs.sort(key=lambda r: r.info["seed"])
    strategies = [s for s in run_strategies(first.info) if all(s in run_strategies(r.info) for r in runs)]
    if not strategies:
        raise ResultsError("the runs share no strategy: nothing to compare")
    budgets = parse_budgets(str(first.info["config"]["bench"]["budgets"])).labels
    problems = sorted(set.intersection(*(_complete_problems(r, strategies, budgets) for r in runs)))
    if not problems:
        raise ResultsError("no problem has records for every strategy and budget in every run: nothing to compare")
    chosen = set(problems)
    return {
        "suite": first.info["suite"], "model": first.info["model"],
        "seeds": [r.info["seed"] for r in runs],
        "runs": [{"dir": str(r.where), "seed": r.info["seed"], "config_hash": r.info.get("config_hash"),
                  "commits": _commits(r.info), "problems_left_out": len({k[2] for k in r.records} - chosen)}
                 for r in runs],
        "problems": len(problems), "budgets": budgets,
        "strategies": {s: [_budget_row(runs, s, b, problems) for b in budgets] for s in strategies},
        "versus_sampling": {s: {b: paired_over_seeds(_verdicts(runs, SAMPLE, b, problems),
                                                     _verdicts(runs, s, b, problems)) for b in budgets}
                            for s in strategies if s != SAMPLE and SAMPLE in strategies},
    }


def _commits(info: dict) -> list[str]:
    """The git commits (short) of the code that wrote the run: its start's and each resume's."""
    versions = [info.get("versions") or {}] + [r.get("versions") or {} for r in info.get("resumes", [])]
    commits = [(v.get("git") or {}).get("commit") for v in versions]
    return list(dict.fromkeys(c[:7] for c in commits if c))


def _complete_problems(run: _Run, strategies: list[str], budgets: list[str]) -> set[str]:
    ids = {k[2] for k in run.records}
    return {p for p in ids if all((s, b, p) in run.records for s in strategies for b in budgets)}


def _verdicts(runs: list[_Run], strategy: str, budget: str, problems: list[str]) -> list[list[bool]]:
    """Per problem, its hidden verdict under each seed."""
    return [[bool(r.records[(strategy, budget, p)]["hidden_passed"]) for r in runs] for p in problems]


def _own_pick(record: dict) -> bool:
    selection = record.get("selection")
    return bool(selection["baseline_hidden_passed"] if selection else record["hidden_passed"])


def _budget_row(runs: list[_Run], strategy: str, budget: str, problems: list[str]) -> dict:
    per_seed = [[r.records[(strategy, budget, p)] for p in problems] for r in runs]

    def counts(field):
        return [sum(bool(rec[field]) for rec in recs) for recs in per_seed]

    deployable, oracle = counts("hidden_passed"), counts("oracle")
    n, seeds = len(problems), len(runs)
    tokens = [rec["compute"]["tokens"] for recs in per_seed for rec in recs]
    has_choice = any(rec.get("selection") for recs in per_seed for rec in recs)
    has_visible_oracle = all("oracle_visible" in rec for recs in per_seed for rec in recs)
    return {
        "budget": budget, "deployable": deployable, "oracle": oracle,
        "deployable_pass1": sum(deployable) / (n * seeds), "oracle_coverage": sum(oracle) / (n * seeds),
        # the strategy's own pick, before the choice by agreement (None: records from before the choice)
        "deployable_without_choice": [sum(map(_own_pick, recs)) for recs in per_seed] if has_choice else None,
        # some visible solution passes the hidden tests: the ceiling of a choice (None: records from before it)
        "oracle_visible": counts("oracle_visible") if has_visible_oracle else None,
        "mean_tokens": sum(tokens) / len(tokens),
    }


# -- files ------------------------------------------------------------------------------------
def write_seeds(out: Path, comparison: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / SEEDS_JSON, json.dumps(comparison, indent=2) + "\n")
    write_text_atomic(out / SEEDS_MD, render_markdown(comparison))


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def render_markdown(c: dict) -> str:
    seeds = ", ".join(map(str, c["seeds"]))
    lines = ["# Several seeds", "",
             f"suite `{c['suite']}`, model `{c['model']}`, seeds {seeds}; {c['problems']} problems "
             "(those every run has at every budget).", "",
             "| run | seed | config | code (git commits) | problems left out |", "|---|---|---|---|---|"]
    lines += [f"| {r['dir']} | {r['seed']} | `{r['config_hash']}` | {', '.join(r['commits']) or '-'} | "
              f"{r['problems_left_out']} |" for r in c["runs"]]
    if len({tuple(r["commits"]) for r in c["runs"]}) > 1:
        lines += ["", "The runs were written by different code: a difference between seeds may be the code's. "
                  "Compare seeds of one commit where the code changed what a run does."]
    lines += ["", f"Problems solved per seed ({seeds}) and the mean share over seeds:", "",
              "| strategy | budget | deployable pass@1 | per seed | oracle coverage | per seed | mean tokens |",
              "|---|---|---|---|---|---|---|"]
    for name, rows in c["strategies"].items():
        for row in rows:
            lines.append(f"| {name} | {row['budget']} | {_pct(row['deployable_pass1'])} | "
                         f"{' / '.join(map(str, row['deployable']))} | {_pct(row['oracle_coverage'])} | "
                         f"{' / '.join(map(str, row['oracle']))} | {row['mean_tokens']:,.0f} |")
    if c["versus_sampling"]:
        lines += ["", "Deployable pass@1 minus sampling's, in points: each problem's difference averaged over the "
                  "seeds, the 95% interval over problems (per seed: problems solved, this strategy vs sampling):",
                  "", "| strategy | " + " | ".join(c["budgets"]) + " |", "|---|" + "---|" * len(c["budgets"])]
        for name, by_budget in c["versus_sampling"].items():
            cells = [f"{100 * d['difference']:+.1f} ({100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}; "
                     + ", ".join(f"{o} vs {b}" for o, b in zip(d["other"], d["base"])) + ")"
                     for d in (by_budget[b] for b in c["budgets"])]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    gaps = [(name, row) for name, rows in c["strategies"].items() for row in rows]
    lines += ["", "Oracle minus deployable, in problems summed over the seeds (what the returned program misses "
              "that some program of the run had): the strategy's own pick, after the choice by agreement, and "
              "the part no choice among visible solutions can reach (the oracle's programs fail a visible test):", "",
              "| strategy | budget | own pick | with the choice | out of a choice's reach |", "|---|---|---|---|---|"]
    for name, row in gaps:
        own = ("-" if row["deployable_without_choice"] is None
               else str(sum(row["oracle"]) - sum(row["deployable_without_choice"])))
        beyond = "-" if row.get("oracle_visible") is None else str(sum(row["oracle"]) - sum(row["oracle_visible"]))
        lines.append(f"| {name} | {row['budget']} | {own} | {sum(row['oracle']) - sum(row['deployable'])} | "
                     f"{beyond} |")
    return "\n".join(lines) + "\n"
