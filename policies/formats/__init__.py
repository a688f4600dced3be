"""Edit formats: how each model family is prompted and how its text becomes an edit.

`FORMATS` maps a name to the "module:Class" implementing it; a class is imported only when
its name is asked for. `get_format(name, tokenizer)` builds one; `detect_format(config,
tokenizer)` names the format a model speaks from its special tokens; `resolve_format(spec,
config, tokenizer)` is the call-site entry point, where an explicit name overrides detection.

    name             layout (exact layouts in each module's docstring)
    edit_sequence    instruction, then LintSeq diffs each after "\\n<|diff|>"
    commit_diff      <NME> file <BEF> code <MSG> message <DFF> git-style diff
    fim_neox         <|SUF|>suffix<|PRE|>prefix<|MID|>           (SPM)
    fim_santacoder   <fim-prefix>p<fim-suffix>s<fim-middle>        (PSM)
    fim_starcoder    <fim_prefix>p<fim_suffix>s<fim_middle>        (PSM)
    fim_qwen         <|fim_prefix|>p<|fim_suffix|>s<|fim_middle|>  (PSM)
    continuation     the program prefix continued (chat models: mode chosen per model)
    continuation_free  chat models answer freely; their function replaces the program's
"""

from __future__ import annotations

import importlib

from policies.base import EditFormat
from policies.formats.common import STATUSES, FormatStatus

__all__ = ["FORMATS", "STATUSES", "FormatStatus", "detect_format", "get_format", "resolve_format"]

FORMATS: dict[str, str] = {
    "edit_sequence": "policies.formats.edit_sequence:EditSequenceFormat",
    "commit_diff": "policies.formats.commit_diff:CommitDiffFormat",
    "fim_neox": "policies.formats.fim:FimNeoXFormat",
    "fim_santacoder": "policies.formats.fim:FimSantaCoderFormat",
    "fim_starcoder": "policies.formats.fim:FimStarCoderFormat",
    "fim_qwen": "policies.formats.fim:FimQwenFormat",
    "continuation": "policies.formats.continuation:ContinuationFormat",
    "continuation_free": "policies.formats.continuation:FreeContinuation",
}

# Special tokens that identify a format, checked in this order (the first found wins).
SIGNATURE_TOKENS: tuple[tuple[str, str], ...] = (
    ("<|diff|>", "edit_sequence"),
    ("<|SUF|>", "fim_neox"),
    ("<fim-prefix>", "fim_santacoder"),
    ("<fim_prefix>", "fim_starcoder"),
    ("<|fim_prefix|>", "fim_qwen"),
)


def get_format(name: str, tokenizer=None, **options) -> EditFormat:
    """A format by registry name; `options` go to its constructor (e.g. continuation's mode)."""
    if name not in FORMATS:
        raise ValueError(f"unknown edit format {name!r}; choose from: {', '.join(FORMATS)}")
    module, _, attr = FORMATS[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls(tokenizer, **options)


def _vocab(tokenizer) -> set[str]:
    """Every token string the tokenizer knows: its vocabulary and its added/special tokens."""
    if tokenizer is None:
        return set()
    found: set[str] = set()
    get_vocab = getattr(tokenizer, "get_vocab", None)
    if callable(get_vocab):
        found |= set(get_vocab())
    for attr in ("all_special_tokens", "additional_special_tokens"):
        found |= set(getattr(tokenizer, attr, None) or ())
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    found |= {str(token) for token in added.values()}
    return found


def detect_format(model_config, tokenizer) -> str:
    """The format a model speaks, from its special tokens, else its config, else continuation.

    `<|diff|>` -> edit_sequence; `<|SUF|>` -> fim_neox; `<fim-prefix>` -> fim_santacoder;
    `<fim_prefix>` -> fim_starcoder; `<|fim_prefix|>` -> fim_qwen; a "codegen" model whose
    name or path contains "diff" -> commit_diff; anything else -> continuation.
    A chat model (its tokenizer has a chat template) is prompted as one even when its
    vocabulary keeps FIM tokens: Qwen2.5-Coder-0.5B-Instruct, asked through fim_qwen, appends
    its own asserts, fences and prose to the middle, and lint rejects about half of its samples
    (docs/results/formats_qwen.md measures the two on the same problems).
    """
    vocab = _vocab(tokenizer)
    chat = bool(getattr(tokenizer, "chat_template", None))
    for token, name in SIGNATURE_TOKENS:
        if token in vocab and not (chat and name.startswith("fim_")):
            return name
    model_type = str(getattr(model_config, "model_type", "") or "")
    path = str(getattr(model_config, "name_or_path", "") or getattr(model_config, "_name_or_path", ""))
    if model_type == "codegen" and "diff" in path.lower():
        return "commit_diff"
    return "continuation"


def resolve_format(spec: str, model_config, tokenizer, **options) -> EditFormat:
    """`spec` "auto" detects the format; any other value names it (the explicit override)."""
    name = detect_format(model_config, tokenizer) if spec == "auto" else spec
    return get_format(name, tokenizer, **options)
