"""The search tree: merging transpositions, paths, the best node, GraphML export."""

import networkx as nx
import pytest

from agent.search.tree import Added, EdgeInfo, SearchTree
from envs.diff import make_edit
from envs.program import Program
from envs.testcase import TestOutcome, TestReport
from envs.locations import Location

EMPTY = Program(())
X = Program(("x = 1",))
Y = Program(("y = 2",))
XY = Program(("x = 1", "y = 2"))


def edge(before, after, logprob=-1.0, at=0):
    return EdgeInfo(make_edit(before, after), Location(at, "", "test"), logprob, 3, 5)


def report(passed, total=2):
    return TestReport(tuple(TestOutcome(f"t{i}", "pass" if i < passed else "fail") for i in range(total)))


def diamond():
    """root -> x, root -> y, x -> xy, y -> xy (merged)."""
    tree = SearchTree(EMPTY, None, root_clean=True)
    tree.add_child(tree.root, X, edge(EMPTY, X))
    tree.add_child(tree.root, Y, edge(EMPTY, Y))
    assert tree.add_child(X.digest, XY, edge(X, XY, at=1)) is Added.NEW
    assert tree.add_child(Y.digest, XY, edge(Y, XY, -0.1)) is Added.MERGED
    return tree


def test_transposition_merges_keep_the_first_node_and_add_an_edge():
    tree = diamond()
    assert len(tree) == 4 and tree.merges == 1
    node = tree.node(XY.digest)
    assert node.parent == X.digest and node.depth == 2 and node.logprob == -1.0  # first arrival's data
    assert set(tree.graph.predecessors(XY.digest)) == {X.digest, Y.digest}
    assert tree.edge(Y.digest, XY.digest).logprob == -0.1  # per-edge data is kept on the edge


def test_duplicates_and_cycles_add_nothing():
    tree = diamond()
    assert tree.add_child(X.digest, XY, edge(X, XY)) is Added.DUPLICATE  # same edge again
    assert tree.add_child(XY.digest, X, edge(XY, X)) is Added.DUPLICATE  # would close a cycle
    assert tree.add_child(X.digest, X, edge(X, X)) is Added.DUPLICATE  # a no-op edit
    assert tree.duplicates == 3 and tree.graph.number_of_edges() == 4
    assert nx.is_directed_acyclic_graph(tree.graph)


def test_path_state_and_edit_path_follow_first_parents():
    tree = diamond()
    assert [n.program for n in tree.path(XY.digest)] == [EMPTY, X, XY]
    state = tree.state(XY.digest)
    assert state.program == XY and state.history == (EMPTY, X, XY)
    steps = tree.edit_path(XY.digest)
    assert [(a, b) for a, _, b in steps] == [(EMPTY, X), (X, XY)]
    assert all(e is not None for _, e, _ in steps)
    assert tree.state(tree.root).history == (EMPTY,)


def test_state_feedback_lists_failing_visible_tests_only_when_asked():
    tree = diamond()
    outcomes = (TestOutcome("f(1)", "pass"), TestOutcome("f(2)", "fail", "got 3, expected 4"),
                TestOutcome("f(3)", "error", "NameError: g"), TestOutcome("f(4)", "timeout"),
                TestOutcome("f(5)", "fail", "got 0, expected 1"))
    tree.set_report(X.digest, TestReport(outcomes))
    assert tree.state(X.digest).feedback == ()  # off by default
    assert tree.state(X.digest, feedback=True).feedback == (
        "f(2): got 3, expected 4", "f(3): NameError: g", "f(4): timeout")  # first three failures
    assert tree.state(Y.digest, feedback=True).feedback == ()  # not evaluated yet


def test_best_prefers_solutions_then_score_then_shallow_then_logprob():
    tree = diamond()
    tree.set_report(X.digest, report(1))
    tree.set_report(XY.digest, report(1))
    tree.set_report(Y.digest, report(0))
    assert tree.best().program == X  # same score as XY, shallower
    z = Program(("z = 3",))
    tree.add_child(tree.root, z, edge(EMPTY, z, logprob=-0.5))
    tree.set_report(z.digest, report(1))
    assert tree.best().program == z  # same score and depth as X, likelier edit
    tree.set_report(XY.digest, report(2))
    assert tree.best().program == XY and tree.best().solved



def test_best_is_a_written_program_not_the_starter_when_no_test_tells_them_apart():
    """A problem with no visible tests scores every program 0, the starter too: the search
    returns the likeliest program the policy wrote, never the stub it started from."""
    tree = diamond()
    for node in tree.nodes():
        tree.set_report(node.digest, TestReport(()))
    assert tree.node(tree.root).score == 0.0 and not tree.node(tree.root).solved
    assert tree.best().program == X  # the shallowest written program, as before among them
    tree.set_report(X.digest, report(1))
    tree.set_report(tree.root, report(2, total=3))
    assert tree.best().program == EMPTY  # a starter that scores higher still wins

def test_graphml_export_round_trips_programs_and_edits(tmp_path):
    tree = diamond()
    tree.set_report(XY.digest, report(2))
    path = tmp_path / "tree.graphml"
    tree.to_graphml(path)
    back = nx.read_graphml(path)
    assert back.number_of_nodes() == 4 and back.number_of_edges() == 4
    assert back.nodes[XY.digest]["program"] == XY.text
    assert back.nodes[XY.digest]["score"] == 1.0 and back.nodes[XY.digest]["solved"] is True
    assert "score" not in back.nodes[X.digest]  # unscored: no attribute rather than a fake value
    assert back.edges[X.digest, XY.digest]["edit"].startswith("@@ -1,0 +2 @@")
    assert back.graph["merges"] == 1


@pytest.mark.parametrize("visits, value_sum, expected", [(0, 0.0, 0.0), (4, 2.0, 0.5)])
def test_node_value_is_the_mean_backed_up_value(visits, value_sum, expected):
    tree = diamond()
    node = tree.node(X.digest)
    node.visits, node.value_sum = visits, value_sum
    assert node.value == expected


def test_failure_lines_show_the_code_of_the_line_an_exception_names():
    from agent.search.tree import failure_lines
    from envs.testcase import TestOutcome, TestReport

    program = Program.from_text("def f(xs):\n    return xs[5]\n")
    report = TestReport((TestOutcome("f([1])", "error", "IndexError: list index out of range (<program>, line 2)"),
                         TestOutcome("f([])", "error", "ValueError: bad (<program>, line 9)"),
                         TestOutcome("ok", "pass")))
    assert failure_lines(report, program=program) == (
        "f([1]): IndexError: list index out of range at `return xs[5]`", "f([]): ValueError: bad at line 9")
    assert failure_lines(report)[0].endswith("(<program>, line 2)")  # no program: left as reported
