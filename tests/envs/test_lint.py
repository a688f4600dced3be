"""The lint gate: same verdicts as a pylint subprocess, caching, repair mode, cache eviction."""

import gc
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from textwrap import dedent

import pytest
from astroid import MANAGER, nodes
from hypothesis import given, strategies as st

from envs.lint import (
    ENABLED_MESSAGES,
    MODULE_NAME,
    LintGate,
    LintMessage,
    LintResult,
    filter_messages,
    lint_errors,
    lint_with_subprocess,
    neutralise_pragmas,
    new_errors,
)
from envs.program import Program


def _p(text: str) -> Program:
    return Program.from_text(dedent(text))


# name -> (program text, the message ids pylint reports for it). Dedented before use; programs
# that need tabs spell them "\t" in a plain string.
CORPUS: dict[str, tuple[str, set[str]]] = {
    "clean_function": ("""
        def mean(values):
            total = 0
            for value in values:
                total += value
            return total / len(values) if values else 0.0
        """, set()),
    "clean_class_hierarchy": ("""
        class Shape:
            def __init__(self, name):
                self.name = name

        class Square(Shape):
            def __init__(self, side):
                super().__init__("square")
                self.side = side

            def area(self):
                return self.side ** 2

        print(Square(2).area(), Square(3).name)
        """, set()),
    "clean_stdlib": ("""
        import itertools
        import math
        from collections import Counter, defaultdict

        groups = defaultdict(list)
        for key, value in itertools.product("ab", range(3)):
            groups[key].append(math.sqrt(value))
        print(Counter("hello").most_common(1), dict(groups))
        """, set()),
    "clean_generator_try_lambda": ("""
        def chunks(items, size):
            for start in range(0, len(items), size):
                yield items[start:start + size]

        def safe_div(a, b):
            try:
                return a / b
            except ZeroDivisionError:
                return None

        pairs = sorted([(2, "b"), (1, "a")], key=lambda pair: pair[0])
        print(list(chunks([1, 2, 3], 2)), safe_div(1, 0), pairs)
        """, set()),
    # pylint does not flag binary operations between mismatched literals: the gate must agree.
    "binary_op_on_literals": ('print(1 + "a")\nx = [] + 1\n', set()),
    # Inline pragmas are honoured, as by pylint itself.
    "pragma_is_inert": ("print(zz)  # pylint: disable=undefined-variable\n", {"E0602"}),
    "undefined_name": ("def f(x):\n    return x + y\n", {"E0602"}),
    "undefined_function_call": ("result = compute_total([1, 2])\n", {"E0602"}),
    "used_before_assignment": ("print(value)\nvalue = 1\n", {"E0601"}),
    "bad_indentation_two_spaces": ("def f():\n  return 1\n", {"W0311"}),
    "tab_indentation": ("def f():\n\treturn 1\n", {"W0311"}),
    "mixed_tabs_and_spaces": ("def f():\n    x = 1\n\treturn x\n", {"E0001"}),
    "syntax_missing_colon": ("def f()\n    return 1\n", {"E0001"}),
    "syntax_unclosed_paren": ("x = (1,\ny = 2\n", {"E0001"}),
    "syntax_unexpected_indent": ("x = 1\n    y = 2\n", {"E0001"}),
    "missing_super_init": ("""
        class Base:
            def __init__(self):
                self.ready = True

        class Child(Base):
            def __init__(self):
                self.other = 1
        """, {"W0231"}),
    "import_nonexistent_module": ("import no_such_module_xyz\n", {"E0401"}),
    "import_nonexistent_name": ("from math import no_such_name\n", {"E0611"}),
    "unary_operand_on_literal": ('y = -"a"\n', {"E1130"}),
    "no_member_list_literal": ("[].push(1)\n", {"E1101"}),
    "no_member_str_literal": ('"abc".reverse()\n', {"E1101"}),
    "no_member_module": ("import math\nprint(math.squareroot(2))\n", {"E1101"}),
    "return_outside_function": ("return 5\n", {"E0104"}),
    "yield_outside_function": ("yield 5\n", {"E0105"}),
    "break_outside_loop": ("break\n", {"E0103"}),
    "await_outside_async": ("import asyncio\nawait asyncio.sleep(1)\n", {"E1142"}),
    "too_many_positional_args": ("def f(a):\n    return a\nf(1, 2)\n", {"E1121"}),
    "missing_argument": ("def f(a, b):\n    return a + b\nf(1)\n", {"E1120"}),
    "unexpected_keyword": ("def f(a):\n    return a\nf(a=1, b=2)\n", {"E1123"}),
    "not_callable": ("count = 1\ncount()\n", {"E1102"}),
    "function_redefined": ("def f():\n    return 1\ndef f():\n    return 2\n", {"E0102"}),
    "method_without_self": ("class A:\n    def f():\n        return 1\n", {"E0211"}),
    "unsubscriptable": ("count = 1\nprint(count[0])\n", {"E1136"}),
    "not_iterable": ("for i in 5:\n    print(i)\n", {"E1133"}),
    "raising_non_exception": ("raise 5\n", {"E0702"}),
    "catching_non_exception": ("try:\n    pass\nexcept int:\n    pass\n", {"E0712"}),
    "nonlocal_without_binding": ("def f():\n    nonlocal y\n    y = 1\n", {"E0117"}),
    "duplicate_argument": ("def f(a, a):\n    return a\n", {"E0108"}),
    "return_in_init": ("class A:\n    def __init__(self):\n        return 1\n", {"E0101"}),
    "several_errors": ("""
        import no_such_module_xyz

        def total(values):
          acc = 0
          for v in values:
              acc += v
          return acc + missing

        [].push(total([1]))
        """, {"E0401", "W0311", "E0602", "E1101"}),
    "humaneval_style_bug": ("""
        def separate_paren_groups(paren_string):
            result = []
            current = []
            depth = 0
            for c in paren_string:
                if c == "(":
                    depth += 1
                    current.append(c)
                elif c == ")":
                    depth -= 1
                    current.append(c)
                    if depth == 0:
                        result.append("".join(current))
                        current.clear()
            return reslt
        """, {"E0602"}),
}


