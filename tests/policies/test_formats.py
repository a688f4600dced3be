"""Edit formats: exact layouts, round trips (render -> ideal model output -> parse -> target
program), malformed outputs classified without exceptions, and format detection."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs.diff import apply_edit, render_git, render_lintseq
from envs.problem import Problem
from envs.program import Program
from envs.locations import Location
from policies.base import State
from policies.formats import FORMATS, STATUSES, detect_format, get_format, resolve_format
from policies.formats.commit_diff import render_commit
from policies.formats.edit_sequence import history_diffs, render_training_example

PROMPT = (
    "from typing import List\n"
    "\n"
    "\n"
    "def total(xs: List[int]) -> int:\n"
    '    """Return the sum of xs.\n'
    "    >>> total([1, 2])\n"
    "    3\n"
    '    """\n'
)
PROBLEM = Problem(id="toy/total", prompt=PROMPT, entry_point="total", tests=(), starter_code=PROMPT)
STARTER = PROBLEM.starter  # 8 lines; the body starts after line 8
END = Location(8, "    ", "end_of_body")
BODY = ("    acc = 0", "    for x in xs:", "        acc += x", "    return acc")
TARGET = Program(STARTER.lines + BODY)
# A state with a partial body and a location in the middle of it (after "acc = 0").
PARTIAL = Program(STARTER.lines + ("    acc = 0", "    return acc"))
MIDDLE = Location(9, "    ", "after_stmt")
LOOP = ("    for x in xs:", "        acc += x")
MBPP = Problem(id="toy/mbpp", prompt="Write a function to add two numbers.", entry_point="add", tests=())


class ChatTokenizer:
    """The ChatML template of SmolLM2-Instruct, enough for rendering prompts."""

    chat_template = "chatml"
    eos_token = "<|im_end|>"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


class VocabTokenizer:
    def __init__(self, *tokens: str) -> None:
        self.tokens = {t: i for i, t in enumerate(("a", "b") + tokens)}

    def get_vocab(self) -> dict[str, int]:
        return dict(self.tokens)


class Config:
    def __init__(self, model_type: str, name_or_path: str = "") -> None:
        self.model_type, self.name_or_path = model_type, name_or_path


def all_formats() -> list:
    """Every registered format plus each continuation mode, chat and plain."""
    out = [get_format(name, ChatTokenizer()) for name in FORMATS]
    out += [get_format("continuation", ChatTokenizer(), mode=m) for m in ("end_of_line", "open_body", "new_line")]
    out += [get_format("continuation", None, mode=m) for m in ("end_of_line", "open_body", "new_line")]
    return out


def parse(fmt, state: Program, location: Location | None, generated: str):
    """Parse like the policy does: the parser sees the prefill followed by the generation."""
    prompt = fmt.render_prompt(PROBLEM, State(state), location)
    assert prompt.text.endswith(prompt.prefill)
    return fmt.parse_output(PROBLEM, State(state), location, prompt.prefill + generated)


def assert_ok(parsed, before: Program, after: Program) -> None:
    assert parsed.status == "ok", parsed.detail
    assert parsed.program == after
    assert apply_edit(before, parsed.edit).program == after


# ---- edit sequence ------------------------------------------------------------------------


def test_edit_sequence_prompt_is_instruction_then_history_then_header_start():
    fmt = get_format("edit_sequence")
    state = State(PARTIAL, history=(STARTER, PARTIAL))
    prompt = fmt.render_prompt(PROBLEM, state, MIDDLE)
    first = render_lintseq(Program(()), STARTER)
    second = render_lintseq(STARTER, PARTIAL)
    assert second == "@@ -8,0 +9,2 @@\n+    acc = 0\n+    return acc"
    expected = PROMPT.rstrip() + "\n<|diff|>" + first + "\n<|diff|>" + second + "\n<|diff|>@@ -9,0 +10"
    assert prompt.text == expected
    assert prompt.prefill == "@@ -9,0 +10"
    assert "<|diff|>" in prompt.stop
    assert fmt.render_prompt(PROBLEM, state, None).text == expected[: -len("@@ -9,0 +10")]


