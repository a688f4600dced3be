"""Unified-diff edits: difflib-exact rendering, strict/lenient parsing, exact/tolerant applying,
and a classified status (never an exception) for any text a model may write."""

import difflib
import random
import re
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import assume, example, given, settings, strategies as st

from envs.diff import (
    DiffStatus,
    Edit,
    Hunk,
    apply_edit,
    apply_text,
    apply_tolerant,
    make_edit,
    parse_diff,
    render_edit,
    render_git,
    render_hunk_header,
    render_lintseq,
)
from envs.program import Program

OK = DiffStatus.OK
FAST = settings(max_examples=200, deadline=None, derandomize=True)

# Lines that look like diff syntax, so bodies that resemble headers or file lines get exercised.
TRICKY = [
    "", " ", "a", "b", "x = 1", "    return x", "-", "+", "-1", "+-1", "--- a/main.py",
    "+++ b/main.py", "@@ -1 +1 @@", "\\ No newline at end of file", "\t", "x\x0c", "é  ",
]
line = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=8),
)
programs = st.lists(line, max_size=10).map(lambda lines: Program(tuple(lines)))
KINDS = ("insert", "delete", "replace")
ops = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 30), line), max_size=6)


def edited(lines: tuple[str, ...], operations: list[tuple[str, int, str]]) -> Program:
    """`lines` after random insert/delete/replace operations (positions taken modulo length)."""
    out = list(lines)
    for kind, pos, new in operations:
        if kind == "insert":
            out.insert(pos % (len(out) + 1), new)
        elif out and kind == "delete":
            del out[pos % len(out)]
        elif out:
            out[pos % len(out)] = new
    return Program(tuple(out))


# A before/after pair: a program and a random edit of it, or two unrelated programs.
pairs = st.one_of(
    st.tuples(programs, ops).map(lambda p: (p[0], edited(p[0].lines, p[1]))),
    st.tuples(programs, programs),
)


def difflib_text(before: Program, after: Program, n: int, files: tuple[str, str] = ("", "")):
    return list(difflib.unified_diff(before.lines, after.lines, *files, n=n, lineterm=""))


# --- rendering --------------------------------------------------------------------------------


@FAST
@given(pairs)
def test_lintseq_rendering_equals_difflib(pair):
    before, after = pair
    assert render_lintseq(before, after) == "\n".join(difflib_text(before, after, 0)[2:])


@FAST
@given(pairs)
def test_git_rendering_equals_difflib_with_file_lines(pair):
    before, after = pair
    expected = "\n".join(difflib_text(before, after, 3, ("a/f.py", "b/f.py")))
    assert render_git(before, after, path="f.py") == expected


def test_rendering_equals_difflib_on_long_programs_too():
    # From 200 lines on, difflib's matcher treats frequent lines as junk ("autojunk").
    rng = random.Random(7)
    for _ in range(20):
        before = Program(tuple(rng.choice(TRICKY) for _ in range(rng.randint(150, 400))))
        operations = [
            (rng.choice(KINDS), rng.randrange(400), rng.choice(TRICKY)) for _ in range(30)
        ]
        after = edited(before.lines, operations)
        assert render_lintseq(before, after) == "\n".join(difflib_text(before, after, 0)[2:])
        assert apply_text(before, render_git(before, after)).program == after


def test_headers_omit_a_count_of_one():
    assert render_lintseq(Program(), Program(("a",))) == "@@ -0,0 +1 @@\n+a"
    assert render_hunk_header(Hunk(3, 1, 3, 2, (" x", "+y"))) == "@@ -3 +3,2 @@"
    assert render_git(Program(("a",)), Program(("a",))) == ""


# --- round trips ------------------------------------------------------------------------------


@FAST
@given(pairs, st.sampled_from([0, 1, 3]))
def test_render_parse_apply_round_trip(pair, context):
    before, after = pair
    edit = make_edit(before, after, context=context)
    if before == after:
        assert edit.hunks == ()
        return
    text = render_edit(edit)
    for strict in (True, False):
        assert parse_diff(text, strict=strict) == parse_diff(text, strict=True)
        assert parse_diff(text, strict=strict).edit == edit
    assert apply_edit(before, edit).program == after
    assert apply_tolerant(before, edit).program == after


