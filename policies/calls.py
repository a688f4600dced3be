"""Example calls proposed by the policy: inputs for the choice by agreement (agent.search.selection).

The choice tells visible solutions apart by running them on extra inputs. Mutations of the
visible tests' arguments (`envs.inputs`) stay close to those few calls; the model has read the
task and can propose calls of other shapes (an even-length list for a median, a value equal to a
threshold). Only what the model writes is used, from the prompt alone: no test is shown to it.

Prompt (`calls_prompt`), for a chat tokenizer (`{chat(m)}` as in policies.formats.continuation):

    {chat(task message + "Write N example calls of `ENTRY` ..., one per line, without their results.")}```python\\nENTRY(

and for a plain LM the task as `# ` comments (unless the starter code holds it), the starter
code, then `\\n\\n# Example calls:\\nENTRY(`. The prefill `ENTRY(` makes the first line a call.
`parse_calls` keeps the calls `ENTRY(...)` on the answer's lines whose arguments are all Python
literals (read with ast.literal_eval, never executed), as argument tuples, without repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envs.inputs import call_arguments
from envs.problem import Problem
from envs.testcase import TestCase
from policies.base import RenderedPrompt
from policies.formats.common import task_comment
from policies.formats.continuation import FENCE, OPEN_FENCE, is_chat, task_message

CALLS_PER_ANSWER = 5  # asked for in the chat message; a row may write fewer or more
_PLAIN_STOPS = ("\ndef ", "\nclass ", "\nif __name__")


@dataclass(frozen=True)
class ProposedCalls:
    """Argument tuples of the calls the policy proposed, and what proposing them cost."""

    arguments: tuple[tuple[Any, ...], ...]
    samples: int
    prompt_tokens: int  # encoded (after the prefix cache)
    generated_tokens: int
    flops: float
    seconds: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.generated_tokens


def calls_prompt(problem: Problem, tokenizer) -> RenderedPrompt:
    entry = problem.entry_point
    prefill = f"{entry}("
    if is_chat(tokenizer):
        message = (f"{task_message(problem)}\n\nWrite {CALLS_PER_ANSWER} example calls of `{entry}` with different "
                   "arguments, including unusual ones, one per line, without their results.")
        text = tokenizer.apply_chat_template([{"role": "user", "content": message}], tokenize=False,
                                             add_generation_prompt=True)
        return RenderedPrompt(text + OPEN_FENCE + prefill, prefill=prefill, stop=(FENCE,))
    starter = problem.starter.text.rstrip("\n")
    head = task_comment(problem, problem.starter) + (starter + "\n\n\n" if starter else "")
    return RenderedPrompt(head + "# Example calls:\n" + prefill, prefill=prefill, stop=(FENCE,) + _PLAIN_STOPS)


def parse_calls(text: str, entry_point: str) -> list[tuple[Any, ...]]:
    """Literal argument tuples of the calls of `entry_point` on the lines of `text` (a line that
    does not parse alone is skipped; a doctest's `>>> ` is dropped), in order, without repeats
    (`envs.inputs.call_arguments`)."""
    lines = [line.strip().removeprefix(">>>").strip() for line in text.split("\n") if entry_point in line]
    return call_arguments([TestCase(name="proposed", code=line) for line in lines], entry_point)