@pytest.mark.parametrize("count", [",2 @@", ",7 @@", " @@"])  # right, wrong and missing counts
def test_edit_sequence_round_trip_trusts_the_body_over_the_count(count):
    fmt = get_format("edit_sequence")
    generated = count + "\n" + "\n".join("+" + line for line in LOOP) + "\n"
    assert_ok(parse(fmt, PARTIAL, MIDDLE, generated), PARTIAL, Program(PARTIAL.lines[:9] + LOOP + PARTIAL.lines[9:]))


def test_edit_sequence_single_line_header_matches_difflib():
    after = Program(STARTER.lines + ("    return sum(xs)",))
    diff = render_lintseq(STARTER, after)
    assert diff.startswith("@@ -8,0 +9 @@")
    assert_ok(parse(get_format("edit_sequence"), STARTER, END, diff[len("@@ -8,0 +9") :]), STARTER, after)


def test_edit_sequence_model_choice_and_whole_program():
    fmt = get_format("edit_sequence")
    assert_ok(parse(fmt, STARTER, None, render_lintseq(STARTER, TARGET)), STARTER, TARGET)
    # A whole program: several diffs, each after <|diff|>, applied in order from the starter.
    steps = [STARTER, Program(STARTER.lines + ("    acc = 0", "    return acc")), TARGET]
    text = "\n<|diff|>".join(render_lintseq(a, b) for a, b in zip(steps, steps[1:])) + "</s>"
    assert fmt.render_program_prompt(PROBLEM).stop == fmt.render_prompt(PROBLEM, State(STARTER), None).stop[1:]
    assert_ok(fmt.parse_program_output(PROBLEM, text), STARTER, TARGET)
    bad = fmt.parse_program_output(PROBLEM, text.replace("@@ -9,0 +10,2 @@", "@@ -9,0 +ten @@"))
    assert bad.status == "bad_header" and "diff 2 of 2" in bad.detail


def test_training_example_is_instruction_diffs_and_eos():
    text = render_training_example("Sum a list.", [Program(()), STARTER, TARGET], "<|endoftext|>")
    diffs = history_diffs([STARTER, TARGET])  # the empty program is prepended
    assert len(diffs) == 2
    assert text == "Sum a list.\n<|diff|>" + diffs[0] + "\n<|diff|>" + diffs[1] + "<|endoftext|>"


# ---- commit diff ----------------------------------------------------------------------------


def test_commit_diff_prompt_layout():
    fmt = get_format("commit_diff")
    prompt = fmt.render_prompt(PROBLEM, State(STARTER), END)
    assert prompt.text == (
        f"<NME> main.py\n<BEF> {PROMPT.rstrip()}\n"
        "<MSG> Implement total: Return the sum of xs. (edit at line 9)\n<DFF>"
    )
    assert render_commit(Program(()), "Add x") == "<NME> main.py\n<BEF> ADDFILE\n<MSG> Add x\n<DFF>"
    assert "<NME>" in prompt.stop


@pytest.mark.parametrize("lead", ["", " ", "\n"])
def test_commit_diff_round_trip(lead):
    fmt = get_format("commit_diff")
    hunks = render_git(PARTIAL, Program(PARTIAL.lines[:9] + LOOP + PARTIAL.lines[9:])).split("\n", 2)[2]
    after = Program(PARTIAL.lines[:9] + LOOP + PARTIAL.lines[9:])
    assert_ok(parse(fmt, PARTIAL, MIDDLE, lead + hunks + "\n<NME> other.py"), PARTIAL, after)
    # With the file lines and wrong line numbers: found by its context all the same.
    shifted = render_git(PARTIAL, after).replace("@@ -7,4 +7,6 @@", "@@ -2,4 +2,6 @@")
    assert_ok(parse(fmt, PARTIAL, MIDDLE, shifted), PARTIAL, after)


def test_commit_diff_new_file_whole_program():
    fmt = get_format("commit_diff")
    prompt = fmt.render_program_prompt(MBPP)
    assert "<BEF> ADDFILE\n<MSG> Implement add: Write a function to add two numbers.\n<DFF>" in prompt.text
    code = Program(("def add(a, b):", "    return a + b"))
    assert_ok(fmt.parse_program_output(MBPP, render_lintseq(Program(()), code)), Program(()), code)


# ---- fill in the middle -----------------------------------------------------------------------

