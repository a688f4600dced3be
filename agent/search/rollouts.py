"""Rollout records: one JSON line per search node, the raw material of `agent export`.

A record says how the node's program was reached and what it was worth:

    problem_id, node (digest), parent (digest or null), depth, strategy
    root_program   the starter program's text (the state the edit path starts from)
    program        this node's program text
    edit_path      LintSeq diff texts (envs.diff.render_lintseq), root -> node, one per edit
    states         per state along the path, root first: digest, lint_ok, lint_messages,
                   score (visible fraction or null), passed, total
    edge           the last edit's location, log-prob and token counts (null for the root)
    compute        the search's cumulative ComputeStats when the node was recorded
    model, seed, config_hash

`replay(record)` rebuilds every state from `root_program` and `edit_path` (and checks the
digests), so the edit path alone is enough to make edit-sequence training data.

Writing appends one complete line per record in a single write, then flushes: an interrupted
run leaves at most one truncated last line, which `read_rollouts` skips with a warning.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Any, Iterator

from agent.search.budget import ComputeStats
from agent.search.tree import Node, SearchTree
from envs.diff import apply_text, render_lintseq
from envs.program import Program

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1


class RolloutError(ValueError):
    """A rollout file or record is malformed; the message names the line or the state."""


def node_record(
    tree: SearchTree, digest: str, *, problem_id: str, model: str, seed: int, config_hash: str,
    strategy: str = "", compute: ComputeStats | None = None,
) -> dict[str, Any]:
    """The JSON-ready record of one node (see the module docstring for the fields)."""
    path = tree.path(digest)
    node = path[-1]
    edge = node.edge
    return {
        "schema": SCHEMA_VERSION,
        "problem_id": problem_id,
        "node": node.digest,
        "parent": node.parent,
        "depth": node.depth,
        "strategy": strategy,
        "root_program": path[0].program.text,
        "program": node.program.text,
        "edit_path": [render_lintseq(a.program, b.program) for a, b in zip(path, path[1:])],
        "states": [_state(n) for n in path],
        "edge": None if edge is None else {
            "location": None if edge.location is None else {
                "after_line": edge.location.after_line, "indent": edge.location.indent,
                "column": edge.location.column,
                "reason": edge.location.reason,
            },
            "logprob": edge.logprob,
            "generated_tokens": edge.generated_tokens,
            "prompt_tokens": edge.prompt_tokens,
            "step": edge.step,
        },
        "compute": None if compute is None else compute.to_dict(),
        "model": model,
        "seed": seed,
        "config_hash": config_hash,
    }


def _state(node: Node) -> dict[str, Any]:
    report = node.report
    messages = getattr(node.lint, "messages", ()) or ()
    return {
        "digest": node.digest,
        "lint_ok": bool(getattr(node.lint, "ok", True)),
        "lint_messages": [str(m) for m in messages],
        "score": node.score,
        "passed": None if report is None else report.passed,
        "total": None if report is None else report.total,
    }


class RolloutWriter:
    """Appends node records to a JSONL file. Use as a context manager; pass it as the search's
    `on_node` hook to record every node as soon as it is evaluated."""

    def __init__(self, path: str | Path, *, problem_id: str, model: str, seed: int,
                 config_hash: str, strategy: str = "") -> None:
        self.path = Path(path)
        self.meta = dict(problem_id=problem_id, model=model, seed=seed, config_hash=config_hash,
                         strategy=strategy)
        self._file: IO[str] | None = None
        self.written = 0

    def __enter__(self) -> "RolloutWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            raise RuntimeError("RolloutWriter is closed; use it as a context manager")
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")  # one write per line
        self._file.flush()
        self.written += 1

    def __call__(self, tree: SearchTree, digest: str, compute: ComputeStats | None = None) -> None:
        """The `on_node` hook: record one node."""
        self.write(node_record(tree, digest, compute=compute, **self.meta))

    def write_tree(self, tree: SearchTree) -> None:
        """Record every node of a finished tree (when no hook was used), in creation order."""
        for node in tree.nodes():
            self(tree, node.digest)


def read_rollouts(path: str | Path) -> Iterator[dict[str, Any]]:
    """Records in file order. A truncated last line (an interrupted write) is skipped with a
    warning; a bad line anywhere else raises RolloutError naming it."""
    with Path(path).open(encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not line.endswith("\n"):
                logger.warning("%s: skipping truncated last line %d", path, number)
                return
            raise RolloutError(f"{path}:{number}: not a JSON record ({exc})") from None


def replay(record: dict[str, Any]) -> list[Program]:
    """Every state along the record's edit path, root first, rebuilt by applying the diffs;
    raises RolloutError if a diff does not apply or a state's digest disagrees."""
    states = [Program.from_text(record["root_program"])]
    for index, diff in enumerate(record["edit_path"], 1):
        applied = apply_text(states[-1], diff)
        if applied.program is None:
            raise RolloutError(f"edit {index} of node {record['node'][:12]} does not apply: {applied.status}")
        states.append(applied.program)
    expected = [s["digest"] for s in record["states"]]
    if [s.digest for s in states] != expected:
        raise RolloutError(f"replayed states of node {record['node'][:12]} differ from the recorded digests")
    return states