@FAST
@given(pairs)
def test_apply_text_round_trips_both_styles(pair):
    before, after = pair
    for text in (render_lintseq(before, after), render_git(before, after)):
        result = apply_text(before, text)
        if before == after:
            assert result.status is DiffStatus.EMPTY
        else:
            assert (result.status, result.program, result.detail) == (OK, after, "strict/exact")


# --- tolerant apply ---------------------------------------------------------------------------

unique_programs = st.lists(st.integers(0, 60), min_size=1, max_size=15, unique=True).map(
    lambda ns: Program(tuple(f"line{n}" for n in ns))
)


@FAST
@given(unique_programs, ops, st.lists(st.integers(-6, 6), min_size=8, max_size=8))
def test_tolerant_apply_finds_hunks_whose_line_numbers_are_wrong(before, operations, shifts):
    after = edited(before.lines, operations)
    assume(after != before)
    edit = make_edit(before, after, context=3)  # every hunk has context: before is not empty
    wrong = Edit(
        tuple(
            replace(h, old_start=max(1, h.old_start + s), new_start=max(1, h.new_start + s))
            for h, s in zip(edit.hunks, shifts)
        )
    )
    assert apply_tolerant(before, wrong).program == after
    assert apply_text(before, render_edit(wrong)).program == after


def test_nearest_match_to_the_stated_line_wins_and_ties_go_earlier():
    program = Program(("x", "a", "x", "b", "x"))

    def at(start):
        return apply_tolerant(program, Edit((Hunk(start, 1, start, 1, ("-x", "+y")),))).program

    assert at(5).lines == ("x", "a", "x", "b", "y")
    assert at(4).lines == ("x", "a", "y", "b", "x")  # lines 3 and 5 are equally near
    assert at(2).lines == ("y", "a", "x", "b", "x")  # lines 1 and 3 are equally near


def test_later_hunks_carry_the_offset_of_earlier_ones():
    program = Program(("a", "r", "z", "b", "c", "d", "e", "f", "z"))
    # The first hunk is found 4 lines before its stated line 6, so the second, stated at line 8,
    # is looked for near line 4: the "z" on line 3 beats the one on line 9.
    edit = parse_diff("@@ -6 +6 @@\n-r\n+R\n@@ -8 +8 @@\n-z\n+Z").edit
    assert apply_tolerant(program, edit).program.lines == ("a", "R", "Z", *program.lines[3:])


def test_trailing_whitespace_is_ignored_only_as_a_fallback():
    program = Program(("a  ", "b", "a"))
    edit = Edit((Hunk(1, 2, 1, 2, (" a", "-b", "+c")),))
    assert apply_edit(program, edit).status is DiffStatus.CONTEXT_MISMATCH
    assert apply_tolerant(program, edit).program.lines == ("a  ", "c", "a")  # program's own text


def test_insertion_only_hunks_are_placed_by_position_and_clamped():
    program = Program(("a", "b"))
    after_first = Edit((Hunk(1, 0, 2, 1, ("+x",)),))
    assert apply_tolerant(program, after_first).program.lines == ("a", "x", "b")
    far = Edit((Hunk(99, 0, 99, 1, ("+x",)),))
    assert apply_edit(program, far).status is DiffStatus.OUT_OF_RANGE
    assert apply_tolerant(program, far).program.lines == ("a", "b", "x")


# --- each failure class -----------------------------------------------------------------------


def status(text, strict=True):
    return parse_diff(text, strict=strict).status


@pytest.mark.parametrize("text", ["", "   \n\t\n", "--- a/x\n+++ b/x\n", "@@ -0,0 +0,0 @@\n"])
def test_empty(text):
    assert status(text) is status(text, strict=False) is DiffStatus.EMPTY
    assert apply_edit(Program(("a",)), Edit(())).status is DiffStatus.EMPTY
    assert apply_text(Program(("a",)), text).status is DiffStatus.EMPTY


