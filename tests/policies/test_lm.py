"""LMPolicy on tiny random models: batching, shared prompt encoding, seeds, stops, failures.

A trivial format stands in for the real ones: its prompt names the location, and its parser
accepts a sample only when the text contains "return" (random weights rarely write it), so
both statuses occur and are checked.
"""

from __future__ import annotations

import pytest

from envs.problem import Problem
from envs.program import Program
from envs.locations import Location
from policies.base import CallCaps, EditFormat, ParsedOutput, ProposeGroup, RenderedPrompt, State
from policies.lm import LMPolicy, encode_prompt, find_stop, generate_samples
from policies.loading import load_model
from policies.sampling import SamplingParams
from tiny import FAMILIES

PROBLEM = Problem(id="toy/add", prompt="def add(a, b):\n", entry_point="add", tests=())
STATE = State(Program.from_text("def add(a, b):\n    pass\n"))
LOCATIONS = (Location(1, "    ", "end_of_body"), Location(2, "    ", "after_stmt"), None)


class ToyFormat(EditFormat):
    """Prompt: the program then a location comment. OK when the sample contains "return"."""

    name = "toy"

    def __init__(self, stop: tuple[str, ...] = (), prefill: str = "") -> None:
        self.stop, self.prefill = stop, prefill

    def render_prompt(self, problem, state, location):
        where = "anywhere" if location is None else f"after line {location.after_line}"
        text = f"{state.program.text}# insert {where}\n{self.prefill}"
        return RenderedPrompt(text=text, prefill=self.prefill, stop=self.stop)

    def parse_output(self, problem, state, location, text):
        if "return" in text:
            return ParsedOutput("ok", program=state.program)
        return ParsedOutput("malformed", detail="no return")

    def render_program_prompt(self, problem):
        return RenderedPrompt(text=problem.prompt, prefill="", stop=self.stop)

    def parse_program_output(self, problem, text):
        return self.parse_output(problem, STATE, None, text)


class CrashingFormat(ToyFormat):
    def parse_output(self, problem, state, location, text):
        raise IndexError("parser bug")


def prompt_lengths(loaded, fmt, locations=LOCATIONS):
    return [len(encode_prompt(loaded.tokenizer, fmt.render_prompt(PROBLEM, STATE, loc).text)) for loc in locations]


def test_one_batch_n_per_location_with_consistent_counts(tiny_llama):
    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=12))
    batch = policy.propose(PROBLEM, STATE, LOCATIONS, 4, seed=0)
    lengths = prompt_lengths(tiny_llama, ToyFormat())
    assert len(batch.proposals) == 12
    assert [p.location for p in batch.proposals] == [loc for loc in LOCATIONS for _ in range(4)]
    assert [p.prompt_tokens for p in batch.proposals] == [n for n in lengths for _ in range(4)]
    assert all(1 <= p.generated_tokens <= 12 for p in batch.proposals)
    assert batch.generated_tokens == sum(p.generated_tokens for p in batch.proposals)
    assert batch.prompt_tokens_encoded + batch.prompt_tokens_saved == 4 * sum(lengths)
    assert {p.status for p in batch.proposals} <= {"ok", "malformed"}
    assert all((p.status == "ok") == ("return" in p.raw_text) for p in batch.proposals)
    assert batch.flops > 0 and batch.generate_s > 0 and batch.extra["seed"] == 0


def test_siblings_share_the_prompt_encoding(tiny_llama):
    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=4))
    (length,) = prompt_lengths(tiny_llama, ToyFormat(), LOCATIONS[:1])
    one = policy.propose(PROBLEM, STATE, LOCATIONS[:1], 8, seed=0)
    assert (one.prompt_tokens_encoded, one.prompt_tokens_saved) == (length, 7 * length)
    # Three prompts that differ only after the program: the common part is encoded once.
    three = policy.propose(PROBLEM, STATE, LOCATIONS, 8, seed=0)
    lengths = prompt_lengths(tiny_llama, ToyFormat())
    assert three.extra["shared_prefix"]
    assert three.prompt_tokens_encoded < sum(lengths)
    assert three.prompt_tokens_saved > 7 * sum(lengths)


def test_sharing_changes_cost_not_samples(tiny_llama):
    shared = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=10)).propose(PROBLEM, STATE, LOCATIONS, 3, seed=5)
    unshared = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=10), share_prefix=False).propose(
        PROBLEM, STATE, LOCATIONS, 3, seed=5
    )
    assert [p.raw_text for p in shared.proposals] == [p.raw_text for p in unshared.proposals]
    assert [p.logprob for p in shared.proposals] == pytest.approx([p.logprob for p in unshared.proposals], abs=1e-4)
    assert unshared.prompt_tokens_saved == 0 and not unshared.extra["shared_prefix"]
    assert shared.flops < unshared.flops


