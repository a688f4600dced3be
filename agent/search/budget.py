"""Compute accounting and budgets for one problem's search.

`Meter` accumulates what the search spends: LM calls, samples, prompt tokens actually encoded,
generated tokens, FLOPs (all as the policy reports them in its `ProposalBatch`), and wall time
split into generate / lint / sandbox / other, measured with `time.perf_counter` around each call
(other = wall - the three). `Meter.stats()` is a frozen snapshot, `ComputeStats`.

`Budget` caps any of samples, tokens, FLOPs or seconds. Every strategy checks
`budget.exhausted(stats)` before each LM call and asks the policy for at most
`budget.samples_left(stats)` samples, so all strategies stop at the same budget. A token budget
is passed down as `budget.tokens_left(stats)` in the call's `CallCaps` (policies.base) and the
policy stops generating once it is spent (policies.sampling), so it is not overshot; a FLOP or
time budget can only be checked between calls, so the last call may overshoot it by at most one
call's worth. `Budget.checkpoints` are smaller token budgets read off the same search.

Token unit. `tokens` counts every token the model processed: prompt tokens actually encoded
(a prompt shared by sibling samples counts once) plus generated tokens. This is the fair unit
for search versus repeated sampling: search pays for a new prompt (the growing program) at each
expansion, which a generated-only count would hide. `generated_tokens` caps the generated
tokens alone, for comparisons with papers that count only those.
"""

from __future__ import annotations

import time
import dataclasses
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator

from policies.base import CallCaps, Policy, ProposalBatch, expected_sample_tokens

PHASES = ("generate", "lint", "sandbox")  # the timed phases; the rest of the wall time is "other"


@dataclass(frozen=True)
class ComputeStats:
    """A snapshot of what one search spent. Times in seconds, FLOPs as the policy counted them."""

    lm_calls: int = 0
    samples: int = 0
    prompt_tokens: int = 0  # prompt tokens actually run through the model
    prompt_tokens_saved: int = 0  # prompt tokens that sharing a prompt across samples avoided
    generated_tokens: int = 0
    doomed_samples: int = 0  # samples stopped at a syntax error no later line could repair
    doomed_tokens_saved: int = 0  # decode steps their batches ran on after they stopped (not paid)
    whole_samples: int = 0  # samples that ended by themselves (not cut by a length or token cap)
    whole_sample_tokens: int = 0  # their generated tokens: what a sample costs, for clipping rows
    # Rows a call generated that the budget did not pay for, and their tokens (prompt included
    # when the first row is one): computed, not drawn, not in `tokens` (agent.search.loop's
    # fresh rows past checkpoints, where the row that would cross the budget is left out whole)
    unused_samples: int = 0
    unused_tokens: int = 0
    flops: float = 0.0
    lint_calls: int = 0
    sandbox_calls: int = 0
    wall_s: float = 0.0
    generate_s: float = 0.0
    lint_s: float = 0.0
    sandbox_s: float = 0.0

    @property
    def tokens(self) -> int:
        """Tokens the model processed: encoded prompt plus generated (the `Budget.tokens` unit)."""
        return self.prompt_tokens + self.generated_tokens

    @property
    def other_s(self) -> float:
        return max(0.0, self.wall_s - self.generate_s - self.lint_s - self.sandbox_s)

    def to_dict(self) -> dict:
        return {**asdict(self), "tokens": self.tokens, "other_s": self.other_s}


