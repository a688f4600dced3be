"""Encoding the prompts of one sampling call: shared prefixes once, cached prefixes not at all.

The prompts' longest common token prefix is encoded once at batch 1 (continuing the longest
prefix an earlier call left in the `PrefixCache`, if any), each prompt's suffix once on top of
it, and the caches are left-padded to a common width and repeated along the batch (n rows a
prompt, or each prompt's own count). See
policies.sampling for the decoding that follows.
"""

from __future__ import annotations

import copy
import functools
import inspect
from dataclasses import dataclass
from typing import Any

from policies.loading import LoadedModel


def forward_flops(loaded: LoadedModel, tokens: int, context: int) -> float:
    """FLOPs of running `tokens` new positions of one sequence after `context` cached ones.

    Kaplan et al. (2020): per token 2*N + 2*n_layers*d_model*ctx, ctx = positions attended to.
    """
    attended = tokens * context + tokens * (tokens + 1) / 2
    return 2.0 * loaded.n_params * tokens + 2.0 * loaded.n_layers * loaded.d_model * attended


@dataclass
class _Prefilled:
    """The prompts encoded, ready to decode B rows, prompt-major (left-padded to `width` positions)."""

    logits: Any  # [B, V] next-token logits of each row
    cache: Any  # past_key_values over [B, width] positions
    attention_mask: Any  # [B, width], 0 on left padding; None when no row is padded
    lengths: Any  # [B] prompt length of each row = position id of its next token
    width: int
    encoded: int  # prompt tokens run through the model
    flops: float
    shared: bool


def prefill(loaded: LoadedModel, prompt_ids, n, *, share: bool, prefix_cache=None) -> _Prefilled:
    """Encode each prompt token once when the cache allows it, else every row (see module doc);
    with a `PrefixCache`, the common prefix continues the longest one an earlier call encoded.
    n: rows per prompt, one count for all or one per prompt (rows are prompt-major)."""
    import torch
    import torch.nn.functional as F

    model, device = loaded.model, torch.device(loaded.device)
    lens = [len(x) for x in prompt_ids]
    counts = row_counts(n, len(lens))
    repeats = torch.tensor(counts, device=device)
    P, B, width = len(lens), sum(counts), max(lens)
    lengths = torch.tensor(lens, device=device).repeat_interleave(repeats)
    real = torch.arange(width, device=device)[None, :] >= (width - lengths)[:, None]  # [B, width], False = pad
    mask = real.long() if min(lens) < width else None
    keep = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    base = _shareable_cache(model) if share else None
    if base is None:  # encode all B rows in one left-padded batch: nothing saved
        x = torch.zeros(B, width, dtype=torch.long, device=device)
        x[real] = torch.tensor([t for ids, c in zip(prompt_ids, counts) for _ in range(c) for t in ids], device=device)
        attn = real.long()
        out = model(input_ids=x, attention_mask=attn, position_ids=(attn.cumsum(1) - 1).clamp(min=0),
                    use_cache=True, **keep)
        return _Prefilled(out.logits[:, -1, :], cache_of(out), mask, lengths, width,
                          sum(c * L for c, L in zip(counts, lens)), B * forward_flops(loaded, width, 0), False)

    def run(ids, cache, start):  # one sequence at batch 1, continuing `cache` from position `start`
        pos = torch.arange(start, start + len(ids), device=device)[None, :]
        out = model(input_ids=torch.tensor([ids], device=device), position_ids=pos,
                    **cache_arg(model, cache), use_cache=True, **keep)
        return out.logits[:, -1, :], cache_of(out)

    common = _shared_span(prompt_ids)
    encoded, flops, start = 0, 0.0, 0
    if prefix_cache is not None and common > 0:  # state of an earlier call's prompt prefix
        start, cached = prefix_cache.lookup(prompt_ids[0][:common])
        if cached is not None:
            base = _shallow_copy(cached)
    if common > start:
        _, base = run(prompt_ids[0][start:common], base, start)
        encoded, flops = common - start, forward_flops(loaded, common - start, start)
    if prefix_cache is not None and common > start:
        prefix_cache.store(prompt_ids[0][:common], base)
    logits, caches = [], []
    for ids in prompt_ids:
        hit = prefix_cache.whole(ids) if prefix_cache is not None else None
        if hit is not None:  # asked before: its cache and next-token logits are kept, nothing runs
            cache, last = hit
        else:
            last, cache = run(ids[common:], _shallow_copy(base), common)
            encoded += len(ids) - common
            flops += forward_flops(loaded, len(ids) - common, common)
            if prefix_cache is not None:
                prefix_cache.store(ids, _shallow_copy(cache), last)
        logits.append(last)
        caches.append(cache)
    merged = caches[0]
    for i, layer in enumerate(merged.layers):
        if not getattr(layer, "is_initialized", True):
            continue
        for attr in ("keys", "values"):  # [1, heads, L_p, dim] each -> [B, heads, width, dim]
            parts = [F.pad(getattr(c.layers[i], attr), (0, 0, width - L, 0)) for c, L in zip(caches, lens)]
            setattr(layer, attr, torch.cat(parts).repeat_interleave(repeats, dim=0))
    return _Prefilled(torch.cat(logits).repeat_interleave(repeats, dim=0), merged, mask, lengths, width,
                      encoded, flops, True)


