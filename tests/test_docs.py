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