def test_same_seed_same_proposals(tiny_llama):
    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=10))
    first, again = (policy.propose(PROBLEM, STATE, LOCATIONS, 3, seed=7) for _ in range(2))
    other = policy.propose(PROBLEM, STATE, LOCATIONS, 3, seed=8)
    key = lambda b: [(p.raw_text, p.logprob, p.generated_tokens) for p in b.proposals]  # noqa: E731
    assert key(first) == key(again)
    assert key(first) != key(other)


def test_stop_strings_cut_the_text_and_the_token_count(tiny_llama):
    stop = ("e", "t")  # frequent in the tiny vocabulary, so most samples meet one
    params = SamplingParams(max_new_tokens=24, temperature=1.0)  # the draws this test was written on
    batch = LMPolicy(tiny_llama, ToyFormat(stop=stop), params=params).propose(PROBLEM, STATE, LOCATIONS, 4, seed=1)
    stopped = [p for p in batch.proposals if p.generated_tokens < 24]
    assert batch.extra["finish"].get("stop", 0) >= len(batch.proposals) // 2
    assert len(stopped) >= batch.extra["finish"]["stop"]
    assert all(s not in p.raw_text for p in batch.proposals for s in stop)


def test_stop_rows_counted_to_the_completing_token(tiny_llama):
    ids = [encode_prompt(tiny_llama.tokenizer, "def f(x):\n")]
    samples = generate_samples(tiny_llama, ids, 6, stops=[("e",)], params=SamplingParams(max_new_tokens=16), seed=3)
    decode = tiny_llama.tokenizer.decode
    assert "stop" in samples.finish
    for text, tokens, reason in zip(samples.texts, samples.token_ids, samples.finish):
        assert "e" not in text
        if reason == "stop":  # the last counted token is the one that wrote the "e"
            assert decode(tokens).startswith(text + "e") and "e" not in decode(tokens[:-1])


def test_block_end_stops_rows_in_the_sampler_and_counts_to_the_completing_token(tiny_llama):
    from policies.base import BlockEnd

    ids = [encode_prompt(tiny_llama.tokenizer, "def f(x):\n")]
    stop = (BlockEnd(3),)  # any line starting at column 3 or less: frequent in the tiny vocabulary
    samples = generate_samples(tiny_llama, ids, 8, stops=[stop], params=SamplingParams(max_new_tokens=24), seed=3, ignore_eos=True)
    decode = tiny_llama.tokenizer.decode
    assert "stop" in samples.finish
    for text, tokens, reason in zip(samples.texts, samples.token_ids, samples.finish):
        assert find_stop(text, stop) is None
        if reason == "stop":
            assert find_stop(decode(tokens), stop) is not None and find_stop(decode(tokens[:-1]), stop) is None


def test_tiered_nucleus_sampling_draws_the_exact_top_p_distribution(monkeypatch):
    import torch

    import policies.sampling as sampling

    monkeypatch.setattr(sampling, "NUCLEUS_TIERS", (8, 32))  # peaked rows end at 8, flat ones sort all
    logits = torch.randn(4, 200, generator=torch.Generator().manual_seed(0)) * torch.tensor([[4.0], [2.0], [0.3], [0.01]])
    drawn = sampling._sample(logits.repeat(8000, 1), 0.7, 0.9, torch.Generator().manual_seed(1)).view(8000, 4)
    freq = torch.stack([torch.bincount(drawn[:, r], minlength=200) / 8000.0 for r in range(4)])
    probs = torch.softmax(logits / 0.7, -1)
    ranked, order = probs.sort(-1, descending=True)
    nucleus = torch.zeros_like(probs).scatter(1, order, ranked * ((ranked.cumsum(-1) - ranked) < 0.9))
    expected = nucleus / nucleus.sum(-1, keepdim=True)
    assert freq[expected == 0].sum() == 0  # nothing outside the nucleus, ever
    assert (freq - expected).abs().max() < 0.03


