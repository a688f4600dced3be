"""The constraints file: the exact versions of this package's dependency closure that CI tested.

    python3 scripts/lock.py write constraints.txt   # pin what this environment has installed
    python3 scripts/lock.py check constraints.txt   # exit 1 naming each installed version that differs

`bash setup.sh --refresh-lock` runs `write` inside a fresh virtual environment where pip chose
today's newest versions (torch stays the CPU wheel 2.13.0), then the tests decide whether to keep it.
Only the closure of `edit-search-agent[ray]` is pinned, never whatever else the machine has.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

PROJECT = "edit-search-agent"
EXTRAS = ("ray",)
# Installed by setup.sh from their own pinned, hashed files (scripts/models.txt), not from PyPI's newest.
HEADER = (
    "# Exact versions of edit-search-agent[ray]'s dependencies that CI tested (setup.sh installs with -c).\n"
    "# Refresh: bash setup.sh --refresh-lock, then run the tests. Written by scripts/lock.py; do not edit.\n"
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(project: str = PROJECT, extras: tuple[str, ...] = EXTRAS) -> dict[str, str]:
    """{canonical name: installed version} of every distribution `project[extras]` needs, transitively,
    under this interpreter's markers. The local part of a version (torch's "+cpu") is dropped, since
    pip matches `==2.13.0` against it either way."""
    pinned: dict[str, str] = {}
    todo = [(project, set(extras))]
    while todo:
        name, wanted = todo.pop()
        dist = metadata.distribution(name)
        for text in dist.requires or []:
            req = Requirement(text)
            env_ok = req.marker is None or any(req.marker.evaluate({"extra": e}) for e in (wanted or {""}))
            if not env_ok:
                continue
            key = canonical(req.name)
            if key not in pinned:
                pinned[key] = metadata.version(req.name).split("+")[0]
                todo.append((req.name, set(req.extras)))
    return dict(sorted(pinned.items()))


def read(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version
    return pins


def write(path: Path) -> None:
    text = HEADER + "".join(f"{name}=={version}\n" for name, version in closure().items())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def differences(path: Path, *, skip: tuple[str, ...] = ()) -> list[str]:
    """One line per dependency whose installed version is not the pinned one (or is not pinned)."""
    pins, have = read(path), closure()
    return [f"{name}: installed {version}, pinned {pins.get(name, 'nothing')}"
            for name, version in have.items() if name not in skip and pins.get(name) != version]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("write", "check"):
        print("usage: python3 scripts/lock.py write|check constraints.txt", file=sys.stderr)
        return 2
    path = Path(argv[1])
    if argv[0] == "write":
        write(path)
        return 0
    problems = differences(path)
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
