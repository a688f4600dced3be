"""`agent bench`'s `sample+stop`: the plain `sample` baseline with doomed draws stopped early.

Reuses the toy suite of test_bench with a scripted policy that honours `stop_doomed` the way the
LM policy does: a draw whose complete lines hold a syntax error no later line can repair
(envs.syntax.doomed) ends there, marked "doomed", and the tokens it would have written are
counted as saved. One of its three programs is such a draw (`y = a +* b`, then more lines).
"""

import dataclasses
import json
from collections import Counter

import pytest
from scripted import ADD_PROGRAMS, PARAMS, Candidate, ScriptedPolicy, endless_candidates, n_tokens
from test_bench import bench, by_key, write_suite  # noqa: F401 (bench is a fixture)

from agent.search.budget import doomed_shares
from agent.cli import main
from envs.diff import make_edit
from envs.program import Program
from envs.syntax import doomed
from policies.base import CallCaps

DOOMED = Candidate(("def add(a, b):", "    total = a +* b", "    # the model goes on writing lines that cannot help",
                    "    # and more of them, all paid for unless the draw stops", "    return total"), -1.2)
PROGRAMS = (ADD_PROGRAMS[0], ADD_PROGRAMS[1], DOOMED)  # a solution, a wrong answer, a doomed draw
BUDGETS = ("1", "5")
FLAGS = ("--budgets", ",".join(BUDGETS), "--n", "6", "--workers", "1")


def doomed_prefix(text: str) -> str | None:
    """The complete lines of `text` up to the first one that makes it doomed (None: never)."""
    lines = text.split("\n")
    for i in range(1, len(lines) + 1):
        prefix = "\n".join(lines[:i]) + "\n"
        if doomed(prefix):
            return prefix
    return None


class StoppingPolicy(ScriptedPolicy):
    """ScriptedPolicy whose whole-program draws stop early when asked to (as LMPolicy's do)."""

    def sample_programs(self, problem, n, *, seed=None, caps=CallCaps(), temperatures=None):
        batch = super().sample_programs(problem, n, seed=seed, caps=caps)
        proposals, finish, saved = [], Counter(), 0
        for p in batch.proposals:
            cut = doomed_prefix(p.raw_text) if caps.stop_doomed and p.program is not None else None
            if cut is None:
                proposals.append(dataclasses.replace(p, finish="eos"))
            else:
                program = Program.from_text(cut)
                proposals.append(dataclasses.replace(p, program=program, edit=make_edit(problem.starter, program),
                                                     raw_text=cut, generated_tokens=n_tokens(cut), finish="doomed"))
                saved += p.generated_tokens - n_tokens(cut)
            finish[proposals[-1].finish] += 1
        generated = sum(p.generated_tokens for p in proposals)
        return dataclasses.replace(batch, proposals=tuple(proposals), generated_tokens=generated,
                                   flops=2.0 * PARAMS * (batch.prompt_tokens_encoded + generated),
                                   extra={"finish": dict(finish), "doomed_tokens_saved": saved})


def stopping_policy(config):  # module level: it must pickle into spawned workers
    return StoppingPolicy({}, programs=PROGRAMS, default=endless_candidates)


def test_the_doomed_draw_is_doomed_only_once_its_error_line_is_complete():
    text = "\n".join(DOOMED.lines)
    assert doomed_prefix(text) == "def add(a, b):\n    total = a +* b\n"
    assert doomed_prefix("\n".join(ADD_PROGRAMS[0].lines)) is None