def test_per_row_uniforms_draw_the_exact_top_p_distribution(monkeypatch):
    """The inverse-CDF draw of rows with their own generators (row_seeds) samples the same
    nucleus distribution as the shared-generator draw, at every tier."""
    import torch

    import policies.sampling as sampling

    monkeypatch.setattr(sampling, "NUCLEUS_TIERS", (8, 32))
    logits = torch.randn(4, 200, generator=torch.Generator().manual_seed(0)) * torch.tensor([[4.0], [2.0], [0.3], [0.01]])
    uniforms = torch.rand(4 * 8000, generator=torch.Generator().manual_seed(2))
    drawn = sampling._sample(logits.repeat(8000, 1), 0.7, 0.9, None, uniforms).view(8000, 4)
    freq = torch.stack([torch.bincount(drawn[:, r], minlength=200) / 8000.0 for r in range(4)])
    probs = torch.softmax(logits / 0.7, -1)
    ranked, order = probs.sort(-1, descending=True)
    nucleus = torch.zeros_like(probs).scatter(1, order, ranked * ((ranked.cumsum(-1) - ranked) < 0.9))
    expected = nucleus / nucleus.sum(-1, keepdim=True)
    assert freq[expected == 0].sum() == 0
    assert (freq - expected).abs().max() < 0.03
    full = sampling._sample(logits.repeat(8000, 1), 0.7, 1.0, None, uniforms).view(8000, 4)  # no nucleus
    freq = torch.stack([torch.bincount(full[:, r], minlength=200) / 8000.0 for r in range(4)])
    assert (freq - probs).abs().max() < 0.03


def test_a_program_draw_is_the_same_whatever_else_its_call_holds(tiny_llama):
    """sample_programs: program r of a call seeded s is draw s + r of the stream, so draws 0-5
    made in one call, in calls of 2 and 4, or one at a time are the same programs (the
    search's fresh programs and sampling's draws then coincide)."""
    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=12))
    whole = [p.raw_text for p in policy.sample_programs(PROBLEM, 6, seed=100).proposals]
    split = [p.raw_text for p in policy.sample_programs(PROBLEM, 2, seed=100).proposals]
    split += [p.raw_text for p in policy.sample_programs(PROBLEM, 4, seed=102).proposals]
    alone = [policy.sample_programs(PROBLEM, 1, seed=100 + k).proposals[0].raw_text for k in range(6)]
    assert whole == split == alone
    assert len(set(whole)) > 1  # distinct draws, not one stream repeated


def test_a_draw_at_its_own_temperature_leaves_the_others_as_they_were(tiny_llama):
    """sample_programs(temperatures=...): a greedy row writes the greedy program, a row at the
    policy's temperature (None) the very draw a call without temperatures makes (the search's
    later fresh programs stay sampling's draws), and a hotter row something of its own."""
    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=12, temperature=0.8))
    plain = [p.raw_text for p in policy.sample_programs(PROBLEM, 4, seed=100).proposals]
    mixed = [p.raw_text for p in policy.sample_programs(PROBLEM, 4, seed=100, temperatures=[0.0, None, None, 0.0]).proposals]
    greedy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=12, temperature=0.0))
    argmax = greedy.sample_programs(PROBLEM, 1, seed=5).proposals[0].raw_text
    assert mixed[1:3] == plain[1:3] and mixed[0] == mixed[3] == argmax
    assert plain[0] != argmax or plain[3] != argmax  # the greedy rows did change something
    with pytest.raises(ValueError, match="2 temperatures for 4 programs"):
        policy.sample_programs(PROBLEM, 4, seed=100, temperatures=[0.0, None])


def test_per_row_temperatures_draw_each_row_at_its_own(monkeypatch):
    import torch

    import policies.sampling as sampling

    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(0)) * 3
    uniforms = torch.rand(3, generator=torch.Generator().manual_seed(1))
    rows = sampling._sample(logits, torch.tensor([0.0, 0.7, 1.3]), 0.9, None, uniforms)
    assert rows[0] == logits[0].argmax()
    for r, t in [(1, 0.7), (2, 1.3)]:  # as a call with that one temperature draws the row
        assert rows[r] == sampling._sample(logits[r:r + 1], t, 0.9, None, uniforms[r:r + 1])[0]


def test_a_cap_of_exactly_the_rows_tokens_lets_every_row_end_as_it_would_uncapped(tiny_llama):
    """Stops are checked every few steps; the steps a row runs past its stop are not its tokens
    and are given back to the call's allowance, so a call capped at exactly what its rows count
    (a search whose budget is the sampling draws' tokens) cuts none of them."""
    ids = [encode_prompt(tiny_llama.tokenizer, "def f(x):\n")]
    kwargs = dict(params=SamplingParams(max_new_tokens=40), seed=0, stops=[["e"]], ignore_eos=True, row_seeds=[7, 8, 9])
    free = generate_samples(tiny_llama, ids, 3, **kwargs)
    assert "stop" in free.finish and any(len(t) % 4 for t in free.token_ids)  # some stop between two checks
    exact = free.prompt_tokens_encoded + sum(map(len, free.token_ids))
    capped = generate_samples(tiny_llama, ids, 3, caps=CallCaps(tokens=exact), **kwargs)
    assert capped.token_ids == free.token_ids and capped.finish == free.finish


