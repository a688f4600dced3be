"""The budgets of a bench run: samples-equivalent or tokens, and what they mean per problem.

    parse_budgets("1,5,10,20")          # samples-equivalent
    parse_budgets("tokens:2000,8000")   # tokens (prompt encoded + generated, agent.search.budget's unit)

Samples-equivalent k is the compute of k samples *of this problem*: the `sample` strategy at
budget k is its first k draws, and a tree strategy at budget k gets a token budget of exactly
what those k draws spent (the prompt encoded once per batch, shared by its draws, plus each
draw's generated tokens; `agent.bench.sampling`, the `sample` records' compute.tokens). So every
strategy spends the same tokens at every budget, measured on the same problem, and the records
show what each one really spent. (Before record schema 2 a tree strategy got k times the mean
tokens per draw of all the draws; that underfunded it at small k, where the prompt encoded for
k draws is shared by fewer of them: at 5 of 20 draws, sampling spent ~20% more tokens.)

Token budgets are the same number for every problem and strategy; `sample` at a token budget
is its shortest prefix of draws whose tokens reach it (the draw that crosses it included, as a
search stops after the policy call that crosses a token budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

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

    def token_limits(self, sample_tokens: Mapping[str, int] | None) -> dict[str, int]:
        """Label -> token limit for a tree search. At samples-equivalent budgets, `sample_tokens`
        is what the problem's `sample` run spent at each label (its records' compute.tokens)."""
        if self.kind == "tokens":
            return {p.label: p.value for p in self.points}
        missing = [p.label for p in self.points if not (sample_tokens or {}).get(p.label, 0) > 0]
        if missing:
            raise ValueError(f"samples-equivalent budgets need the tokens the problem's sample run spent at "
                             f"budgets {', '.join(missing)}")
        return {p.label: int(sample_tokens[p.label]) for p in self.points}

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
