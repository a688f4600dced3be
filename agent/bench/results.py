"""The files of a bench run that make it resumable: results.jsonl and run.json.

results.jsonl  one record per problem x strategy x budget (`agent.bench.unit` RECORD). A
               unit's records are appended by the parent process in one write, then flushed
               and fsynced, so a run killed at any point (even `kill -9`) leaves complete lines
               and at most one truncated last line. `read_results` ignores that line and
               `open_results` cuts it off before appending, so the next record starts a line.
run.json       what the run is: command line, suite, model, seed, config (+ digest), package
               versions, start time and the times it was resumed. Resuming checks that the
               suite, model, seed and config are the ones recorded (`check_resume`).

A (problem, strategy, budget) key is finished when its line is complete; `--resume` skips
finished keys and re-runs a unit with any key missing, writing only the missing records
(runs are deterministic for a seed, so the re-run agrees with what was written before).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import IO, Iterable

log = logging.getLogger(__name__)

RESULTS, RUN = "results.jsonl", "run.json"
RESUME_FIELDS = ("suite", "model", "seed", "config_hash")  # must match to continue a run


class ResultsError(ValueError):
    """results.jsonl or run.json cannot be used; the message names the file and the fix."""


def record_key(record: dict) -> tuple[str, str, str]:
    return record["problem_id"], record["strategy"], record["budget"]


def read_results(path: Path) -> list[dict]:
    """Every complete record; a truncated last line (a killed run) is ignored."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]  # text after the last newline was never finished
    if tail.strip():
        log.warning("%s: ignoring a truncated last line (%d characters)", path, len(tail))
    records = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ResultsError(f"{path}:{number}: not a JSON record ({exc.msg}); "
                               "the file was edited by hand or is not a bench results file") from None
    return records


LOCK = ".lock"


def lock_run(out: Path) -> IO[str]:
    """Hold DIR/.lock (an exclusive flock) for as long as the returned file stays open: two
    benches appending to one results.jsonl (a second `--resume` while the first still runs)
    would run every unit left twice and write each record twice. The kernel drops the lock when
    the process ends, however it ends, so a killed run never leaves the folder locked."""
    import fcntl

    handle = (out / LOCK).open("a", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ResultsError(f"another agent bench is writing to {out} (it holds {out / LOCK}); wait for it to "
                           "finish or stop it, then --resume, or choose another --out") from None
    return handle


def open_results(path: Path) -> IO[str]:
    """results.jsonl opened for appending, a truncated last line cut off first."""
    if path.exists():
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with path.open("r+b") as handle:
                handle.truncate(end)
    return path.open("a", encoding="utf-8")


def append_records(handle: IO[str], records: Iterable[dict]) -> None:
    """One write for a unit's records, then flush and fsync: complete lines or a cut last one."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if text:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


TREE_BUDGET_SCHEMA = 2  # records from here on budget a tree search at what sampling spent (agent.bench.budgets)


def check_budget_rule(records: Iterable[dict], where: Path) -> None:
    """Raise ResultsError if tree-search records at samples-equivalent budgets predate schema 2:
    their limits were k x tokens per draw, which do not compare with this version's."""
    for record in records:
        if (record.get("budget_kind") == "samples" and record.get("budget_tokens") is not None
                and record.get("schema", 1) < TREE_BUDGET_SCHEMA):
            raise ResultsError(
                f"{where}: its {record['strategy']} records were budgeted at k x tokens per draw (record schema "
                f"{record.get('schema', 1)}), this version gives a tree search what sampling spent at each budget; "
                "the two do not mix. Use a new --out (to keep the sample runs: --sample-records-from this folder)")


def check_resume(recorded: dict, current: dict) -> None:
    """Raise ResultsError naming the first of RESUME_FIELDS that differs. The config compares
    resolved: a run recorded before a setting existed resumes at that setting's default."""
    for name in RESUME_FIELDS:
        if name == "config_hash" and _resolved_digest(recorded) == current.get(name):
            continue
        if recorded.get(name) != current.get(name):
            raise ResultsError(
                f"cannot resume: this run's {name} is {current.get(name)!r} but the folder's run.json "
                f"says {recorded.get(name)!r}; resume with the same suite, --model, --seed and config, "
                "or use a new --out")


def settings_added(recorded: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted names of the settings `current` (a config as a dict) has and `recorded` lacks: what
    a run recorded by an older version ran without (it resumes at their defaults)."""
    added = []
    for key, value in current.items():
        if key not in recorded:
            added.append(prefix + key)
        elif isinstance(value, dict) and isinstance(recorded[key], dict):
            added += settings_added(recorded[key], value, f"{prefix}{key}.")
    return added


def _resolved_digest(recorded: dict) -> str | None:
    """The digest of a recorded config with every setting it lacks at today's default."""
    from agent.config import ConfigError, config_from_dict

    try:
        return config_from_dict(recorded["config"]).digest()
    except (ConfigError, KeyError, TypeError):  # a setting this version no longer has: no match
        return None


def read_run_info(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: unreadable run record ({exc}); use a new --out") from None