def test_rows_surely_past_the_fill_stop_early_and_those_read_are_the_same(tiny_llama):
    """CallCaps.fill_tokens: the caller reads the rows in order while they fit, so a row is
    stopped once the rows up to it surely count more than the fill (`_stop_past_fill`); every
    row it would read is the row the call writes without the fill, token for token."""
    ids = [encode_prompt(tiny_llama.tokenizer, "def f(x):\n")]
    kwargs = dict(params=SamplingParams(max_new_tokens=40), seed=0, stops=[["e"]], ignore_eos=True,
                  row_seeds=[11 + r for r in range(8)], share_prefix=False)
    free = generate_samples(tiny_llama, ids, 8, **kwargs)
    lengths = [len(t) for t in free.token_ids]
    fill = free.prompt_tokens_encoded + sum(lengths[:3])  # rows 0-2 fit exactly, row 3 does not
    filled = generate_samples(tiny_llama, ids, 8, caps=CallCaps(fill_tokens=fill), **kwargs)
    assert filled.token_ids[:3] == free.token_ids[:3] and filled.finish[:3] == free.finish[:3]
    assert "past_fill" in filled.finish[3:] and "past_fill" not in filled.finish[:3]
    for row, mine in zip(free.token_ids[3:], filled.token_ids[3:]):  # the rest: a prefix, or ended before
        assert mine == row[:len(mine)]
    saved = sum(lengths) - sum(map(len, filled.token_ids))
    assert saved > 0 and filled.decoded_positions < free.decoded_positions
    whole = generate_samples(tiny_llama, ids, 8, caps=CallCaps(fill_tokens=fill + sum(lengths[3:])), **kwargs)
    assert whole.token_ids == free.token_ids  # every row fits: none stopped


def test_finished_rows_leave_the_batch_and_each_row_writes_what_it_writes_alone(tiny_llama):
    """A row that ends stops riding along in the batch (`_Batch.drop_finished`: fewer positions
    decoded), and with its own seed writes the same tokens as in a call of its own."""
    ids = [encode_prompt(tiny_llama.tokenizer, "def f(x):\n")]
    kwargs = dict(params=SamplingParams(max_new_tokens=40), seed=0, stops=[["e"]], ignore_eos=True)
    seeds = [21 + r for r in range(6)]
    batch = generate_samples(tiny_llama, ids, 6, row_seeds=seeds, **kwargs)
    alone = [generate_samples(tiny_llama, ids, 1, row_seeds=[s], **kwargs).token_ids[0] for s in seeds]
    assert batch.token_ids == alone
    lengths = sorted(len(t) for t in batch.token_ids)
    assert lengths[0] < lengths[-1] - 4  # rows ended at different steps, so some left early
    steps = lengths[-1]
    assert batch.decoded_positions < 6 * (steps - 1)


def test_find_stop_includes_matches_that_start_in_the_prompt():
    assert find_stop("abc\ndef", ["\ndef"]) == 3
    assert find_stop("def g():", ["\ndef"], tail="    pass\n") == 0
    assert find_stop("x = 1", ["\ndef"], tail="\ndef f():\n") is None  # only in the prompt
    assert find_stop("a\n```b", ["```", "\n"]) == 1


def test_block_end_stops_at_code_at_or_left_of_its_column():
    from policies.base import BlockEnd

    body = "    x = 1\n\n    # note\n"
    assert find_stop(body + "print(x)", [BlockEnd(0)]) == len(body) - 1  # at the newline before it
    assert find_stop(body + "  y", [BlockEnd(0)]) is None and find_stop(body + "  y", [BlockEnd(2)]) == len(body) - 1
    assert find_stop(body + "# a comment\n\t", [BlockEnd(0)]) is None  # comments and blank lines do not end it
    assert find_stop("print(x)", [BlockEnd(0), "```"], tail="    return x\n") == 0  # the newline was the prompt's
    assert find_stop("x = 1", [BlockEnd(4)], tail="\n  z") is None  # a match inside the prompt does not count


def test_eos_ends_a_sample_and_is_counted_but_not_in_text(tiny_llama, monkeypatch):
    every_token = list(range(len(tiny_llama.tokenizer)))
    monkeypatch.setattr(tiny_llama.model.generation_config, "eos_token_id", every_token)
    batch = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=8)).propose(PROBLEM, STATE, LOCATIONS, 2, seed=0)
    assert batch.extra["finish"] == {"eos": 6}
    assert all(p.generated_tokens == 1 and p.raw_text == "" and p.logprob < 0 for p in batch.proposals)


