"""Paired differences of per-problem verdicts: two strategies, or two models, on the same problems.

A few dozen problems cannot separate small differences, so every "A minus B" this project
reports comes with its uncertainty: d = mean(other_i - base_i) over the problems both have, a
95% interval from the normal approximation (d +- 1.96 * sd / sqrt(n)), and the discordant counts
(problems only one side solved), which are what the difference is made of.
"""

from __future__ import annotations

import math


def paired_difference(base: list[bool], other: list[bool]) -> dict:
    """`other` minus `base`, paired by position (see the module docstring); shares, not points."""
    n = len(base)
    diffs = [int(o) - int(b) for b, o in zip(base, other)]
    mean = sum(diffs) / n if n else 0.0
    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (n - 1)) if n > 1 else 0.0
    half = 1.96 * sd / math.sqrt(n) if n else 0.0
    return {"problems": n, "base": sum(base), "other": sum(other), "difference": mean,
            "ci95": [mean - half, mean + half], "only_other": diffs.count(1), "only_base": diffs.count(-1)}
