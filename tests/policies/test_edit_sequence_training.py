"""`training_example`: the (prompt, completion) pair finetuning uses agrees with inference."""

import pytest

from envs.problem import Problem
from envs.program import Program
from policies.formats.edit_sequence import (
    DIFF_TOKEN,
    EditSequenceFormat,
    history_diffs,
    render_training_example,
    training_example,
)

EOS = "<|endoftext|>"
STATES = [
    Program.from_text(""),
    Program.from_text("def add(a, b):\n"),
    Program.from_text("def add(a, b):\n    total = a + b\n"),
    Program.from_text("def add(a, b):\n    total = a + b\n    return total\n"),
]
STARTER = 'def inc(x):\n    """Add one."""\n'


@pytest.mark.parametrize("history", [STATES, STATES[1:], [STATES[0], STATES[3]]],
                         ids=["from-empty", "non-empty-root", "one-edit"])
def test_prompt_plus_completion_is_the_rendered_example(history):
    prompt, completion = training_example("Write add.", history_diffs(history), EOS)
    assert prompt + completion == render_training_example("Write add.", history, EOS)
    assert completion.endswith(EOS) and not completion.startswith("\n" + DIFF_TOKEN)


def test_one_completion_diff_per_edit_and_the_prompt_ends_at_the_separator():
    diffs = history_diffs(STATES)
    prompt, completion = training_example("Write add.", diffs, EOS)
    assert prompt == "Write add.\n" + DIFF_TOKEN
    assert completion.removesuffix(EOS).split("\n" + DIFF_TOKEN) == diffs


def test_the_training_prompt_is_the_inference_prompt_for_an_empty_starter():
    problem = Problem(id="p", prompt="Write add.  \n", entry_point="add", tests=())
    inference = EditSequenceFormat().render_program_prompt(problem).text
    prompt, _ = training_example(problem.prompt.rstrip(), history_diffs(STATES), EOS)
    assert prompt == inference


def test_a_starter_root_is_the_first_diff_so_inference_prompt_is_a_prefix_of_the_example():
    problem = Problem(id="p", prompt=STARTER, entry_point="inc", tests=(), starter_code=STARTER)
    solved = Program.from_text(STARTER + "    return x + 1\n")
    prompt, completion = training_example(problem.prompt.rstrip(), history_diffs([problem.starter, solved]), EOS)
    inference = EditSequenceFormat().render_program_prompt(problem).text
    assert (prompt + completion).startswith(inference)
    assert EditSequenceFormat().parse_program_output(problem, (prompt + completion)[len(inference):]).program == solved


def test_no_diffs_is_an_error():
    with pytest.raises(ValueError):
        training_example("Write add.", [], EOS)