def test_malformed_output_and_parser_crashes_are_failure_statuses(tiny_llama):
    batch = LMPolicy(tiny_llama, CrashingFormat(prefill="    "), params=SamplingParams(max_new_tokens=4)).propose(
        PROBLEM, STATE, LOCATIONS, 2, seed=0
    )
    assert {p.status for p in batch.proposals} == {"parser_error"}
    assert all(p.edit is None and "IndexError" in p.detail for p in batch.proposals)
    assert all(p.raw_text.startswith("    ") for p in batch.proposals)  # the parser saw prefill + sample


def test_prompt_longer_than_the_model_is_a_failure_status(tiny_llama):
    batch = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=5000)).propose(PROBLEM, STATE, LOCATIONS[:1], 2, seed=0)
    assert [p.status for p in batch.proposals] == ["prompt_too_long"] * 2
    assert batch.generated_tokens == 0 and batch.prompt_tokens_encoded == 0


def test_sample_programs(tiny_llama):
    batch = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=6)).sample_programs(PROBLEM, 3, seed=0)
    assert len(batch.proposals) == 3 and all(p.location is None for p in batch.proposals)
    assert batch.prompt_tokens_saved == 2 * batch.prompt_tokens_encoded


def test_greedy_matches_transformers_generate(tiny_llama):
    import torch

    text = "def add(a, b):\n    return"
    ids = encode_prompt(tiny_llama.tokenizer, text)
    ours = generate_samples(tiny_llama, [ids], 2, params=SamplingParams(temperature=0, max_new_tokens=10), ignore_eos=True)
    with torch.inference_mode():
        ref = tiny_llama.model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=10,
                                        min_new_tokens=10, attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    assert ours.token_ids[0] == ours.token_ids[1] == ref[0, len(ids):].tolist()


@pytest.mark.parametrize("family", FAMILIES)
def test_shared_cache_log_probs_match_a_plain_forward(tiny_dirs, family):
    """The shared-prefix, left-padded, repeated cache gives each architecture's true log-probs."""
    import torch

    loaded = load_model(str(tiny_dirs(family)))
    texts = ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return", "def add(a, b):\n    x = 1\n    y ="]
    ids = [encode_prompt(loaded.tokenizer, t) for t in texts]
    samples = generate_samples(loaded, ids, 2, params=SamplingParams(max_new_tokens=8), seed=1)
    assert samples.shared and samples.prompt_tokens_saved > 0
    for row, (generated, logprob) in enumerate(zip(samples.token_ids, samples.logprobs)):
        prompt = ids[row // 2]
        with torch.inference_mode():
            logits = loaded.model(torch.tensor([prompt + generated])).logits[0].float()
        reference = torch.log_softmax(logits, -1)[len(prompt) - 1 : -1].gather(1, torch.tensor(generated)[:, None])
        assert logprob == pytest.approx(reference.sum().item(), abs=1e-3)


@pytest.mark.slow
def test_embedded_model_generates():
    loaded = load_model("smollm2")
    chat = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Write a Python function add(a, b)."}], tokenize=False, add_generation_prompt=True
    )

    class Chat(ToyFormat):
        def render_prompt(self, problem, state, location):
            return RenderedPrompt(text=chat + "```python\n", prefill="```python\n", stop=("```",))

    batch = LMPolicy(loaded, Chat(), params=SamplingParams(max_new_tokens=16)).propose(PROBLEM, STATE, [None], 2, seed=0)
    assert batch.generated_tokens > 0 and batch.prompt_tokens_saved == batch.prompt_tokens_encoded
    assert all(p.raw_text.startswith("```python\n") and len(p.raw_text) > 12 for p in batch.proposals)


def test_policy_name_records_the_model_and_the_format_variant(tiny_llama):
    from policies.formats.continuation import ContinuationFormat

    assert LMPolicy(tiny_llama, ToyFormat()).name.endswith(":toy")
    continuation = ContinuationFormat(tiny_llama.tokenizer, mode="end_of_line")
    assert LMPolicy(tiny_llama, continuation).name == f"{tiny_llama.spec}:continuation:end_of_line"


def test_token_budget_stops_generation_within_one_step(tiny_llama):
    ids = [encode_prompt(tiny_llama.tokenizer, "def f(x):\n")]
    free = generate_samples(tiny_llama, ids, 4, params=SamplingParams(max_new_tokens=40), seed=5, ignore_eos=True)
    budget = free.prompt_tokens_encoded + 30  # room for 30 of the 160 generated tokens
    capped = generate_samples(tiny_llama, ids, 4, params=SamplingParams(max_new_tokens=40), seed=5, ignore_eos=True, caps=CallCaps(tokens=budget))
    spent = capped.prompt_tokens_encoded + sum(map(len, capped.token_ids))
    assert budget <= spent < budget + 4  # stopped in the step that spent the budget (4 rows)
    assert all(c == f[: len(c)] for c, f in zip(capped.token_ids, free.token_ids))  # same draws, cut short