@pytest.mark.parametrize("text", ["+x\n-y", "hello world", " a\n"])
def test_no_header(text):
    assert status(text) is status(text, strict=False) is DiffStatus.NO_HEADER
    assert status("+x\n@@ -0,0 +1 @@\n+x") is DiffStatus.NO_HEADER  # strict only


@pytest.mark.parametrize(
    "header",
    [
        "@@ -1,+2 +1 @@", "@@ +1 -1 @@", "@@ -a +1 @@", "@@ -1, +1 @@", "@@ -1 +1 extra",
        "@@ -\u0663 +1 @@", "@@ -" + "9" * 5000 + " +1 @@", "@@",
    ],
)
def test_bad_header_in_both_modes(header):
    text = header + "\n+x"
    assert status(text) is status(text, strict=False) is DiffStatus.BAD_HEADER


@pytest.mark.parametrize(
    "header", ["@@ -1 +1@@", "@@-1 +1 @@", "@@ -1 +1", "@@ -1 , 1 +1 @@ @@", "@@ -1 +1 @@@x"]
)
def test_lenient_headers_accept_odd_spacing_and_a_missing_close(header):
    text = header + "\n-a\n+b"
    assert status(text) is DiffStatus.BAD_HEADER
    assert parse_diff(text, strict=False).edit == Edit((Hunk(1, 1, 1, 1, ("-a", "+b")),))


def test_git_section_text_after_the_header_is_accepted():
    assert status("@@ -1 +1 @@ def f():\n-a\n+b") is OK


@pytest.mark.parametrize(
    "text",
    [
        "@@ -1,2 +1,2 @@\n a\n*b\n b",  # no prefix
        "@@ -1 +1 @@\n\\ No newline at end of file\n-a\n+b",  # marker before any body line
        "@@ -1 +1 @@\n-a\n+b\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-c\n+d",  # second file
        "@@ -1 +1 @@\n-a\n+b\nprose after the hunk",
    ],
)
def test_malformed_body(text):
    assert status(text) is DiffStatus.MALFORMED_BODY


def test_malformed_hand_built_edits_are_refused():
    program = Program(("a",))
    bad_prefix = Edit((Hunk(1, 1, 1, 1, ("?a", "+b")),))
    line_break = Edit((Hunk(1, 1, 1, 2, ("-a", "+b\nc")),))
    for edit in (bad_prefix, line_break):
        assert apply_edit(program, edit).status is DiffStatus.MALFORMED_BODY
        assert apply_tolerant(program, edit).status is DiffStatus.MALFORMED_BODY


@pytest.mark.parametrize(
    "text",
    [
        "@@ -1 +1,3 @@\n-a\n+b",  # body too short
        "@@ -1 +1 @@\n-a\n+b\n+c",  # body too long
        "@@ -1,2 +1,2 @@\n-a\n+b\n@@ -5 +5 @@\n-e\n+f",  # next header too early
    ],
)
def test_count_mismatch_is_strict_and_recovered_leniently(text):
    assert status(text) is DiffStatus.COUNT_MISMATCH
    assert status(text, strict=False) is OK
    assert apply_text(Program(("a", "x", "x", "x", "e")), text).status is OK


def test_count_mismatch_in_a_hand_built_edit():
    edit = Edit((Hunk(1, 2, 1, 1, ("-a", "+b")),))
    assert apply_edit(Program(("a",)), edit).status is DiffStatus.COUNT_MISMATCH
    assert apply_tolerant(Program(("a",)), edit).program.lines == ("b",)  # trusts the body


def test_context_mismatch():
    text = "@@ -1,2 +1,2 @@\n a\n-q\n+r"
    edit = parse_diff(text).edit
    assert apply_edit(Program(("a", "b")), edit).status is DiffStatus.CONTEXT_MISMATCH
    assert apply_text(Program(("a", "b")), text).status is DiffStatus.CONTEXT_MISMATCH