def _ids(messages: tuple[LintMessage, ...]) -> set[str]:
    return {message.msg_id for message in messages}


@pytest.fixture(scope="module")
def reference() -> dict[str, LintResult]:
    """Each corpus program's verdict from a fresh pylint process, a few at a time."""
    names = sorted(CORPUS)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(lambda name: lint_with_subprocess(dedent(CORPUS[name][0])), names)
        return dict(zip(names, results))


@pytest.fixture(scope="module")
def shared_gate() -> LintGate:
    """One gate across the corpus, as in a search: programs are checked one after another."""
    return LintGate()


def test_corpus_is_large_and_mostly_broken():
    broken = [name for name, (_, ids) in CORPUS.items() if ids]
    assert len(CORPUS) >= 30 and len(broken) >= 25


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_gate_agrees_with_pylint_subprocess(name, reference, shared_gate):
    text, expected_ids = CORPUS[name]
    gate_result = shared_gate.lint(Program.from_text(dedent(text)))
    pylint_result = reference[name]
    assert gate_result.ok == pylint_result.ok
    assert _ids(gate_result.messages) == _ids(pylint_result.messages) == expected_ids
    # Message by message: same positions, and same text except for syntax errors (the gate
    # leaves out the "(prog, line N)" suffix, see envs.lint.syntax_error_message).
    def comparable(message):
        text = "" if message.msg_id == "E0001" else message.message
        return (message.line, message.column, message.msg_id, message.symbol, text)

    assert sorted(map(comparable, gate_result.messages)) == sorted(
        map(comparable, pylint_result.messages))
    assert gate_result.syntax_error == pylint_result.syntax_error == ("E0001" in expected_ids)


def test_filter_keeps_exactly_the_enabled_messages():
    def message(msg_id):
        return LintMessage(1, 0, msg_id, "symbol", "text")

    kept = filter_messages([message(i) for i in ("E0602", "F0002", "W0311", "W0231", "W0611",
                                                  "C0114", "R0903", "I0011", "W0312")])
    assert [m.msg_id for m in kept] == ["E0602", "F0002", "W0311", "W0231"]
    assert set(ENABLED_MESSAGES) == {"E", "F", "W0311", "W0231"}