FIM_LAYOUTS = {
    "fim_neox": "<|SUF|>{s}<|PRE|>{p}<|MID|>",
    "fim_santacoder": "<fim-prefix>{p}<fim-suffix>{s}<fim-middle>",
    "fim_starcoder": "<fim_prefix>{p}<fim_suffix>{s}<fim_middle>",
    "fim_qwen": "<|fim_prefix|>{p}<|fim_suffix|>{s}<|fim_middle|>",
}


@pytest.mark.parametrize("name", sorted(FIM_LAYOUTS))
def test_fim_layout_and_round_trip(name):
    fmt = get_format(name)
    prompt = fmt.render_prompt(PROBLEM, State(PARTIAL), MIDDLE)
    prefix = "".join(line + "\n" for line in PARTIAL.lines[:9])
    assert prompt.text == FIM_LAYOUTS[name].format(p=prefix, s="    return acc\n")
    after = Program(PARTIAL.lines[:9] + LOOP + PARTIAL.lines[9:])
    end = fmt.spec.stops[0] if fmt.spec.stops else "<|endoftext|>"
    assert_ok(parse(fmt, PARTIAL, MIDDLE, "\n".join(LOOP) + "\n\n" + end + "junk"), PARTIAL, after)
    # Indented by 2 instead of 4: re-indented to the location, relative indentation kept.
    two = "  for x in xs:\n      acc += x\n"
    assert_ok(parse(fmt, PARTIAL, MIDDLE, two), PARTIAL, after)


def test_fim_task_comment_and_whole_program():
    fmt = get_format("fim_starcoder")
    prompt = fmt.render_program_prompt(MBPP)
    assert prompt.text == "<fim_prefix># Write a function to add two numbers.\n<fim_suffix><fim_middle>"
    code = Program(("def add(a, b):", "    return a + b"))
    assert_ok(fmt.parse_program_output(MBPP, "def add(a, b):\n    return a + b\n"), Program(()), code)
    # HumanEval: the starter holds the prompt, so no comment; the middle ends the function.
    assert_ok(fmt.parse_program_output(PROBLEM, "\n".join(BODY)), STARTER, TARGET)


# ---- continuation ---------------------------------------------------------------------------

# What an ideal model writes after each mode's prefill, for the insertion of BODY at END.
CONTINUATIONS = {
    "end_of_line": "\n" + "\n".join(BODY) + "\n```\nThis function sums the list.",
    "open_body": " " + "\n".join(BODY)[4:] + "\n```",
    "new_line": "\n".join(BODY) + "\n\n\ndef check(candidate):\n    assert candidate([1]) == 1\n",
}


@pytest.mark.parametrize("chat", [True, False], ids=["chat", "plain"])
@pytest.mark.parametrize("mode", sorted(CONTINUATIONS))
def test_continuation_round_trip(mode, chat):
    fmt = get_format("continuation", ChatTokenizer() if chat else None, mode=mode)
    prompt = fmt.render_prompt(PROBLEM, State(STARTER), END)
    assert prompt.prefill.startswith("```python\n" if chat else "from typing")
    assert ("<|im_start|>assistant\n```python\n" in prompt.text) == chat
    assert_ok(parse(fmt, STARTER, END, CONTINUATIONS[mode]), STARTER, TARGET)


def test_continuation_layouts_exact():
    chat = get_format("continuation", ChatTokenizer(), mode="open_body")
    prompt = chat.render_prompt(PROBLEM, State(STARTER), END)
    message = "Complete the following Python function:\n```python\n" + PROMPT.rstrip() + "\n```"
    head = "<|im_start|>user\n" + message + "<|im_end|>\n<|im_start|>assistant\n"
    assert prompt.text == head + "```python\n" + PROMPT.rstrip() + "\n   "
    plain = get_format("continuation", None, mode="end_of_line")
    assert plain.render_prompt(PROBLEM, State(STARTER), None).text == PROMPT.rstrip()
    # Whole programs use the search's first prompt: the starter, at the end of the body.
    assert chat.render_program_prompt(PROBLEM) == chat.render_prompt(PROBLEM, State(STARTER), None)
    # An instruction-only problem is shown to a plain model as a comment.
    assert plain.render_program_prompt(MBPP).text == "# Write a function to add two numbers.\n"


