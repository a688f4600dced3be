"""The README says what the code does: its problem-file example is a real file, and CI runs
exactly its test command."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_problem_file_example_is_examples_sum_evens():
    section = README.split("### Problem files", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.S).group(1)
    assert json.loads(block) == json.loads((ROOT / "examples" / "sum_evens.json").read_text())


def test_ci_runs_the_readme_test_command():
    command = re.search(r"# 2\. the tests.*\n(.+)\n", README).group(1).strip()
    assert "pytest" in command and "--extras ray" in command
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1].strip() == command
    assert "set -euo pipefail" in ci  # a non-zero pytest status (5: no tests) fails CI


PACKAGES_LISTING_MODULES = ("agent", "agent/search", "agent/bench", "agent/training", "agent/output", "envs", "policies")


def test_package_docstrings_name_only_modules_that_exist():
    import ast

    for package in PACKAGES_LISTING_MODULES:
        doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text())) or ""
        names = re.findall(r"`([a-z_][a-z_.]*)`", doc)
        assert names, package
        for name in names:
            parts = name.split(".")
            base = ROOT if len(parts) > 1 else ROOT / package
            path = base.joinpath(*parts)
            assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), f"{package}: `{name}`"


ARCHITECTURE = ROOT / "docs" / "architecture.md"
FILE = r"(?:agent|envs|policies|tests|configs|benchmarks|docs|examples)/[\w/.-]*\w"  # a repository path


def _defines(text: str, name: str) -> bool:
    """`name` is a function, class, method or module-level constant of the file's text."""
    return re.search(rf"^\s*(?:def|class) {re.escape(name)}\b|^{re.escape(name)}\s*[:=]", text, re.M) is not None


def test_every_path_and_name_in_the_architecture_exists():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    paths = re.findall(rf"`({FILE})(?::([\w.]+))?`", text)
    assert len(paths) > 40  # the walk-through names its functions with their files
    for path, qualname in paths:
        assert (ROOT / path).exists(), path
        for name in filter(None, qualname.split(".")):
            assert _defines((ROOT / path).read_text(encoding="utf-8"), name), f"{path}:{qualname}"


def test_nothing_in_the_docs_points_outside_the_repository():
    for doc in [ROOT / "README.md", ARCHITECTURE, *sorted((ROOT / "docs").rglob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text and "DESIGN.md" not in text, doc
        for target in re.findall(r"\]\(([^)#]+)", text):  # markdown links resolve inside the repository
            if not target.startswith(("http://", "https://")):
                assert (doc.parent / target).resolve().is_relative_to(ROOT) and (doc.parent / target).exists(), \
                    f"{doc}: {target}"
    assert "docs/architecture.md" in README
