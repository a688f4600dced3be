"""Is a program prefix already beyond repair? (Used to stop paying for doomed samples.)

A sample whose complete lines already hold a syntax error will be rejected by the lint gate
whatever it writes next, so the tokens after that error are wasted. `doomed(code)` says so for
the complete lines of `code` only when no continuation can help: an open bracket, string or
block is merely incomplete, and a name a later line may still define is not an error here.
"""

from __future__ import annotations

import codeop
import warnings


def doomed(code: str) -> bool:
    """True when the complete lines of `code` (up to its last newline) are invalid Python that
    no further lines can make valid."""
    complete = code[: code.rfind("\n") + 1]
    if not complete.strip():
        return False
    if complete.rstrip("\n").endswith("\\"):
        # a backslash continues the line on the next one; codeop calls that an error (an
        # "if a or \" line stopped a draw that went on to pass HumanEval/158's visible tests)
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarnings (invalid escapes, `is` with a literal)
        try:
            codeop.compile_command(complete, "<program>", "exec")  # None: incomplete, fine
        except SyntaxError:
            return True
        except (ValueError, OverflowError, MemoryError, RecursionError):  # odd input: let lint judge
            return False
    return False