def test_second_lint_of_equal_program_is_a_cache_hit():
    gate = LintGate()
    first = gate.lint(_p("print(undefined_a)\n"))
    second = gate.lint(Program.from_text("print(undefined_a)"))  # equal text, new object
    assert second is first
    assert (gate.stats.calls, gate.stats.cache_hits, gate.stats.pylint_runs) == (2, 1, 1)
    assert gate.stats.lint_seconds > 0


def test_cache_is_bounded_least_recently_used_first_out():
    gate = LintGate(cache_size=2)
    a, b, c = (_p(f"x{i} = {i}\n") for i in range(3))
    gate.lint(a)
    gate.lint(b)
    gate.lint(a)  # a is now the most recently used
    gate.lint(c)  # evicts b
    gate.lint(a)
    assert gate.stats.pylint_runs == 3
    gate.lint(b)
    assert gate.stats.pylint_runs == 4


def test_messages_carry_line_and_column():
    result = lint_errors("import os\n\n\ndef f(a):\n    return a\n\n\nprint(os.sep, nowhere)\n")
    assert [(m.line, m.column, m.msg_id, m.symbol) for m in result.messages] == [
        (8, 14, "E0602", "undefined-variable")]
    assert result.messages[0].message == "Undefined variable 'nowhere'"


def test_syntax_error_is_reported_with_its_line_and_no_pylint_run():
    gate = LintGate()
    result = gate.lint(_p("x = 1\ny = 2\ndef f(:\n    pass\n"))
    assert not result.ok and result.syntax_error
    assert [(m.line, m.msg_id, m.symbol) for m in result.messages] == [(3, "E0001", "syntax-error")]
    assert gate.stats.pylint_runs == 0 and gate.stats.syntax_errors == 1


@pytest.mark.parametrize("text", ["x = 1\0\n", "x = '\ud800'\n", "x = " + "-" * 100_000 + "1\n"])
def test_unreadable_or_too_deep_text_is_a_syntax_error(text):
    result = LintGate().lint(Program.from_text(text))
    assert result.syntax_error and [m.msg_id for m in result.messages] == ["E0001"]


_keys = st.sampled_from(["E0602", "E1101", "W0311"])


@given(st.lists(_keys, max_size=8), st.lists(_keys, max_size=8))
def test_new_errors_is_a_multiset_difference_that_ignores_lines(child_ids, parent_ids):
    child = tuple(LintMessage(line, 0, i, "symbol", "text") for line, i in enumerate(child_ids))
    parent = tuple(LintMessage(99, 0, i, "symbol", "text") for i in parent_ids)
    fresh = new_errors(child, parent)
    expected = Counter(child_ids) - Counter(parent_ids)
    assert Counter(m.msg_id for m in fresh) == expected
    assert list(fresh) == [m for m in child if m in fresh]  # in the child's order


def test_check_without_parent_is_lint():
    gate = LintGate()
    program = _p("print(undefined_b)\n")
    assert gate.check(program) == gate.lint(program)
    assert gate.check(_p("print(1)\n")).ok


def test_repair_mode_allows_old_errors_on_shifted_lines():
    gate = LintGate()
    parent = _p("print(undefined_c)\n")
    child = _p("import math\n\nprint(math.pi)\nprint(undefined_c)\n")
    assert not gate.lint(child).ok
    verdict = gate.check(child, parent)
    assert verdict.ok and verdict.messages == ()


def test_repair_mode_rejects_new_errors_and_returns_only_them():
    gate = LintGate()
    parent = _p("print(undefined_c)\n")
    child = _p("print(undefined_c)\nprint(undefined_d)\nprint(undefined_c)\n")
    verdict = gate.check(child, parent)
    assert not verdict.ok
    # undefined_d is new, and so is the second undefined_c: errors are counted as a multiset.
    assert [(m.line, m.message) for m in verdict.messages] == [
        (2, "Undefined variable 'undefined_d'"), (3, "Undefined variable 'undefined_c'")]


