"""The expression-test comparison test doubles use, and report arithmetic."""

from envs.testcase import TestOutcome, TestReport, expression_passed


def test_identical_repr_passes():
    assert expression_passed("[1, 2]", " [1, 2] ")
    assert expression_passed("'abc'", "'abc'")


def test_literals_compare_structurally_without_tolerance():
    assert expression_passed("(1, 2.0)", "(1, 2)")  # 2.0 == 2, as Python says
    assert expression_passed("{'a': [1, 2]}", "{'a': [1,2]}")
    assert not expression_passed("2.1", "2.0")
    assert not expression_passed("(1, 2.0000000001)", "(1, 2.0)")
    assert not expression_passed("1.0000009", "1") and not expression_passed("-9e-07", "1e-09")


def test_types_must_agree():
    assert not expression_passed("1", "True")
    assert not expression_passed("True", "1")
    assert not expression_passed("[1, 2]", "(1, 2)")
    assert not expression_passed("'1'", "1")


def test_unparseable_actual_fails_unless_identical():
    assert not expression_passed("<object at 0x1>", "3")
    assert expression_passed("<Foo>", "<Foo>")  # doctest semantics: same text, same verdict


def test_report_fractions():
    outcomes = (TestOutcome("a", "pass"), TestOutcome("b", "fail"), TestOutcome("c", "timeout"))
    report = TestReport(outcomes)
    assert (report.passed, report.total) == (1, 3)
    assert abs(report.fraction - 1 / 3) < 1e-12
    assert not report.all_passed
    assert TestReport(()).fraction == 0.0 and not TestReport(()).all_passed