class Meter:
    """Mutable accumulator behind `ComputeStats`; one per search. Not thread-safe."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._counts = {"lm_calls": 0, "samples": 0, "prompt_tokens": 0, "prompt_tokens_saved": 0,
                        "generated_tokens": 0, "doomed_samples": 0, "doomed_tokens_saved": 0,
                        "whole_samples": 0, "whole_sample_tokens": 0, "unused_samples": 0, "unused_tokens": 0,
                        "lint_calls": 0, "sandbox_calls": 0}
        self._flops = 0.0
        self._seconds = dict.fromkeys(PHASES, 0.0)
        self._held = 0.0  # generate seconds spent on rows not counted yet (`hold`)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the wall time of the block to `phase` (one of PHASES), even if it raises."""
        if phase not in self._seconds:
            raise ValueError(f"unknown phase {phase!r}; phases: {PHASES}")
        start = time.perf_counter()
        try:
            yield
        finally:
            self._seconds[phase] += time.perf_counter() - start
            if phase == "lint":
                self._counts["lint_calls"] += 1
            elif phase == "sandbox":
                self._counts["sandbox_calls"] += 1

    def hold(self, seconds: float) -> None:
        """Leave `seconds` of the generate time spent so far out of `stats` until `release`d: a
        call's rows counted one at a time each bring their share of its time with them."""
        self._held += seconds

    def release(self, seconds: float) -> None:
        self._held = max(0.0, self._held - seconds)

    def add_batch(self, batch: ProposalBatch, *, call: bool = True) -> None:
        """Count one policy call (`call=False`: more rows of the call counted last). Samples are
        the proposals returned, parse failures included."""
        self._counts["lm_calls"] += int(call)
        self._counts["samples"] += len(batch.proposals)
        self._counts["prompt_tokens"] += int(batch.prompt_tokens_encoded)
        self._counts["prompt_tokens_saved"] += int(batch.prompt_tokens_saved)
        self._counts["generated_tokens"] += int(batch.generated_tokens)
        extra = batch.extra or {}
        self._counts["doomed_samples"] += int(extra.get("finish", {}).get("doomed", 0))
        self._counts["doomed_tokens_saved"] += int(extra.get("doomed_tokens_saved", 0))
        whole = [p for p in batch.proposals if p.finish in ("eos", "stop", "doomed")]
        self._counts["whole_samples"] += len(whole)
        self._counts["whole_sample_tokens"] += sum(p.generated_tokens for p in whole)
        self._flops += float(batch.flops)

    def add_unused(self, rows: list[ProposalBatch]) -> None:
        """Count rows a call generated that the search does not draw (`ComputeStats.unused_samples`)."""
        self._counts["unused_samples"] += sum(len(row.proposals) for row in rows)
        self._counts["unused_tokens"] += sum(row.prompt_tokens_encoded + row.generated_tokens for row in rows)
        self._flops += sum(row.flops for row in rows)

    def stats(self) -> ComputeStats:
        return ComputeStats(
            **self._counts,
            flops=self._flops,
            wall_s=time.perf_counter() - self._start - self._held,
            generate_s=self._seconds["generate"] - self._held,
            lint_s=self._seconds["lint"],
            sandbox_s=self._seconds["sandbox"],
        )


