"""What `agent solve` and `agent bench` show while they run, without a terminal (pytest's stderr
is not one): one line per expansion / finished unit, and the phase the search is in."""

import re
from types import SimpleNamespace

from agent.bench.progress import BenchProgress
from agent.output.progress import ProgressDisplay
from agent.search.budget import Budget
from policies.base import Policy

ELAPSED = re.compile(r"^\[\s*\d+\.\ds\] ")


class FakeTree:
    def __init__(self) -> None:
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def node(self, digest):
        return SimpleNamespace(score=0.5)


class FakePolicy(Policy):
    name = "fake"

    def __init__(self, display) -> None:
        self.display, self.phases = display, []

    def propose(self, problem, state, locations, n, *, seed=None):
        self.phases.append(self.display.progress.tasks[0].fields["phase"])
        return "batch"


def test_without_a_terminal_each_expansion_is_one_line_with_elapsed_time_and_phases_are_named(capsys):
    display = ProgressDisplay("p [best-first]", Budget(tokens=1000), enabled=True)
    policy = FakePolicy(display)
    watched, lint, evaluate = display.watch(policy, lambda program, parent: "lint", lambda program: "report")
    tree, stats = FakeTree(), SimpleNamespace(samples=8, tokens=300, generated_tokens=200, flops=0.0, wall_s=1.0)
    with display:
        display.line("loading model fake")
        for expansion in range(2):
            assert watched.propose("problem", "state", [None, None], 4, seed=expansion) == "batch"
            assert watched.name == "fake"  # everything but the generating calls passes through
            assert lint("program", None) == "lint"
            assert display.progress.tasks[0].fields["phase"] == "linting"
            assert evaluate("program") == "report"
            assert display.progress.tasks[0].fields["phase"] == "testing"
            tree.count += 3
            display(tree, "digest", stats)
            display.on_batch(tree, None, stats)
        watched.propose("problem", "state", [None], 1)  # a call the policy refused: no on_batch, no line
    assert policy.phases == ["generating 8 samples", "generating 8 samples", "generating 1 sample"]
    lines = capsys.readouterr().err.splitlines()
    assert all(ELAPSED.match(line) for line in lines), lines
    assert "loading model fake" in lines[0]
    expansions = [line for line in lines if "expansion" in line]
    assert len(expansions) == 2
    assert "expansion 1: 8 samples generated" in expansions[0] and "3 new nodes" in expansions[0]
    assert "expansion 2:" in expansions[1] and "6 nodes" in expansions[1] and "300/1,000 tokens" in expansions[1]
    assert display.progress.tasks[0].fields["phase"] == "done"  # the live line does not freeze at "testing"
    assert display.progress.tasks[0].fields["phase_t0"] is None  # and its clock stopped


def test_counters_move_after_a_call_that_made_no_node(capsys):
    """An expansion whose samples were all rejected adds no node: the counters still show them."""
    display = ProgressDisplay("p [rex]", Budget(tokens=6000), enabled=True)
    watched, _, _ = display.watch(FakePolicy(display), None, None)
    tree = FakeTree()
    tree.count = 1
    with display:
        display(tree, "root", SimpleNamespace(samples=0, tokens=0, generated_tokens=0, flops=0.0, wall_s=0.0))
        for calls in (1, 2):
            watched.propose("problem", "state", [None], 8)
            display.on_batch(tree, None, SimpleNamespace(samples=8 * calls, tokens=700 * calls, generated_tokens=0,
                                                         flops=0.0, wall_s=1.0))
    lines = [line for line in capsys.readouterr().err.splitlines() if "expansion" in line]
    assert "0 new nodes" in lines[0] and "1 node · 8 samples · 700/6,000 tokens" in lines[0]
    assert "1 node · 16 samples · 1,400/6,000 tokens" in lines[1]


def test_no_progress_prints_nothing(capsys):
    display = ProgressDisplay("p", Budget(samples=4), enabled=False)
    watched, _, _ = display.watch(FakePolicy(display), None, None)
    with display:
        watched.propose("problem", "state", [None], 4)
    assert capsys.readouterr().err == ""


def test_bench_counts_units_and_problems_solved_apart(capsys):
    progress = BenchProgress(4, ["sample", "mcts"], enabled=True)
    with progress:
        progress.unit_done("P/0", "sample", {"hidden_passed": True})
        progress.unit_done("P/0", "mcts", {"hidden_passed": False})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert re.match(r"^\[\d+:\d\d:\d\d\] unit 1/4 done: P/0 sample: hidden passed; "
                    r"problems solved: sample 1/1, mcts 0/0; ETA ", lines[0]), lines[0]
    assert "unit 2/4 done: P/0 mcts: hidden failed; problems solved: sample 1/1, mcts 0/1" in lines[1]
