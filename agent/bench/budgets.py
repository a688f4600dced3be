"""The budgets of a bench run: samples-equivalent or tokens, and what they mean per problem.

    parse_budgets("1,5,10,20")          # samples-equivalent
    parse_budgets("tokens:2000,8000")   # tokens (prompt encoded + generated, agent.search.budget's unit)

Samples-equivalent k is k times the compute of one sample *of this problem*: the unit is the
mean tokens per draw of the problem's `sample` run (the prompt encoded once per batch, shared
by its draws, plus each draw's generated tokens; `agent.bench.sampling`). A tree strategy at
budget k gets a token budget of ceil(k * unit); the `sample` strategy at budget k is its first
k draws. So every strategy spends about the same tokens at a budget, measured on the same
problem, and the records show what each one really spent.

Token budgets are the same number for every problem and strategy; `sample` at a token budget
is its shortest prefix of draws whose tokens reach it (the draw that crosses it included, as a
search stops after the policy call that crosses a token budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

TOKENS_PREFIX = "tokens:"
BudgetKind = Literal["samples", "tokens"]


@dataclass(frozen=True)
class BudgetPoint:
    """One budget of the study. `label` keys it in results.jsonl ("5", "tokens:2000")."""

    label: str
    value: int  # samples-equivalent k, or tokens


@dataclass(frozen=True)
class BudgetPlan:
    kind: BudgetKind
    points: tuple[BudgetPoint, ...]  # ascending, distinct

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.points]

    @property
    def largest(self) -> BudgetPoint:
        return self.points[-1]

    def token_limits(self, unit_tokens: float | None) -> dict[str, int]:
        """Label -> token limit for a tree search on a problem whose draws cost `unit_tokens`."""
        if self.kind == "tokens":
            return {p.label: p.value for p in self.points}
        if unit_tokens is None or not unit_tokens > 0:
            raise ValueError("samples-equivalent budgets need the problem's tokens per sample")
        return {p.label: math.ceil(p.value * unit_tokens) for p in self.points}

    def describe(self) -> str:
        unit = "samples-equivalent" if self.kind == "samples" else "tokens"
        return f"{', '.join(str(p.value) for p in self.points)} {unit}"


def parse_budgets(spec: str) -> BudgetPlan:
    """"1,5,10,20" (samples-equivalent) or "tokens:2000,8000". Raises ValueError for people."""
    text = spec.strip()
    kind: BudgetKind = "tokens" if text.startswith(TOKENS_PREFIX) else "samples"
    if kind == "tokens":
        text = text[len(TOKENS_PREFIX):]
    values = []
    for item in text.split(","):
        item = item.strip()
        if item.startswith(TOKENS_PREFIX):  # "tokens:2000,tokens:8000" reads the same
            item = item[len(TOKENS_PREFIX):]
        if not item.isdigit() or int(item) < 1:
            raise ValueError(f"budget {item!r} in {spec!r} is not a positive integer; "
                             "write e.g. 1,5,10,20 (samples-equivalent) or tokens:2000,8000")
        values.append(int(item))
    values = sorted(set(values))
    label = (lambda v: f"{TOKENS_PREFIX}{v}") if kind == "tokens" else str
    return BudgetPlan(kind, tuple(BudgetPoint(label(v), v) for v in values))