def test_continuation_cuts_where_it_rejoins_the_suffix_or_leaves_the_block():
    fmt = get_format("continuation", ChatTokenizer(), mode="end_of_line")
    after = Program(PARTIAL.lines[:9] + LOOP + PARTIAL.lines[9:])
    rejoin = "\n" + "\n".join(LOOP) + "\n    return acc\n\nprint(total([1]))"
    assert_ok(parse(fmt, PARTIAL, MIDDLE, rejoin), PARTIAL, after)
    dedent = "\n" + "\n".join(LOOP) + "\nprint(total([1]))\n"
    assert_ok(parse(fmt, PARTIAL, MIDDLE, dedent), PARTIAL, after)


def test_plain_continuation_inside_the_function_stops_at_code_at_column_0():
    from policies.row_ends import find_stop

    fmt = get_format("continuation", None, mode="end_of_line")
    after = Program(PARTIAL.lines[:9] + LOOP + PARTIAL.lines[9:])
    prompt = fmt.render_prompt(PROBLEM, State(PARTIAL), MIDDLE)
    answer = "\n" + "\n".join(LOOP) + "\n# try it\nresult = total([1])\nprint(result)\n"
    cut_text = answer[: find_stop(answer, prompt.stop, prompt.text)]
    assert cut_text == "\n" + "\n".join(LOOP) + "\n# try it"  # any code at column 0, not only def/print/assert
    assert_ok(parse(fmt, PARTIAL, MIDDLE, cut_text), PARTIAL, after)


def test_continuation_after_a_blank_line_starts_on_it():
    fmt = get_format("continuation", ChatTokenizer(), mode="end_of_line")
    top = Location(3, "", "after_stmt")  # line 3 is blank; line 4 is the def
    assert fmt.render_prompt(PROBLEM, State(STARTER), top).prefill == "```python\nfrom typing import List\n\n"
    after = Program(STARTER.lines[:3] + ("import math",) + STARTER.lines[3:])
    assert_ok(parse(fmt, STARTER, top, "import math\n" + STARTER.lines[3] + "\n    pass"), STARTER, after)


def test_continuation_failures_are_classified():
    fmt = get_format("continuation", ChatTokenizer(), mode="end_of_line")
    assert parse(fmt, STARTER, END, "\n```").status == "empty"
    assert parse(fmt, STARTER, END, " # extended\n    return 1").status == "context_mismatch"
    assert parse(fmt, STARTER, END, "").status == "empty"
    assert parse(fmt, STARTER, END, "\ndef other():\n    pass").status == "empty"  # left the block


def test_free_answer_replaces_the_function_and_keeps_the_docstring():
    fmt = get_format("continuation_free", ChatTokenizer())
    prompt = fmt.render_prompt(PROBLEM, State(STARTER), END)
    assert prompt.prefill == "" and prompt.text.endswith("<|im_start|>assistant\n")
    answer = (
        "Here is the function:\n```python\nimport math\n\ndef total(xs):\n    return sum(xs)\n\n"
        "print(total([1, 2]))\n```\nIt uses `sum`."
    )
    parsed = parse(fmt, STARTER, END, answer)
    expected = Program(
        ("from typing import List", "import math", "", "", "def total(xs):") + STARTER.lines[4:] + ("    return sum(xs)",)
    )
    assert_ok(parsed, STARTER, expected)
    # A later state shows the model its current code.
    assert "Here is the current code:\n```python\n" in fmt.render_prompt(PROBLEM, State(PARTIAL), None).text
    assert "fails" not in fmt.render_prompt(PROBLEM, State(PARTIAL), None).text
    with_failures = fmt.render_prompt(PROBLEM, State(PARTIAL, feedback=("total([1]): got 0, expected 1",)), None)
    assert "```\nIt fails these tests:\n- total([1]): got 0, expected 1\nRewrite the complete function total." \
        in with_failures.text
    assert parse(fmt, STARTER, END, "I cannot help with that.").status == "no_code"
    assert parse(fmt, STARTER, END, "```python\ndef other():\n    pass\n```").status == "no_function"
    assert parse(fmt, STARTER, END, "```python\n" + PROMPT + "```").status == "no_change"
    # Truncated inside the fence: the code so far is taken; the lint gate judges it.
    assert parse(fmt, STARTER, END, "```python\ndef total(xs):\n    return su").status == "ok"


