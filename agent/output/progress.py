"""The live one-line display of `agent solve` on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.search.budget import Budget, ComputeStats
    from agent.search.tree import SearchTree


class ProgressDisplay:
    """A one-line rich display on stderr: best visible score, nodes, budget used, elapsed.

    Used as the search's `on_node` hook (after each new node). `fraction` is the largest
    share of any budget limit spent so far. Disabled when stderr is not a terminal.
    """

    def __init__(self, title: str, budget: Budget, *, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.budget = budget
        console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), console=console, disable=not (enabled and console.is_terminal),
            transient=False,
        )
        self.task = self.progress.add_task(title, total=1.0, info="starting")
        self.best = 0.0

    def __enter__(self) -> "ProgressDisplay":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def fraction(self, stats: ComputeStats) -> float:
        pairs = [(stats.samples, self.budget.samples), (stats.tokens, self.budget.tokens),
                 (stats.generated_tokens, self.budget.generated_tokens), (stats.flops, self.budget.flops),
                 (stats.wall_s, self.budget.seconds)]
        return min(1.0, max((spent / limit for spent, limit in pairs if limit), default=0.0))

    def __call__(self, tree: SearchTree, digest: str, stats: ComputeStats) -> None:
        score = tree.node(digest).score
        self.best = max(self.best, score or 0.0)
        info = (f"best {self.best:.2f}  nodes {len(tree)}  samples {stats.samples}  "
                f"tokens {stats.tokens}")
        self.progress.update(self.task, completed=self.fraction(stats), info=info)
