"""`agent export`: real `agent solve` run folders (scripted policy, toy lint gate, in-process
sandbox) -> edit-sequence training data and its provenance record."""

import json
import shutil

import pytest
from fakes import InProcessSandbox
from scripted import DEF_TOTAL, SOLUTION, ToyLintGate, add_policy

from agent.cli import build_parser, main
from agent.training.provenance import data_provenance_path, read_provenance
from agent.cli.solve import run_solve
from envs.diff import apply_text
from envs.program import Program
from policies.formats.edit_sequence import DIFF_TOKEN

PROMPT = "Write add(a, b) that returns a + b."
VISIBLE = ["assert add(1, 2) == 3", {"code": "add(0, 0)", "expected": "0"}]
ADD = {"id": "toy/add", "prompt": PROMPT, "entry_point": "add", "tests": VISIBLE,
       "hidden_tests": ["assert add(2, 2) == 4"]}
PROBLEMS = {  # run folder name -> (problem record, extra solve flags); runs are in this order
    "hidden-ok": (ADD, []),
    "hidden-ok-again": (ADD, []),  # a second run of the same problem: the same example
    "hidden-bad": ({"id": "toy/add-wrong-hidden", "prompt": "Add, checked wrongly.", "entry_point": "add",
                    "tests": VISIBLE, "hidden_tests": ["assert add(2, 2) == 5"]}, []),
    "no-hidden": ({"id": "toy/add-open", "prompt": "Add, unchecked.", "entry_point": "add", "tests": VISIBLE}, []),
    "starter": ({"id": "toy/add-starter", "prompt": DEF_TOTAL, "entry_point": "add", "tests": VISIBLE,
                 "starter_code": DEF_TOTAL, "hidden_tests": ["assert add(5, 5) == 10"]}, []),
    "unsolved": ({"id": "toy/add-impossible", "prompt": "Add, impossibly.", "entry_point": "add",
                  "tests": ["assert add(1, 1) == 3"]}, ["--budget-samples", "12"]),
}
SOLVED_IDS = {"toy/add", "toy/add-wrong-hidden", "toy/add-open", "toy/add-starter"}