def test_free_answers_stop_at_the_closing_fence_not_the_opening_one():
    from policies.formats.continuation import FREE_STOP
    from policies.row_ends import find_stop

    fmt = get_format("continuation_free", ChatTokenizer())
    prompt = fmt.render_prompt(PROBLEM, State(STARTER), END)
    assert FREE_STOP in prompt.stop
    answer = "Sure:\n```python\ndef total(xs):\n    return sum(xs)\n```\nThis function adds ..."
    cut = find_stop(answer, prompt.stop, prompt.text)
    assert answer[:cut] == "Sure:\n```python\ndef total(xs):\n    return sum(xs)"  # the opening fence survives
    # The sampler drops the stop string: the parser gets an opening fence without a closing one.
    assert parse(fmt, STARTER, END, answer[:cut]).status == "ok"


def test_free_mode_needs_a_chat_template():
    with pytest.raises(ValueError, match="chat template"):
        get_format("continuation_free", None)
    assert get_format("continuation", ChatTokenizer()).mode == "free_cut"  # auto, chat: DEFAULT_CHAT_MODE
    assert get_format("continuation", None).mode == "end_of_line"  # auto, plain


# ---- cut children (free_cut) ------------------------------------------------------------------


def test_cut_child_keeps_the_parent_up_to_the_cut_and_rewrites_the_rest():
    fmt = get_format("continuation", ChatTokenizer(), mode="free_cut")
    assert fmt.edit_style == "cut"
    parent = Program(PARTIAL.lines + ("", "", "print(total([1]))"))  # code after the function stays
    cut = Location(9, "", "after_stmt")  # after "acc = 0"
    prompt = fmt.render_prompt(PROBLEM, State(parent), cut)
    assert prompt.text.endswith("<|im_start|>assistant\n```python\n" + "\n".join(parent.lines[:9]))
    parsed = parse(fmt, parent, cut, "\n" + "\n".join(BODY[1:]) + "\n```\nDone.")
    assert_ok(parsed, parent, Program(TARGET.lines + ("", "", "print(total([1]))")))


def test_cut_child_prompt_names_the_failing_visible_tests_only_with_feedback():
    fmt = get_format("continuation", ChatTokenizer(), mode="free_cut")
    cut = Location(9, "", "after_stmt")
    plain = fmt.render_prompt(PROBLEM, State(PARTIAL), cut)
    assert "failed" not in plain.text
    failing = ("total([1]): got 0, expected 1",)
    fmt.elide_docstring = False
    shown = fmt.render_prompt(PROBLEM, State(PARTIAL, feedback=failing), cut)
    # the parent's whole code, then its failures (self-debugging's prompt)
    assert f"This version fails some tests:\n```python\n{PARTIAL.text}" in shown.text
    assert "Failing tests:\n- total([1]): got 0, expected 1\n" in shown.text
    # the feedback sits in the task, before the answer: the prefill (the kept head) is the same
    assert shown.prefill == plain.prefill and shown.text.endswith(plain.prefill)
    fmt.feedback_shows_code = False  # the failures alone
    head_only = fmt.render_prompt(PROBLEM, State(PARTIAL, feedback=failing), cut)
    assert "A previous version failed these tests:\n- total([1]): got 0, expected 1\n" in head_only.text
    assert PARTIAL.text not in head_only.text


def test_refinement_prompts_leave_out_the_docstring_the_task_shows_and_the_parser_puts_it_back():
    fmt = get_format("continuation", ChatTokenizer(), mode="free_cut")
    failing = ("total([1]): got 0, expected 1",)
    docstring = STARTER.lines[4:8]
    cases = [(Location(9, "", "after_stmt"), "\n" + "\n".join(BODY[1:]), TARGET),  # keeps "acc = 0"
             (Location(8, "    ", "body_start"), "acc = 1\n" + "\n".join(BODY[1:]),  # rewrites the body
              Program(STARTER.lines + ("    acc = 1",) + BODY[1:]))]
    for cut, generated, expected in cases:
        state = State(PARTIAL, feedback=failing)
        prompt = fmt.render_prompt(PROBLEM, state, cut)
        code_shown = prompt.text[:-len(prompt.prefill)].split("This version fails some tests:")[1]
        assert "def total(xs: List[int]) -> int:\n    acc = 0\n    return acc" in code_shown
        assert prompt.text.count("Return the sum of xs.") == 1  # in the task only
        assert prompt.prefill.startswith("```python\nfrom typing import List\n\n\ndef total(xs: List[int]) -> int:")
        assert not any(line in prompt.prefill for line in docstring)
        assert_ok(fmt.parse_output(PROBLEM, state, cut, prompt.prefill + generated), PARTIAL, expected)
    # a docstring the task did not show stays in the prompt (the model would not know it)
    edited = Program(STARTER.lines[:5] + ("    Only the positive ones.",) + STARTER.lines[6:] + PARTIAL.lines[8:])
    prompt = fmt.render_prompt(PROBLEM, State(edited, feedback=failing), Location(9, "", "after_stmt"))
    assert "Only the positive ones." in prompt.prefill
    # without feedback the head is kept whole: it is the fresh prompt's prefill, already encoded
    plain = fmt.render_prompt(PROBLEM, State(PARTIAL), Location(9, "", "after_stmt"))
    assert all(line in plain.prefill for line in docstring)


