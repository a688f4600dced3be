"""Training sequences that start from a task's starter, as an edit-sequence policy does at
inference: `task_framing`, LintSeq with a kept starter, `prompt_edits` in finetuning data."""

from __future__ import annotations

import json
import random

import pytest

from test_lintseq import rebuild  # LintSeq diffs applied strictly from the empty program

from agent.cli import main
from agent.training.finetune import FinetuneError, read_edit_sequences
from agent.training.framing import FramingError, task_framing
from agent.training.lintseq import edit_sequence_diffs, is_insertion_only, sample_edit_sequence
from envs.lint import LintGate
from envs.problem import Problem
from envs.program import Program
from policies.formats.edit_sequence import EditSequenceFormat, training_example

EOS = "<|endoftext|>"
BODY = """\
import re


def count_words(text, minimum=1):
    words = re.findall(r"\\w+", text)
    total = 0
    for word in words:
        if len(word) >= minimum:
            total += 1
        else:
            continue
    return total
"""


@pytest.fixture(scope="module")
def gate():
    return LintGate()


def test_framing_puts_the_instruction_as_docstring_between_signature_and_body():
    framed = task_framing("Count the words of text that have at least minimum letters.", BODY)
    assert framed.starter.text == (
        'import re\n\n\ndef count_words(text, minimum=1):\n'
        '    """Count the words of text that have at least minimum letters."""\n')
    assert framed.instruction == framed.starter.text.rstrip()
    assert framed.program.text.startswith(framed.starter.text)
    assert framed.program.text.endswith("    return total\n")
    assert len(framed.program.lines) == len(Program.from_text(BODY).lines) + 1


def test_a_long_instruction_is_wrapped_and_quotes_cannot_end_the_docstring():
    framed = task_framing('Say """hello""" ' * 20, "def f(x):\n    return x\n")
    compile(framed.program.text, "<framed>", "exec")  # still one docstring
    assert all(len(line) <= 88 for line in framed.starter.lines)
    assert framed.starter.lines[-1] == '    """'


@pytest.mark.parametrize("program, why", [
    ("x = 1\n", "no top-level function"),
    ("def f(x): return x\n", "signature's line"),
    ('def f(x):\n    """Doc."""\n    return x\n', "already has a docstring"),
    ("def f(x):\n    return x\nprint(f(1))\n", "code follows"),
    ("def f(:\n", "does not parse"),
])
def test_programs_that_cannot_be_framed_say_why(program, why):
    with pytest.raises(FramingError, match=why):
        task_framing("Do it.", program)


@pytest.mark.parametrize("use_lint", [True, False], ids=["lintseq", "randseq"])
@pytest.mark.parametrize("seed", range(6))
def test_every_state_keeps_the_starter_and_the_first_diff_is_the_starter(gate, use_lint, seed):
    framed = task_framing("Count the words.", BODY)
    states = sample_edit_sequence(framed.program, random.Random(seed), lint=gate.lint, use_lint=use_lint,
                                  starter=framed.starter)
    assert states[0] == framed.starter and states[-1] == framed.program
    assert all(s.lines[: len(framed.starter.lines)] == framed.starter.lines for s in states)
    if use_lint:
        assert all(gate.lint(s).ok for s in states)
    diffs = edit_sequence_diffs(states)
    assert rebuild(diffs[:1]) == framed.starter
    assert all(is_insertion_only(d) for d in diffs)
    assert rebuild(diffs) == framed.program
    # hunks after the starter are numbered against it, never from an empty program
    assert all(not d.startswith("@@ -0,0") for d in diffs[1:])


def test_sequences_vary_with_the_seed(gate):
    framed = task_framing("Count the words.", BODY)
    seen = {tuple(edit_sequence_diffs(sample_edit_sequence(framed.program, random.Random(s), lint=gate.lint,
                                                           starter=framed.starter))) for s in range(8)}
    assert len(seen) > 1


def test_a_starter_that_is_not_the_programs_beginning_is_refused(gate):
    with pytest.raises(ValueError, match="not the beginning"):
        sample_edit_sequence(Program.from_text(BODY), random.Random(0), lint=gate.lint,
                             starter=Program.from_text("def other():\n"))


def test_the_training_prompt_with_a_starter_diff_is_the_inference_prompt():
    framed = task_framing("Count the words.", BODY)
    problem = Problem(id="p", prompt=framed.instruction + "\n", entry_point="count_words", tests=(),
                      starter_code=framed.starter.text)
    diffs = edit_sequence_diffs([framed.starter, framed.program])
    prompt, completion = training_example(framed.instruction, diffs, EOS, prompt_edits=1)
    fmt = EditSequenceFormat()
    assert prompt == fmt.render_program_prompt(problem).text
    assert fmt.parse_program_output(problem, completion.removesuffix(EOS)).program == framed.program
    with pytest.raises(ValueError):
        training_example(framed.instruction, diffs[:1], EOS, prompt_edits=1)  # nothing left to learn


def test_finetune_data_reads_prompt_edits_and_rejects_bad_values(tmp_path):
    good = {"instruction": "Do it.", "edits": ["@@ -0,0 +1 @@\n+def f():", "@@ -1,0 +2 @@\n+    pass"]}
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "prompt_edits": 1}) + "\n")
    assert [s.prompt_edits for s in read_edit_sequences([path])] == [0, 1]
    for bad in (2, -1, "1", True):
        path.write_text(json.dumps({**good, "prompt_edits": bad}) + "\n")
        with pytest.raises(FinetuneError, match="prompt_edits"):
            read_edit_sequences([path])


def test_lintseq_command_with_task_framing(tmp_path, capsys):
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in [
        {"instruction": "Count the words.", "program": BODY, "source": "mine:count"},
        {"instruction": "No function here.", "program": "x = 1\n"},
    ]))
    out = tmp_path / "edits.jsonl"
    status = main(["lintseq", str(source), "--framing", "task", "--samples", "2", "--workers", "1",
                   "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 0 and "1 cannot be framed as a task" in err
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == 2
    for record in written:
        starter = Program.from_text(record["starter"])
        assert record["prompt_edits"] == 1 and record["instruction"] == starter.text.rstrip()
        assert rebuild(record["edits"][:1]) == starter
        assert rebuild(record["edits"]).text == record["program"]
