"""`agent bench` end to end with a scripted policy, the toy lint gate and an in-process sandbox.

The pieces come in through `run_bench(policy_factory=..., sandbox_factory=..., lint_factory=...)`
as module-level functions (so --workers 2 can send them to spawned worker processes). The toy
problems are "write add(a, b)" with different ids and hidden tests; the programs are trusted.
"""

import html
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fakes import InProcessSandbox
from scripted import ADD_PROGRAMS, ADD_SCRIPT, ScriptedPolicy, ToyLintGate, endless_candidates

from agent.cli.bench import run_bench
from agent.bench.results import RESULTS, read_results, record_key
from agent.cli import UsageError, build_parser, main
from agent.training.provenance import MODEL_FILE, write_provenance
from agent.output.html_report import REPORT, tree_name
from agent.output.report import strip_timings
from envs.program import Program
from policies.base import Policy

ROOT = Path(__file__).resolve().parents[2]
VISIBLE = [{"code": "add(1, 2)", "expected": "3"}, {"code": "add(0, 0)", "expected": "0"}, "assert add(-1, 5) == 4"]
HIDDEN = {"toy/a": ["assert add(2, 2) == 4"], "toy/b": ["assert add(-3, 1) == -2", "assert add(7, 0) == 7"],
          "toy/c": ["assert add(10, 5) == 15"]}
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None  # coverage.png needs it (optional)
# Small expansions, so a tree search makes several policy calls within the budgets.
CONFIG = "search:\n  samples_per_location: 2\n  sample:\n    batch_size: 4\n"


# -- pieces (module level: they must pickle into spawned workers) ------------------------------
def scripted_policy(config):
    return ScriptedPolicy(ADD_SCRIPT, programs=ADD_PROGRAMS, sample=True, default=endless_candidates)


def in_process_sandbox(config):
    return InProcessSandbox()


def toy_lint(config):
    return ToyLintGate()


PIECES = dict(policy_factory=scripted_policy, sandbox_factory=in_process_sandbox, lint_factory=toy_lint)


