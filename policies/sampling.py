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

Compute: `prompt_tokens_encoded` counts prompt tokens really run; `flops` sums
`forward_flops` over every position the model ran, padding and finished rows included
(they cost the same in a batch), so it is what was spent, not what was useful.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

from policies.base import CallCaps, Stop
from policies.loading import LoadedModel
from policies.prefill import cache_arg, cache_of, forward_flops, prefill, row_counts

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
    finish: list[str]  # "eos", "stop", "length" or "doomed" (stopped by `doomed`)
    prompt_tokens_encoded: int
    prompt_tokens_saved: int
    flops: float
    decoded_positions: int  # rows x decode steps actually run (finished rows ride along)
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


def find_stop(text: str, stops: Sequence[Stop], tail: str = "") -> int | None:
    """Index in `text` where the earliest stop (a string or a `BlockEnd`) begins, or None.

    `tail` is the end of the prompt (the prefill side): a stop may start there and end in
    `text` (e.g. stop "\\ndef" after a prefill ending in "\\n"); such a match cuts at 0.
    """
    hay = tail + text
    best = None
    for stop in stops:
        start = max(0, len(tail) - len(stop) + 1)  # the match must end inside `text`
        i = hay.find(stop, start) if isinstance(stop, str) else stop.find(hay, start, end_after=len(tail))
        if i >= 0 and (best is None or i < best):
            best = i
    return None if best is None else max(0, best - len(tail))


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
    made alone or among others). Without them one generator serves the whole batch.
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
        flops, steps, width = pre.flops, 0, pre.width
        # Generated tokens this call may still spend (a row counts a token per step until it finishes).
        allowance = None if token_budget is None else token_budget - encoded
        for t in range(max_new_tokens):
            logits = logits.float()
            uniforms = None if row_gens is None else torch.cat(
                [torch.rand(1, generator=g, device=device) for g in row_gens])
            nxt = _sample(logits, temperature, top_p, gen, uniforms)
            nxt = torch.where(finished, tokens[:, t], nxt)  # finished rows emit filler
            # log p(token) at temperature 1: its logit minus the log partition function
            step_lp[:, t] = logits.gather(1, nxt[:, None]).squeeze(1) - torch.logsumexp(logits, -1)
            tokens[:, t] = nxt
            steps = t + 1
            if allowance is not None:
                allowance -= int((~finished).sum())
            if not ignore_eos:
                finished |= torch.isin(nxt, eos_t)
            # stops are checked every few steps, and before the tokens run out: a row that ended
            # since the last check has spent steps that are not its tokens (given back below)
            if check_stops and (steps % STOP_CHECK_EVERY == 0 or (allowance is not None and allowance <= 0)):
                stopped = _mark_stops(tok, tokens[:, :steps], finished, row_stops, row_tails)
                if allowance is not None:  # give back the steps a row ran past its stop: they are not its tokens
                    allowance += sum(steps - _completing_token(tok, tokens[r, :steps].tolist(), row_stops[r], row_tails[r])
                                     for r in stopped)
                if doomed is not None:
                    _mark_doomed(tok, tokens[:, :steps], finished, doomed, lines_seen, doomed_at, steps)
            if steps == max_new_tokens or bool(finished.all()) or (allowance is not None and allowance <= 0):
                break
            out = model(
                input_ids=nxt[:, None],
                attention_mask=mask[:, : width + 1] if pad else None,
                position_ids=positions[:, None],
                **cache_arg(model, cache),
                use_cache=True,
            )
            width += 1
            flops += R * forward_flops(loaded, 1, width - 1)
            positions += 1
            logits, cache = out.logits[:, -1, :], cache_of(out)
        token_rows, lp_rows = tokens[:B, :steps].tolist(), step_lp[:B, :steps].tolist()

    texts, kept, logprobs, token_lps, finish = _finish_rows(tok, token_rows, lp_rows, eos=eos, ignore_eos=ignore_eos,
                                                            stops=row_stops[:B], tails=row_tails[:B], doomed_at=doomed_at)
    return Samples(
        token_ids=kept, texts=texts, logprobs=logprobs, token_logprobs=token_lps, finish=finish,
        prompt_tokens_encoded=encoded, prompt_tokens_saved=sum(c * len(ids) for c, ids in zip(counts, prompt_ids)) - encoded,
        flops=flops, decoded_positions=R * (steps - 1), shared=pre.shared,
        doomed_tokens_saved=sum(steps - at for at in doomed_at.values()),
    )


def _finish_rows(tok, token_rows, lp_rows, *, eos, ignore_eos, stops, tails, doomed_at):
    """Each row's counted tokens, text, log-probs and finish reason: cut at its EOS, its first
    stop string (up to the token that completed it), or where it was found doomed."""
    texts, kept, logprobs, token_lps, finish = [], [], [], [], []
    for r, row in enumerate(token_rows):
        ids, reason = row, "length"
        end = next((k for k, x in enumerate(ids) if x in eos), None) if not ignore_eos else None
        if end is not None:
            ids, reason = ids[: end + 1], "eos"
        text = tok.decode(ids[:-1] if reason == "eos" else ids, skip_special_tokens=False)
        cut = find_stop(text, stops[r], tails[r]) if stops[r] else None
        if cut is not None:
            ids = ids[: _completing_token(tok, ids, stops[r], tails[r])]
            text, reason = text[:cut], "stop"
        if r in doomed_at:  # what came after the doomed stop is filler
            ids, reason = row[: doomed_at[r]], "doomed"
            text = tok.decode(ids, skip_special_tokens=False)
        texts.append(text)
        kept.append(ids)
        logprobs.append(float(sum(lp_rows[r][: len(ids)])))
        token_lps.append(lp_rows[r][: len(ids)])
        finish.append(reason)
    return texts, kept, logprobs, token_lps, finish


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


def _mark_stops(tok, tokens, finished, row_stops, row_tails) -> list[int]:
    """Set `finished` for unfinished rows whose text so far contains one of their stop strings;
    the rows it set."""
    done = finished.tolist()
    rows = tokens.tolist()
    stopped = []
    for r, stops in enumerate(row_stops):
        if stops and not done[r]:
            if find_stop(tok.decode(rows[r], skip_special_tokens=False), stops, row_tails[r]) is not None:
                finished[r] = True
                stopped.append(r)
    return stopped


def _mark_doomed(tok, tokens, finished, doomed, lines_seen, doomed_at, step) -> None:
    """Stop unfinished rows that completed a line since the last check and that `doomed` rejects."""
    done = finished.tolist()
    for r, ids in enumerate(tokens.tolist()):
        if done[r]:
            continue
        text = tok.decode(ids, skip_special_tokens=False)
        newlines = text.count("\n")
        if newlines > lines_seen[r]:
            lines_seen[r] = newlines
            if doomed(r, text):
                finished[r] = True
                doomed_at[r] = step


def _completing_token(tok, ids: list[int], stops, tail: str) -> int:
    """Smallest k such that the decoded first k tokens contain a stop (binary search)."""
    lo, hi = 1, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if find_stop(tok.decode(ids[:mid], skip_special_tokens=False), stops, tail) is not None:
            hi = mid
        else:
            lo = mid + 1
    return lo
