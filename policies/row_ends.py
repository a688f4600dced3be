"""Where each row of a decode loop ends (policies.sampling): its EOS, its first stop string,
a line the format finds doomed, or a point past the tokens its caller reads (`CallCaps.fill_tokens`);
and, once the loop is over, each row's counted tokens, text, log-probs and finish reason."""

from __future__ import annotations

from typing import Sequence

from policies.base import Stop


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


def finish_rows(tok, token_rows, lp_rows, *, eos, ignore_eos, stops, tails, doomed_at, past_fill_at):
    """Each row's counted tokens, text, log-probs and finish reason (`row_end`)."""
    texts, kept, logprobs, token_lps, finish = [], [], [], [], []
    for r, row in enumerate(token_rows):
        ids, text, reason = row_end(tok, row, eos=eos, ignore_eos=ignore_eos, stops=stops[r], tail=tails[r],
                                     stopped_at=doomed_at.get(r, past_fill_at.get(r)),
                                     stopped_as="doomed" if r in doomed_at else "past_fill")
        texts.append(text)
        kept.append(ids)
        logprobs.append(float(sum(lp_rows[r][: len(ids)])))
        token_lps.append(lp_rows[r][: len(ids)])
        finish.append(reason)
    return texts, kept, logprobs, token_lps, finish


def row_end(tok, row: list[int], *, eos, ignore_eos, stops, tail: str, stopped_at: int | None = None,
            stopped_as: str = "doomed") -> tuple[list[int], str, str]:
    """A row's counted tokens, text and finish reason: cut at its EOS, its first stop string (up
    to the token that completed it), or where the loop stopped it (`stopped_at`, then
    `stopped_as`: what came after is filler)."""
    if stopped_at is not None:
        ids = row[:stopped_at]
        return ids, tok.decode(ids, skip_special_tokens=False), stopped_as
    ids, reason = row, "length"
    end = next((k for k, x in enumerate(ids) if x in eos), None) if not ignore_eos else None
    if end is not None:
        ids, reason = ids[: end + 1], "eos"
    text = tok.decode(ids[:-1] if reason == "eos" else ids, skip_special_tokens=False)
    cut = find_stop(text, stops, tail) if stops else None
    if cut is not None:
        ids = ids[: completing_token(tok, ids, stops, tail)]
        text, reason = text[:cut], "stop"
    return ids, text, reason


def stop_past_fill(tok, tokens, finished, rows: int, steps: int, fill: int, ended: dict, past_fill_at: dict, *,
                   eos, ignore_eos, stops, tails, doomed_at) -> None:
    """Stop the rows that surely lie past `fill` generated tokens (`CallCaps.fill_tokens`): the
    caller reads the rows in order and keeps each while the tokens of it and those before it
    fit, so once the rows up to one already count more (a finished row its counted tokens, a
    running one at least its steps so far: lengths only grow), that row and every later one
    will never be read. Only checked where the finished flags are exact (stop strings just
    checked), so no row the caller would read is ever stopped. `ended` keeps the counted
    tokens of the rows found finished (row -> tokens), `past_fill_at` the step each row was
    stopped at."""
    done = finished[:rows].tolist()
    total = 0
    for r in range(rows):
        if done[r] and r not in ended:
            stopped = past_fill_at.get(r, doomed_at.get(r))
            ended[r] = stopped if stopped is not None else len(row_end(
                tok, tokens[r, :steps].tolist(), eos=eos, ignore_eos=ignore_eos, stops=stops[r], tail=tails[r])[0])
        total += ended[r] if done[r] else steps
        if total > fill:
            for q in range(r, rows):
                if not done[q]:
                    finished[q] = True
                    past_fill_at[q] = steps
            return


def mark_stops(tok, tokens, finished, row_stops, row_tails) -> list[int]:
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


def mark_doomed(tok, tokens, finished, doomed, lines_seen, doomed_at, step) -> None:
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


def completing_token(tok, ids: list[int], stops, tail: str) -> int:
    """Smallest k such that the decoded first k tokens contain a stop (binary search)."""
    lo, hi = 1, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if find_stop(tok.decode(ids[:mid], skip_special_tokens=False), stops, tail) is not None:
            hi = mid
        else:
            lo = mid + 1
    return lo
