"""`agent solve` end to end with a scripted policy, the real lint gate and the real sandbox.

The policy is `ScriptedPolicy` injected through `run_solve(policy_factory=...)`; the sandbox
is one bubblewrap pool shared by the module, wrapped per test in `RecordingSandbox`, which
logs the test names of every execution (the tripwire for hidden tests). Skipped only when
bubblewrap cannot run here.
"""

import json
import subprocess
import sys
from sandboxes import make_or_skip
from pathlib import Path

import networkx as nx
import pytest
from scripted import ADD_PROGRAMS, ADD_SCRIPT, Candidate, ScriptedPolicy, add_policy, endless_candidates

from agent.cli import UsageError, build_parser, main
from agent.output.picture import LABEL_CHARS, edge_label, layout, render_html, score_colour
from agent.output.report import OUTPUT_FILES, strip_timings
from agent.search.rollouts import read_rollouts, replay
from agent.cli.solve import EXIT_INTERRUPTED, run_solve
from agent.search.strategies import STRATEGIES
from agent.search.tree import EdgeInfo, SearchTree
from envs.diff import make_edit
from envs.program import Program
from policies.base import Policy

ROOT = Path(__file__).resolve().parents[2]
VISIBLE = [{"code": "add(1, 2)", "expected": "3"}, {"code": "add(0, 0)", "expected": "0"},
           "assert add(-1, 5) == 4"]
CONTRADICTING = [{"code": "add(2, 2)", "expected": "5"}, "assert add(10, 1) == 9"]  # no a + b passes these


@pytest.fixture(scope="module")
def shared_sandbox():
    sandbox = make_or_skip("bwrap", workers=1)
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="module")
def lint_check():
    from envs.lint import LintGate

    return LintGate().check  # one gate for the module: pylint's start-up is paid once


class RecordingSandbox:
    """The real sandbox, logging ("sandbox", test names) for each run into a shared event log."""

    def __init__(self, sandbox, events):
        self.sandbox, self.events, self.closed = sandbox, events, 0

    def run(self, program, tests, timeout_s=None):
        self.events.append(("sandbox", tuple(t.name for t in tests)))
        return self.sandbox.run(program, tests, timeout_s)

    def close(self):  # the module's pool outlives each test
        self.closed += 1


class LoggingPolicy(Policy):
    """Wraps a policy: logs each call; raises KeyboardInterrupt at call `interrupt_at` (1-based)."""

    def __init__(self, policy, events, interrupt_at=None):
        self.policy, self.events, self.interrupt_at, self.name = policy, events, interrupt_at, policy.name

    def _call(self, method, *args, **kwargs):
        self.events.append(("policy", method))
        if self.interrupt_at is not None and sum(e[0] == "policy" for e in self.events) >= self.interrupt_at:
            raise KeyboardInterrupt
        return getattr(self.policy, method)(*args, **kwargs)

    def propose(self, *args, **kwargs):
        return self._call("propose", *args, **kwargs)

    def sample_programs(self, *args, **kwargs):
        return self._call("sample_programs", *args, **kwargs)


def write_problem(tmp_path, hidden=CONTRADICTING, name="add.json"):
    path = tmp_path / name
    path.write_text(json.dumps({
        "id": "toy/add", "prompt": "Write add(a, b) that returns a + b.", "entry_point": "add",
        "tests": VISIBLE, "hidden_tests": hidden,
    }))
    return path


@pytest.fixture
def solve(tmp_path, shared_sandbox, lint_check):
    """solve(*flags, policy=..., interrupt_at=None) -> (exit status, out dir, events)."""

    def run(*flags, policy=None, problem=None, out="out", interrupt_at=None):
        events = []
        args = build_parser().parse_args(
            ["solve", str(problem or write_problem(tmp_path)), "--out", str(tmp_path / out), "--no-progress", *flags])
        wrapped = LoggingPolicy(policy or add_policy(), events, interrupt_at)
        status = run_solve(args, policy_factory=lambda config: wrapped,
                           sandbox_factory=lambda config: RecordingSandbox(shared_sandbox, events),
                           lint_factory=lambda config: lint_check)
        return status, tmp_path / out, events

    return run