def encode_cost(loaded: LoadedModel, prompt_ids, n, *, share: bool, prefix_cache=None) -> int:
    """The prompt tokens `prefill` would run for these prompts, computed without running them:
    a call can be priced against a token budget before it spends anything. Mirrors `prefill`:
    unshared, every row's prompt; shared, the common prefix past what the cache holds plus each
    prompt's suffix."""
    lens = [len(x) for x in prompt_ids]
    counts = row_counts(n, len(lens))
    if not share or _shareable_cache(loaded.model) is None:
        return sum(c * L for c, L in zip(counts, lens))
    common = _shared_span(prompt_ids)
    start = prefix_cache.cached_length(prompt_ids[0][:common]) if prefix_cache is not None and common > 0 else 0
    whole = [prefix_cache is not None and prefix_cache.has_whole(ids) for ids in prompt_ids]
    return (common - start) + sum(0 if cached else L - common for L, cached in zip(lens, whole))


def row_counts(n, prompts: int) -> list[int]:
    """Rows per prompt: `n` for every prompt, or n's own per-prompt counts (checked)."""
    if isinstance(n, int):
        return [n] * prompts
    counts = [int(c) for c in n]
    if len(counts) != prompts or min(counts, default=0) < 0:
        raise ValueError(f"row counts {counts}: need one count >= 0 for each of {prompts} prompts")
    return counts


def cache_arg(model, cache) -> dict:
    """The KV cache as a forward() keyword: `cache` where the model takes it (transformers >= 5.2x
    deprecates `past_key_values`), else `past_key_values`."""
    return {_cache_keyword(type(model)): cache}


@functools.lru_cache(maxsize=None)
def _cache_keyword(model_type: type) -> str:  # once per class: forward() is called per token
    return "cache" if "cache" in inspect.signature(model_type.forward).parameters else "past_key_values"


def cache_of(out):
    """The returned KV cache, read without touching the deprecated `past_key_values` alias."""
    return out["cache"] if "cache" in out.keys() else out.past_key_values


def _shareable_cache(model):
    """An empty DynamicCache for `model` if all its layers are plain `DynamicLayer`s, else None.

    Only those store keys/values as [batch, heads, positions, dim] tensors that can be padded
    and repeated safely; sliding-window or recurrent layers keep extra state.
    """
    from transformers import DynamicCache

    try:
        cache = DynamicCache(config=model.config)
    except Exception:  # noqa: BLE001 (an exotic config: fall back to unshared encoding)
        return None
    return cache if plain_cache(cache) else None


def plain_cache(cache) -> bool:
    """Is `cache` a DynamicCache of plain `DynamicLayer`s, whose rows can be padded, repeated
    and selected along the batch safely?"""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    return isinstance(cache, DynamicCache) and all(type(layer) is DynamicLayer for layer in cache.layers)


def _shallow_copy(cache):
    """A cache sharing `cache`'s tensors: DynamicLayer.update concatenates into new tensors,
    so extending the copy leaves the original (the shared prefix) untouched."""
    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    return new


def _shared_span(prompt_ids) -> int:
    """Tokens encoded once for all prompts: their common prefix, each prompt keeping >= 1 token
    of its own (its logits start decoding)."""
    lens = [len(x) for x in prompt_ids]
    common = _common_prefix_len(prompt_ids) if len(lens) > 1 else lens[0]
    return min(common, min(lens) - 1)


def _common_prefix_len(seqs) -> int:
    first, k = seqs[0], 0
    while k < len(first) and all(len(s) > k and s[k] == first[k] for s in seqs[1:]):
        k += 1
    return k