def solve_into(root, name, record, flags):
    problem = root / f"{name}.json"
    problem.write_text(json.dumps(record))
    args = build_parser().parse_args(["solve", str(problem), "--out", str(root / "runs" / name), "--no-progress",
                                      *flags])
    run_solve(args, policy_factory=lambda config: add_policy(), sandbox_factory=lambda config: InProcessSandbox(),
              lint_factory=lambda config: ToyLintGate())
    return problem


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A folder of six run folders, and a folder of their problem files (for --problems)."""
    root = tmp_path_factory.mktemp("export")
    (root / "problems").mkdir()
    for name, (record, flags) in PROBLEMS.items():
        solve_into(root, name, record, flags)
        (root / "problems" / f"{record['id'].replace('/', '_')}.json").write_text(json.dumps(record))
    return root


def export(capsys, *args):
    status = main(["export", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def replay_from_empty(edits):
    program = Program(())
    for diff in edits:
        applied = apply_text(program, diff)
        assert applied.program is not None, applied.status
        program = applied.program
    return program


def test_solved_runs_become_edit_sequences_that_rebuild_the_solution(runs, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    status, printed = export(capsys, runs / "runs", "--out", out, "--problems", runs / "problems")
    assert status == 0
    examples = read_jsonl(out)
    assert sorted(e["problem_id"] for e in examples) == sorted(SOLVED_IDS)  # nothing from the unsolved run
    for e in examples:
        run = runs / "runs" / next(n for n, (r, _) in PROBLEMS.items() if r["id"] == e["problem_id"])
        assert e["program"] == (run / "solution.py").read_text()
        assert replay_from_empty(e["edits"]).text == e["program"]
        assert e["origin"] == "rollout" and e["run"] == str(run)
        assert e["instruction"] == PROBLEMS[run.name][0]["prompt"].rstrip()
        assert not any(DIFF_TOKEN in d for d in e["edits"])
    assert "runs read 6, solved 5, kept 5" in printed
    assert "examples written 4 (4 rollout, 0 lintseq; 1 duplicates dropped) from 4 problems" in printed


def test_a_starter_root_is_written_as_the_first_diff_from_the_empty_program(runs, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    export(capsys, runs / "runs" / "starter", "--out", out, "--problems", runs / "problems")
    [e] = read_jsonl(out)
    assert replay_from_empty(e["edits"][:1]) == Program.from_text(DEF_TOTAL)  # the starter itself
    assert len(e["edits"]) == 2 and e["program"] == SOLUTION


def test_require_hidden_keeps_only_solutions_that_pass_hidden_tests(runs, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    status, printed = export(capsys, runs / "runs", "--out", out, "--problems", runs / "problems",
                             "--require", "hidden")
    assert status == 0
    assert {e["problem_id"] for e in read_jsonl(out)} == {"toy/add", "toy/add-starter"}
    assert all(e["hidden_passed"] is True for e in read_jsonl(out))
    assert "kept 3" in printed and "1 hidden tests failed" in printed and "1 no hidden tests" in printed


def test_provenance_names_the_problems_and_runs_the_data_came_from(runs, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    export(capsys, runs / "runs", "--out", out, "--problems", runs / "problems", "--require", "hidden")
    assert read_provenance(data_provenance_path(out)) == {"toy/add", "toy/add-starter"}
    record = json.loads(data_provenance_path(out).read_text())
    assert record["sources"] == sorted(str(runs / "runs" / n) for n in ("hidden-ok", "hidden-ok-again", "starter"))


def test_nothing_kept_exits_1_and_still_writes_an_empty_file_with_provenance(runs, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    status, printed = export(capsys, runs / "runs" / "unsolved", "--out", out, "--problems", runs / "problems")
    assert status == 1 and out.read_text() == "" and read_provenance(data_provenance_path(out)) == frozenset()
    assert "examples written 0" in printed


@pytest.mark.parametrize("bad", ["missing", "empty-dir", "problems-dir"])
def test_a_path_that_is_not_a_run_folder_exits_2(runs, tmp_path, capsys, bad):
    path = {"missing": tmp_path / "nope", "empty-dir": tmp_path, "problems-dir": runs / "problems"}[bad]
    status, printed = export(capsys, path, "--out", tmp_path / "train.jsonl", "--problems", runs / "problems")
    assert status == 2 and "is not a run folder" in printed and "Traceback" not in printed
    assert not (tmp_path / "train.jsonl").exists()


def test_without_a_recorded_prompt_or_problems_it_exits_2_naming_the_flag(runs, tmp_path, capsys):
    old_run = tmp_path / "old-run"  # a run written before result.json recorded its problem
    shutil.copytree(runs / "runs" / "hidden-ok", old_run)
    result = json.loads((old_run / "result.json").read_text())
    del result["problem"]
    (old_run / "result.json").write_text(json.dumps(result))
    status, printed = export(capsys, old_run, "--out", tmp_path / "train.jsonl")
    assert status == 2 and "--problems" in printed


def test_a_run_recording_its_problem_needs_no_problems_flag(tmp_path, capsys):
    record, flags = PROBLEMS["hidden-ok"]
    solve_into(tmp_path, "recorded", record, flags)
    path = tmp_path / "recorded.json"  # where solve_into writes the problem
    result = json.loads((tmp_path / "runs" / "recorded" / "result.json").read_text())
    assert result["problem"] == {"id": "toy/add", "prompt": PROMPT, "entry_point": "add", "source": str(path)}
    assert "2, 2" not in json.dumps(result["problem"])  # never the hidden tests
    status, _ = export(capsys, tmp_path / "runs", "--out", tmp_path / "train.jsonl")
    assert status == 0 and read_jsonl(tmp_path / "train.jsonl")[0]["instruction"] == PROMPT


def test_a_run_named_twice_is_read_once(runs, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    status, printed = export(capsys, runs / "runs" / "hidden-ok", runs / "runs", "--out", out,
                             "--problems", runs / "problems")
    assert status == 0 and "runs read 6" in printed and len(read_jsonl(out)) == 4


def test_lintseq_samples_are_extra_edit_sequences_of_the_solution(runs, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    status, printed = export(capsys, runs / "runs" / "hidden-ok", "--out", out, "--problems", runs / "problems",
                             "--lintseq-samples", "3")
    examples = read_jsonl(out)
    sampled = [e for e in examples if e["origin"] == "lintseq"]
    assert status == 0 and 1 <= len(sampled) <= 3
    for e in sampled:
        assert replay_from_empty(e["edits"]).text == SOLUTION
    keys = [(e["instruction"], tuple(e["edits"])) for e in examples]
    assert len(keys) == len(set(keys))  # identical samples are written once
    dropped = int(printed.split(" duplicates dropped")[0].rsplit(" ", 1)[-1])
    assert len(examples) + dropped == 1 + 3


def test_a_starter_diff_is_marked_as_prompt_and_lintseq_samples_start_from_it(runs, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    export(capsys, runs / "runs" / "starter", runs / "runs" / "hidden-ok", "--out", out,
           "--problems", runs / "problems", "--lintseq-samples", "3")
    examples = read_jsonl(out)
    with_starter = [e for e in examples if e["problem_id"] == "toy/add-starter"]
    assert {e["prompt_edits"] for e in with_starter} == {1}
    assert {e["prompt_edits"] for e in examples if e["problem_id"] == "toy/add"} == {0}
    for e in with_starter:  # every sample keeps the starter: it is the first diff, then the body
        assert replay_from_empty(e["edits"][:1]) == Program.from_text(DEF_TOTAL)
        assert replay_from_empty(e["edits"]).text == SOLUTION


def write_bench_folder(folder, records):
    """What `agent bench` writes that export reads: results.jsonl and problems.jsonl."""
    folder.mkdir()
    problem = {"task_id": "toy/he", "prompt": DEF_TOTAL, "entry_point": "add",
               "canonical_solution": "    return a + b\n", "test": "def check(f):\n    assert f(1, 2) == 3\n"}
    (folder / "problems.jsonl").write_text(json.dumps(problem) + "\n")
    (folder / "run.json").write_text(json.dumps({"suite": "toy"}))
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_a_bench_folder_gives_one_example_per_distinct_solved_program(tmp_path, capsys):
    wrong = DEF_TOTAL + "    return a - b\n"
    base = {"problem_id": "toy/he", "strategy": "rex", "model": "m", "node": None}
    bench = write_bench_folder(tmp_path / "bench", [
        {**base, "budget": "1", "solved": False, "hidden_passed": False, "program": wrong},
        {**base, "budget": "5", "solved": True, "hidden_passed": True, "program": SOLUTION},
        {**base, "budget": "10", "solved": True, "hidden_passed": True, "program": SOLUTION},  # the same program
    ])
    out = tmp_path / "train.jsonl"
    status, printed = export(capsys, bench, "--out", out)
    assert status == 0 and "runs read 2, solved 1, kept 1" in printed
    [e] = read_jsonl(out)
    assert e["problem_id"] == "toy/he" and e["prompt_edits"] == 1 and e["instruction"] == DEF_TOTAL.rstrip()
    assert replay_from_empty(e["edits"]).text == SOLUTION
    assert read_provenance(data_provenance_path(out)) == {"toy/he"}


def test_a_bench_folder_without_problems_jsonl_takes_them_from_problems(tmp_path, capsys):
    bench = write_bench_folder(tmp_path / "bench", [{"problem_id": "toy/he", "solved": True, "program": SOLUTION}])
    suite = tmp_path / "suite.jsonl"
    (bench / "problems.jsonl").rename(suite)
    status, printed = export(capsys, bench, "--out", tmp_path / "train.jsonl")
    assert status == 2 and "cannot read its problems" in printed and "--problems" in printed
    status, printed = export(capsys, bench, "--out", tmp_path / "train.jsonl", "--problems", suite)
    assert status == 0 and "kept 1" in printed


def test_a_bench_record_for_an_unknown_problem_exits_2(tmp_path, capsys):
    bench = write_bench_folder(tmp_path / "bench", [{"problem_id": "toy/other", "solved": True, "program": SOLUTION}])
    status, printed = export(capsys, bench, "--out", tmp_path / "train.jsonl")
    assert status == 2 and "results.jsonl:1" in printed