def test_prompt_prefixes_are_reused_across_calls_until_reset(tiny_llama):
    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=6))
    plain = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=6), prefix_cache_entries=0)
    (length,) = prompt_lengths(tiny_llama, ToyFormat(), LOCATIONS[:1])
    first = policy.propose(PROBLEM, STATE, LOCATIONS[:1], 4, seed=1)
    again = policy.propose(PROBLEM, STATE, LOCATIONS[:1], 4, seed=2)
    assert first.prompt_tokens_encoded == length
    assert again.prompt_tokens_encoded == 0  # the whole prompt is kept, with the logits that start decoding
    expected = plain.propose(PROBLEM, STATE, LOCATIONS[:1], 4, seed=2)
    assert [p.raw_text for p in again.proposals] == [p.raw_text for p in expected.proposals]
    assert expected.prompt_tokens_encoded == length  # without the cache every call pays
    policy.reset()
    assert policy.propose(PROBLEM, STATE, LOCATIONS[:1], 4, seed=2).prompt_tokens_encoded == length


def test_a_call_is_priced_before_it_runs_and_refused_when_the_tokens_left_cannot_pay(tiny_llama):
    from policies.prefill import encode_cost

    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=6))
    prompts = [encode_prompt(tiny_llama.tokenizer, ToyFormat().render_prompt(PROBLEM, STATE, loc).text)
               for loc in LOCATIONS]
    cost = encode_cost(tiny_llama, prompts, 2, share=True, prefix_cache=policy.prefix_cache)
    first_cost = encode_cost(tiny_llama, prompts[:1], 1, share=True, prefix_cache=policy.prefix_cache)
    refused = policy.propose(PROBLEM, STATE, LOCATIONS, 2, seed=1, caps=CallCaps(tokens=first_cost))  # no token for a row
    assert refused.refused and refused.proposals == () and refused.prompt_tokens_encoded == 0
    assert len(policy.prefix_cache) == 0  # nothing ran, nothing was cached
    ran = policy.propose(PROBLEM, STATE, LOCATIONS, 2, seed=1, caps=CallCaps(tokens=cost + 6 * 6))  # 6 rows of 6
    assert not ran.refused and len(ran.proposals) == 6
    assert ran.prompt_tokens_encoded == cost  # the price is what encoding costs
    again = encode_cost(tiny_llama, prompts, 2, share=True, prefix_cache=policy.prefix_cache)
    assert again < cost == encode_cost(tiny_llama, prompts, 2, share=True)  # the cached prefix is free
    assert policy.propose(PROBLEM, STATE, LOCATIONS, 2, seed=2, caps=CallCaps(tokens=again + 36)).prompt_tokens_encoded == again
    unshared = encode_cost(tiny_llama, prompts, 2, share=False)
    assert unshared == 2 * sum(map(len, prompts))


def test_a_call_runs_only_the_rows_its_tokens_pay_for_once_the_prompt_is_paid(tiny_llama):
    # The search sizes a call before the prompt is priced; at a small budget the rows it asks
    # for would all be cut mid-way, so the policy runs fewer, each with a sample's expected
    # length (half the length cap before any sample ended by itself) with ROW_MARGIN to spare,
    # clipped in order.
    from policies.lm import ROW_MARGIN
    from policies.prefill import encode_cost

    row = ROW_MARGIN * 4  # the price of a row: 8 / 2 tokens expected

    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=8), ignore_eos=True)
    prompts = [encode_prompt(tiny_llama.tokenizer, ToyFormat().render_prompt(PROBLEM, STATE, loc).text)
               for loc in LOCATIONS]
    first_cost = encode_cost(tiny_llama, prompts[:1], 1, share=True)
    one = policy.propose(PROBLEM, STATE, LOCATIONS, 2, seed=1, caps=CallCaps(tokens=first_cost + 4))
    assert len(one.proposals) == 1 and one.extra["rows"] == [1, 0, 0]
    assert one.proposals[0].location == LOCATIONS[0] and one.prompt_tokens_encoded == first_cost
    policy.reset()
    groups = [ProposeGroup(STATE, tuple(LOCATIONS[:1]), 2), ProposeGroup(STATE, tuple(LOCATIONS[1:]), 1)]
    cost = encode_cost(tiny_llama, prompts, [2, 1, 1], share=True)
    clipped = policy.propose_groups(PROBLEM, groups, seed=1, caps=CallCaps(tokens=cost + int(3 * row)))  # three rows
    assert clipped.extra["group_sizes"] == [2, 1] and len(clipped.proposals) == 3
    policy.reset()
    whole = policy.propose_groups(PROBLEM, groups, seed=1, caps=CallCaps(tokens=cost + int(4 * row)))
    assert whole.extra["group_sizes"] == [2, 2] and len(whole.proposals) == 4
    assert whole.extra["rows"] == [2, 1, 1]