def test_repair_mode_fixing_an_error_passes():
    gate = LintGate()
    verdict = gate.check(_p("undefined_e = 1\nprint(undefined_e)\n"), _p("print(undefined_e)\n"))
    assert verdict.ok and not verdict.syntax_error


def test_repair_mode_against_a_parent_that_does_not_parse():
    gate = LintGate()
    parent = _p("def f(:\n    return undefined_f\n")
    # The parent's other errors are unknown, so a child that parses passes even with errors.
    assert gate.check(_p("def f():\n    return undefined_f\n"), parent).ok
    # The same syntax error (by message) moved down a line is not new...
    assert gate.check(_p("x = 1\ndef f(:\n    return undefined_f\n"), parent).ok
    # ...but a different one is.
    verdict = gate.check(_p("def f():\n    return (\n"), parent)
    assert not verdict.ok and verdict.syntax_error


def test_later_program_is_not_contaminated_by_earlier_one():
    """pylint issue #5888: astroid caches modules by name; every program here is "prog"."""
    gate = LintGate()
    program_a = _p("""
        import json

        def helper():
            return json.dumps(1)

        class Base:
            def __init__(self):
                self.value = 1
        """)
    program_b = _p("""
        print(helper(), json.dumps(2))

        class Child(Base):
            pass
        """)
    assert gate.lint(program_a).ok
    result_b = gate.lint(program_b)
    assert sorted(m.message for m in result_b.messages) == [
        "Undefined variable 'Base'", "Undefined variable 'helper'", "Undefined variable 'json'"]
    assert LintGate().lint(program_b) == result_b


def test_program_module_is_evicted_from_astroid_cache():
    assert LintGate(isolated=False).lint(_p("import json\nVALUE_G = json.dumps(1)\n")).ok  # this process's astroid
    assert MODULE_NAME not in MANAGER.astroid_cache
    assert "json" in MANAGER.astroid_cache  # library modules stay cached


def test_old_program_trees_are_freed():
    """A gate lives for thousands of programs: the trees it keeps alive must not grow with their
    number. Counted as growth between 10 and 40 programs, so that a bounded cache of the linter's
    own (a few recent trees) passes and a cache that keeps every tree fails."""
    def alive_program_trees():
        gc.collect()
        return sum(type(o) is nodes.Module and o.name == MODULE_NAME for o in gc.get_objects())

    gate = LintGate(isolated=False)  # the engine the worker runs, here where we can count trees

    def lint_programs(first: int, last: int) -> None:
        for i in range(first, last):
            gate.lint(_p(f"""
                class Point{i}:
                    def __init__(self):
                        self.x = {i}

                    def norm(self):
                        return abs(self.x) if self.x else None
                """))

    lint_programs(0, 10)
    after_10 = alive_program_trees()
    lint_programs(10, 40)
    assert alive_program_trees() - after_10 < 3  # 30 more programs, no more trees


def test_bad_cache_size_raises():
    with pytest.raises(ValueError, match="cache_size"):
        LintGate(cache_size=0)


@pytest.mark.parametrize("pragma", [
    "# pylint: disable=all",
    "# pylint: disable=undefined-variable",
    "#pylint:disable=E0602",
    "# noqa  pylint: skip-file",
])
def test_model_output_cannot_switch_the_gate_off(pragma):
    """Pragmas in the program are inert: the gate still sees the undefined name."""
    program = Program.from_text(f"{pragma}\ndef f():\n    return undefined_name  {pragma}\n")
    result = LintGate().check(program)
    assert not result.ok
    assert [m.symbol for m in result.messages] == ["undefined-variable"]
    assert result.messages[0].line == 3


def test_neutralise_pragmas_keeps_code_and_positions():
    text = "x = 'pylint: disable=all'  # pylint: disable=all\ny = x\n"
    out = neutralise_pragmas(text)
    assert out.startswith("x = 'pylint: disable=all'  # pylint-inert: disable=all")
    assert out.split("\n")[1] == "y = x"