@pytest.mark.parametrize(
    "hunk",
    [
        Hunk(3, 1, 3, 1, ("-c", "+d")),  # past the end
        Hunk(0, 1, 1, 1, ("-a", "+d")),  # line 0 exists only as "insert after line 0"
        Hunk(3, 0, 4, 1, ("+d",)),  # insertion after a line that does not exist
    ],
)
def test_out_of_range(hunk):
    assert apply_edit(Program(("a", "b")), Edit((hunk,))).status is DiffStatus.OUT_OF_RANGE


def test_overlap():
    program = Program(("a", "b", "c"))
    backwards = Edit((Hunk(3, 1, 3, 1, ("-c", "+C")), Hunk(1, 1, 1, 1, ("-a", "+A"))))
    assert apply_edit(program, backwards).status is DiffStatus.OVERLAP
    assert apply_tolerant(program, backwards).status is DiffStatus.OVERLAP
    inserts = Edit((Hunk(2, 0, 3, 1, ("+x",)), Hunk(0, 0, 1, 1, ("+y",))))
    assert apply_tolerant(program, inserts).status is DiffStatus.OVERLAP


# --- the reference resolver's bugs, and other lenient recoveries ------------------------------


def test_body_prefix_is_one_character_only():
    program = Program(("-1", "a"))
    edit = parse_diff("@@ -1,2 +1,2 @@\n--1\n+-1\n-a\n+x = '- +@@ '").edit
    assert edit.hunks[0].removed == ("-1", "a") and edit.hunks[0].added == ("-1", "x = '- +@@ '")
    assert apply_edit(program, edit).program.lines == ("-1", "x = '- +@@ '")


def test_removed_lines_are_removed_and_file_like_body_lines_stay_body():
    program = Program(("-- a", "keep", "++ b"))
    text = "--- a/main.py\n+++ b/main.py\n@@ -1,3 +1,2 @@\n--- a\n keep\n-++ b\n+++ c"
    for strict in (True, False):
        edit = parse_diff(text, strict=strict).edit
        assert apply_edit(program, edit).program.lines == ("keep", "++ c")


def test_no_newline_marker_is_tolerated():
    text = "@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n"
    assert apply_text(Program(("a",)), text).program.lines == ("b",)


def test_lenient_reads_a_stripped_empty_context_line():
    program = Program(("def f():", "", "    return 1"))
    text = "@@ -1,3 +1,3 @@\n def f():\n\n-    return 1\n+    return 2\n\n"
    assert parse_diff(text).status is DiffStatus.MALFORMED_BODY
    assert apply_text(program, text).program.lines == ("def f():", "", "    return 2")
    # A blank last line is a context line when the header counts it, else trailing whitespace.
    body = "\n-    return 1\n+    return 2\n\n"
    assert parse_diff("@@ -2,2 +2,2 @@" + body, strict=False).edit.hunks[0].lines[-1] == " "
    assert parse_diff("@@ -2 +2 @@" + body, strict=False).edit.hunks[0].lines[-1] == "+    return 2"


def test_lintseq_insertion_with_a_count_too_high_and_a_final_newline():
    text = "@@ -1,0 +2,3 @@\n+a\n+b\n"  # the model wrote 3 for 2 lines; its text ends in "\n"
    assert parse_diff(text, strict=False).edit.hunks[0] == Hunk(1, 0, 2, 2, ("+a", "+b"))
    assert apply_text(Program(("x", "y")), text).program.lines == ("x", "a", "b", "y")


def test_lenient_skips_prose_and_stops_at_trailing_text():
    text = (
        "Here is the fix:\n@@ -1 +1 @@\n-a\n+b\n\n@@ -3 +3 @@\n-c\n+d\n"
        "```\nThat's it.\n@@ -1 +1 @@\n-b\n+z"
    )
    result = parse_diff(text, strict=False)
    assert [h.lines for h in result.edit.hunks] == [("-a", "+b"), ("-c", "+d")]
    assert result.detail == "ignored 5 lines from line 9"
    assert apply_text(Program(("a", "x", "c")), text).program.lines == ("b", "x", "d")


