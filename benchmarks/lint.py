"""Benchmark the lint gate: in-process `LintGate` against a fresh `python -m pylint` per program.

Programs are 20-40 line modules assembled from a pool of small functions and classes (seeded),
about a third of them with one injected error (undefined name, call of an undefined function,
bad indentation, missing super().__init__, no-member on a literal, syntax error). Every
program is distinct, and the gate's result cache is cleared before each one, so every timing
is a real check.

The gate is timed on every program after one warm-up program (pylint's first module pays once
per process for astroid building the builtins). The subprocess (`envs.lint.lint_with_subprocess`:
`python -m pylint --disable=C,R prog.py`) is timed on a sample, since each run costs most of a
second; on that sample the two verdicts are compared.

Usage: python benchmarks/lint.py [--programs 200] [--subprocess-programs 20] [--seed 0]
The last line printed is: lint median_ms=<x> subprocess_median_ms=<y> speedup=<y/x>
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from textwrap import dedent

from envs.lint import LintGate, lint_with_subprocess
from envs.program import Program

MAX_LINES = 40
_BASE_LINES = 32  # blocks fill up to this; an injected error adds at most 7 lines

# Building blocks; "{n}" makes names unique per program, so no two programs are equal.
_BLOCKS = tuple(dedent(block).strip("\n").split("\n") for block in (
    """
    def mean_{n}(values):
        total = 0
        for value in values:
            total += value
        return total / len(values) if values else 0.0
    """,
    """
    def is_palindrome_{n}(text):
        cleaned = [c.lower() for c in text if c.isalnum()]
        return cleaned == cleaned[::-1]
    """,
    """
    def fib_{n}(k):
        a, b = 0, 1
        for _ in range(k):
            a, b = b, a + b
        return a
    """,
    """
    class Counter{n}:
        def __init__(self, start=0):
            self.count = start

        def increment(self, step=1):
            self.count += step
            return self.count
    """,
    """
    def word_counts_{n}(sentence):
        counts = {{}}
        for word in sentence.split():
            counts[word] = counts.get(word, 0) + 1
        return counts
    """,
    """
    import math

    def hypot_{n}(x, y):
        return math.sqrt(x * x + y * y)
    """,
    """
    def flatten_{n}(nested):
        out = []
        for item in nested:
            if isinstance(item, list):
                out.extend(flatten_{n}(item))
            else:
                out.append(item)
        return out
    """,
    """
    from collections import defaultdict

    def group_{n}(pairs):
        groups = defaultdict(list)
        for key, value in pairs:
            groups[key].append(value)
        return dict(groups)
    """,
    """
    class Shape{n}:
        def __init__(self, name):
            self.name = name

        def area(self):
            raise NotImplementedError


    class Square{n}(Shape{n}):
        def __init__(self, side):
            super().__init__('square')
            self.side = side

        def area(self):
            return self.side ** 2
    """,
    """
    def primes_{n}(limit):
        sieve = [True] * (limit + 1)
        found = []
        for i in range(2, limit + 1):
            if sieve[i]:
                found.append(i)
                for j in range(i * i, limit + 1, i):
                    sieve[j] = False
        return found
    """,
    """
    def safe_div_{n}(a, b):
        try:
            return a / b
        except ZeroDivisionError:
            return None
    """,
    """
    def chunks_{n}(items, size):
        for start in range(0, len(items), size):
            yield items[start:start + size]
    """,
    """
    import re

    def words_{n}(text):
        return re.findall(r'[a-z]+', text.lower())
    """,
    """
    def transpose_{n}(matrix):
        return [list(row) for row in zip(*matrix)]
    """,
))

# One error each, as lines appended to a program (n: the program's index).
_ERRORS = (
    lambda n: [f"print(undefined_{n})"],
    lambda n: [f"result_{n} = missing_function_{n}(3)"],
    lambda n: [f"if {n} > 0:", f"  flag_{n} = True"],
    lambda n: [f"class Base{n}:", "    def __init__(self):", "        self.ready = True", "",
               f"class Child{n}(Base{n}):", "    def __init__(self):", "        self.other = 1"],
    lambda n: [f"items_{n} = [].push({n})"],
    lambda n: [f"def broken_{n}(:", "    pass"],
)


def make_programs(count: int, seed: int) -> list[Program]:
    """`count` distinct programs of 20-40 lines; about one in three has one injected error."""
    rng = random.Random(seed)
    programs = []
    for n in range(count):
        lines: list[str] = []
        target = rng.randint(20, _BASE_LINES)
        # Distinct blocks: a repeated one would be a function-redefined error.
        for block in rng.sample(_BLOCKS, len(_BLOCKS)):
            if len(lines) >= target:
                break
            if len(lines) + len(block) + 2 <= _BASE_LINES:
                lines += [line.format(n=n) for line in block] + ["", ""]
        lines.append(f"RESULT_{n} = {n}")
        if rng.random() < 1 / 3:
            lines += rng.choice(_ERRORS)(n)
        assert len(lines) <= MAX_LINES
        programs.append(Program(tuple(lines)))
    return programs


def time_gate(
    gate: LintGate, programs: list[Program]
) -> tuple[list[float], list[float], list[bool]]:
    """Wall and CPU milliseconds per program, and verdicts; the result cache is cleared before
    each program. (CPU time shows what the wall time would be on an otherwise idle machine.)"""
    wall, cpu, verdicts = [], [], []
    for program in programs:
        gate.clear_cache()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = gate.lint(program)
        cpu.append((time.process_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
        verdicts.append(result.ok)
    return wall, cpu, verdicts


def time_subprocess(programs: list[Program]) -> tuple[list[float], list[bool]]:
    """Milliseconds per fresh pylint process (writing prog.py included) and verdicts."""
    times, verdicts = [], []
    for program in programs:
        start = time.perf_counter()
        result = lint_with_subprocess(program.text)
        times.append((time.perf_counter() - start) * 1000)
        verdicts.append(result.ok)
    return times, verdicts


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return (f"n={len(times)} median={statistics.median(times):.2f} p90={p90:.2f} "
            f"max={max(times):.2f} mean={statistics.fmean(times):.2f} (ms)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--programs", type=int, default=200, help="programs timed in-process")
    parser.add_argument("--subprocess-programs", type=int, default=20,
                        help="how many of those are also timed with a pylint subprocess")
    parser.add_argument("--seed", type=int, default=0, help="program generator seed")
    args = parser.parse_args(argv)

    programs = make_programs(args.programs + 1, args.seed)
    warm_up, programs = programs[0], programs[1:]
    gate = LintGate()
    start = time.perf_counter()
    gate.lint(warm_up)
    print(f"setup: linter built and warmed up in {(time.perf_counter() - start) * 1000:.0f} ms")

    times, cpu_times, verdicts = time_gate(gate, programs)
    print(f"gate (kept-alive lint worker, time and memory limits on): {_summary(times)}; "
          f"{verdicts.count(False)} of {len(programs)} rejected, {gate.stats.syntax_errors} of them "
          f"syntax errors (no pylint run), {gate.stats.tripped} tripped a limit")
    print(f"gate CPU time in this process (the worker's not included): {_summary(cpu_times)}")

    sample = programs[: args.subprocess_programs]
    sub_times, sub_verdicts = time_subprocess(sample)
    agree = sum(a == b for a, b in zip(verdicts, sub_verdicts))
    print(f"subprocess: {_summary(sub_times)}; verdicts agree on {agree} of {len(sample)}")

    median, sub_median = statistics.median(times), statistics.median(sub_times)
    print(f"lint median_ms={median:.2f} subprocess_median_ms={sub_median:.2f} "
          f"speedup={sub_median / median:.2f}")


if __name__ == "__main__":
    main()