def result_of(out):
    return json.loads((out / "result.json").read_text())


@pytest.mark.sandbox
def test_search_never_runs_hidden_tests_and_hidden_run_once_after(solve, capsys):
    status, out, events = solve("--strategy", "best-first", "--budget-samples", "40")
    result = result_of(out)
    assert status == 0 and result["solved"] is True and result["hidden_passed"] is False
    assert result["hidden"]["passed"] == 0 and result["visible"]["passed"] == 3
    hidden_names = {"add(2, 2)", "assert add(10, 1) == 9"}
    runs = [names for kind, names in events if kind == "sandbox"]
    with_hidden = [i for i, names in enumerate(runs) if hidden_names & set(names)]
    assert with_hidden == [len(runs) - 1]  # exactly one run saw hidden tests: the last one
    assert set(runs[-1]) == hidden_names  # and it ran only those
    last_policy = max(i for i, e in enumerate(events) if e[0] == "policy")
    assert events.index(("sandbox", runs[-1])) > last_policy  # after the search's last policy call
    assert len(runs) - 1 == result["evaluations"]  # one visible run per distinct behaviour ...
    assert result["evaluations"] + result["evaluations_reused"] == result["nodes"]  # ... and every node scored
    captured = capsys.readouterr()
    assert captured.out == result["program"] == "def add(a, b):\n    total = a + b\n    return total\n"
    summary = captured.err.splitlines()[-2]
    assert summary.startswith("toy/add: SOLVED: the program passes 3 of 3 visible tests, 0 of 2 hidden tests · "
                              "best-first search with scripted: "), summary
    assert f"{result['nodes']} nodes" in summary and "s of search + " in summary and "loading the model" in summary


@pytest.mark.sandbox
def test_no_hidden_tests_gives_null_and_no_extra_run(solve, tmp_path):
    status, out, events = solve(problem=write_problem(tmp_path, hidden=[], name="open.json"))
    assert status == 0 and result_of(out)["hidden_passed"] is None and result_of(out)["hidden"] is None
    assert sum(kind == "sandbox" for kind, _ in events) == result_of(out)["nodes"]  # visible runs only


@pytest.mark.sandbox
def test_all_output_files_exist_and_parse(solve):
    status, out, _ = solve("--strategy", "mcts", "--seed", "3")
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    result = result_of(out)
    for key in ("solved", "hidden_passed", "strategy", "model", "seed", "compute", "nodes", "lint_rejected",
                "parse_failures", "config", "config_hash", "stop_reason", "program"):
        assert key in result, key
    assert result["strategy"] == "mcts" and result["seed"] == 3 and result["config"]["search"]["seed"] == 3
    assert "bench" not in result["config"]  # a solve records the sections a search reads
    assert result["model"] == "scripted" and result["stop_reason"] == "solved"
    for key in ("samples", "prompt_tokens", "generated_tokens", "flops", "wall_s", "generate_s", "lint_s", "sandbox_s"):
        assert result["compute"][key] >= 0, key
    assert result["lint_rejected"] >= 1 and result["parse_failures"] >= 1  # the script has both kinds
    graph = nx.read_graphml(out / "tree.graphml")
    assert graph.number_of_nodes() == result["nodes"] and result["node"] in graph
    records = list(read_rollouts(out / "rollouts.jsonl"))
    assert len(records) == result["nodes"] and {r["node"] for r in records} == set(graph.nodes)
    assert all(replay(r)[-1].text == r["program"] for r in records)
    assert (out / "solution.py").read_text() == result["program"]
    page = (out / "tree.html").read_text()
    assert page.count('class="node"') == result["nodes"] and "<svg" in page
    assert "src=" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.sandbox