def test_a_call_of_whole_rows_asks_for_those_that_fill_its_tokens_after_the_prompt(tiny_llama):
    # CallCaps.fill_tokens: no cap cuts a row, the caller drops those past its tokens, so the
    # rows are sized to fill them with ROW_MARGIN over: never fewer than one, never more than asked.
    import math

    from policies.lm import ROW_MARGIN
    from policies.prefill import encode_cost

    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=8), ignore_eos=True)
    prompt = encode_prompt(tiny_llama.tokenizer, ToyFormat().render_program_prompt(PROBLEM).text)
    cost = encode_cost(tiny_llama, [prompt], 1, share=True)
    fill = policy.sample_programs(PROBLEM, 20, seed=1, caps=CallCaps(fill_tokens=cost + 12))
    assert len(fill.proposals) == math.ceil(ROW_MARGIN * 12 / (8 / 3))  # a third of the cap expected, before any ended
    assert fill.proposals[0].generated_tokens == 8 and fill.proposals[0].finish == "length"  # whole: no token cap
    assert {p.finish for p in fill.proposals[1:]} == {"past_fill"}  # 8 + 8 > 12: never read, stopped
    # the next call's prompt is cached (free); rows cut by the length cap say nothing of a row's length
    again = policy.sample_programs(PROBLEM, 20, seed=2, caps=CallCaps(fill_tokens=16))
    assert len(again.proposals) == math.ceil(ROW_MARGIN * 16 / (8 / 3)) and again.prompt_tokens_encoded == 0
    assert len(policy.sample_programs(PROBLEM, 2, seed=3, caps=CallCaps(fill_tokens=1000)).proposals) == 2
    assert len(policy.sample_programs(PROBLEM, 5, seed=4, caps=CallCaps(fill_tokens=0)).proposals) == 1


def test_a_call_may_cap_its_samples_below_the_policy_cap(tiny_llama):
    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=12), ignore_eos=True)
    short = policy.sample_programs(PROBLEM, 3, seed=4, caps=CallCaps(max_new_tokens=5))
    assert [p.generated_tokens for p in short.proposals] == [5, 5, 5]
    longer = policy.propose(PROBLEM, STATE, LOCATIONS[:1], 3, seed=4, caps=CallCaps(max_new_tokens=50))  # never above the policy's
    assert [p.generated_tokens for p in longer.proposals] == [12, 12, 12]


def _kv(positions: int):
    import torch
    from transformers import DynamicCache

    cache = DynamicCache()
    cache.update(torch.arange(positions, dtype=torch.float32).reshape(1, 1, positions, 1),
                 torch.zeros(1, 1, positions, 1), 0)
    return cache


def _positions(cache) -> list[float]:
    return cache.layers[0].keys.flatten().tolist()


def test_prefix_cache_is_bounded_and_prefers_the_longest_prefix():
    from policies.prefix_cache import PrefixCache

    cache = PrefixCache(max_entries=2)
    cache.store([1, 2], _kv(2))
    cache.store([1, 2, 3], _kv(3))
    k, kv = cache.lookup([1, 2, 3, 4])
    assert k == 3 and _positions(kv) == [0, 1, 2]
    assert cache.lookup([5]) == (0, None)
    cache.store([7], _kv(1))  # evicts the least recently used ([1, 2] lost to [1, 2, 3])
    assert len(cache) == 2 and cache.cached_length([1, 2, 3]) == 3 and cache.cached_length([7, 7]) == 1


def test_prefix_cache_serves_a_sibling_the_prefix_it_shares_with_an_earlier_prompt():
    from policies.prefix_cache import PrefixCache

    cache = PrefixCache()
    cache.store([1, 2, 3, 4], _kv(4))  # a parent's whole prompt; the sibling differs after token 2
    assert cache.cached_length([1, 2, 9]) == 2
    k, kv = cache.lookup([1, 2, 9])
    assert k == 2 and _positions(kv) == [0, 1]
    assert cache.cached_length([1, 2, 3, 4, 5]) == 4  # the entry itself was not cropped