@dataclass(frozen=True, kw_only=True)
class Budget:
    """Limits on one problem's search; None = no limit on that quantity. At least one is needed
    (repeated sampling never runs out of work by itself).

    The search stops once any limit is reached (`until="any"`): `samples` exactly (calls are
    clipped to it), tokens where the sampler stops at the budget, the others after the call that
    crosses them. `until="all"` stops once every set limit is reached, and never cuts a sample
    short: the bench's repeated-sampling baseline draws at least n whole programs covering the
    largest token budget.
    """

    samples: int | None = None  # policy samples, parse failures included
    tokens: int | None = None  # prompt tokens encoded + generated tokens (see module docstring)
    generated_tokens: int | None = None  # generated tokens only
    flops: float | None = None  # forward-pass FLOPs as the policy reports them
    seconds: float | None = None  # wall time of the whole search, lint and sandbox included
    until: str = "any"  # "any": stop at the first limit reached; "all": once every limit is reached
    # Token totals, ascending and below `tokens`, where the search reports the result a search with
    # that token budget would have returned (`on_checkpoint`): no policy call crosses one (except a
    # call of fresh programs read row by row, agent.search.loop), so each report is exactly that
    # search's end. How agent bench reads every smaller budget off one search.
    checkpoints: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.until not in ("any", "all"):
            raise ValueError(f"Budget.until must be 'any' or 'all', got {self.until!r}")
        if self.checkpoints and (list(self.checkpoints) != sorted(self.checkpoints) or self.checkpoints[0] < 0
                                 or self.until != "any" or self.tokens is None or self.checkpoints[-1] > self.tokens):
            raise ValueError(f"Budget.checkpoints must ascend from >= 0 to at most the token limit, got "
                             f"{self.checkpoints} with tokens={self.tokens}, until={self.until!r}")
        limits = {k: v for k, v in asdict(self).items() if k not in ("until", "checkpoints")}
        if all(v is None for v in limits.values()):
            raise ValueError("a Budget needs at least one limit: samples, tokens, generated_tokens, flops or seconds")
        for name, value in limits.items():
            if value is not None and value < 0:
                raise ValueError(f"Budget.{name} must be >= 0, got {value}")

    def _reached(self, stats: ComputeStats) -> list[bool]:
        pairs = [(stats.samples, self.samples), (stats.tokens, self.tokens),
                 (stats.generated_tokens, self.generated_tokens), (stats.flops, self.flops),
                 (stats.wall_s, self.seconds)]
        return [_reached(spent, limit) for spent, limit in pairs if limit is not None]

    def exhausted(self, stats: ComputeStats) -> bool:
        reached = self._reached(stats)
        return all(reached) if self.until == "all" else any(reached)

    def samples_left(self, stats: ComputeStats) -> int | None:
        """How many more samples the next call may ask for (None = unlimited). With until="all",
        the samples limit caps a call only once every other limit is reached."""
        if self.samples is None:
            return None
        if self.until == "all" and not all(self._reached(dataclasses.replace(stats, samples=self.samples))):
            return None
        return max(0, self.samples - stats.samples)

    def tokens_left(self, stats: ComputeStats) -> int | None:
        """How many more tokens (prompt encoded + generated) the next call may spend (None =
        unlimited). Policies stop generating there, so a token budget is not overshot; with
        until="all" a token limit is a minimum to reach, never a cap."""
        if self.until == "all":
            return None
        left = []
        if self.tokens is not None:
            left.append(self.tokens - stats.tokens)
        if self.generated_tokens is not None:  # prompt tokens come on top: only a bound
            left.append(self.generated_tokens - stats.generated_tokens)
        return None if not left else max(0, min(left))


