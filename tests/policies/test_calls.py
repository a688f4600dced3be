"""Example calls proposed by the policy (policies.calls, LMPolicy.propose_calls) on tiny models."""

from __future__ import annotations

from envs.problem import Problem
from envs.testcase import TestCase
from policies.calls import calls_prompt, parse_calls
from policies.lm import LMPolicy
from policies.loading import load_model

from test_lm import ToyFormat

PROBLEM = Problem(id="toy/med", prompt='def median(l: list):\n    """Median of l."""\n', entry_point="median",
                  tests=(TestCase("v", "median([3, 1, 2])", "2"),),
                  hidden_tests=(TestCase("h", "assert median([98765, 1]) == 49383.0"),))


def test_literal_calls_are_read_and_everything_else_skipped():
    text = ("median([3, 1, 4, 3])\n"
            ">>> median([5, 2])  # Returns 3.5\n"
            "print(median([]))\n"
            "median(range(5))\n"          # not a literal
            "median(l=[1, 2])\n"          # keyword: skipped
            "median([3, 1, 4, 3])\n"      # a repeat
            "median([1, 2], 'x'\n"        # does not parse
            "x = median([7])\n")
    assert parse_calls(text, "median") == [([3, 1, 4, 3],), ([5, 2],), ([],), ([7],)]
    assert parse_calls("other([1])\n", "median") == []


def test_the_prompt_holds_the_task_but_no_test(tiny_dirs):
    chat = load_model(str(tiny_dirs("llama")))
    plain = load_model(str(tiny_dirs("olmo")))
    for loaded in (chat, plain):
        prompt = calls_prompt(PROBLEM.without_hidden_tests(), loaded.tokenizer)
        assert prompt.text.endswith("median(") and prompt.prefill == "median("
        assert "Median of l." in prompt.text and "98765" not in prompt.text
    assert "<|im_start|>assistant" in calls_prompt(PROBLEM, chat.tokenizer).text
    assert "# Example calls:" in calls_prompt(PROBLEM, plain.tokenizer).text


def test_propose_calls_counts_its_tokens_and_replays_per_seed(tiny_llama, monkeypatch):
    policy = LMPolicy(tiny_llama, ToyFormat())
    first = policy.propose_calls(PROBLEM, 3, seed=4, max_new_tokens=12)
    again = LMPolicy(tiny_llama, ToyFormat()).propose_calls(PROBLEM, 3, seed=4, max_new_tokens=12)
    assert first.samples == 3 and first.prompt_tokens > 0 and 0 < first.generated_tokens <= 36
    assert first.tokens == first.prompt_tokens + first.generated_tokens and first.flops > 0
    assert first.arguments == again.arguments
    # Whatever the model writes is parsed as calls (random weights write none): scripted text here.
    import policies.lm as lm

    real = lm.generate_samples

    def scripted(*args, **kwargs):
        samples = real(*args, **kwargs)
        samples.texts[:] = ["[1, 2])\nmedian([])", "'a')\nmedian([1, 2])"] + samples.texts[2:]
        return samples

    monkeypatch.setattr(lm, "generate_samples", scripted)
    calls = policy.propose_calls(PROBLEM, 3, seed=4, max_new_tokens=12)
    assert calls.arguments[:3] == (([1, 2],), ([],), ("a",))
    assert policy.propose_calls(PROBLEM, 0).samples == 0