def test_sibling_prompts_encode_only_what_they_do_not_share(tiny_llama):
    policy = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=6))
    plain = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=6), prefix_cache_entries=0)
    first_ids, second_ids = (encode_prompt(tiny_llama.tokenizer, ToyFormat().render_prompt(PROBLEM, STATE, loc).text)
                             for loc in LOCATIONS[:2])
    shared = next(k for k, (a, b) in enumerate(zip(first_ids, second_ids)) if a != b)
    assert 0 < shared < len(second_ids)  # siblings: a common head, then different
    policy.propose(PROBLEM, STATE, LOCATIONS[:1], 2, seed=1)
    second = policy.propose(PROBLEM, STATE, LOCATIONS[1:2], 2, seed=2)
    assert second.prompt_tokens_encoded == len(second_ids) - shared
    expected = plain.propose(PROBLEM, STATE, LOCATIONS[1:2], 2, seed=2)
    assert [p.raw_text for p in second.proposals] == [p.raw_text for p in expected.proposals]


def test_doomed_rows_stop_early_and_count_the_tokens_saved(tiny_llama):
    ids = [encode_prompt(tiny_llama.tokenizer, "def f(x):\n")]
    free = generate_samples(tiny_llama, ids, 4, params=SamplingParams(max_new_tokens=40), seed=5, ignore_eos=True)
    stopped = generate_samples(tiny_llama, ids, 4, params=SamplingParams(max_new_tokens=40), seed=5, ignore_eos=True,
                               doomed=lambda row, text: row % 2 == 0)  # rows 0 and 2 doomed at their first line
    for r in range(4):
        if r % 2 == 0 and "\n" in free.texts[r]:
            assert stopped.finish[r] == "doomed" and len(stopped.token_ids[r]) < 40
            assert free.token_ids[r][: len(stopped.token_ids[r])] == stopped.token_ids[r]
        else:
            assert stopped.token_ids[r] == free.token_ids[r]
    assert "doomed" in stopped.finish
    assert stopped.doomed_tokens_saved == sum(40 - len(stopped.token_ids[r]) for r in range(4)
                                              if stopped.finish[r] == "doomed")


class _CharTokenizer:
    """One token per character: decoding a token list is joining its characters."""

    def decode(self, ids, skip_special_tokens=False):
        return "".join(chr(i) for i in ids)


def test_least_certain_token_is_located_in_the_program():
    from policies.lm import least_certain

    program = Program.from_text("def f(x):\n    return x + 1\n")
    generated = "    return x + 1\n"
    ids = [ord(c) for c in generated]
    lps = [-0.1] * len(ids)
    lps[generated.index("+")] = -5.0  # the model hesitated at "+"
    lps[0] = -9.0  # indentation never counts
    lines = frozenset(program.lines[1:])
    assert least_certain(_CharTokenizer(), "def f(x):\n", ids, lps, lines) == ("    return x + 1", 13)
    assert least_certain(_CharTokenizer(), "def f(x):\n", ids, lps, frozenset({"    pass"})) is None


def test_several_states_share_one_batch_with_their_own_row_counts(tiny_llama):
    from policies.base import ProposeGroup

    other = State(Program.from_text("def add(a, b):\n    x = 1\n    pass\n"))
    groups = [ProposeGroup(STATE, LOCATIONS[:2], 2), ProposeGroup(other, LOCATIONS[2:], 3)]
    shared = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=8)).propose_groups(PROBLEM, groups, seed=4)
    unshared = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=8), share_prefix=False).propose_groups(
        PROBLEM, groups, seed=4)
    assert shared.extra["group_sizes"] == [4, 3] and len(shared.proposals) == 7
    assert [p.location for p in shared.proposals] == [LOCATIONS[0]] * 2 + [LOCATIONS[1]] * 2 + [LOCATIONS[2]] * 3
    fmt = ToyFormat()
    lengths = [len(encode_prompt(tiny_llama.tokenizer, fmt.render_prompt(PROBLEM, g.state, loc).text))
               for g in groups for loc in g.locations for _ in range(g.n)]
    assert [p.prompt_tokens for p in shared.proposals] == lengths
    assert shared.prompt_tokens_encoded + shared.prompt_tokens_saved == sum(lengths)
    assert unshared.prompt_tokens_encoded == sum(lengths)
    # Each row's prompt is its own group's: the same samples whether prefixes are shared or not.
    assert [p.raw_text for p in shared.proposals] == [p.raw_text for p in unshared.proposals]
    assert [p.logprob for p in shared.proposals] == pytest.approx([p.logprob for p in unshared.proposals], abs=1e-4)
    single = LMPolicy(tiny_llama, ToyFormat(), params=SamplingParams(max_new_tokens=8)).propose(PROBLEM, STATE, LOCATIONS, 2, seed=4)
    assert single.extra["group_sizes"] == [6]
