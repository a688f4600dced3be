"""The training log of `agent finetune`: one JSON line per logged step, and loss.png from it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

from agent.output.files import write_atomic

log = logging.getLogger(__name__)


def make_log_callback(path: Path):
    """A TrainerCallback appending {step, epoch, loss, lr} / {step, epoch, eval_loss} lines."""
    from transformers import TrainerCallback

    class TrainingLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if not state.is_world_process_zero or not ({"loss", "eval_loss"} & set(logs)):
                return
            record = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
            if "loss" in logs:
                record.update(loss=logs["loss"], lr=logs.get("learning_rate"))
            if "eval_loss" in logs:
                record["eval_loss"] = logs["eval_loss"]
            with path.open("a", encoding="utf-8") as handle:  # one whole line per write
                handle.write(json.dumps(record) + "\n")

    return TrainingLog()


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_losses(records: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """loss.png: training loss (and eval loss) against the step."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no display backend
    except ImportError:
        log.warning("matplotlib is not installed: no %s (pip install matplotlib)", path)
        return

    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    for key, label in (("loss", "train"), ("eval_loss", "eval")):
        points = [(r["step"], r[key]) for r in records if key in r]
        if points:
            axes.plot(*zip(*points), marker="." if len(points) < 50 else None, label=label)
    axes.set(xlabel="step", ylabel="loss (completion tokens)", title=title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))
