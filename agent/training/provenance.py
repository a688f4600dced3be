"""Which benchmark problems a model was trained on, so `agent bench` never scores it on them.

Training data made from search rollouts (`agent export`) carries the ids of the problems it came
from. `agent export` writes them next to the data (`<data>.provenance.json`); `agent finetune`
copies the union of its inputs' ids into the model folder it saves (`training_problems.json`);
`agent bench` reads them back with `training_problem_ids(model_spec)` and refuses to score a model
on those problems unless told to flag them instead.

    {"problem_ids": ["HumanEval/0", ...], "sources": ["runs/he0-mcts-...", ...]}

Models that are not folders (the embedded default, a .gguf file, a hub id) have no record here,
so the answer for them is the empty set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

MODEL_FILE = "training_problems.json"  # in a model folder saved by `agent finetune`
DATA_SUFFIX = ".provenance.json"  # next to a data file written by `agent export`


class ProvenanceError(ValueError):
    """A provenance file exists but cannot be read; the message names it."""


def data_provenance_path(data_path: str | Path) -> Path:
    path = Path(data_path)
    return path.with_name(path.name + DATA_SUFFIX)


def write_provenance(path: str | Path, problem_ids: Iterable[str], sources: Iterable[str] = ()) -> None:
    """Write a provenance record atomically (temp file + rename)."""
    path = Path(path)
    record = {"problem_ids": sorted(set(problem_ids)), "sources": sorted(set(map(str, sources)))}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_provenance(path: str | Path) -> frozenset[str]:
    """The problem ids in a provenance file; empty when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return frozenset()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        ids = record["problem_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise TypeError("problem_ids must be a list of strings")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProvenanceError(f"{path}: unreadable provenance record ({exc})") from None
    return frozenset(ids)


def training_problem_ids(model_spec: str | Path) -> frozenset[str]:
    """Problem ids the model at `model_spec` was trained on (empty unless it is a finetuned folder)."""
    path = Path(model_spec)
    return read_provenance(path / MODEL_FILE) if path.is_dir() else frozenset()