def test_same_seed_gives_the_same_result(solve):
    policy = lambda: ScriptedPolicy(ADD_SCRIPT, programs=ADD_PROGRAMS, sample=True)  # seeded draws
    runs = [solve("--strategy", "mcts", "--seed", "7", policy=policy(), out=f"run{i}") for i in range(2)]
    first, second = (strip_timings(result_of(out)) for _, out, _ in runs)
    assert first == second
    rollouts = [[strip_timings(r) for r in read_rollouts(out / "rollouts.jsonl")] for _, out, _ in runs]
    assert rollouts[0] == rollouts[1]


@pytest.mark.sandbox
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("flag, limit", [("--budget-samples", 4), ("--budget-tokens", 80)])
def test_every_strategy_respects_the_budget(solve, strategy, flag, limit):
    policy = ScriptedPolicy({}, programs=[Candidate((f"w = {i}",), -1.0) for i in range(3)],
                            default=endless_candidates)  # never solves, never runs out
    status, out, events = solve("--strategy", strategy, flag, str(limit), policy=policy)
    result = result_of(out)
    assert status == 1 and not result["solved"] and result["stop_reason"] == "budget"
    if flag == "--budget-samples":
        assert result["budget"] == {"samples": 4} and result["compute"]["samples"] == 4
    else:  # the config's sample budget is replaced, and the token budget is crossed by the last call only
        assert result["budget"] == {"tokens": 80} and result["compute"]["tokens"] >= 80
        spent_before_last = result["compute"]["tokens"] - _last_call_tokens(policy)
        assert spent_before_last < 80


def _last_call_tokens(policy):
    batch = policy.batches[-1]
    return batch.prompt_tokens_encoded + batch.generated_tokens


@pytest.mark.sandbox
def test_ctrl_c_from_the_policy_still_writes_the_files(solve):
    status, out, events = solve("--strategy", "best-first", interrupt_at=2)
    result = result_of(out)
    assert status == EXIT_INTERRUPTED and result["stop_reason"] == "interrupted" and not result["solved"]
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    assert result["nodes"] >= 2  # the first expansion's children were kept
    assert len(list(read_rollouts(out / "rollouts.jsonl"))) == result["nodes"]


