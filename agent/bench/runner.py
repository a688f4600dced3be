"""Scheduling a bench run: which units are left, in what order, and handing back results.

A unit (one problem x one strategy, every budget) is left when any of its (problem, strategy,
budget) records is missing from results.jsonl. With samples-equivalent budgets a tree
strategy's token limits are what the problem's `sample` run spent (agent.bench.budgets), so its
unit waits until that problem's `sample` unit has finished (or takes the unit from records
of an earlier session); `sample+stop` (k draws at budget k) waits for nothing and measures no
unit: its draws are cheaper than the plain protocol's by design. Units that a finished unit
unlocks go to the front of the queue, so problems complete one after another and a partial run
has whole problems to summarise.

At most `executor.capacity` units are in flight. Every finished unit goes to `on_result` in
the parent, which writes it; an exception in a unit stops the run (the finished units stay
written, `--resume` continues).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TYPE_CHECKING, Callable, Iterable

from agent.bench.budgets import BudgetPlan
from agent.bench.unit import SAMPLE, SAMPLING, Factories, UnitResult, UnitTask
from envs.problem import Problem
from envs.program import Program

if TYPE_CHECKING:
    from agent.config import Config


class Schedule:
    """The units left to run, given the records already written."""

    def __init__(self, problems: list[Problem], strategies: list[str], plan: BudgetPlan, n: int,
                 written: Iterable[dict], contaminated: frozenset[str]) -> None:
        self.plan, self.n, self.contaminated = plan, n, contaminated
        written = list(written)
        done = {(r["problem_id"], r["strategy"], r["budget"]) for r in written}
        self.unit_tokens: dict[str, float] = {}
        self.sample_tokens: dict[str, dict[str, int]] = {}  # problem -> budget label -> tokens sample spent
        self.hidden: dict[str, dict[str, bool]] = {p.id: {} for p in problems}
        for record in written:
            self._learn(record)
        self.ready: deque[UnitTask] = deque()
        self.waiting: dict[str, tuple[Problem, list[str]]] = {}  # problem id -> strategies waiting
        self.left = 0
        for problem in problems:
            for strategy in strategies:
                if all((problem.id, strategy, label) in done for label in plan.labels):
                    continue
                self.left += 1
                if self._needs_unit(problem.id, strategy):
                    self.waiting.setdefault(problem.id, (problem, []))[1].append(strategy)
                else:
                    self.ready.append(self._task(problem, strategy))

    @property
    def problems_left(self) -> set[str]:
        return {t.problem.id for t in self.ready} | set(self.waiting)

    def _needs_unit(self, problem_id: str, strategy: str) -> bool:
        return self.plan.kind == "samples" and strategy not in SAMPLING and not self._sample_spent_known(problem_id)

    def _sample_spent_known(self, problem_id: str) -> bool:
        spent = self.sample_tokens.get(problem_id, {})
        return all(label in spent for label in self.plan.labels)

    def _learn(self, record: dict) -> None:
        """Remember what a problem's sample run spent and the hidden outcomes a record shows."""
        problem_id = record["problem_id"]
        self._learn_spent(record)
        known = self.hidden.setdefault(problem_id, {})
        if record.get("hidden_passed") is not None:
            known[Program.from_text(record["program"]).digest] = record["hidden_passed"]

    def _learn_spent(self, record: dict) -> None:
        """A `sample` record's tokens per draw and tokens spent at its budget (tree limits)."""
        if record["strategy"] == SAMPLE:
            if record.get("unit_tokens"):
                self.unit_tokens[record["problem_id"]] = record["unit_tokens"]
            self.sample_tokens.setdefault(record["problem_id"], {})[record["budget"]] = record["compute"]["tokens"]

    def _task(self, problem: Problem, strategy: str) -> UnitTask:
        return UnitTask(problem, strategy, self.plan, self.n, self.unit_tokens.get(problem.id),
                        dict(self.sample_tokens.get(problem.id, {})),
                        dict(self.hidden[problem.id]), problem.id in self.contaminated)

    def finished(self, result: UnitResult) -> None:
        """Take in a finished unit; queue (first) the units its problem's `sample` run unlocks."""
        self.hidden[result.problem_id].update(result.hidden)
        if result.strategy == SAMPLE:
            for record in result.records:  # its hidden outcomes came in result.hidden above
                self._learn_spent(record)
            if result.problem_id in self.waiting and self._sample_spent_known(result.problem_id):
                problem, strategies = self.waiting.pop(result.problem_id)
                self.ready.extendleft(self._task(problem, s) for s in reversed(strategies))


def run_schedule(schedule: Schedule, executor, config: Config, factories: Factories,
                 on_result: Callable[[UnitResult], None]) -> None:
    """Run every unit left, at most `executor.capacity` at a time; results to `on_result`."""
    in_flight: dict[Future, UnitTask] = {}
    try:
        while schedule.ready or in_flight:
            while schedule.ready and len(in_flight) < executor.capacity:
                task = schedule.ready.popleft()
                in_flight[executor.submit(task, config, factories)] = task
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for future in done:
                in_flight.pop(future)
                result = future.result()  # a unit's exception stops the run here
                schedule.finished(result)
                on_result(result)
        if schedule.waiting:  # only if a sample unit finished without measuring its unit
            raise RuntimeError(f"units never started (no sample run measured their budget): "
                               f"{sorted(schedule.waiting)}")
    finally:
        for future in in_flight:
            future.cancel()