def test_sample_stop_is_its_own_row_and_plain_sample_stays_the_baseline(bench):
    status, out, records = bench("--strategies", "sample,sample+stop,mcts", *FLAGS, policy_factory=stopping_policy)
    assert status == 0
    records = by_key(records)
    problems = {key[0] for key in records}
    assert len(problems) == 3
    assert set(records) == {(p, s, b) for p in problems for s in ("sample", "sample+stop", "mcts") for b in BUDGETS}
    for problem_id in problems:
        plain, stop = records[(problem_id, "sample", "5")], records[(problem_id, "sample+stop", "5")]
        assert len(plain["draws"]) == len(stop["draws"]) == 6  # max(n, largest budget), as for sample
        for budget in BUDGETS:  # the same budgets, counted the same way: the first k draws
            a, b = records[(problem_id, "sample", budget)], records[(problem_id, "sample+stop", budget)]
            assert a["compute"]["samples"] == b["compute"]["samples"] == int(budget)
            assert a["compute"]["lm_calls"] == b["compute"]["lm_calls"]
            assert a["compute"]["prompt_tokens"] == b["compute"]["prompt_tokens"]
            assert b["budget_tokens"] is None and b["budget_kind"] == "samples"
        # the tree search's unit is the plain protocol's tokens per draw, not the cheaper one
        unit = sum(d["tokens"] for d in plain["draws"]) / len(plain["draws"])
        assert records[(problem_id, "mcts", "5")]["unit_tokens"] == pytest.approx(unit)
        assert stop["unit_tokens"] < unit

    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["strategies"]) == ["sample", "sample+stop", "mcts"]
    entry = summary["strategies"]["sample+stop"]
    for row in entry["budgets"]:
        mine = [r for r in records.values() if r["strategy"] == "sample+stop" and r["budget"] == row["budget"]]
        assert row["problems"] == 3
        assert row["mean_generated_tokens"] == pytest.approx(sum(r["compute"]["generated_tokens"] for r in mine) / 3)
    # the same draws (a doomed one fails the hidden tests either way): the same pass@k, for fewer tokens
    assert entry["pass_at_k"] == summary["strategies"]["sample"]["pass_at_k"]
    assert entry["per_draw"]["tokens"] < summary["strategies"]["sample"]["per_draw"]["tokens"]

    markdown = (out / "summary.md").read_text()
    assert "| sample+stop | 5 |" in markdown and "| sample | 5 |" in markdown
    versus = markdown.split("minus sampling's", 1)[1].split("\n\n", 2)[1].splitlines()
    assert [line.split("|")[1].strip() for line in versus[2:]] == ["sample+stop", "mcts"]  # sample is the base
    # samples.jsonl re-scores the plain protocol: only `sample`'s draws, n per problem
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 3 * 6
    assert Counter(json.loads(line)["task_id"] for line in lines) == {p: 6 for p in problems}


def test_sample_stop_stops_the_doomed_draws_and_spends_fewer_tokens(bench):
    status, out, records = bench("--strategies", "sample,sample+stop", *FLAGS, policy_factory=stopping_policy)
    assert status == 0
    records = by_key(records)
    stopped = 0
    for problem_id in {key[0] for key in records}:
        plain, stop = records[(problem_id, "sample", "5")], records[(problem_id, "sample+stop", "5")]
        assert plain["compute"]["doomed_samples"] == plain["compute"]["doomed_tokens_saved"] == 0
        assert stop["compute"]["doomed_samples"] == sum("+* b" in d["program"] for d in stop["draws"][:5]) > 0
        stopped += stop["compute"]["doomed_samples"]
        assert stop["compute"]["generated_tokens"] < plain["compute"]["generated_tokens"]
        # what the doomed draws did not write is what the counter says was saved
        saved = plain["compute"]["generated_tokens"] - stop["compute"]["generated_tokens"]
        assert stop["compute"]["doomed_tokens_saved"] == saved
        for a, b in zip(plain["draws"], stop["draws"]):  # draw by draw: the same, or its doomed prefix
            if a["program"] == b["program"]:
                assert a["generated_tokens"] == b["generated_tokens"]
            else:
                assert a["program"].startswith(b["program"]) and "+* b" in b["program"]
                assert b["generated_tokens"] < a["generated_tokens"] and b["lint_ok"] is False
                assert a["hidden_passed"] is b["hidden_passed"] is False
    summary = json.loads((out / "summary.json").read_text())["strategies"]
    assert summary["sample"]["doomed_samples"] == 0 and summary["sample+stop"]["doomed_samples"] == stopped
    assert summary["sample+stop"]["doomed_tokens_saved"] > 0
    assert "| sample+stop |" in (out / "summary.md").read_text().split("samples stopped early", 1)[1]


def test_saved_steps_are_split_over_the_doomed_draws_of_a_call():
    assert doomed_shares(7, [True, False, True, True]) == [3, 0, 2, 2]
    assert doomed_shares(0, [False, False]) == [0, 0]
    assert sum(doomed_shares(10, [True] * 3)) == 10


@pytest.mark.parametrize("strategies, needles", [
    ("sample,sample+nope", ["unknown strategy 'sample+nope'", "sample+stop", "rex"]),
    ("sample-stop", ["unknown strategy 'sample-stop'", "choose from: sample, sample+stop"]),
    ("sample+stop,rex", ["add sample"]),  # samples-equivalent budgets are the plain protocol's draws
])
def test_unknown_names_and_a_missing_baseline_fail_clearly(tmp_path, capsys, strategies, needles):
    suite = write_suite(tmp_path / "suite")
    status = main(["bench", str(suite), "--out", str(tmp_path / "o"), "--no-progress", "--strategies", strategies])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert all(needle in err for needle in needles), err
    assert not (tmp_path / "o").exists()  # refused before anything was written
