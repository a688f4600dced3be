"""Model state for token prefixes, kept across policy calls (a bounded LRU).

A search asks the model about one problem again and again: every fresh sample repeats the same
chat prompt, and every child's prompt is its parent's program plus a few lines. Keeping the
key/value cache of prompts already encoded means a call runs only the tokens after the longest
prefix seen before, and `prompt_tokens_encoded` (the search's token unit) counts only those.

Entries are `DynamicCache`s at batch 1 keyed by their token ids. A lookup finds the entry
sharing the longest common prefix with the new prompt, not only entries that are whole
prefixes of it: siblings in a search share their parent's program up to their own hunk
location, and then differ. The entry is handed out cropped to that common prefix, as a shallow
copy (its layers slice the same tensors), so entries are never mutated: extending a cache
goes through a shallow copy whose layers concatenate into new tensors. Memory per entry is 2 * layers * kv_heads * head_dim *
positions floats (SmolLM2-135M: ~46 KB a position, ~14 MB for a 300-token prompt).

Results depend on what is cached (a prefix encoded apart from its suffix differs from one
encoding in the last float bits), so a search starts from an empty cache (`clear`): the same
seed then replays the same search whatever ran before it in the process.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Sequence


class PrefixCache:
    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        # next-token logits of entries that are whole prompts: asked again, such a prompt costs
        # nothing (without them its last token would run again to get them)
        self._logits: dict[tuple[int, ...], Any] = {}
        self.hits = 0  # lookups that found a cached prefix
        self.tokens_reused = 0  # prompt tokens those hits did not run again

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._logits.clear()

    def has_whole(self, ids: Sequence[int]) -> bool:
        """Is `ids` itself an entry with its next-token logits (`whole` would answer)?"""
        return tuple(ids) in self._logits

    def whole(self, ids: Sequence[int]) -> tuple[Any, Any] | None:
        """(a shallow copy of the cache, the logits after the last token) when `ids` was stored
        whole with its logits; None otherwise."""
        key = tuple(ids)
        if key not in self._logits:
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        self.tokens_reused += len(key)
        return _cropped(self._entries[key], len(key), len(key)), self._logits[key]

    def _longest(self, ids: tuple[int, ...]) -> tuple[tuple[int, ...] | None, int]:
        """The entry sharing the longest common prefix with `ids`, and that prefix's length."""
        best_key, best = None, 0
        for key in self._entries:
            k = _common_prefix(key, ids)
            if k > best:
                best_key, best = key, k
        return best_key, best

    def cached_length(self, ids: Sequence[int]) -> int:
        """How many leading tokens of `ids` a `lookup` would find encoded; changes nothing (no
        hit counted, no LRU move): for pricing a call before making it."""
        return self._longest(tuple(ids))[1]

    def lookup(self, ids: Sequence[int]) -> tuple[int, Any]:
        """(k, cache) for the longest cached prefix ids[:k] (k <= len(ids)); (0, None) if none.
        The cache is a copy cropped to k positions: extending it leaves the entry unchanged."""
        best_key, k = self._longest(tuple(ids))
        if best_key is None:
            return 0, None
        self._entries.move_to_end(best_key)
        self.hits += 1
        self.tokens_reused += k
        return k, _cropped(self._entries[best_key], k, len(best_key))

    def store(self, ids: Sequence[int], cache: Any, logits: Any = None) -> None:
        """Keep `cache` for the prefix `ids` (and, for a whole prompt, the logits after it)."""
        key = tuple(ids)
        if not key:
            return
        self._entries[key] = cache
        self._entries.move_to_end(key)
        if logits is not None:
            self._logits[key] = logits
        while len(self._entries) > self.max_entries:
            self._logits.pop(self._entries.popitem(last=False)[0], None)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    k, limit = 0, min(len(a), len(b))
    while k < limit and a[k] == b[k]:
        k += 1
    return k


def _cropped(cache: Any, keep: int, length: int) -> Any:
    """A shallow copy of `cache` holding its first `keep` of `length` positions."""
    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    if keep < length:
        new.crop(keep - length)  # rebinds each copied layer's tensors to slices; the entry keeps its own
    return new
