"""Throughput of the sandbox against a fresh `python -c` per execution.

Usage: python benchmarks/sandbox.py [--seconds 4] [--workers 2] [--backend bwrap]

Workload: a small function plus 3 asserts (all passing). The sandbox side runs `workers`
threads against a pool of `workers` isolated workers; the baseline runs one fresh
`python -c` per execution (program + asserts, verdict from the exit code) on the same
number of threads. Both run for about `--seconds` each. The last line printed is exactly:
`sandbox execs_per_s=<x> subprocess_execs_per_s=<y> speedup=<x/y>`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.sandbox import make_sandbox  # noqa: E402
from envs.testcase import TestCase  # noqa: E402

PROGRAM = "def add(a, b):\n    return a + b\n"
TESTS = (
    TestCase("t1", "assert add(1, 2) == 3"),
    TestCase("t2", "assert add(-1, 1) == 0"),
    TestCase("t3", "assert add('a', 'b') == 'ab'"),
)


def _measure(one_execution, threads: int, seconds: float) -> float:
    """Executions per second of `one_execution` run back to back on `threads` threads."""
    counts = [0] * threads
    failures: list[str] = []
    stop = time.monotonic() + seconds

    def loop(i: int) -> None:
        while time.monotonic() < stop:
            ok = one_execution()
            if not ok:
                failures.append(f"thread {i}: an execution did not pass")
                return
            counts[i] += 1

    start = time.monotonic()
    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if failures:
        raise SystemExit(f"benchmark workload failed: {failures[0]}")
    return sum(counts) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per side")
    parser.add_argument("--workers", type=int, default=2, help="sandbox workers = threads on both sides")
    parser.add_argument("--backend", default="bwrap", help="sandbox backend to measure")
    args = parser.parse_args()

    sandbox = make_sandbox(args.backend, workers=args.workers)
    try:
        for _ in range(20):  # warm up: first forks fault in the worker's pages
            sandbox.run(PROGRAM, TESTS)
        sandbox_rate = _measure(lambda: sandbox.run(PROGRAM, TESTS).all_passed, args.workers, args.seconds)
    finally:
        sandbox.close()
    print(f"sandbox ({args.backend}, {args.workers} workers, {args.workers} threads): {sandbox_rate:.1f} execs/s")

    script = PROGRAM + "".join(t.code + "\n" for t in TESTS)
    fresh = [sys.executable, "-c", script]
    subprocess_rate = _measure(lambda: subprocess.run(fresh, capture_output=True).returncode == 0,
                               args.workers, args.seconds)
    print(f"fresh `python -c` per execution ({args.workers} threads): {subprocess_rate:.1f} execs/s")
    print(f"sandbox execs_per_s={sandbox_rate:.1f} subprocess_execs_per_s={subprocess_rate:.1f} "
          f"speedup={sandbox_rate / subprocess_rate:.2f}")


if __name__ == "__main__":
    main()
