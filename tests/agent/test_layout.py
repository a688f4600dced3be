"""House rules of the layout (README "Layout"): imports flow envs <- policies <- agent, `wiring` is
the only module of `agent` that names concrete lint gates, sandboxes and models, modules stay small."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONCRETE = {"envs.lint": {"LintGate"}, "envs.sandbox": {"make_sandbox"}, "policies.loading": {"load_model"},
            "policies.lm": {"LMPolicy"}}
MAX_LINES = 420  # "no module over ~400 lines"


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, set[str]]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, {a.name for a in node.names}))
        elif isinstance(node, ast.Import):
            out += [(a.name, set()) for a in node.names]
    return out


@pytest.mark.parametrize("package, forbidden", [("envs", ("policies", "agent")), ("policies", ("agent",))])
def test_imports_flow_one_way(package, forbidden):
    bad = [f"{p.relative_to(ROOT)}: {module}" for p in _modules(package) for module, _ in _imports(p)
           if module.split(".")[0] in forbidden]
    assert not bad, bad


def test_only_wiring_names_concrete_implementations():
    bad = []
    for path in _modules("agent"):
        if path.name == "wiring.py":
            continue
        for module, names in _imports(path):
            if names & CONCRETE.get(module, set()):
                bad.append(f"{path.relative_to(ROOT)}: {module} {sorted(names & CONCRETE[module])}")
    assert not bad, bad


def test_agent_has_rooms_and_small_modules():
    flat = [p.name for p in (ROOT / "agent").glob("*.py")]
    assert sorted(flat) == ["__init__.py", "config.py", "wiring.py"]  # everything else lives in a room
    long = [f"{p.relative_to(ROOT)}: {len(p.read_text().splitlines())}" for p in _modules("agent")
            if len(p.read_text().splitlines()) > MAX_LINES]
    assert not long, long