@pytest.mark.sandbox
def test_ctrl_c_while_loading_the_model_exits_cleanly(tmp_path, shared_sandbox, lint_check, capsys):
    def loading(config):
        raise KeyboardInterrupt

    args = build_parser().parse_args(["solve", str(write_problem(tmp_path)), "--out", str(tmp_path / "o"),
                                      "--no-progress"])
    recorder = RecordingSandbox(shared_sandbox, [])
    status = run_solve(args, policy_factory=loading, sandbox_factory=lambda c: recorder,
                       lint_factory=lambda c: lint_check)
    assert status == EXIT_INTERRUPTED and recorder.closed == 1
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("extra, needle", [
    (["--strategy", "dfs"], "unknown strategy"),
    (["--budget-samples", "-1"], "must be >= 0"),
    (["--config", "missing.yaml"], "not found"),
    (["--format", "nonsense"], "unknown format"),
    (["--set", "search.rex.fresh=bogus"], "fresh must be 'free' or 'cut'"),
    (["--set", "search.rex.arms_per_call=4"], "also set search.rex.fresh=cut"),
    (["--budget-tokens", "0"], "--budget-tokens (search.budget_tokens) must be positive, got 0"),
    (["--model", "nosuchmodel"], "'nosuchmodel' is not in the local Hugging Face cache"),
    (["--model", "no/such/dir"], "no such model file or directory: 'no/such/dir'"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch, extra, needle):
    # All caught before a sandbox starts or a model loads: no run folder is made. The hub is
    # off, as on a machine without network (with one, a hub id is only known missing later).
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    status = main(["solve", str(write_problem(tmp_path)), "--out", str(tmp_path / "o"), "--no-progress", *extra])
    err = capsys.readouterr().err.strip()
    assert status == 2 and needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_an_entry_point_the_starter_does_not_define_is_refused_before_the_search(tmp_path, capsys):
    problem = tmp_path / "mismatch.json"
    problem.write_text(json.dumps({"id": "toy/mismatch", "prompt": "Write add(a, b).", "entry_point": "add",
                                   "starter_code": "def plus(a, b):\n    pass\n", "tests": VISIBLE}))
    assert main(["solve", str(problem), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'add' is not defined by starter_code, which defines plus" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_list_of_problems_points_to_agent_bench(tmp_path, capsys):
    problems = tmp_path / "two.json"
    problems.write_text(json.dumps([json.loads(write_problem(tmp_path).read_text())] * 2))
    assert main(["solve", str(problems), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "got a list of 2 problems" in err and f"agent bench {problems}" in err and "load_problems" not in err


@pytest.mark.sandbox
def test_a_run_that_fails_before_its_search_leaves_no_folder(tmp_path, shared_sandbox, lint_check, capsys):
    from agent.wiring import WiringError

    def unloadable(config):
        raise WiringError("cannot load 'broken': no weights")

    args = build_parser().parse_args(["solve", str(write_problem(tmp_path)), "--out", str(tmp_path / "o"),
                                      "--no-progress"])
    with pytest.raises(UsageError, match="no weights"):
        run_solve(args, policy_factory=unloadable, sandbox_factory=lambda c: RecordingSandbox(shared_sandbox, []),
                  lint_factory=lambda c: lint_check)
    assert not (tmp_path / "o").exists()


@pytest.mark.sandbox
def test_unsolved_runs_print_no_program_and_say_where_the_best_one_is(solve, capsys):
    policy = ScriptedPolicy({}, programs=[Candidate(("def add(a, b):", "    return a - b"), -1.0)])
    status, out, _ = solve("--strategy", "sample", "--budget-samples", "2", policy=policy)
    captured = capsys.readouterr()
    assert status == 1 and captured.out == ""  # stdout holds a program only when it solves
    note, summary = captured.err.splitlines()[-3:-1]
    assert note == f"no program passed every visible test; the best one passes 1 of 3 and is in {out / 'solution.py'} (not printed)"
    assert summary.startswith("toy/add: not solved (budget spent): the best program passes 1 of 3 visible tests")
    assert (out / "solution.py").read_text() == "def add(a, b):\n    return a - b\n"


@pytest.mark.sandbox
def test_a_problem_without_visible_tests_is_said_and_returns_a_written_program(solve, tmp_path, capsys):
    """A HumanEval record whose docstring shows no example call has no visible tests: the run
    says so, spends its budget and returns the likeliest program, not the starter."""
    problem = tmp_path / "no_examples.json"
    problem.write_text(json.dumps({
        "task_id": "toy/no_examples", "entry_point": "add",
        "prompt": 'def add(a, b):\n    """Return the sum of a and b."""\n',
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"}))
    policy = ScriptedPolicy({}, programs=[Candidate(("def add(a, b):", "    return a + b"), -1.0)])
    status, out, _ = solve("--strategy", "sample", "--budget-samples", "2", policy=policy, problem=problem)
    err = capsys.readouterr().err
    assert status == 1 and "toy/no_examples has no visible tests" in err
    assert (out / "solution.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert result_of(out)["hidden_passed"] is True


@pytest.mark.sandbox
def test_the_terminal_hears_about_a_model_conversion_and_what_the_policy_name_means(tmp_path, shared_sandbox,
                                                                                     lint_check, capsys):
    import logging

    def converting(config):  # as policies.loading says it on a model's first use
        logging.getLogger("policies.loading").info("converting model.gguf to the cache (once; about 15-30 s)")
        return add_policy()

    args = build_parser().parse_args(["solve", str(write_problem(tmp_path)), "--out", str(tmp_path / "o")])
    assert run_solve(args, policy_factory=converting, sandbox_factory=lambda c: RecordingSandbox(shared_sandbox, []),
                     lint_factory=lambda c: lint_check) == 0
    err = capsys.readouterr().err
    assert "converting model.gguf to the cache (once; about 15-30 s)" in err  # not only in agent.log
    assert "budget 6,000 tokens" in err and "{" not in err.splitlines()[0]
    assert "the policy is scripted (model:format)" in err


def test_missing_problem_and_unusable_out_dir_exit_2(tmp_path, capsys):
    assert main(["solve", str(tmp_path / "nope.json"), "--no-progress"]) == 2
    assert "nope.json" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["solve", str(write_problem(tmp_path)), "--out", str(blocker / "sub"), "--no-progress"]) == 2
    assert "output folder" in capsys.readouterr().err


def test_cli_subprocess_bad_problem_one_line_no_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "solve", str(bad)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""


def test_picture_layout_keeps_subtrees_apart():
    tree = SearchTree(Program(()), None, root_clean=True)
    a, b = Program(("a = 1",)), Program(("b = 2",))
    tree.add_child(tree.root, a, EdgeInfo(None, None))
    tree.add_child(tree.root, b, EdgeInfo(None, None))
    tree.add_child(a.digest, Program(("a = 1", "c = 3")), EdgeInfo(None, None))
    tree.add_child(a.digest, Program(("a = 1", "d = 4")), EdgeInfo(None, None))
    placed = layout(tree)
    xs = sorted(p.x for p in placed.values() if p.node.depth == 2)
    assert len({p.y for p in placed.values()}) == 3 and xs[0] < xs[1]
    assert placed[a.digest].x == sum(xs) / 2  # a parent sits over its children
    assert placed[b.digest].x > xs[1]  # the sibling subtree starts right of them
    assert score_colour(0.0)[1:3] > score_colour(0.0)[3:5] and score_colour(1.0)[3:5] > score_colour(1.0)[1:3]
    edit = make_edit(Program(("a", "c")), Program(("a", "    return some_long_expression + 1", "c")))
    assert edge_label(edit).startswith("-1,0 +2 return s") and len(edge_label(edit)) == LABEL_CHARS
    assert edge_label(make_edit(Program(("a", "b")), Program(("a",)))) == "-2 +1,0 del b"
    page = render_html(tree, title="t </script>")
    assert page.count("<circle") == 5 and page.count("</script>") == 1  # the title is escaped


@pytest.mark.slow
@pytest.mark.sandbox
def test_real_model_end_to_end(tmp_path):
    """The small real model through the real CLI: one expansion of 8 samples on sum_evens."""
    from policies.loading import ModelLoadError, embedded_gguf_path

    try:
        embedded_gguf_path()  # finds the package's file without importing it (it needs `llm`)
    except ModelLoadError as exc:
        pytest.skip(str(exc))
    out = tmp_path / "real"
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "solve", str(ROOT / "examples" / "sum_evens.json"),
         "--budget-samples", "8", "--model", "smollm2", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    result = result_of(out)
    assert result["model"].startswith("smollm2") and result["compute"]["samples"] == 8
    assert result["compute"]["generated_tokens"] > 0 and result["solved"] == (proc.returncode == 0)
    assert proc.stdout == (result["program"] if result["solved"] else "")  # a program only when it solves


def _add_problem(tmp_path):
    """add(a, b) with one visible test that a * b passes too, and a hidden one it fails."""
    problem = tmp_path / "add2.json"
    problem.write_text(json.dumps({
        "id": "toy/add2", "prompt": "Write add(a, b) that returns a + b.", "entry_point": "add",
        "tests": [{"code": "add(2, 2)", "expected": "4"}], "hidden_tests": ["assert add(3, 4) == 7"]}))
    return problem


# Each passes add(2, 2) == 4; the likeliest (a * b) is the odd one out on other inputs.
THREE_VISIBLE_SOLUTIONS = (Candidate(("def add(a, b):", "    return a * b"), -0.5),
                           Candidate(("def add(a, b):", "    return a + b"), -2.0),
                           Candidate(("def add(a, b):", "    return b + a"), -2.5))


@pytest.mark.sandbox
def test_the_returned_program_is_chosen_by_agreement_before_the_hidden_run(solve, tmp_path):
    """Two of three visible solutions agree on extra inputs: the likelier odd one is not returned."""
    problem = _add_problem(tmp_path)
    programs = THREE_VISIBLE_SOLUTIONS
    status, out, events = solve("--strategy", "sample", "--budget-samples", "3", problem=problem,
                                policy=ScriptedPolicy({}, programs=programs))
    result = result_of(out)
    choice = result["selection"]
    assert status == 0 and choice["changed"] and result["hidden_passed"] is True
    assert result["program"] == "def add(a, b):\n    return a + b\n"
    assert [len(g) for g in choice["groups"]] == [2, 1] and "largest" in choice["reason"]
    assert choice["executions"] == 3 and choice["inputs"]
    runs = [names for kind, names in events if kind == "sandbox"]
    extra = [i for i, names in enumerate(runs) if all(n.startswith("extra: ") for n in names)]
    assert len(extra) == 3 and max(extra) < len(runs) - 1  # the choice ran before the hidden run ...
    assert runs[-1] == ("assert add(3, 4) == 7",)  # ... which is last, once
    assert not any("add(3, 4)" in name for names in runs[:-1] for name in names)


@pytest.mark.sandbox
def test_the_choice_can_be_switched_off(solve, tmp_path):
    problem = _add_problem(tmp_path)
    programs = (Candidate(("def add(a, b):", "    return a * b"), -0.5),
                Candidate(("def add(a, b):", "    return a + b"), -2.0))
    status, out, _ = solve("--strategy", "sample", "--budget-samples", "2", "--set", "selection.by_agreement=false",
                           problem=problem, policy=ScriptedPolicy({}, programs=programs))
    result = result_of(out)
    assert status == 0 and result["program"] == "def add(a, b):\n    return a * b\n"
    assert result["selection"]["executions"] == 0 and not result["selection"]["changed"]


@pytest.mark.sandbox
def test_keep_going_spends_the_budget_and_still_chooses_by_agreement(solve, tmp_path):
    problem = _add_problem(tmp_path)
    programs = THREE_VISIBLE_SOLUTIONS
    stopped = result_of(solve("--budget-samples", "16", problem=problem, out="stopped",
                              policy=ScriptedPolicy({}, programs=programs))[1])
    status, out, _ = solve("--budget-samples", "16", "--keep-going", problem=problem, out="kept",
                           policy=ScriptedPolicy({}, programs=programs))
    kept = result_of(out)
    assert stopped["stop_reason"] == "solved" and stopped["compute"]["samples"] < 16
    assert status == 0 and kept["stop_reason"] == "budget" and kept["compute"]["samples"] == 16
    assert kept["program"] == "def add(a, b):\n    return a + b\n" and kept["hidden_passed"] is True
    assert kept["config"]["search"]["stop_when_solved"] is False


@pytest.mark.slow
@pytest.mark.sandbox
def test_default_code_model_solves_the_readme_example(tmp_path):
    """The README's main command on the default model (installed by setup.sh; the first run
    converts it, a few minutes): it solves sum_evens, hidden tests included, within 8 samples."""
    from policies.model_files import ModelFileError, qwen_gguf_path

    try:
        qwen_gguf_path()
    except ModelFileError as exc:
        pytest.fail(f"setup.sh installs the default model: {exc}")
    out = tmp_path / "default"
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "solve", str(ROOT / "examples" / "sum_evens.json"),
         "--budget-samples", "8", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = result_of(out)
    assert result["model"].startswith("qwen-coder-0.5b:continuation:free_cut")
    assert result["solved"] and result["hidden_passed"] and proc.stdout == result["program"]