def samples_that_fit(tokens_left: int | None, stats: ComputeStats, prior: float | None = None) -> int | None:
    """How many samples the tokens left pay for, at the expected length of a sample
    (`policies.base.expected_sample_tokens`: the mean length of the samples that ended by
    themselves so far, with `prior` as one more of them). Samples cut short by a cap do not
    count: they are short because they were cut. None: no token limit or nothing to estimate
    from; else at least 1.

    Asking for more rows than that would stop all of them mid-way at the budget (the sampler
    cuts every row there), wasting the call: fewer, whole samples are worth more."""
    if tokens_left is None:
        return None
    per_sample = expected_sample_tokens(stats.whole_sample_tokens, stats.whole_samples, prior)
    if not per_sample:
        return None
    return max(1, int(tokens_left // per_sample))


def sample_length_prior(policy: Policy) -> float | None:
    """Tokens a sample is expected to cost before any has ended: half the policy's length cap."""
    cap = policy.max_new_tokens
    return cap / 2 if cap else None


def call_limits(budget: Budget, stats: ComputeStats, checkpoint: int | None, *, prior: float | None,
                stop_doomed: bool) -> tuple[int | None, CallCaps, bool]:
    """What the next policy call may ask for: (samples, its CallCaps, whether its token cap is
    the next checkpoint's rather than the budget's own). The tokens are those left to the budget
    or to `checkpoint`, whichever comes first; rows are clipped to what they pay for at the
    length of the samples that ended so far, else at `prior` tokens a sample (`samples_that_fit`)."""
    tokens_left = budget.tokens_left(stats)
    to_checkpoint = None if checkpoint is None else checkpoint - stats.tokens
    at_checkpoint = to_checkpoint is not None and (tokens_left is None or to_checkpoint < tokens_left)
    tokens = to_checkpoint if at_checkpoint else tokens_left
    fit = samples_that_fit(tokens, stats, prior=prior)
    caps = [c for c in (budget.samples_left(stats), fit) if c is not None]
    return min(caps) if caps else None, CallCaps(tokens=tokens, stop_doomed=stop_doomed), at_checkpoint


def doomed_shares(total: int, doomed: list[bool]) -> list[int]:
    """A call's saved decode steps split evenly over its doomed rows (the first ones take the
    remainder), so the rows of whole calls add up to exactly what the calls saved."""
    count = sum(doomed)
    if not count:
        return [0] * len(doomed)
    base, extra = divmod(total, count)
    ranks = [sum(doomed[:i]) for i in range(len(doomed))]  # doomed rows before each one
    return [base + (rank < extra) if stopped else 0 for stopped, rank in zip(doomed, ranks)]


def row_batches(batch: ProposalBatch) -> list[ProposalBatch]:
    """The call's rows as one-row batches that add up to it: the first carries the encoded prompt
    (as `agent bench` counts sampling's draws), each its own generated tokens, FLOPs in proportion
    to those tokens, and the doomed rows' saved steps split evenly among them (the first ones take
    the remainder)."""
    rows = batch.proposals
    costs = [p.generated_tokens + (batch.prompt_tokens_encoded if i == 0 else 0) for i, p in enumerate(rows)]
    spared = doomed_shares(int((batch.extra or {}).get("doomed_tokens_saved", 0)), [p.finish == "doomed" for p in rows])
    return [ProposalBatch(
        proposals=(p,),
        prompt_tokens_encoded=batch.prompt_tokens_encoded if i == 0 else 0,
        prompt_tokens_saved=batch.prompt_tokens_saved if i == 0 else 0,
        generated_tokens=p.generated_tokens,
        generate_s=batch.generate_s / len(rows),
        flops=batch.flops * costs[i] / max(1, sum(costs)),
        extra={"finish": {p.finish: 1}, "doomed_tokens_saved": spared[i]},
    ) for i, p in enumerate(rows)]


def joined_rows(rows: list[ProposalBatch]) -> ProposalBatch:
    """One batch of rows read apart (`row_batches`): what they hold and spent, added up."""
    finish: Counter[str] = Counter()
    for row in rows:
        finish.update((row.extra or {}).get("finish", {}))
    return ProposalBatch(
        proposals=tuple(p for row in rows for p in row.proposals),
        prompt_tokens_encoded=sum(row.prompt_tokens_encoded for row in rows),
        prompt_tokens_saved=sum(row.prompt_tokens_saved for row in rows),
        generated_tokens=sum(row.generated_tokens for row in rows),
        generate_s=sum(row.generate_s for row in rows),
        flops=sum(row.flops for row in rows),
        extra={"finish": dict(finish),
               "doomed_tokens_saved": sum(int((row.extra or {}).get("doomed_tokens_saved", 0)) for row in rows)},
    )


def _reached(spent: float, limit: float | None) -> bool:
    return limit is not None and spent >= limit


def clip_request(n_locations: int, n_per_location: int, samples_left: int | None) -> tuple[int, int]:
    """(locations, samples per location) for a call that asks for at most `samples_left` samples.

    Fewer samples per location first (keeping every location), then fewer locations.
    Returns (0, 0) when nothing may be asked.
    """
    if samples_left is None or n_locations * n_per_location <= samples_left:
        return n_locations, n_per_location
    if samples_left <= 0 or n_locations == 0:
        return 0, 0
    per = max(1, min(n_per_location, samples_left // n_locations))
    return min(n_locations, samples_left // per), per
