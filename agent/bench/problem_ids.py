"""`--problems` lists: ids, and ranges of numbered ids (`HumanEval/40-79`).

    expand_problem_ids("HumanEval/0,HumanEval/40-42", known)
    # ['HumanEval/0', 'HumanEval/40', 'HumanEval/41', 'HumanEval/42']

An item that is a known id is taken as it is (an id may itself contain a dash); otherwise
`PREFIX/A-B` (or `PREFIXA-B`) stands for every known id `PREFIX/N` with A <= N <= B, and must
name at least one. Unknown ids raise ValueError naming the first one.
"""

from __future__ import annotations

import re
from typing import Collection

RANGE = re.compile(r"^(?P<prefix>.*?)(?P<start>\d+)-(?P<end>\d+)$")


def expand_problem_ids(spec: str, known: Collection[str]) -> list[str]:
    """The ids `spec` names, in the order given, each once."""
    wanted: dict[str, None] = {}
    for item in (i.strip() for i in spec.split(",")):
        if not item:
            continue
        if item in known:
            wanted[item] = None
            continue
        match = RANGE.match(item)
        if match is None:
            raise ValueError(f"no problem {item!r}")
        start, end = int(match["start"]), int(match["end"])
        if start > end:
            raise ValueError(f"{item!r}: the range ends before it starts")
        inside = [f"{match['prefix']}{n}" for n in range(start, end + 1) if f"{match['prefix']}{n}" in known]
        if not inside:
            raise ValueError(f"no problem in the range {item!r}")
        wanted.update(dict.fromkeys(inside))
    return list(wanted)