def write_suite(folder: Path, ids=tuple(HIDDEN)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for problem_id in ids:
        (folder / f"{problem_id.split('/')[1]}.json").write_text(json.dumps({
            "id": problem_id, "prompt": "Write add(a, b) that returns a + b.", "entry_point": "add",
            "tests": VISIBLE, "hidden_tests": HIDDEN[problem_id]}))
    return folder


def parse(*argv):
    return build_parser().parse_args(["bench", *map(str, argv)])


@pytest.fixture
def bench(tmp_path):
    """bench(*flags, out="out", **pieces) -> (exit status, out dir, records)."""
    suite = write_suite(tmp_path / "suite")
    config = tmp_path / "bench.yaml"
    config.write_text(CONFIG)

    def run(*flags, out="out", suite_path=None, **pieces):
        args = parse(suite_path or suite, "--out", tmp_path / out, "--config", config, "--no-progress", *flags)
        status = run_bench(args, **{**PIECES, **pieces})
        return status, tmp_path / out, read_results(tmp_path / out / RESULTS)

    return run


def by_key(records):
    return {record_key(r): r for r in records}


STUDY = ("--strategies", "sample,mcts,best-first", "--budgets", "1,5,10,20", "--n", "6", "--workers", "1")


# -- records ----------------------------------------------------------------------------------
def test_without_visible_tests_every_written_program_counts_as_a_visible_solution(bench, tmp_path):
    suite = tmp_path / "no_examples"
    suite.mkdir()
    (suite / "a.json").write_text(json.dumps({  # a HumanEval record whose docstring shows no example call
        "task_id": "toy/a", "entry_point": "add", "prompt": 'def add(a, b):\n    """Return the sum of a and b."""\n',
        "test": "def check(candidate):\n    assert candidate(2, 2) == 4\n"}))
    status, _, records = bench("--strategies", "sample,rex", "--budgets", "1,5", "--n", "5", "--workers", "1",
                               suite_path=suite)
    assert status == 0 and records
    # the choice picks among them, so the best of them bounds what it returns (passing no visible
    # test is passing them all here), and the starter is not among them
    assert any(r["hidden_passed"] for r in records)
    for record in records:
        assert not record["solved"] and record["oracle"] >= record["oracle_visible"] >= record["hidden_passed"]


def test_one_record_per_problem_strategy_budget_with_honest_budgets(bench):
    status, out, records = bench(*STUDY)
    assert status == 0
    keys = [record_key(r) for r in records]
    assert sorted(keys) == sorted((p, s, b) for p in HIDDEN for s in ("sample", "mcts", "best-first")
                                  for b in ("1", "5", "10", "20"))
    records = by_key(records)
    for problem_id in HIDDEN:
        largest = records[(problem_id, "sample", "20")]
        draws = largest["draws"]
        assert len(draws) == 20  # max(n=6, largest budget 20)
        unit = sum(d["tokens"] for d in draws) / len(draws)
        for budget in (1, 5, 10, 20):
            sample = records[(problem_id, "sample", str(budget))]
            assert sample["compute"]["samples"] == budget and sample["budget_tokens"] is None
            assert sample["compute"]["tokens"] == sum(d["tokens"] for d in draws[:budget])
            admitted = [d for d in draws[:budget] if d["lint_ok"]]
            assert sample["oracle"] == any(d["hidden_passed"] for d in admitted)
            # the ceiling of a choice among visible solutions: an admitted draw passing every visible test
            assert sample["oracle_visible"] == any(d["hidden_passed"] for d in admitted if d["visible"] == 1.0)
            for strategy in ("mcts", "best-first"):
                tree = records[(problem_id, strategy, str(budget))]
                assert tree["unit_tokens"] == pytest.approx(unit)
                assert tree["budget_tokens"] == sample["compute"]["tokens"]  # what sampling spent here
                if tree["stop_reason"] == "budget":  # spent at least the budget ...
                    assert tree["compute"]["tokens"] >= tree["budget_tokens"]
                assert tree["oracle"] >= tree["hidden_passed"]  # the returned program is a node
                assert tree["oracle"] >= tree["oracle_visible"] >= (tree["hidden_passed"] and tree["solved"])
        for strategy in ("sample", "mcts", "best-first"):  # more budget never loses coverage or compute
            rows = [records[(problem_id, strategy, b)] for b in ("1", "5", "10", "20")]
            assert all(a["oracle"] <= b["oracle"] for a, b in zip(rows, rows[1:]))
            assert all(a["compute"]["tokens"] <= b["compute"]["tokens"] for a, b in zip(rows, rows[1:]))
    assert {p.name for p in out.iterdir()} >= {"results.jsonl", "run.json", "summary.json", "summary.md",
                                               "samples.jsonl"}
    if HAS_MATPLOTLIB:
        assert (out / "coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_anytime_snapshots_equal_separate_runs_at_each_budget(bench):
    """A search run to budget 20 and read off at 5 gives what a search run to 5 gives."""
    _, _, long = bench(*STUDY, out="long")
    _, _, short = bench("--strategies", "sample,mcts,best-first", "--budgets", "1,5", "--n", "20",
                        "--workers", "1", out="short")
    long, short = by_key(long), by_key(short)
    largest_only = {"config_hash", "lint_rejected", "parse_failure_kinds", "draws", "arms"}
    compared = 0
    for key, record in short.items():
        if key[1] == "sample":
            continue
        assert {k: v for k, v in strip_timings(long[key]).items() if k not in largest_only} == \
               {k: v for k, v in strip_timings(record).items() if k not in largest_only}, key
        compared += 1
    assert compared == len(HIDDEN) * 2 * 2
    assert any(long[(p, s, "20")]["compute"]["lm_calls"] > short[(p, s, "5")]["compute"]["lm_calls"]
               for p in HIDDEN for s in ("mcts", "best-first"))  # the long runs did go on


def test_one_search_per_budget_when_not_anytime(bench, monkeypatch):
    """bench.anytime=false: each budget's record is a search run to that budget alone (no call
    of it cut at a smaller budget), as a run with that one budget records it."""
    import agent.bench.anytime as anytime_module

    searched = []  # the budgets of each tree search run (workers 1: in this process)
    real = anytime_module.anytime_search
    monkeypatch.setattr(anytime_module, "anytime_search",
                        lambda *a, limits, **k: searched.append(list(limits)) or real(*a, limits=limits, **k))
    flags = ("--strategies", "sample,rex", "--n", "5", "--workers", "1")
    _, _, separate = bench(*flags, "--budgets", "1,5", "--set", "bench.anytime=false", out="separate")
    assert searched == [["1"], ["5"]] * len(HIDDEN)
    searched.clear()
    _, _, alone = bench(*flags, "--budgets", "5", out="alone")
    _, _, _ = bench(*flags, "--budgets", "1,5", out="anytime")
    assert searched == [["5"]] * len(HIDDEN) + [["1", "5"]] * len(HIDDEN)
    separate, alone = by_key(separate), by_key(alone)
    for problem in HIDDEN:
        key = (problem, "rex", "5")
        assert {k: v for k, v in strip_timings(separate[key]).items() if k != "config_hash"} == \
               {k: v for k, v in strip_timings(alone[key]).items() if k != "config_hash"}, key


def test_searches_spend_every_budget_unless_told_to_stop_at_a_visible_solution(bench):
    """bench.spend_budget (the default): a tree search goes on after its first visible solution,
    so it stops only at the budget, as sampling does; false: it stops there (`agent solve`)."""
    flags = ("--strategies", "sample,rex", "--budgets", "tokens:400", "--n", "5", "--workers", "1")
    _, _, spent = bench(*flags, out="spent")
    _, _, stopped = bench(*flags, "--set", "bench.spend_budget=false", out="stopped")
    spent, stopped = by_key(spent), by_key(stopped)
    for problem in HIDDEN:
        full, early = spent[(problem, "rex", "tokens:400")], stopped[(problem, "rex", "tokens:400")]
        assert early["solved"] and early["stop_reason"] == "solved"
        assert full["solved"] and full["stop_reason"] == "budget"
        # spent until the next draw (at most 13 tokens and its call's prompt) would not fit
        assert 400 - 13 - 9 < full["compute"]["tokens"] <= 400
        assert early["compute"]["tokens"] < full["compute"]["tokens"]
        assert full["compute"]["lm_calls"] > early["compute"]["lm_calls"]


def test_token_budgets_are_the_same_for_every_strategy(bench):
    status, _, records = bench("--strategies", "sample,mcts", "--budgets", "tokens:30,90", "--n", "3",
                               "--workers", "1")
    assert status == 0
    for record in records:
        limit = int(record["budget"].split(":")[1])
        assert record["budget_kind"] == "tokens" and record["budget_value"] == limit
        if record["strategy"] == "sample":  # the shortest prefix of draws reaching the budget
            draws = by_key(records)[(record["problem_id"], "sample", "tokens:90")]["draws"]
            k = record["compute"]["samples"]
            assert sum(d["tokens"] for d in draws[:k]) >= limit > sum(d["tokens"] for d in draws[:k - 1])
        else:
            assert record["budget_tokens"] == limit


# -- hidden tests -----------------------------------------------------------------------------
EVENTS: list = []


class LoggingPolicy(Policy):
    def __init__(self, policy):
        self.policy, self.name = policy, policy.name

    def propose(self, problem, *args, **kwargs):
        EVENTS.append(("policy", problem.id, "propose", bool(problem.hidden_tests)))
        return self.policy.propose(problem, *args, **kwargs)

    def sample_programs(self, problem, *args, **kwargs):
        EVENTS.append(("policy", problem.id, "sample", bool(problem.hidden_tests)))
        return self.policy.sample_programs(problem, *args, **kwargs)


class LoggingSandbox(InProcessSandbox):
    def run(self, program, tests, timeout_s=None):
        EVENTS.append(("sandbox", program, tuple(t.code for t in tests)))
        return super().run(program, tests, timeout_s)


def test_hidden_tests_run_only_after_each_search_and_once_per_program(bench):
    EVENTS.clear()
    status, _, _ = bench("--strategies", "sample,mcts", "--budgets", "1,5", "--n", "4", "--workers", "1",
                         policy_factory=lambda c: LoggingPolicy(scripted_policy(c)),
                         sandbox_factory=lambda c: LoggingSandbox())
    assert status == 0
    hidden_codes = {code for codes in HIDDEN.values() for code in codes}
    assert not any(e[3] for e in EVENTS if e[0] == "policy")  # the policy never sees hidden tests
    units = [(e[1], e[2]) for e in EVENTS if e[0] == "policy"]
    unit_of_call = []  # the unit of the policy call before each event
    current = None
    for event in EVENTS:
        if event[0] == "policy":
            current = (event[1], event[2])
        unit_of_call.append(current)
    for i, event in enumerate(EVENTS):
        if event[0] == "sandbox" and hidden_codes & set(event[2]):
            later = [unit_of_call[j] for j in range(i, len(EVENTS)) if EVENTS[j][0] == "policy"]
            assert not later or later[0] != unit_of_call[i]  # no policy call of the same unit follows
    hidden_runs = [(e[1], e[2]) for e in EVENTS if e[0] == "sandbox" and hidden_codes & set(e[2])]
    assert hidden_runs and len(hidden_runs) == len(set(hidden_runs))  # each program once per problem
    assert len(set(units)) == len(HIDDEN) * 2


# -- resume -----------------------------------------------------------------------------------
KILL_SCRIPT = """
import sys, time
sys.path[:0] = {paths!r}
from fakes import InProcessSandbox
from scripted import ADD_PROGRAMS, ADD_SCRIPT, ScriptedPolicy, ToyLintGate, endless_candidates
from agent.cli.bench import run_bench
from agent.cli import build_parser

class Slow(ScriptedPolicy):
    def propose(self, *a, **k):
        time.sleep(0.15)
        return super().propose(*a, **k)
    def sample_programs(self, *a, **k):
        time.sleep(0.15)
        return super().sample_programs(*a, **k)

args = build_parser().parse_args(["bench", *sys.argv[1:]])
sys.exit(run_bench(args, policy_factory=lambda c: Slow(ADD_SCRIPT, programs=ADD_PROGRAMS, sample=True,
                                                         default=endless_candidates),
                   sandbox_factory=lambda c: InProcessSandbox(), lint_factory=lambda c: ToyLintGate()))
"""

CALLS: list = []


def counting_policy(config):
    policy = scripted_policy(config)

    class Counting(Policy):
        name = policy.name

        def propose(self, problem, *args, **kwargs):
            CALLS.append(problem.id)
            return policy.propose(problem, *args, **kwargs)

        def sample_programs(self, problem, *args, **kwargs):
            CALLS.append(problem.id)
            return policy.sample_programs(problem, *args, **kwargs)

    return Counting()


def test_resume_after_kill_9_loses_and_repeats_nothing(bench, tmp_path):
    ids = [f"toy/{c}" for c in "abc"]
    script = tmp_path / "slow_bench.py"
    script.write_text(KILL_SCRIPT.format(paths=[str(ROOT / "tests" / "agent"), str(ROOT / "tests"), str(ROOT)]))
    out = tmp_path / "killed"
    flags = [*STUDY, "--config", tmp_path / "bench.yaml", "--no-progress"]
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "suite"), "--out", str(out), *map(str, flags)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # kill once some, not all, units are written
        if (out / RESULTS).exists() and len(read_results(out / RESULTS)) >= 14:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    before = read_results(out / RESULTS)
    assert 14 <= len(before) < len(ids) * 3 * 4
    with (out / RESULTS).open("a") as handle:  # as if the kill had cut a line in half
        handle.write('{"problem_id": "toy/c", "strat')
    finished_problems = {p for p in ids if sum(r["problem_id"] == p for r in before) == 12}
    assert finished_problems  # units unlocked by a sample run go first, so toy/a is complete

    CALLS.clear()
    status, _, after = bench(*STUDY, "--resume", out="killed", policy_factory=counting_policy)
    assert status == 0
    assert not finished_problems & set(CALLS)  # finished problems were not run again
    keys = [record_key(r) for r in after]
    assert len(keys) == len(set(keys)) == len(ids) * 3 * 4  # every key exactly once
    assert (out / RESULTS).read_text().endswith("}\n")  # the cut line is gone, every line parses
    _, _, fresh = bench(*STUDY, out="fresh")
    assert {k: strip_timings(r) for k, r in by_key(after).items()} == \
           {k: strip_timings(r) for k, r in by_key(fresh).items()}
    run = json.loads((out / "run.json").read_text())
    assert len(run["resumed_at"]) == 1 and run["config_hash"] == after[0]["config_hash"]


def test_a_second_bench_cannot_write_to_a_folder_a_running_one_holds(bench, tmp_path):
    from agent.bench.results import lock_run

    flags = ("--strategies", "sample", "--budgets", "1", "--n", "2", "--workers", "1")
    assert bench(*flags)[0] == 0
    before = (tmp_path / "out" / RESULTS).read_text()
    with lock_run(tmp_path / "out"):  # as a bench still running there holds it
        with pytest.raises(UsageError, match="another agent bench is writing to"):
            bench(*flags, "--resume")
    assert (tmp_path / "out" / RESULTS).read_text() == before
    assert bench(*flags, "--resume")[0] == 0  # released with its holder


def test_resume_refuses_another_config_and_a_used_folder_needs_resume(bench):
    flags = ("--strategies", "sample", "--budgets", "1", "--n", "2", "--workers", "1")
    assert bench(*flags)[0] == 0
    with pytest.raises(UsageError, match="--resume"):
        bench(*flags)
    with pytest.raises(UsageError, match="seed is 5 but the folder's run.json says 0"):
        bench(*flags, "--resume", "--seed", "5")
    with pytest.raises(UsageError, match="config_hash"):
        bench("--strategies", "sample", "--budgets", "1", "--n", "3", "--workers", "1", "--resume")
    status, _, records = bench(*flags, "--resume")  # the same run: nothing left to do
    assert status == 0 and len(records) == len(HIDDEN)


def test_a_run_recorded_before_a_setting_existed_resumes_at_its_default(bench, capsys):
    flags = ("--strategies", "sample", "--budgets", "1,2", "--n", "2", "--workers", "1")
    _, out, records = bench(*flags)
    run = json.loads((out / "run.json").read_text())
    current = run["config_hash"]
    del run["config"]["selection"]["policy_answers"]  # as an older version wrote it
    run["config_hash"] = "0123456789ab"  # ... under its own digest
    (out / "run.json").write_text(json.dumps(run))
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records if r["problem_id"] != "toy/a"))
    capsys.readouterr()
    status, _, resumed = bench(*flags, "--resume")
    assert status == 0 and len(resumed) == len(records)
    assert "selection.policy_answers" in capsys.readouterr().err  # the user is told what the old part lacked
    resumes = json.loads((out / "run.json").read_text())["resumes"]  # and run.json keeps who wrote what
    assert resumes[-1]["config_hash"] == current and resumes[-1]["settings_added"] == ["selection.policy_answers"]
    assert "versions" in resumes[-1] and resumes[-1]["at"]
    run["config"]["selection"]["max_inputs"] = 3  # a setting that differs still refuses
    (out / "run.json").write_text(json.dumps(run))
    with pytest.raises(UsageError, match="config_hash"):
        bench(*flags, "--resume")


