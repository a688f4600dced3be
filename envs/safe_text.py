"""Text from untrusted places (a program's exception messages, a problem file's test names)
made safe to print on one line: control characters and lone surrogates are escaped, so a
program cannot print a fake "PASS" line into a report or crash the printing with an
unencodable character."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def one_line(text: str) -> str:
    """`text` with every control character, line separator and lone surrogate escaped."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii")
                       if not "\ud800" <= m.group() <= "\udfff" else f"\\u{ord(m.group()):04x}", text)