def test_refinement_as_a_conversation_opens_with_the_fresh_prompt_and_shows_the_code_as_the_answer():
    fmt = get_format("continuation", ChatTokenizer(), mode="free_cut", fresh="cut")
    fmt.feedback_turns = True
    failing = ("total([1]): got 0, expected 1",)
    fresh = fmt.render_program_prompt(PROBLEM).text
    task_turn = fresh[:fresh.index("<|im_start|>assistant\n")]
    # a whole rewrite: the program as the model's answer, whole, then the failures as the user's reply
    whole = fmt.render_prompt(PROBLEM, State(PARTIAL, feedback=failing), None)
    answer_turn = f"<|im_start|>assistant\n```python\n{PARTIAL.text.rstrip()}\n```<|im_end|>\n"
    assert whole.text == (task_turn + answer_turn + "<|im_start|>user\nIt fails these tests:\n"
                          "- total([1]): got 0, expected 1\nRewrite the complete function total.<|im_end|>\n"
                          "<|im_start|>assistant\n")
    # the fresh prompt (the starter prefilled) is its prefix up to the body, so the cache holds that
    assert whole.text.startswith(fresh)
    assert_ok(fmt.parse_output(PROBLEM, State(PARTIAL, feedback=failing), None,
                               f"```python\n{TARGET.text}\n```"), PARTIAL, TARGET)
    # a cut child: the same conversation, the kept head (docstring left out) prefilled in the next answer
    cut = Location(9, "", "after_stmt")
    state = State(PARTIAL, feedback=failing)
    child = fmt.render_prompt(PROBLEM, state, cut)
    assert child.text.startswith(task_turn + "<|im_start|>assistant\n```python\n")
    assert "Write a corrected version that passes them.<|im_end|>\n<|im_start|>assistant\n" in child.text
    assert child.text.endswith(child.prefill) and "Return the sum of xs." not in child.prefill
    assert_ok(fmt.parse_output(PROBLEM, state, cut, child.prefill + "\n" + "\n".join(BODY[1:])), PARTIAL, TARGET)
    # without failures (or at the starter) a refinement is asked as before
    fmt.feedback_turns = False
    assert fmt.render_prompt(PROBLEM, State(PARTIAL), None).text.count("<|im_start|>user") == 1
    fmt.feedback_turns = True
    assert fmt.render_prompt(PROBLEM, State(PARTIAL), None).text.count("<|im_start|>user") == 1
    assert fmt.render_prompt(PROBLEM, State(STARTER, feedback=failing), None).text.count("<|im_start|>user") == 1


def test_cut_child_may_extend_the_cut_line_and_stops_at_top_level_code():
    fmt = get_format("continuation", ChatTokenizer(), mode="free_cut")
    cut = Location(9, "", "after_stmt")
    parsed = parse(fmt, PARTIAL, cut, " + 1\n    return acc\n\nassert total([1]) == 1\n")
    assert parsed.program == Program(STARTER.lines + ("    acc = 0 + 1", "    return acc"))
    assert parse(fmt, PARTIAL, cut, "\n    return acc").status == "no_change"