def test_tree_records_budgeted_by_the_old_rule_do_not_mix_but_the_sample_runs_carry_over(bench, tmp_path, capsys):
    flags = ("--strategies", "sample,mcts", "--budgets", "1,5", "--n", "4", "--workers", "1")
    _, out, records = bench(*flags)
    old = [dict(r, schema=1) if r["strategy"] == "mcts" else r for r in records]  # as an older version wrote them
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    with pytest.raises(UsageError, match="k x tokens per draw.*--sample-records-from"):
        bench(*flags, "--resume")
    other = tmp_path / "other"
    other.mkdir()
    for name in ("run.json", "results.jsonl"):
        (other / name).write_text((out / name).read_text())
    capsys.readouterr()
    assert main(["bench", "--pool", str(out), str(other), "--out", str(tmp_path / "pooled")]) == 2
    assert "k x tokens per draw" in capsys.readouterr().err
    # What the message says to do: a new run from the sample records: mcts is re-run.
    status, _, rerun = bench(*flags, "--sample-records-from", out, out="again")
    assert status == 0
    assert {k: strip_timings(r) for k, r in by_key(rerun).items()} == \
        {k: strip_timings(r) for k, r in by_key(records).items()}


# -- scale-out --------------------------------------------------------------------------------
def test_two_worker_processes_give_the_same_records_as_one(bench):
    _, _, one = bench(*STUDY, out="one")
    _, _, two = bench(*STUDY[:-1], "2", out="two")
    assert {k: strip_timings(r) for k, r in by_key(one).items()} == {k: strip_timings(r) for k, r in by_key(two).items()}