def test_lenient_keeps_start_meaning_when_a_count_crosses_zero():
    # The agent wrote "@@ -2,0 +3" (insert after line 2); the model then wrote a context line.
    text = "@@ -2,0 +3,1 @@\n b\n+new"
    assert parse_diff(text, strict=False).edit.hunks[0] == Hunk(3, 1, 3, 2, (" b", "+new"))
    assert apply_text(Program(("a", "a", "b")), text).program.lines == ("a", "a", "b", "new")


@FAST
@given(pairs, st.sampled_from([0, 3]), st.lists(st.integers(-2, 2), min_size=40, max_size=40))
@example(pair=(Program((" ",)), Program(("", " "))), context=3, noise=[0, 1] + [0] * 38)
def test_lenient_parse_recovers_wrong_counts(pair, context, noise):
    """Nonzero counts changed to other nonzero ones: the lenient parse restores the edit."""
    before, after = pair
    edit = make_edit(before, after, context=context)
    assume(edit.hunks)
    wrong = iter(noise)

    def miscounted(hunk):
        old = hunk.old_count and max(1, hunk.old_count + next(wrong))
        new = hunk.new_count and max(1, hunk.new_count + next(wrong))
        # Too low counts make a whitespace-only last line look like trailing whitespace.
        assume(hunk.lines[-1].strip() or (old >= hunk.old_count and new >= hunk.new_count))
        return replace(hunk, old_count=old, new_count=new)

    text = render_edit(Edit(tuple(miscounted(h) for h in edit.hunks)))
    assert apply_text(before, text).program == after
    # A whitespace-only last line is ambiguous with trailing whitespace once counts are wrong:
    # the lenient parse may then return a different hunk with the same effect (checked above).
    if all(h.lines[-1][1:].strip() for h in edit.hunks):
        assert parse_diff(text, strict=False).edit == edit


@FAST
@given(pairs, st.booleans())
def test_lenient_parse_recovers_stripped_empty_context_lines(pair, final_newline):
    before, after = pair
    edit = make_edit(before, after, context=3)
    assume(edit.hunks)
    text = "\n".join("" if line == " " else line for line in render_git(before, after).split("\n"))
    text += "\n" if final_newline else ""
    assert parse_diff(text, strict=False).edit == edit
    assert apply_text(before, text).program == after


# --- never raise: >= 10,000 random, truncated, mutated and garbage inputs ---------------------

FUZZ_KINDS = ("mutated", "truncated", "shuffled", "garbage")
FUZZ_CASES_PER_KIND = 2600
FUZZ_CHARS = "@@--++  ,,0123456789\\\n\n\r\tab:x"


def random_program(rng: random.Random) -> Program:
    return Program(tuple(rng.choice(TRICKY) for _ in range(rng.randint(0, 8))))


def random_diff(rng: random.Random) -> tuple[Program, str]:
    before = random_program(rng)
    operations = [
        (rng.choice(KINDS), rng.randint(0, 9), rng.choice(TRICKY)) for _ in range(rng.randint(0, 4))
    ]
    render = rng.choice([render_lintseq, render_git])
    return before, render(before, edited(before.lines, operations))


def mutate(rng: random.Random, text: str) -> str:
    """A few random character-, line- or number-level corruptions of a diff."""
    for _ in range(rng.randint(1, 4)):
        lines = text.split("\n")
        choice = rng.randrange(5)
        if choice == 0 and text:
            k = rng.randrange(len(text))
            text = text[:k] + rng.choice(["", rng.choice(FUZZ_CHARS)]) + text[k + 1 :]
        elif choice == 1:
            k = rng.randrange(len(lines))
            lines[k] = rng.choice(["", lines[k].strip(), rng.choice(TRICKY), lines[k] + " "])
            text = "\n".join(lines)
        elif choice == 2:
            k = rng.randrange(len(lines))
            text = "\n".join(lines[:k] + lines[k:k + 1] * rng.randint(0, 2) + lines[k + 1 :])
        elif choice == 3:
            number = rng.choice(["0", "1", "7", "-1", "+1", "9" * 40, ""])
            text = re.sub(r"[0-9]+", number, text, count=rng.randint(1, 3))
        else:
            text = rng.choice(["", "```\n", "<|diff|>", "\r\n"]).join([text, rng.choice(TRICKY)])
    return text


