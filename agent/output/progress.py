"""The progress of `agent solve` on stderr: what is happening now, and how far the search is.

On a terminal: one live line (spinner, budget bar, the current phase with its own clock, best
visible score, nodes, samples, tokens, total elapsed). The phase is one of loading the model,
generating N samples, linting, testing; rich redraws the line ten times a second, so the
phase clock moves during a long generation; when the search ends the line says so and its
clock stops. Without a terminal (output to a log file): one line per finished expansion (one
policy call and the nodes it made) with elapsed time. The counters are refreshed after every
policy call (`on_batch`), also when it made no node.

The phases come from wrapping the pieces the search calls (`watch`), so the search loop itself
knows nothing about the display.

    display = ProgressDisplay("sum_evens [best-first]", budget, enabled=True)
    with display:
        display.phase("loading model smollm2"); policy = build_policy(...)
        policy, lint, evaluate = display.watch(policy, lint, evaluate)
        search(..., on_node=display, on_batch=display.on_batch)
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from agent.search.budget import Budget, ComputeStats
    from agent.search.tree import SearchTree


class ProgressDisplay:
    def __init__(self, title: str, budget: Budget, *, enabled: bool) -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.table import Column

        self.budget = budget
        console = Console(stderr=True)
        self.live = enabled and console.is_terminal
        self.log_lines = enabled and not self.live
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(bar_width=8), _PhaseColumn(),
            TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
            TimeElapsedColumn(),
            console=console, disable=not self.live, transient=False)
        self.task = self.progress.add_task(escape(title), total=1.0, info="", phase="starting", phase_t0=time.monotonic())
        self.started = time.monotonic()
        self.best = 0.0
        self.nodes = 0
        self.stats: ComputeStats | None = None
        self.expansions = 0
        self.closed = False
        # the last call's (samples, generation seconds, nodes before), until on_batch reports it
        self._pending: tuple[int, float, int] | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> "ProgressDisplay":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, final: str = "done") -> None:
        """End the live line with `final` as its phase, its clock stopped (again: a no-op)."""
        if not self.closed:
            self.progress.update(self.task, phase=final, phase_t0=None)
            self.closed = True
        self.progress.stop()

    def phase(self, text: str) -> None:
        self.progress.update(self.task, phase=text, phase_t0=time.monotonic())

    def line(self, text: str) -> None:
        """One log line with the elapsed time (no terminal only: on one, the live line says it)."""
        if self.log_lines:
            print(f"[{time.monotonic() - self.started:7.1f}s] {text}", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        """A line the user must see on a terminal too (printed above the live line)."""
        if self.live:
            self.progress.console.print(text, markup=False, highlight=False)
        else:
            self.line(text)

    # -- the pieces the search calls ------------------------------------------------------------
    def watch(self, policy: Any, lint: Callable, evaluate: Callable) -> tuple[Any, Callable, Callable]:
        """The policy, lint and evaluate functions, reporting their phase to this display."""
        def watched_lint(program, parent):
            self.phase("linting")
            return lint(program, parent)

        def watched_evaluate(program):
            self.phase("testing")
            return evaluate(program)

        return _WatchedPolicy(policy, self), watched_lint, watched_evaluate

    @contextmanager
    def generating(self, samples: int) -> Iterator[None]:
        self.phase(f"generating {plural(samples, 'sample')}")
        start = time.monotonic()
        yield
        self._pending = (samples, time.monotonic() - start, self.nodes)

    def _report_expansion(self) -> None:
        """The line of the call that just ended (a call the policy refused made none: no line)."""
        if self._pending is None:
            return
        samples, seconds, nodes_before = self._pending
        self._pending = None
        self.expansions += 1
        self.line(f"expansion {self.expansions}: {plural(samples, 'sample')} generated in {seconds:.1f}s, "
                  f"{plural(self.nodes - nodes_before, 'new node')}; {self.info()}")

    # -- the search's on_node hook --------------------------------------------------------------
    def fraction(self, stats: ComputeStats) -> float:
        pairs = [(stats.samples, self.budget.samples), (stats.tokens, self.budget.tokens),
                 (stats.generated_tokens, self.budget.generated_tokens), (stats.flops, self.budget.flops),
                 (stats.wall_s, self.budget.seconds)]
        return min(1.0, max((spent / limit for spent, limit in pairs if limit), default=0.0))

    def info(self) -> str:
        stats = self.stats
        samples, tokens = (stats.samples, stats.tokens) if stats is not None else (0, 0)
        limit = f"/{self.budget.tokens:,}" if self.budget.tokens else ""
        return (f"best visible score {self.best:.2f} · {plural(self.nodes, 'node')} · "
                f"{plural(samples, 'sample')} · {tokens:,}{limit} tokens")

    def __call__(self, tree: SearchTree, digest: str, stats: ComputeStats) -> None:
        score = tree.node(digest).score
        self.best = max(self.best, score or 0.0)
        self._refresh(tree, stats)

    def on_batch(self, tree: SearchTree, expansion: Any, stats: ComputeStats) -> None:
        """After every policy call, its nodes scored: the counters move even when it made none,
        and (without a terminal) the call's line is printed."""
        self._refresh(tree, stats)
        self._report_expansion()

    def _refresh(self, tree: SearchTree, stats: ComputeStats) -> None:
        self.nodes, self.stats = len(tree), stats
        self.progress.update(self.task, completed=self.fraction(stats), info=self.info())


def plural(count: int, noun: str) -> str:
    """"1 node", "2 nodes", "1,200 samples"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


class _WatchedPolicy:
    """A policy that tells the display when it generates; everything else passes through."""

    def __init__(self, inner: Any, display: ProgressDisplay) -> None:
        self._inner, self._display = inner, display

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def propose(self, problem, state, locations, n, **kwargs):
        with self._display.generating(n * max(1, len(locations))):
            return self._inner.propose(problem, state, locations, n, **kwargs)

    def propose_groups(self, problem, groups, **kwargs):
        with self._display.generating(sum(len(g.locations) * g.n for g in groups)):
            return self._inner.propose_groups(problem, groups, **kwargs)

    def sample_programs(self, problem, n, **kwargs):
        with self._display.generating(n):
            return self._inner.sample_programs(problem, n, **kwargs)


def _PhaseColumn():
    """The phase and how long it has run, recomputed at every redraw (so it moves while the
    main thread is busy in a long generation)."""
    from rich.progress import ProgressColumn
    from rich.table import Column
    from rich.text import Text

    class PhaseColumn(ProgressColumn):
        def __init__(self) -> None:
            super().__init__(table_column=Column(min_width=24, no_wrap=True))

        def render(self, task) -> Text:
            phase, start = task.fields.get("phase", ""), task.fields.get("phase_t0")
            text = phase if start is None else f"{phase} {time.monotonic() - start:.0f}s"  # None: over
            return Text(text, style="cyan", no_wrap=True, overflow="ellipsis")

    return PhaseColumn()
