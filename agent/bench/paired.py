"""Paired differences of per-problem verdicts: two strategies, or two models, on the same problems.

A few dozen problems cannot separate small differences, so every "A minus B" this project
reports comes with its uncertainty: d = mean(other_i - base_i) over the problems both have, a
95% interval from the normal approximation (d +- 1.96 * sd / sqrt(n)), and the discordant counts
(problems only one side solved), which are what the difference is made of.

With several seeds of each (`paired_over_seeds`) a problem's difference is the mean over its
seeds, and the interval is still taken over problems: the seeds of one problem are not
independent draws of the suite, so counting them as more problems would narrow it dishonestly.
"""

from __future__ import annotations

import math


def mean_interval(values: list[float]) -> tuple[float, list[float]]:
    """The mean of `values` and its 95% normal interval (mean +- 1.96 * sd / sqrt(n))."""
    n = len(values)
    mean = sum(values) / n if n else 0.0
    sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1)) if n > 1 else 0.0
    half = 1.96 * sd / math.sqrt(n) if n else 0.0
    return mean, [mean - half, mean + half]


def paired_difference(base: list[bool], other: list[bool]) -> dict:
    """`other` minus `base`, paired by position (see the module docstring); shares, not points."""
    diffs = [int(o) - int(b) for b, o in zip(base, other)]
    mean, ci95 = mean_interval(diffs)
    return {"problems": len(diffs), "base": sum(base), "other": sum(other), "difference": mean,
            "ci95": ci95, "only_other": diffs.count(1), "only_base": diffs.count(-1)}


def paired_over_seeds(base: list[list[bool]], other: list[list[bool]]) -> dict:
    """`other` minus `base` per problem (outer lists) averaged over its seeds (inner lists, the
    same seeds in the same order on both sides); the interval is over problems."""
    diffs = [sum(int(o) - int(b) for b, o in zip(bs, os_)) / len(bs) for bs, os_ in zip(base, other)]
    mean, ci95 = mean_interval(diffs)
    return {"problems": len(diffs), "seeds": len(base[0]) if base else 0, "difference": mean, "ci95": ci95,
            "base": [sum(bs[s] for bs in base) for s in range(len(base[0]) if base else 0)],
            "other": [sum(os_[s] for os_ in other) for s in range(len(other[0]) if other else 0)]}