# -- contamination ----------------------------------------------------------------------------
def test_contaminated_problems_are_refused_or_marked_and_excluded(bench, tmp_path):
    model = tmp_path / "finetuned"
    model.mkdir()
    write_provenance(model / MODEL_FILE, ["toy/b", "HumanEval/0"])
    flags = ("--strategies", "sample", "--budgets", "1,2", "--n", "2", "--workers", "1", "--model", model)
    with pytest.raises(UsageError, match="--allow-contaminated") as refused:
        bench(*flags)
    assert "toy/b" in str(refused.value) and "HumanEval/0" not in str(refused.value)
    status, out, records = bench(*flags, "--allow-contaminated", out="marked")
    assert status == 0
    assert {r["problem_id"] for r in records if r["contaminated"]} == {"toy/b"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["contaminated_excluded"] == ["toy/b"] and summary["problems"] == 2
    assert all(row["problems"] == 2 for row in summary["strategies"]["sample"]["budgets"])
    task_ids = {json.loads(line)["task_id"] for line in (out / "samples.jsonl").read_text().splitlines()}
    assert task_ids == {"toy/a", "toy/c"}


# -- summary ----------------------------------------------------------------------------------
def test_summary_figures_follow_from_the_records_and_rebuild(bench):
    status, out, records = bench("--strategies", "sample,mcts", "--budgets", "1,5", "--n", "5", "--workers", "1")
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    for strategy in ("sample", "mcts"):
        for row in summary["strategies"][strategy]["budgets"]:
            mine = [r for r in records if r["strategy"] == strategy and r["budget"] == row["budget"]]
            assert row["deployable_pass1"] == pytest.approx(sum(r["hidden_passed"] for r in mine) / len(mine))
            assert row["oracle_coverage"] == pytest.approx(sum(r["oracle"] for r in mine) / len(mine))
            assert row["oracle_visible_coverage"] == pytest.approx(sum(r["oracle_visible"] for r in mine) / len(mine))
            assert row["mean_tokens"] == pytest.approx(sum(r["compute"]["tokens"] for r in mine) / len(mine))
    largest = [r for r in records if r["strategy"] == "mcts" and r["budget"] == "5"]
    mcts = summary["strategies"]["mcts"]
    assert mcts["seconds_per_1k_tokens"] == pytest.approx(
        1000 * sum(r["compute"]["wall_s"] for r in largest) / sum(r["compute"]["tokens"] for r in largest))
    assert sum(a["samples"] for a in mcts["arms"].values()) == sum(r["compute"]["samples"] for r in largest)
    assert sum(a["generated_tokens"] for a in mcts["arms"].values()) == \
        sum(r["compute"]["generated_tokens"] for r in largest)
    for budget, d in summary["versus_sampling"]["mcts"].items():  # paired by problem with plain sampling
        ours = {r["problem_id"]: r["hidden_passed"] for r in records if (r["strategy"], r["budget"]) == ("mcts", budget)}
        base = {r["problem_id"]: r["hidden_passed"] for r in records if (r["strategy"], r["budget"]) == ("sample", budget)}
        assert d["problems"] == len(ours) == len(base)
        assert d["difference"] == pytest.approx(sum(ours.values()) / len(ours) - sum(base.values()) / len(base))
        assert d["only_other"] == sum(ours[i] and not base[i] for i in ours)
        assert d["ci95"][0] <= d["difference"] <= d["ci95"][1]
    solved_nodes = sum(a["solutions"] for a in mcts["arms"].values())
    assert solved_nodes >= sum(r["solved"] for r in largest)  # a solved search made a visible solution
    draws = [r["draws"] for r in records if r["strategy"] == "sample" and r["budget"] == "5"]
    pass1 = sum(sum(d["hidden_passed"] for d in ds) / len(ds) for ds in draws) / len(draws)
    assert summary["strategies"]["sample"]["pass_at_k"]["1"] == pytest.approx(pass1)
    assert set(summary["strategies"]["sample"]["pass_at_k"]) == {"1", "5"}  # k <= n only
    # what k draws cost: all n of them, exactly what `sample` spent at budget n; one of them, its
    # call's whole prompt and a mean draw's generated tokens (not a share of the prompt)
    cost = summary["strategies"]["sample"]["pass_at_k_cost"]
    sample5 = [r for r in records if r["strategy"] == "sample" and r["budget"] == "5"]
    assert cost["5"]["tokens"] == pytest.approx(sum(r["compute"]["tokens"] for r in sample5) / len(sample5))
    one = [ds[0]["tokens"] - ds[0]["generated_tokens"] + sum(d["generated_tokens"] for d in ds) / len(ds)
           for ds in draws]
    assert cost["1"]["tokens"] == pytest.approx(sum(one) / len(one))
    assert cost["1"]["tokens"] > summary["strategies"]["sample"]["per_draw"]["tokens"]  # the prompt is not shared
    assert "| tokens |" in (out / "summary.md").read_text()
    (out / "summary.json").unlink()
    (out / "coverage.png").unlink(missing_ok=True)
    assert main(["bench", "--summarize", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text()) == summary
    assert (out / "coverage.png").exists() == HAS_MATPLOTLIB
    markdown = (out / "summary.md").read_text()
    assert "| sample | 5 |" in markdown and "pass@5" in markdown and "| mcts | below_root |" in markdown
    assert "| visible solutions | near-misses |" in markdown
    # a pooled run may hold records from before hits were counted: the hit cells say how many counted
    from agent.bench.summary import render_markdown, summarize

    largest = [dict(r) for r in records if r["strategy"] == "mcts" and r["budget"] == "5"]
    largest[0]["arms"] = {arm: {k: v for k, v in c.items() if k not in ("solutions", "near_misses")}
                          for arm, c in largest[0]["arms"].items()}
    mixed = render_markdown(summarize(largest, strategies=["mcts"], budgets=["5"]))
    assert f"(over {len(largest) - 1} problems)" in mixed


@pytest.mark.parametrize("flags, needle", [
    (("--strategies", "sample,dfs"), "unknown strategy"),
    (("--strategies", "mcts", "--budgets", "1,5"), "add sample"),
    (("--budgets", "1,x"), "not a positive integer"),
    (("--n", "0"), "--n"),
    (("--problems", "toy/zz"), "toy/zz"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, flags, needle):
    suite = write_suite(tmp_path / "suite")
    status = main(["bench", str(suite), "--out", str(tmp_path / "o"), "--no-progress", *flags])
    err = capsys.readouterr().err.strip()
    assert status == 2 and needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_known_ids_are_selected_in_suite_order(bench):
    status, _, records = bench("--problems", "toy/c,toy/a", "--limit", "1", "--strategies", "sample",
                               "--budgets", "1", "--n", "1", "--workers", "1")
    assert status == 0 and {r["problem_id"] for r in records} == {"toy/a"}
    assert Program.from_text(records[0]["program"]).text == records[0]["program"]


@pytest.mark.slow
@pytest.mark.sandbox
def test_real_model_through_the_cli(tmp_path):
    """The small real model, the real lint gate and sandbox: 2 draws on one HumanEval problem."""
    from policies.loading import ModelLoadError, embedded_gguf_path

    try:
        embedded_gguf_path()
    except ModelLoadError as exc:
        pytest.skip(str(exc))
    out = tmp_path / "real"
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "bench", "humaneval", "--problems", "HumanEval/0", "--strategies",
         "sample", "--budgets", "1,2", "--n", "2", "--workers", "1", "--model", "smollm2", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = by_key(read_results(out / RESULTS))
    assert set(records) == {("HumanEval/0", "sample", "1"), ("HumanEval/0", "sample", "2")}
    largest = records[("HumanEval/0", "sample", "2")]
    assert largest["model"].startswith("smollm2") and len(largest["draws"]) == 2
    assert largest["compute"]["generated_tokens"] == sum(d["generated_tokens"] for d in largest["draws"]) > 0
    assert "| sample | 2 |" in proc.stdout and (out / "samples.jsonl").exists()
    assert json.loads((out / "run.json").read_text())["versions"]["torch"]


# -- report.html ----------------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs, self.srcs, self.ids, self.details = [], [], set(), 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "href" in attrs:
            self.hrefs.append(attrs["href"])
        if "src" in attrs:
            self.srcs.append(attrs["src"])
        if "id" in attrs:
            self.ids.add(attrs["id"])
        self.details += tag == "details"


def test_report_page_is_self_contained_and_its_links_resolve(bench):
    status, out, records = bench("--strategies", "sample,mcts", "--budgets", "1,5", "--n", "2", "--workers", "1")
    assert status == 0
    page = (out / REPORT).read_text(encoding="utf-8")
    links = _Links()
    links.feed(page)
    # one tree picture per tree-search unit, none for sample; each link opens a file beside the page
    anchors = [h for h in links.hrefs if h.startswith("#")]
    trees = [h for h in links.hrefs if not h.startswith("#")]
    assert all(a[1:] in links.ids for a in anchors)
    assert sorted(trees) == sorted(tree_name(p, "mcts") for p in HIDDEN)
    for href in trees:
        assert (out / href).is_file() and "<svg" in (out / href).read_text(encoding="utf-8"), href
    # nothing fetched from elsewhere: the plot is inline
    assert all(src.startswith("data:image/png;base64,") for src in links.srcs)
    assert len(links.srcs) == (1 if HAS_MATPLOTLIB else 0)
    # every problem x strategy at the largest budget: its returned program, ready to open
    largest = [r for r in records if r["budget"] == "5"]
    assert links.details == len(largest) == len(HIDDEN) * 2
    for record in largest:
        assert html.escape(record["program"]) in page
    assert {"summary", "plot", "problems"} <= links.ids


def test_summary_marks_and_explains_overshoot(bench):
    status, out, records = bench("--strategies", "sample,mcts", "--budgets", "1,5", "--n", "2", "--workers", "1")
    over = [r for r in records if r["budget_tokens"] is not None and r["compute"]["tokens"] > r["budget_tokens"]]
    assert over  # budget 1 is one draw's tokens: a 2-sample expansion crosses it
    summary = json.loads((out / "summary.json").read_text())
    rows = {(s, row["budget"]): row for s, e in summary["strategies"].items() for row in e["budgets"]}
    assert rows[("mcts", "1")]["overshot"] == sum(r["budget"] == "1" for r in over)
    markdown = (out / "summary.md").read_text()
    assert "| mcts | 1 † |" in markdown and "† Overshoot" in markdown


def test_summary_says_how_tree_searches_were_budgeted(bench, capsys):
    status, out, records = bench("--strategies", "sample,mcts", "--budgets", "1,5", "--n", "2", "--workers", "1")
    assert status == 0 and "the tokens `sample` spent at each budget" in (out / "summary.md").read_text()
    old = [dict(r, schema=1) for r in records]  # as written before schema 2: --summarize says so
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    assert main(["bench", "--summarize", str(out)]) == 0
    assert "mean tokens per draw (records before schema 2)" in (out / "summary.md").read_text()


def test_summary_names_each_strategys_config_when_the_records_differ_from_the_run(bench):
    status, out, records = bench("--strategies", "sample,mcts", "--budgets", "1,5", "--n", "2", "--workers", "1")
    digest = json.loads((out / "run.json").read_text())["config_hash"]
    assert status == 0 and f"config `{digest}`, budgets" in (out / "summary.md").read_text()
    # a resumed part whose tree records ran under a config with a setting added since
    mixed = [dict(r, config_hash="0123abcd4567") if r["strategy"] == "mcts" else r for r in records]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mixed))
    assert main(["bench", "--summarize", str(out)]) == 0
    markdown = (out / "summary.md").read_text()
    assert f"config `{digest}` in run.json; the records': sample `{digest}`; mcts `0123abcd4567`" in markdown
