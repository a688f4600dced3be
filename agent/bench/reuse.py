"""Starting a run from another run's sampling draws (`agent bench ... --sample-records-from DIR`).

A search setting is studied against the same baseline: `sample` (and `sample+stop`) draws do
not depend on the search's own settings, so a run that changes only those need not draw them
again (on 82 HumanEval problems that is ~45 of the ~85 minutes of a run here). The draws are
reused only when they are what this run would draw: the same suite, model and seed, and the same
resolved config in everything sampling reads (the policy, sandbox, lint gate, the choice among
visible solutions, `search.sample`, the seed, the bench's budgets and n); the search's other
settings and the list of strategies may differ. Records are copied unchanged (each names the
config that wrote it), and run.json says where they came from and which code drew them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from agent.bench.pool import resolved_config
from agent.bench.results import RESULTS, RUN, ResultsError, read_results, read_run_info
from agent.bench.unit import SAMPLING


def _sampling_view(config):
    """What sampling reads of a resolved config: the search reduced to its seed and `sample` section
    (and the bench's without `anytime` and `spend_budget`, which only tree searches read, and the
    policy's without `feedback_prompt`, which only refinements read)."""
    search = config.search
    kept = dataclasses.replace(type(search)(), seed=search.seed, sample=search.sample)
    bench = dataclasses.replace(config.bench, anytime=True, spend_budget=True)
    policy = dataclasses.replace(config.policy, feedback_prompt=type(config.policy)().feedback_prompt)
    return dataclasses.replace(config, search=kept, bench=bench, policy=policy)


def _differences(a, b, prefix: str = "") -> list[str]:
    """Dotted names where two config dataclasses differ."""
    names = []
    for field in dataclasses.fields(a):
        left, right = getattr(a, field.name), getattr(b, field.name)
        if dataclasses.is_dataclass(left) and dataclasses.is_dataclass(right):
            names += _differences(left, right, f"{prefix}{field.name}.")
        elif left != right:
            names.append(f"{prefix}{field.name}")
    return names


def sample_records(source: Path, run_info: dict, problem_ids: list[str]) -> tuple[list[dict], dict]:
    """The `sample`/`sample+stop` records of `source` for `problem_ids`, and the provenance to
    keep in run.json. Raises ResultsError naming what does not match."""
    if not (source / RUN).exists():
        raise ResultsError(f"--sample-records-from {source}: it holds no bench run (no {RUN})")
    info = read_run_info(source / RUN)
    for name in ("suite", "model", "seed"):
        if info.get(name) != run_info.get(name):
            raise ResultsError(f"--sample-records-from {source}: its {name} is {info.get(name)!r}, this run's "
                               f"{run_info.get(name)!r}; its draws are not the ones this run would make")
    ours = resolved_config(run_info, Path("this run"))
    differ = _differences(_sampling_view(resolved_config(info, source)), _sampling_view(ours))
    if differ:
        raise ResultsError(f"--sample-records-from {source}: its config differs in what sampling reads "
                           f"({', '.join(differ)}); its draws are not the ones this run would make")
    records = read_results(source / RESULTS)  # its tree records may follow an older budget rule: not copied
    wanted = set(problem_ids)
    kept = [r for r in records if r["strategy"] in SAMPLING and r["problem_id"] in wanted]
    if not kept:
        raise ResultsError(f"--sample-records-from {source}: it has no sample records for these problems")
    provenance = {
        "from": str(source), "records": len(kept), "config_hash": info.get("config_hash"),
        "versions": info.get("versions"),
        "strategies": sorted({r["strategy"] for r in kept}),
    }
    if "sample_records_from" in info:  # those draws were themselves reused from an earlier run
        provenance["its_source"] = info["sample_records_from"]
    return kept, provenance
