"""The live display of a bench run on stderr: units done, ETA, and what is solved so far.

A unit is one problem x strategy: the bar counts units (`units 3/8`). "problems solved" counts,
per strategy, the problems whose program returned at the largest budget passes the hidden
tests (deployable), out of those that strategy has finished, resumed units included.
On a terminal it is a rich progress bar; otherwise (a log file) one line per finished unit.
The ETA is the mean time per finished unit times the units left: units take minutes each, too
few updates for rich's own speed estimate, which only looks at the last 30 seconds.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import timedelta


class BenchProgress:
    def __init__(self, total: int, strategies: list[str], *, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        self.live = enabled and console.is_terminal
        self.log_lines = enabled and not self.live
        self.strategies = strategies
        self.solved: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.done, self.total = 0, total
        self.progress = Progress(
            TextColumn("[bold]bench units"), BarColumn(bar_width=24), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TextColumn("{task.fields[eta]}"), console=console,
            disable=not self.live)
        self.task = self.progress.add_task("units", total=total, info="", eta="ETA -")

    def __enter__(self) -> "BenchProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def count(self, strategy: str, largest: dict) -> None:
        """Count a finished unit by its largest-budget record (resumed ones: before starting)."""
        self.finished[strategy] += 1
        self.solved[strategy] += bool(largest.get("hidden_passed"))

    def eta(self) -> str:
        elapsed = self.progress.tasks[0].elapsed or 0.0
        left = elapsed / self.done * (self.total - self.done) if self.done else None
        return "ETA -" if left is None else f"ETA {timedelta(seconds=round(left))}"

    def unit_done(self, problem_id: str, strategy: str, largest: dict) -> None:
        self.count(strategy, largest)
        self.done += 1
        info = "problems solved: " + ", ".join(f"{s} {self.solved[s]}/{self.finished[s]}" for s in self.strategies)
        eta = self.eta()
        self.progress.update(self.task, advance=1, info=info, eta=eta)
        if self.log_lines:
            verdict = {True: "hidden passed", False: "hidden failed", None: "no hidden tests"}[largest.get("hidden_passed")]
            elapsed = timedelta(seconds=round(self.progress.tasks[0].elapsed or 0.0))
            print(f"[{elapsed}] unit {self.done}/{self.total} done: {problem_id} {strategy}: {verdict}; {info}; "
                  f"{eta}", file=sys.stderr, flush=True)