def fuzz_text(rng: random.Random, kind: str) -> tuple[Program, str]:
    before, text = random_diff(rng)
    if kind == "mutated":
        text = mutate(rng, text)
    elif kind == "truncated":
        text = text[: rng.randint(0, len(text))]
    elif kind == "shuffled":
        lines = (text + "\n" + random_diff(rng)[1]).split("\n")
        rng.shuffle(lines)
        text = "\n".join(lines[: rng.randint(0, len(lines))])
    elif rng.random() < 0.5:  # random bytes as text, undecodable ones as lone surrogates
        text = rng.randbytes(rng.randint(0, 80)).decode("utf-8", "surrogateescape")
    else:
        pool = FUZZ_CHARS + "".join(chr(rng.randrange(0x110000)) for _ in range(4))
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 60)))
    return (random_program(rng) if rng.random() < 0.3 else before), text


def check_never_raises(program: Program, text: str) -> list[DiffStatus]:
    """Run every entry point on `text`; check the results are classified and consistent;
    return every status seen."""
    parsed = {strict: parse_diff(text, strict=strict) for strict in (True, False)}
    seen = [result.status for result in parsed.values()]
    for result in parsed.values():
        assert isinstance(result.status, DiffStatus)
        assert (result.status is OK) == (result.edit is not None)
        if result.edit is not None:  # an OK edit is canonical: its rendering parses back to it
            assert parse_diff(render_edit(result.edit)).edit == result.edit
            exact, tolerant = apply_edit(program, result.edit), apply_tolerant(program, result.edit)
            for applied in (exact, tolerant):
                assert (applied.status is OK) == isinstance(applied.program, Program)
                seen.append(applied.status)
            if exact.status is OK:
                assert tolerant.program == exact.program
    if parsed[True].status is OK:
        assert parsed[False].edit == parsed[True].edit
    final = apply_text(program, text)
    assert isinstance(final.status, DiffStatus)
    assert (final.status is OK) == isinstance(final.program, Program)
    return [*seen, final.status]


@pytest.mark.parametrize("seed, kind", list(enumerate(FUZZ_KINDS)))
def test_no_input_raises(seed, kind):
    rng = random.Random(seed)
    cases = [fuzz_text(rng, kind) for _ in range(FUZZ_CASES_PER_KIND)]
    statuses = Counter(status for case in cases for status in check_never_raises(*case))
    assert len(cases) == FUZZ_CASES_PER_KIND and len(statuses) >= 3  # a mix, not one outcome
    if kind == "mutated":  # mutated diffs reach every failure class somewhere
        assert set(statuses) == set(DiffStatus)


def test_large_inputs_are_handled_quickly():
    blank_body = "@@ -1,3 +1,3 @@\n" + "\n" * 50_000 + " x"
    assert parse_diff(blank_body, strict=False).status is OK
    long_header = "@@ -1" + " " * 50_000 + "x"
    assert parse_diff(long_header, strict=False).status is DiffStatus.BAD_HEADER
    big = Program(tuple(f"line{i}" for i in range(5_000)))
    edit = make_edit(big, Program(big.lines[:2_500] + ("new",) + big.lines[2_500:]), context=3)
    misplaced = Edit((replace(edit.hunks[0], old_start=1),))
    assert apply_tolerant(big, misplaced).program == apply_edit(big, edit).program


def test_fuzz_covers_at_least_ten_thousand_inputs():
    assert FUZZ_CASES_PER_KIND * len(FUZZ_KINDS) >= 10_000