def test_cut_child_sample_stops_where_the_function_ends_and_parses_the_same():
    from policies.row_ends import find_stop

    fmt = get_format("continuation", ChatTokenizer(), mode="free_cut")
    cut = Location(9, "", "after_stmt")
    prompt = fmt.render_prompt(PROBLEM, State(PARTIAL), cut)
    answer = " + 1\n    # keep it\n\n    return acc\n\n# Test\nprint(total([1]))\nassert total([]) == 0\n```"
    cut_text = answer[: find_stop(answer, prompt.stop, prompt.text)]
    assert cut_text == " + 1\n    # keep it\n\n    return acc\n\n# Test"  # comments and blank lines do not end it
    assert parse(fmt, PARTIAL, cut, cut_text).program == parse(fmt, PARTIAL, cut, answer).program
    assert parse(fmt, PARTIAL, cut, cut_text).program.lines[-1] == "    return acc"


def test_free_cut_fresh_programs_are_free_answers():
    fmt = get_format("continuation", ChatTokenizer(), mode="free_cut")
    free = get_format("continuation_free", ChatTokenizer())
    assert fmt.render_program_prompt(PROBLEM) == free.render_program_prompt(PROBLEM)


def test_a_cut_at_a_line_end_opens_the_next_body_line():
    fmt = get_format("continuation", ChatTokenizer(), mode="free_cut")
    prompt = fmt.render_prompt(PROBLEM, State(PARTIAL), MIDDLE)
    assert prompt.prefill.endswith("    acc = 0\n   ")  # one space short: the model writes " for ..."
    parsed = parse(fmt, PARTIAL, MIDDLE, " for x in xs:\n        acc += x\n    return acc\n```")
    assert_ok(parsed, PARTIAL, TARGET)


def test_fresh_programs_cut_from_the_starter_continue_its_body():
    fmt = get_format("continuation", ChatTokenizer(), fresh="cut")
    prompt = fmt.render_program_prompt(PROBLEM)
    assert prompt == fmt.render_prompt(PROBLEM, State(STARTER), END)  # the search's first cut, same shape
    assert prompt.prefill == "```python\n" + "\n".join(STARTER.lines) + "\n   "
    text = prompt.prefill + " acc = 0\n    for x in xs:\n        acc += x\n    return acc\n\nprint(total([1]))"
    parsed = fmt.parse_program_output(PROBLEM, text)
    assert parsed.status == "ok" and parsed.program == TARGET  # the example call after it is not kept
    # no starter function to continue (a prose-only task): a free answer
    assert fmt.render_program_prompt(MBPP) == get_format("continuation_free", ChatTokenizer()).render_program_prompt(MBPP)
    with pytest.raises(ValueError, match="free_cut"):
        get_format("continuation", ChatTokenizer(), mode="free", fresh="cut")


# ---- malformed output -----------------------------------------------------------------------

MALFORMED = {
    "garbage": "lorem ipsum dolor sit amet",
    "empty": "",
    "truncated": "@@ -8,0 +9,3 @@\n+    acc = 0\n+    for x in",
    "wrong_header": "@@ -a,b +c @@\n+    return 0",
    "fenced": "```python\ndef total(xs):\n    return sum(xs)\n```",
    "prose": "Sure! The answer is to add the numbers up.\n\nHope this helps!",
    "specials": "<|endoftext|><|im_end|><|diff|><fim_middle>",
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_outputs_are_classified_not_raised(kind):
    for fmt in all_formats():
        for location in (END, MIDDLE, None):
            state = PARTIAL if location is MIDDLE else STARTER
            parsed = fmt.parse_output(PROBLEM, State(state), location, MALFORMED[kind])
            assert parsed.status in STATUSES, (fmt.name, parsed)
            assert (parsed.status == "ok") == (parsed.program is not None)
        assert fmt.parse_program_output(PROBLEM, MALFORMED[kind]).status in STATUSES


def test_diff_formats_name_the_failure():
    seq, commit = get_format("edit_sequence"), get_format("commit_diff")
    assert parse(seq, STARTER, None, MALFORMED["garbage"]).status == "no_header"
    assert parse(seq, STARTER, None, MALFORMED["wrong_header"]).status == "bad_header"
    assert parse(seq, STARTER, END, ",x @@\n+    return 0").status == "bad_header"
    assert parse(seq, STARTER, END, "").status == "empty"
    assert parse(commit, STARTER, END, MALFORMED["prose"]).status == "no_header"
    context = "@@ -1,2 +1,3 @@\n def nothing_like_this():\n+    pass\n     return 1"
    assert parse(commit, STARTER, END, context).status == "context_mismatch"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.sampled_from(list("@@ -+,0123\n abc:`()def<|>_")) | st.characters(), max_size=200))
