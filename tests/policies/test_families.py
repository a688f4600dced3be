"""Every seed model family end to end: tiny random model -> detected format -> LMPolicy.

Random weights write garbage, so these tests check the plumbing (detection, prompts that
encode, samples that parse into known classes, counted tokens), not the quality. The slow
test runs the real embedded model and asks for at least one well-formed edit.
"""

from __future__ import annotations

import pytest

from envs.diff import apply_edit
from envs.problem import Problem
from envs.program import Program
from envs.locations import Location, end_of_body
from policies.base import State
from policies.formats import STATUSES, get_format, resolve_format
from policies.lm import LMPolicy
from policies.loading import load_model
from policies.sampling import SamplingParams
from tiny import make_tiny

PROMPT = 'def total(xs):\n    """Return the sum of the list xs.\n    >>> total([1, 2])\n    3\n    """\n'
PROBLEM = Problem(id="toy/total", prompt=PROMPT, entry_point="total", tests=(), starter_code=PROMPT)

# family -> the format detected from its special tokens (codegen: from "diff" in its path).
EXPECTED = {
    "olmo": "edit_sequence",
    "codegen": "commit_diff",
    "gpt_neox": "fim_neox",
    "gpt2": "fim_santacoder",
    "gpt_bigcode": "fim_santacoder",
    "starcoder": "fim_starcoder",
    "llama": "continuation",  # chat: mode free by default (DEFAULT_CHAT_MODE)
    "qwen2": "continuation",  # an instruct (chat) model: its FIM tokens are not used unless asked for
}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")

    def build(family: str):
        # diff-codegen is recognised by its name (its special tokens are plain text).
        return make_tiny(family, root / ("diff-models" if family == "codegen" else "models"))

    return build


def check_batch(batch, rows: int, state_program=None) -> None:
    assert len(batch.proposals) == rows
    assert batch.generated_tokens == sum(p.generated_tokens for p in batch.proposals) > 0
    for proposal in batch.proposals:
        assert proposal.status in STATUSES, (proposal.status, proposal.detail)
        assert proposal.generated_tokens > 0 and proposal.prompt_tokens > 0
        if proposal.status == "ok" and state_program is not None:
            assert apply_edit(state_program, proposal.edit).program == proposal.program


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_family_detects_its_format_and_samples(family, tiny_dir):
    loaded = load_model(str(tiny_dir(family)))
    fmt = resolve_format("auto", loaded.model.config, loaded.tokenizer)
    assert fmt.name == EXPECTED[family]
    policy = LMPolicy(loaded, fmt, params=SamplingParams(max_new_tokens=16))
    starter = PROBLEM.starter
    locations = [end_of_body(starter, PROBLEM.entry_point), None]
    check_batch(policy.propose(PROBLEM, State(starter), locations, 2, seed=0), 4, starter)
    check_batch(policy.sample_programs(PROBLEM, 2, seed=0), 2)


@pytest.mark.parametrize("mode", ["end_of_line", "open_body", "new_line"])
@pytest.mark.parametrize("family", ["llama", "gpt2"])  # chat and plain
def test_continuation_modes_run_on_chat_and_plain_models(family, mode, tiny_dir):
    loaded = load_model(str(tiny_dir(family)))
    policy = LMPolicy(loaded, get_format("continuation", loaded.tokenizer, mode=mode), params=SamplingParams(max_new_tokens=12))
    program = Program(PROBLEM.starter.lines + ("    acc = 0", "    return acc"))
    location = Location(6, "    ", "after_stmt")  # after "acc = 0", mid-program
    check_batch(policy.propose(PROBLEM, State(program), [location], 2, seed=1), 2, program)


@pytest.mark.slow
def test_embedded_model_writes_a_well_formed_edit():
    loaded = load_model("smollm2")
    fmt = resolve_format("auto", loaded.model.config, loaded.tokenizer)
    assert fmt.name.startswith("continuation")
    policy = LMPolicy(loaded, fmt, params=SamplingParams(max_new_tokens=160))
    location = end_of_body(PROBLEM.starter, PROBLEM.entry_point)
    batch = policy.propose(PROBLEM, State(PROBLEM.starter), [location], 8, seed=0)
    statuses = [p.status for p in batch.proposals]
    assert set(statuses) <= STATUSES
    assert "ok" in statuses, [p.raw_text[-300:] for p in batch.proposals]


@pytest.mark.parametrize(("fresh", "expected"), [("auto", "cut"), ("free", "free"), ("cut", "cut")])
def test_wiring_picks_how_a_chat_model_writes_fresh_programs(tiny_dir, fresh, expected):
    """policy.fresh: a chat model other than smollm2 continues the starter ("cut") unless told."""
    from dataclasses import replace

    from agent.config import PolicyConfig
    from agent.wiring import build_policy

    config = replace(PolicyConfig(), model=str(tiny_dir("llama")), fresh=fresh, device="cpu", threads=None)
    policy = build_policy(config)
    assert policy.fmt.mode == "free_cut" and policy.fmt.fresh == expected
