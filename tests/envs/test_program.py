"""Program states: canonical text, identity by content, strict line model."""

import pytest
from hypothesis import given, strategies as st

from envs.program import Program

# Lines never contain "\n" or "\r"; anything else (tabs, form feeds, unicode) is allowed.
line = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=20)


@given(st.lists(line, max_size=15))
def test_from_text_inverts_text(lines):
    program = Program(tuple(lines))
    assert Program.from_text(program.text) == program


def test_canonical_text_has_one_trailing_newline():
    assert Program.from_text("a\nb").text == "a\nb\n"
    assert Program.from_text("a\nb\n").text == "a\nb\n"
    assert Program.from_text("").text == ""
    assert Program.from_text("\n").lines == ("",)


def test_crlf_is_normalised_and_form_feed_is_not_a_line_break():
    assert Program.from_text("a\r\nb\rc").lines == ("a", "b", "c")
    assert Program.from_text("x = '\x0c'\n").lines == ("x = '\x0c'",)


def test_same_text_same_digest_and_equal():
    a, b = Program.from_text("x = 1\n"), Program(("x = 1",))
    assert a == b and hash(a) == hash(b) and a.digest == b.digest
    assert a.digest != Program(("x = 2",)).digest


def test_rejects_line_breaks_inside_lines():
    with pytest.raises(ValueError):
        Program(("a\nb",))


def test_list_input_is_stored_as_tuple():
    assert Program(["a", "b"]).lines == ("a", "b")


def test_behaviour_text_drops_comments_and_keeps_every_position_and_docstring():
    program = Program.from_text('x = 1  # set\n# alone\ns = """a # not a comment\n  b """  # c\n'
                                'def f():\n    """doc"""\n    return 1\n')
    assert program.behaviour_text == 'x = 1\n\ns = """a # not a comment\n  b """\ndef f():\n    """doc"""\n    return 1\n'
    same = Program.from_text(program.text.replace("# set", "# another"))
    assert same.behaviour_digest == program.behaviour_digest != same.digest
    other_doc = Program.from_text(program.text.replace('"""doc"""', '"""dox"""'))
    other_line = Program.from_text("\n" + program.text)
    assert len({program.behaviour_digest, other_doc.behaviour_digest, other_line.behaviour_digest}) == 3
    broken = Program.from_text("def f(:\n  # x\n")
    assert broken.behaviour_text == broken.text