def test_random_text_never_raises(text):
    for fmt in all_formats():
        for state, location in ((STARTER, END), (PARTIAL, MIDDLE), (STARTER, None)):
            parsed = fmt.parse_output(PROBLEM, State(state), location, text)
            assert parsed.status in STATUSES
            if parsed.status == "ok":  # an accepted edit really makes the program it reports
                assert parsed.program != state
                assert apply_edit(state, parsed.edit).program == parsed.program
        assert fmt.parse_program_output(PROBLEM, text).status in STATUSES


# ---- registry and detection ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (("<|diff|>",), "edit_sequence"),
        (("<|SUF|>", "<|PRE|>", "<|MID|>"), "fim_neox"),
        (("<fim-prefix>", "<fim-suffix>", "<fim-middle>"), "fim_santacoder"),
        (("<fim_prefix>", "<fim_suffix>", "<fim_middle>"), "fim_starcoder"),
        (("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|im_start|>"), "fim_qwen"),
        (("<|im_start|>", "<|im_end|>"), "continuation"),
    ],
)
def test_detect_format_from_special_tokens(tokens, expected):
    assert detect_format(Config("llama"), VocabTokenizer(*tokens)) == expected
    assert get_format(expected, VocabTokenizer(*tokens)).name.startswith(expected.split("_")[0])


def test_a_chat_model_with_fim_tokens_is_prompted_as_a_chat_model():
    tokens = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|im_start|>")
    instruct = VocabTokenizer(*tokens)
    instruct.chat_template = "{{ messages }}"
    assert detect_format(Config("qwen2"), instruct) == "continuation"
    assert resolve_format("fim_qwen", Config("qwen2"), instruct).name == "fim_qwen"  # still asked for by name
    with_diff = VocabTokenizer("<|diff|>")
    with_diff.chat_template = "{{ messages }}"
    assert detect_format(Config("llama"), with_diff) == "edit_sequence"  # an edit-sequence model stays one


def test_detect_commit_diff_from_config_and_override():
    assert detect_format(Config("codegen", "CarperAI/diff-codegen-350m-v2"), VocabTokenizer()) == "commit_diff"
    assert detect_format(Config("codegen", "Salesforce/codegen-350M-mono"), VocabTokenizer()) == "continuation"
    override = resolve_format("fim_neox", Config("codegen", "x/diff-codegen"), VocabTokenizer())
    assert override.name == "fim_neox"
    assert resolve_format("auto", Config("gpt2"), VocabTokenizer("<|diff|>")).name == "edit_sequence"


def test_unknown_format_lists_the_choices():
    with pytest.raises(ValueError, match="edit_sequence.*continuation"):
        get_format("unified_diff")


def test_cut_child_inside_a_line_keeps_the_line_up_to_the_column():
    fmt = get_format("continuation", ChatTokenizer(), mode="free_cut")
    parent = Program(STARTER.lines + ("    return sum(xs) * 2",))
    cut = Location(9, "", "uncertain_token", column=len("    return sum("))
    prompt = fmt.render_prompt(PROBLEM, State(parent), cut)
    assert prompt.prefill.endswith("\n    return sum(")
    parsed = parse(fmt, parent, cut, "x for x in xs)\n```")
    assert parsed.program == Program(STARTER.lines + ("    return sum(x for x in xs)",))


def test_a_lone_carriage_return_never_reaches_a_program_line():
    for fmt in all_formats():  # the case hypothesis once found: a cut continuation joining "\r" to its head
        for state, location in ((STARTER, END), (PARTIAL, MIDDLE)):
            parsed = fmt.parse_output(PROBLEM, State(state), location, '    """\r@\n    return 1\n')
            assert parsed.status in STATUSES
            assert all("\r" not in line for line in (parsed.program.lines if parsed.program else ()))


def test_a_truncated_free_answer_keeps_its_function_without_the_comment_after_it():
    from policies.formats.common import merge_function

    answer = ["def total(xs):", "    return sum(xs)", "", "# Example usage", "print(total([1, 2]"]  # cut mid-call
    parsed = merge_function(Program(()), answer, "total")
    assert parsed.program == Program(("def total(xs):", "    return sum(xs)"))
