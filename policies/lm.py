"""LMPolicy: the `Policy` protocol on a loaded causal LM and an `EditFormat`.

The format renders one prompt per location and parses each sample; `policies.sampling`
generates the samples (shared prompt prefixes encoded once, our own decode loop, log-probs
and FLOPs; its docstring has the conventions). Failures to parse are proposals with a
status, never exceptions.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections import Counter
from typing import Sequence

from envs.problem import Problem
from envs.syntax import doomed
from envs.locations import Location, body_code_lines
from policies.calls import ProposedCalls, calls_prompt, parse_calls
from policies.base import (
    CallCaps, ParsedOutput, Policy, Proposal, ProposalBatch, ProposeGroup, RenderedPrompt, State, expected_sample_tokens,
)
from policies.loading import LoadedModel
from policies.prefix_cache import PrefixCache
from policies.prefill import encode_cost
from policies.row_ends import find_stop
from policies.sampling import SamplingParams, encode_prompt, generate_samples, max_positions

__all__ = ["LMPolicy", "encode_prompt", "find_stop", "generate_samples"]

log = logging.getLogger(__name__)


class LMPolicy(Policy):
    """The `Policy` protocol on top of a loaded causal LM and an `EditFormat`.

    Proposals come location-major (all n samples of locations[0] first). Each carries the
    format's verdict on `prefill + generated text`; a sample the format cannot read, or a
    parser that raises ("parser_error"), or a prompt too long for the model
    ("prompt_too_long") is a proposal with a failure status, never an exception.
    `ProposalBatch.extra`: seed (drawn and reported when None was given), finish (counts of
    "eos"/"stop"/"length"), shared_prefix, decoded_positions, parse_s, rows (per prompt: the
    rows it ran, after a token cap clipped them: `_rows_paid_for`); from `propose_groups` also
    group_sizes (proposals per group, in order).
    """

    can_propose_groups = True  # propose_groups: several states' requests in one batch

    def __init__(
        self,
        loaded: LoadedModel,
        fmt,
        *,
        params: SamplingParams = SamplingParams(),
        name: str | None = None,
        share_prefix: bool = True,  # False: encode every row's prompt (for comparisons/tests)
        ignore_eos: bool = False,  # True: always max_new_tokens (benchmarks of equal lengths)
        prefix_cache_entries: int = 16,  # prompt prefixes kept across calls; 0: none (each call encodes its prompt)
    ) -> None:
        self.loaded = loaded
        self.fmt = fmt
        self.params = params
        self.share_prefix = share_prefix
        self.ignore_eos = ignore_eos
        # Prompt prefixes encoded by earlier calls (policies.prefix_cache); emptied by `reset`.
        self.prefix_cache = PrefixCache(max_entries=prefix_cache_entries) if share_prefix and prefix_cache_entries else None
        # This search's samples that ended by themselves and their generated tokens (`reset`
        # empties both): what a sample is expected to cost when a call's rows are paid for.
        self._whole_samples = self._whole_tokens = 0
        # "smollm2:continuation:free": a format's `label` names its variant when it has several.
        label = fmt.label or fmt.name
        self.name = name or f"{loaded.spec}:{label}"

    @property
    def max_new_tokens(self) -> int:
        return self.params.max_new_tokens

    def propose(self, problem: Problem, state: State, locations: Sequence[Location | None], n: int, *,
                seed: int | None = None, caps: CallCaps = CallCaps()) -> ProposalBatch:
        """n samples per location in one batch; proposals are location-major."""
        return self.propose_groups(problem, [ProposeGroup(state, tuple(locations), n)], seed=seed, caps=caps)

    def propose_groups(self, problem: Problem, groups: Sequence[ProposeGroup], *, seed: int | None = None,
                       caps: CallCaps = CallCaps()) -> ProposalBatch:
        """Several states' requests in one batch (a search expanding several nodes at once):
        proposals are group-major, each group location-major, as `propose` orders them."""
        prompts, locations, parsers, counts = [], [], [], []
        for group in groups:
            for loc in group.locations:
                prompts.append(self.fmt.render_prompt(problem, group.state, loc))
                locations.append(loc)
                parsers.append(lambda text, loc=loc, state=group.state: self.fmt.parse_output(problem, state, loc, text))
                counts.append(group.n)
        batch = self._run(prompts, locations, parsers, counts, seed, caps, problem.entry_point)
        batch.extra["group_sizes"] = [] if batch.refused else _group_sizes(groups, batch.extra["rows"])
        return batch

    def sample_programs(self, problem: Problem, n: int, *, seed: int | None = None,
                        caps: CallCaps = CallCaps(), temperatures: Sequence[float | None] | None = None) -> ProposalBatch:
        prompt = self.fmt.render_program_prompt(problem)
        if seed is None:
            seed = _fresh_seed()
        if temperatures is not None and len(temperatures) != n:
            raise ValueError(f"{len(temperatures)} temperatures for {n} programs")
        if temperatures is not None:  # None: the policy's own
            temperatures = [self.params.temperature if t is None else t for t in temperatures]
        return self._run([prompt], [None], [lambda text: self.fmt.parse_program_output(problem, text)], [n], seed,
                         caps, problem.entry_point, row_seeds=True, row_temperatures=temperatures)

    def propose_calls(self, problem: Problem, n: int, *, seed: int = 0, max_new_tokens: int = 96) -> ProposedCalls:
        """Example calls of the entry function, n answers to `policies.calls.calls_prompt` in one
        batch: inputs for the choice by agreement. Sees the prompt and starter code only."""
        start = time.perf_counter()
        prompt = calls_prompt(problem, self.loaded.tokenizer)
        ids = encode_prompt(self.loaded.tokenizer, prompt.text)
        limit = max_positions(self.loaded.model)
        if n < 1 or (limit is not None and len(ids) + max_new_tokens > limit):
            return ProposedCalls((), 0, 0, 0, 0.0, time.perf_counter() - start)
        samples = generate_samples(self.loaded, [ids], [n], params=dataclasses.replace(self.params, max_new_tokens=max_new_tokens),
                                   seed=seed, stops=[prompt.stop], tails=[prompt.text], share_prefix=self.share_prefix,
                                   prefix_cache=self.prefix_cache)
        arguments: dict[str, tuple] = {}
        for text in samples.texts:
            for args in parse_calls(prompt.prefill + text, problem.entry_point):
                arguments.setdefault(repr(args), args)
        return ProposedCalls(tuple(arguments.values()), n, samples.prompt_tokens_encoded,
                             sum(len(t) for t in samples.token_ids), samples.flops, time.perf_counter() - start)

    def _doomed_check(self, prompts: list[RenderedPrompt], counts: list[int]):
        """doomed(row, generated text) for generate_samples, when the format can show its code."""
        code_so_far = self.fmt.code_so_far
        if code_so_far is None:
            return None
        row_prompt = [p for p, c in enumerate(counts) for _ in range(c)]

        def check(row: int, text: str) -> bool:
            code = code_so_far(prompts[row_prompt[row]].prefill + text)
            return code is not None and doomed(code)

        return check

    def reset(self) -> None:
        """Start a new search: forget cached prompt state, so a seed replays the same search
        whatever this policy ran before (see policies.prefix_cache)."""
        if self.prefix_cache is not None:
            self.prefix_cache.clear()
        self._whole_samples = self._whole_tokens = 0

    @property
    def summary(self) -> str:
        """The format's own line, when it has one (policies.formats)."""
        return self.fmt.summary

    @property
    def edit_style(self) -> str:
        """"cut" when the format's children replace the program after their location (see
        `envs.locations.cut_locations`), else "insert"."""
        return self.fmt.edit_style

    def _proposals(self, prompts, ids, fits, samples, locations, parsers, counts: list[int],
                   entry: str, new_tokens: int) -> list[Proposal]:
        """One Proposal per row (prompt-major): parsed, with where the policy was least sure;
        a prompt too long for the model gives failures without having run."""
        row_of, first = {}, 0
        for j in fits:
            row_of[j], first = first, first + counts[j]
        proposals = []
        for j, prompt in enumerate(prompts):
            for i in range(counts[j]):
                if j not in row_of:
                    detail = (f"{len(ids[j])} prompt + {new_tokens} new tokens > "
                              f"{max_positions(self.loaded.model)} positions")
                    proposals.append(Proposal(status="prompt_too_long", edit=None, program=None, logprob=0.0,
                                              prompt_tokens=len(ids[j]), generated_tokens=0, raw_text=prompt.prefill,
                                              location=locations[j], detail=detail))
                    continue
                r = row_of[j] + i
                text = prompt.prefill + samples.texts[r]
                parsed = _parse_safely(parsers[j], text)
                # Only cut children branch at uncertain tokens: other formats skip the per-token decode.
                uncertain = None if parsed.program is None or self.edit_style != "cut" else least_certain(
                    self.loaded.tokenizer, prompt.prefill, samples.token_ids[r], samples.token_logprobs[r],
                    body_code_lines(parsed.program, entry))
                proposals.append(Proposal(
                    status=parsed.status, edit=parsed.edit, program=parsed.program, logprob=samples.logprobs[r],
                    prompt_tokens=len(ids[j]), generated_tokens=len(samples.token_ids[r]), raw_text=text,
                    location=locations[j], detail=parsed.detail, uncertain=uncertain, finish=samples.finish[r],
                ))
        return proposals

    def _rows_paid_for(self, ids, fits: list[int], counts: list[int], tokens: int, new_tokens: int) -> list[int]:
        """The rows per prompt that `tokens` pays for once the prompt is paid: at least one, and
        no more than the tokens left after the prompt give a sample of the expected length.

        The search sizes a call before the prompt can be priced. With a long chat prompt (the
        code model's: ~400 tokens on HumanEval, the task and the prefilled docstring) a small
        budget then starts rows that it cuts mid-way, and a cut sample is worth nothing (rex at
        one sample's tokens returned 6 of the first 32 HumanEval problems against sampling's 27).
        Rows are clipped in order (a suffix), so proposals still map onto prompts and groups.
        Priced at ROW_MARGIN times the mean length: the rows of a call share its tokens, so one
        row too many cuts the longest rows at the budget, while one too few costs only another
        call, whose prompt the prefix cache holds."""
        cost = encode_cost(self.loaded, [ids[j] for j in fits], [counts[j] for j in fits],
                           share=self.share_prefix, prefix_cache=self.prefix_cache)
        expected = expected_sample_tokens(self._whole_tokens, self._whole_samples, prior=new_tokens / 2)
        paid = max(1, int((tokens - cost) // max(1.0, ROW_MARGIN * expected)))
        clipped = []
        for j, count in enumerate(counts):
            clipped.append(min(count, paid))
            if j in fits:  # a prompt too long for the model runs nothing: its failures cost nothing
                paid -= clipped[-1]
        return clipped

    def _rows_filling(self, ids, fits: list[int], counts: list[int], tokens: int, new_tokens: int) -> list[int]:
        """The rows per prompt that fill `tokens` once the prompt is paid (`CallCaps.fill_tokens`):
        at least one, ROW_MARGIN times as many as samples of the expected length would fill, and
        no more than asked for. The mirror of `_rows_paid_for`, and its estimate leans the other
        way: these rows are whole (no cap cuts them) and a row surely past the tokens is stopped
        as soon as that is known (`policies.row_ends.stop_past_fill`), so a row too many costs a
        few decode steps beside the rest, a row too few a whole call more. So the expected length
        is the plain mean of this search's rows that ended, or a third of the length cap before
        any did (the code model's HumanEval draws: a median 67 tokens; replayed on 41 problems'
        draws, the first call holds 10 samples' tokens on 13 of them at a half, on 30 at a third)."""
        cost = encode_cost(self.loaded, [ids[j] for j in fits], [counts[j] for j in fits],
                           share=self.share_prefix, prefix_cache=self.prefix_cache)
        expected = expected_sample_tokens(self._whole_tokens, self._whole_samples, prior=None) or new_tokens / 3
        wanted = max(1, math.ceil(ROW_MARGIN * max(0, tokens - cost) / max(1.0, expected)))
        clipped = []
        for j, count in enumerate(counts):
            clipped.append(min(count, wanted))
            if j in fits:
                wanted -= clipped[-1]
        return clipped

    def _run(self, prompts: list[RenderedPrompt], locations, parsers, counts: list[int], seed: int | None,
             caps: CallCaps, entry: str = "", *, row_seeds: bool = False,
             row_temperatures: Sequence[float] | None = None) -> ProposalBatch:
        """Sample counts[j] rows of prompts[j], all in one batch, each at most `caps.sample_length`
        tokens. With `caps.tokens`, a call whose prompt (what the prefix cache does not hold) and
        one token a row would cost more is refused before it runs (`ProposalBatch.refused`):
        encoding a prompt that leaves nothing to generate would only overshoot the budget.
        `row_seeds`: row r draws with its own generator, seeded `seed + r` (`Policy.sample_programs`).
        `row_temperatures` (one prompt only): row r's temperature; rows clipped away drop theirs."""
        start = time.perf_counter()
        if seed is None:  # draw one and report it, so any call can be replayed
            seed = _fresh_seed()
        new_tokens = caps.sample_length(self.params.max_new_tokens)
        ids = [encode_prompt(self.loaded.tokenizer, p.text) for p in prompts]
        limit = max_positions(self.loaded.model)
        fits = [j for j, x in enumerate(ids) if limit is None or len(x) + new_tokens <= limit]
        if caps.tokens is None and caps.fill_tokens is not None and fits:
            counts = self._rows_filling(ids, fits, counts, caps.fill_tokens, new_tokens)
        if caps.tokens is not None and fits:
            counts = self._rows_paid_for(ids, fits, counts, caps.tokens, new_tokens)
            fits = [j for j in fits if counts[j]]
            cost = encode_cost(self.loaded, [ids[j] for j in fits], [counts[j] for j in fits],
                               share=self.share_prefix, prefix_cache=self.prefix_cache)
            if cost + sum(counts[j] for j in fits) > caps.tokens:
                return ProposalBatch((), 0, 0, 0, time.perf_counter() - start, refused=True,
                                     extra=dict(seed=seed, refused_prompt_tokens=cost, caps_tokens=caps.tokens))
        samples = generate_samples(
            self.loaded,
            [ids[j] for j in fits],
            [counts[j] for j in fits],
            params=self.params,
            caps=caps,
            seed=seed,
            stops=[prompts[j].stop for j in fits],
            tails=[prompts[j].text for j in fits],
            share_prefix=self.share_prefix,
            ignore_eos=self.ignore_eos,
            prefix_cache=self.prefix_cache,
            doomed=self._doomed_check([prompts[j] for j in fits], [counts[j] for j in fits]) if caps.stop_doomed else None,
            row_seeds=[seed + r for r in range(sum(counts[j] for j in fits))] if row_seeds else None,
            row_temperatures=None if row_temperatures is None or not fits else list(row_temperatures)[:counts[0]],
        )
        generate_s = time.perf_counter() - start
        proposals = self._proposals(prompts, ids, fits, samples, locations, parsers, counts, entry, new_tokens)
        whole = [p for p in proposals if p.finish in ("eos", "stop", "doomed")]
        self._whole_samples += len(whole)
        self._whole_tokens += sum(p.generated_tokens for p in whole)
        return ProposalBatch(
            proposals=tuple(proposals),
            prompt_tokens_encoded=samples.prompt_tokens_encoded,
            prompt_tokens_saved=samples.prompt_tokens_saved,
            generated_tokens=sum(p.generated_tokens for p in proposals),
            generate_s=generate_s,
            flops=samples.flops,
            extra=dict(
                seed=seed, rows=list(counts), finish=dict(Counter(samples.finish)), shared_prefix=samples.shared,
                doomed_tokens_saved=samples.doomed_tokens_saved,
                decoded_positions=samples.decoded_positions, parse_s=time.perf_counter() - start - generate_s,
            ),
        )


ROW_MARGIN = 1.5  # see LMPolicy._rows_paid_for


def _fresh_seed() -> int:
    return int.from_bytes(os.urandom(6), "little")


def _group_sizes(groups: Sequence[ProposeGroup], rows: list[int]) -> list[int]:
    """Proposals per group from the rows each prompt ran (prompts are group-major, one per
    location), the trailing groups that were clipped away left off."""
    sizes, first = [], 0
    for group in groups:
        size = sum(rows[first:first + len(group.locations)])
        first += len(group.locations)
        if size:
            sizes.append(size)
    return sizes


def _parse_safely(parse, text: str) -> ParsedOutput:
    # Model output is untrusted; a parser bug on some odd sample must cost one proposal, not
    # the whole search, so it becomes a counted failure status (and is logged for fixing).
    try:
        return parse(text)
    except Exception as exc:  # noqa: BLE001 (boundary with untrusted text)
        log.warning("format parser raised on a sample: %r", exc)
        return ParsedOutput("parser_error", detail=f"{type(exc).__name__}: {exc}")


def least_certain(tokenizer, prefill: str, token_ids: Sequence[int], token_logprobs: Sequence[float],
                  lines: frozenset[str]) -> tuple[str, int] | None:
    """(line, column) of the least likely generated token that starts inside one of `lines`
    (the program's code lines; not at a line's indentation): where the policy was least sure of
    what it wrote.

    Tokens are decoded one by one; if their texts do not add up to the decoded sample (a
    character split across tokens), there is no answer rather than a wrong one.
    """
    pieces = [tokenizer.decode([t], skip_special_tokens=False) for t in token_ids]
    generated = "".join(pieces)
    if tokenizer.decode(list(token_ids), skip_special_tokens=False) != generated:
        return None
    full, offset, best = prefill + generated, len(prefill), None
    for piece, logprob in zip(pieces, token_logprobs):
        start = offset + len(piece) - len(piece.lstrip())  # where the token's visible text starts
        offset += len(piece)
        if not piece.strip() or (best is not None and logprob >= best[0]):
            continue
        line_start = full.rfind("\n", 0, start) + 1
        line_end = full.find("\n", start)
        line = full[line_start: line_end if line_end != -1 else len(full)]
        column = start - line_start
        if line in lines and line[:column].strip():  # inside the line, past its indentation
            best = (logprob, line, column)
    return None if best is None else (best[1], best[2])
