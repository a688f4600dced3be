"""envs.syntax.doomed: only errors no later line can repair stop a sample."""

import pytest

from envs.syntax import doomed


@pytest.mark.parametrize("code", [
    "def f(x):\n    y = x +* 2\n",  # invalid expression
    "def f(x):\n    y = x)\n",  # unmatched bracket
    "def f(x):\n    y = 1\n      z = 2\n",  # unexpected indent
    "def f(x):\n    s = 'abc\n",  # unterminated string on a complete line
    "def f(x):\n    else:\n",
])
def test_errors_no_continuation_can_repair(code):
    assert doomed(code)


@pytest.mark.parametrize("code", [
    "def f(x):\n    y = x + 1\n",
    "def f(x):\n    y = (x +\n",  # open bracket: the next line may close it
    'def f(x):\n    """doc\n',  # open docstring
    "def f(x):\n    if x:\n",  # open block
    "def f(x):\n    return undefined_name\n",  # a name is not a syntax error (lint judges later)
    "def f(x):\n    if x or \\\n",  # a backslash continues the line
    "def f(x):\n    y = 1 + \\\n",
    "def f(x):\n    y = x +* 2",  # no complete line with the error yet
    "",
])
def test_incomplete_or_valid_code_goes_on(code):
    assert not doomed(code)
