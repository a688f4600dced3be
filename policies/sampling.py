"""Batched sampling from a causal LM, encoding shared prompts once (the engine of LMPolicy).

One policy call renders a prompt per location, then samples n continuations of each in one
batch of P*n rows (rows are prompt-major: row p*n + i is sample i of prompt p; `n` may also
give each prompt its own count, as one call carrying several search nodes does):

1. Prefill, shared: the longest common token prefix of the P prompts is encoded once (batch
   1); each prompt's remaining suffix is encoded once on top of it (batch 1 each); the P
   caches are left-padded to a common length and repeated n times along the batch. So every
   prompt token is run through the model once, however many samples and locations share it.
   Architectures whose cache is not a plain `DynamicCache` of `DynamicLayer`s (sliding
   windows, recurrent states) fall back to encoding every row (`prompt_tokens_saved` = 0).
2. Decode: our own loop over `model(...)` with `past_key_values`: temperature, top-p, a
   per-row finished mask (EOS or a stop string), `max_new_tokens`. Stop strings are checked
   every `STOP_CHECK_EVERY` steps (text decoding is the costly part of a step); the final
   bookkeeping is exact regardless: a stopped sample keeps the text before its stop string
   and counts the tokens up to the one that completed it.

Log-prob convention: `Proposal.logprob` sums log p(token | context) under the model's own
distribution at temperature 1, untruncated by top-p (not the sampling distribution), over
the counted generated tokens (an EOS token included). It is then a property of the edit and
the model, comparable across sampling settings, and never -inf: the search's prior.

Finished rows leave the batch (and its KV cache) as they end, down to two rows, so a call's
tail decodes at the width of its longest rows. With `CallCaps.fill_tokens` a row is stopped
("past_fill") once the rows before it surely fill the tokens its caller reads.

Compute: `prompt_tokens_encoded` counts prompt tokens really run; `flops` sums
`forward_flops` over every position the model ran, padding and finished rows still in the
batch included, so it is what was spent, not what was useful.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

from policies.base import CallCaps
from policies.loading import LoadedModel
from policies.prefill import cache_arg, cache_of, forward_flops, plain_cache, prefill, row_counts
from policies.row_ends import completing_token, finish_rows, mark_doomed, mark_stops, stop_past_fill

log = logging.getLogger(__name__)

STOP_CHECK_EVERY = 4  # decode steps between stop-string checks: bounds wasted steps after a stop
NUCLEUS_TIERS = (64, 1024)  # top-k sizes searched for the top-p nucleus before a full sort


@dataclass
class Samples:
    """Per-row results of `generate_samples` (prompt-major: row p*n + i = sample i of prompt p)."""

    token_ids: list[list[int]]  # counted generated tokens (EOS / the stop-completing token included)
    texts: list[str]  # generated text: EOS dropped, cut before the first stop string
    logprobs: list[float]  # see the module docstring
    token_logprobs: list[list[float]]  # per counted token, same convention
    finish: list[str]  # "eos", "stop", "length", "doomed" (stopped by `doomed`) or "past_fill" (see the module doc)
    prompt_tokens_encoded: int
    prompt_tokens_saved: int
    flops: float
    decoded_positions: int  # rows run, summed over the decode steps (finished rows ride along until they leave)
    shared: bool  # prefix sharing was used
    doomed_tokens_saved: int = 0  # decode steps the batch ran on after its doomed rows stopped


def encode_prompt(tokenizer, text: str) -> list[int]:
    """Token ids of a rendered prompt: no special tokens added except a BOS the tokenizer wants.

    The formats write every marker they need into the text; only a model whose tokenizer asks
    for a BOS (`add_bos_token`) gets one prepended, and never twice.
    """
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if getattr(tokenizer, "add_bos_token", False) and bos is not None and ids[:1] != [bos]:
        ids = [bos] + ids
    return ids


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    """How a policy samples; the one place these defaults live (agent.config reads them)."""

    # 0 = greedy. 0.7, not LintSeq's 1.0 (`--temperature 1`): with the code model on all 164
    # HumanEval problems sampling at 0.7 returns a hidden-passing program for 46.3 / 57.9 / 68.3%
    # of them at 1 / 2 / 5 samples-equivalent against 37.2 / 48.8 / 67.7% at 1.0 (pass@1 50.4%
    # against 43.4%), and solves all 8 examples in its first 8 samples (docs/results/README.md).
    temperature: float = 0.7
    top_p: float = 0.95  # nucleus, as in LintSeq's protocol
    # Per sample; generation also stops at a closing fence or where the function ends. 256: the
    # code model's free answers to prose-only tasks (no starter to continue) carry a docstring
    # and comments, and at 160 tokens 7 of 8 were cut off on a bracket-balance task; its bodies
    # continued from a HumanEval starter end well before (median 50, 5.5% reach 160).
    max_new_tokens: int = 256


def max_positions(model) -> int | None:
    return getattr(model.config, "max_position_embeddings", None)


def generate_samples(
    loaded: LoadedModel,
    prompt_ids: Sequence[Sequence[int]],
    n: int | Sequence[int],
    *,
    params: SamplingParams = SamplingParams(),
    caps: CallCaps = CallCaps(),
    seed: int = 0,
    stops: Sequence[Sequence[str]] = (),
    tails: Sequence[str] = (),
    share_prefix: bool = True,
    ignore_eos: bool = False,
    prefix_cache=None,
    doomed: Callable[[int, str], bool] | None = None,
    row_seeds: Sequence[int] | None = None,
    row_temperatures: Sequence[float] | None = None,
) -> Samples:
    """Sample n continuations of each prompt (see the module docstring). Deterministic per seed.

    params: temperature, top-p and the policy's length cap; caps: the call's share of the
    search's budget. `caps.tokens` is the most tokens this call may spend, prompt tokens encoded
    plus generated ones (the search's budget unit); decoding stops once it is reached, leaving
    unfinished rows truncated ("length"), so a search never overshoots its token budget by more
    than a step. `caps.max_new_tokens` lowers the length cap for this call.
    prefix_cache: a `policies.prefix_cache.PrefixCache` reused across calls (needs share_prefix).
    doomed(row, text so far), given when `caps.stop_doomed`: checked when a row completes a line
    (with the stop strings, every STOP_CHECK_EVERY steps); True stops the row there, its text kept
    ("doomed"): the format saw an error that no later line can repair, so the rest of the sample
    would be paid for nothing.
    row_seeds: one seed per row: each row then draws its tokens with its own generator (one
    uniform number a step, inverse CDF), so what a row writes depends only on its prompt and its
    seed, not on the other rows of the batch (common random numbers: the same draw whether it is
    made alone or among others). Without them one generator draws a uniform per row a step
    for the whole batch (so a row's draw does not depend on which others have ended).
    row_temperatures: one temperature per row in place of `params.temperature` (0: greedy); a
    row's draw then depends on its own temperature only, so with `row_seeds` a row at the
    params' temperature writes what it writes in a call without them."""
    import torch

    temperature, top_p, max_new_tokens = params.temperature, params.top_p, caps.sample_length(params.max_new_tokens)
    token_budget = caps.tokens
    model, tok = loaded.model, loaded.tokenizer
    counts = row_counts(n, len(prompt_ids))
    P, B = len(prompt_ids), sum(counts)
    if B == 0 or max_new_tokens <= 0:
        return Samples([[] for _ in range(B)], [""] * B, [0.0] * B, [[] for _ in range(B)], ["length"] * B, 0, 0,
                       0.0, 0, False)
    stops = list(stops) or [()] * P
    tails = list(tails) or [""] * P
    device = torch.device(loaded.device)
    gen = torch.Generator(device=device).manual_seed(seed)
    if row_seeds is not None and len(row_seeds) != B:
        raise ValueError(f"{len(row_seeds)} row seeds for {B} rows")
    # A lone row with its own seed decodes beside a twin that is finished from the start: the
    # CPU kernels compute a batch of one differently (in the last float bits) from a batch of 2
    # or more, which agree with each other, and over a hundred tokens a near-tie flips a draw.
    # So draw k is the same program alone or in any batch. The twin's positions are counted in
    # FLOPs and decoded positions (they ran), never as tokens: it writes no sample.
    twin = int(row_seeds is not None and B == 1)
    run_counts = [c + twin if c else 0 for c in counts]
    R = B + twin  # rows run
    if row_temperatures is not None:
        if len(row_temperatures) != B:
            raise ValueError(f"{len(row_temperatures)} row temperatures for {B} rows")
        temps = list(row_temperatures) + list(row_temperatures[:twin])
        temperature = torch.tensor(temps, dtype=torch.float32, device=device)
    row_gens = None if row_seeds is None else [
        torch.Generator(device=device).manual_seed(int(s)) for s in list(row_seeds) + list(row_seeds[:twin])]
    eos = _eos_ids(loaded)
    eos_t = torch.tensor(eos or [-1], device=device)
    row_prompt = [p for p in range(P) for _ in range(run_counts[p])]
    row_stops = [stops[p] for p in row_prompt]
    tail_len = max((len(s) for ss in stops for s in ss), default=0)
    row_tails = [tails[p][-tail_len:] if tail_len else "" for p in row_prompt]
    check_stops = any(row_stops) or doomed is not None
    lines_seen, doomed_at = [0] * R, {}  # for `doomed`: newlines checked so far; row -> step stopped

    with torch.inference_mode():
        pre = prefill(loaded, prompt_ids, run_counts, share=share_prefix, prefix_cache=prefix_cache)
        logits, cache = pre.logits, pre.cache
        # what the rows' prompts cost: unshared, the twin's copy of the prompt ran too, unpaid for
        encoded = pre.encoded // R * B if twin and not pre.shared else pre.encoded
        pad = pre.attention_mask is not None
        if pad:  # room for every step, sliced per step: no per-step concatenation
            mask = torch.cat([pre.attention_mask, pre.attention_mask.new_ones(R, max_new_tokens)], dim=1)
        positions = pre.lengths.clone()  # [B] position id of the next token of each row
        tokens = torch.full((R, max_new_tokens), eos[0] if eos else 0, dtype=torch.long, device=device)
        step_lp = torch.zeros(R, max_new_tokens, dtype=torch.float32, device=device)
        finished = torch.zeros(R, dtype=torch.bool, device=device)
        finished[B:] = True  # the twin, if any
        flops, steps, width, decoded = pre.flops, 0, pre.width, 0
        # The rows the model runs: finished rows leave the batch where the cache allows it
        # (`_Batch.drop_finished`), so a call's tail, its longest rows, decodes at their width.
        batch = _Batch(torch.arange(R, device=device), temperature, row_gens,
                       can_drop=plain_cache(cache))
        past_fill = caps.fill_tokens if P == 1 else None  # rows read in order up to these tokens
        ended: dict[int, int] = {}  # finished row -> its counted tokens (for `past_fill`)
        past_fill_at: dict[int, int] = {}  # row -> step it was stopped at, surely past the fill
        # Generated tokens this call may still spend (a row counts a token per step until it finishes).
        allowance = None if token_budget is None else token_budget - encoded
        for t in range(max_new_tokens):
            rows = batch.rows
            logits = logits.float()
            # one uniform a row a step, every row's (finished or not): what a row draws does not
            # depend on which rows still run beside it
            uniforms = torch.rand(R, generator=gen, device=device)[rows] if batch.gens is None else torch.cat(
                [torch.rand(1, generator=g, device=device) for g in batch.gens])
            nxt = _sample(logits, batch.temperature, top_p, None, uniforms)
            nxt = torch.where(finished[rows], tokens[rows, t], nxt)  # finished rows emit filler
            # log p(token) at temperature 1: its logit minus the log partition function
            step_lp[rows, t] = logits.gather(1, nxt[:, None]).squeeze(1) - torch.logsumexp(logits, -1)
            tokens[rows, t] = nxt
            steps = t + 1
            if allowance is not None:
                allowance -= int((~finished).sum())
            if not ignore_eos:
                finished[rows] |= torch.isin(nxt, eos_t)
            # stops are checked every few steps, and before the tokens run out: a row that ended
            # since the last check has spent steps that are not its tokens (given back below)
            check = steps % STOP_CHECK_EVERY == 0 or (allowance is not None and allowance <= 0)
            if check_stops and check:
                stopped = mark_stops(tok, tokens[:, :steps], finished, row_stops, row_tails)
                if allowance is not None:  # give back the steps a row ran past its stop: they are not its tokens
                    allowance += sum(steps - completing_token(tok, tokens[r, :steps].tolist(), row_stops[r], row_tails[r])
                                     for r in stopped)
                if doomed is not None:
                    mark_doomed(tok, tokens[:, :steps], finished, doomed, lines_seen, doomed_at, steps)
            if past_fill is not None and (check or not check_stops):
                stop_past_fill(tok, tokens, finished, B, steps, past_fill - encoded, ended, past_fill_at,
                                eos=eos, ignore_eos=ignore_eos, stops=row_stops, tails=row_tails, doomed_at=doomed_at)
            if steps == max_new_tokens or bool(finished.all()) or (allowance is not None and allowance <= 0):
                break
            batch.drop_finished(finished, cache)
            rows = batch.rows
            out = model(
                input_ids=tokens[rows, t][:, None],
                attention_mask=mask[rows, : width + 1] if pad else None,
                position_ids=positions[rows][:, None],
                **cache_arg(model, cache),
                use_cache=True,
            )
            width += 1
            flops += len(rows) * forward_flops(loaded, 1, width - 1)
            decoded += len(rows)
            positions += 1
            logits, cache = out.logits[:, -1, :], cache_of(out)
        token_rows, lp_rows = tokens[:B, :steps].tolist(), step_lp[:B, :steps].tolist()

    texts, kept, logprobs, token_lps, finish = finish_rows(tok, token_rows, lp_rows, eos=eos, ignore_eos=ignore_eos,
                                                            stops=row_stops[:B], tails=row_tails[:B], doomed_at=doomed_at,
                                                            past_fill_at=past_fill_at)
    return Samples(
        token_ids=kept, texts=texts, logprobs=logprobs, token_logprobs=token_lps, finish=finish,
        prompt_tokens_encoded=encoded, prompt_tokens_saved=sum(c * len(ids) for c, ids in zip(counts, prompt_ids)) - encoded,
        flops=flops, decoded_positions=decoded, shared=pre.shared,
        doomed_tokens_saved=sum(steps - at for at in doomed_at.values()),
    )


class _Batch:
    """The rows the model runs at a decode step (indices into the call's rows, in order) and
    what the sampler keeps per row for them: temperatures (a float for all, or a tensor) and
    generators (None: one for the whole batch)."""

    def __init__(self, rows, temperature, gens, *, can_drop: bool):
        self.rows, self.temperature, self.gens, self.can_drop = rows, temperature, gens, can_drop

    def drop_finished(self, finished, cache) -> None:
        """Let finished rows leave the batch (and the KV cache): they only ride along as filler,
        and a decode step of this size of model costs about 1.7x more at 8 rows than at 2 on a
        CPU (benchmarks/policy_speed.py). Never below two rows, for the reason the twin exists
        (`generate_samples`): a batch of one computes differently. A row's own generator and
        temperature go with it, so a row-seeded draw is the same program either way."""
        import torch

        if not self.can_drop:
            return
        done = finished[self.rows]
        if not bool(done.any()):
            return
        keep = (~done).nonzero().squeeze(1)
        if len(keep) < 2:  # keep finished companions up to two rows
            keep = torch.cat([keep, done.nonzero().squeeze(1)[: 2 - len(keep)]]).sort().values
        if len(keep) == len(self.rows):
            return
        cache.batch_select_indices(keep)
        self.rows = self.rows[keep]
        if isinstance(self.temperature, torch.Tensor):
            self.temperature = self.temperature[keep]
        if self.gens is not None:
            self.gens = [self.gens[i] for i in keep.tolist()]


def _eos_ids(loaded: LoadedModel) -> list[int]:
    """EOS ids from the tokenizer and the generation config (which may list several)."""
    ids = [loaded.tokenizer.eos_token_id]
    gen = getattr(loaded.model, "generation_config", None)
    extra = getattr(gen, "eos_token_id", None) if gen is not None else None
    ids += extra if isinstance(extra, (list, tuple)) else [extra]
    return sorted({int(i) for i in ids if i is not None})


def _sample(logits, temperature, top_p: float, gen, uniforms=None):
    """Next token per row [B] from float logits [B, V]: temperature, then nucleus (top-p).
    `temperature`: a float, or a tensor [B] of one per row (0: that row's argmax).
    `uniforms` [B], one per row: each row's draw by inverse CDF (see `row_seeds`), else
    `torch.multinomial` with `gen`.

    Nucleus: the smallest set of most likely tokens whose mass reaches top_p (the top token
    always kept), as in transformers' TopPLogitsWarper. Sorting the whole vocabulary per row
    costs more than a forward pass of a small model at batch 32, so the nucleus is sought
    among the top k tokens for growing k (`NUCLEUS_TIERS`); only rows whose top-k mass still
    falls short of top_p sort everything. Every tier draws from the same exact distribution.
    """
    import torch

    if isinstance(temperature, torch.Tensor):
        greedy = temperature <= 0
        if bool(greedy.all()):
            return logits.argmax(-1)
        # a greedy row is drawn at temperature 1 like the others (its own uniform spent as theirs
        # are), then replaced by its argmax
        drawn = _sample(logits / torch.where(greedy, 1.0, temperature)[:, None], 1.0, top_p, gen, uniforms)
        return torch.where(greedy, logits.argmax(-1), drawn)
    if temperature <= 0:
        return logits.argmax(-1)
    scaled = logits / temperature
    if top_p >= 1.0:
        probs = torch.softmax(scaled, -1)
        if uniforms is not None:
            return _inverse_cdf(probs, uniforms)
        return torch.multinomial(probs, 1, generator=gen).squeeze(1)
    lse = torch.logsumexp(scaled, -1, keepdim=True)
    vocab = scaled.shape[-1]
    chosen = torch.empty(scaled.shape[0], dtype=torch.long, device=scaled.device)
    pending = torch.arange(scaled.shape[0], device=scaled.device)  # rows not drawn yet
    for k in [k for k in NUCLEUS_TIERS if k < vocab] + [vocab]:
        rows = scaled[pending]
        vals, order = rows.sort(-1, descending=True) if k == vocab else rows.topk(k, dim=-1)
        mass = (vals - lse[pending]).exp()  # probabilities of the k best tokens, descending
        enough = mass.sum(-1) >= top_p if k < vocab else torch.ones_like(pending, dtype=torch.bool)
        done = enough.nonzero().squeeze(1)
        chosen[pending[done]] = _nucleus_draw(mass[done], order[done], top_p, gen,
                                              None if uniforms is None else uniforms[pending[done]])
        pending = pending[~enough]
        if pending.numel() == 0:
            break
    return chosen


def _nucleus_draw(sorted_mass, order, top_p: float, gen, uniforms=None):
    """Draw from the nucleus of descending-sorted probabilities [R, k]; map back through `order`.
    The nucleus and its order are the same at every tier, so with `uniforms` a row's token does
    not depend on the tier that found it."""
    import torch

    before = sorted_mass.cumsum(-1) - sorted_mass  # mass of the tokens ranked above each one
    kept = sorted_mass.masked_fill(before >= top_p, 0.0)
    if uniforms is not None:
        return order.gather(1, _inverse_cdf(kept, uniforms)[:, None]).squeeze(1)
    choice = torch.multinomial(kept, 1, generator=gen)  # multinomial renormalises
    return order.gather(1, choice).squeeze(1)


def _inverse_cdf(weights, uniforms):
    """Index per row [R] drawn from unnormalised weights [R, k] with one uniform number a row."""
    import torch

    cdf = weights.cumsum(-1)
    target = (uniforms * cdf[:, -1]).unsqueeze(1)
    index = torch.searchsorted(cdf, target, right=True).squeeze(1)
    # a uniform within rounding of 1 lands past the end: take the last token of positive weight
    last = weights.shape[1] - 1 - (weights > 0).flip(-1).int().argmax(-1)
    return torch.minimum(index, last)


