"""Visible tests from the examples in a HumanEval-style docstring.

`docstring_tests(prompt, entry_point)` reads the docstring of `entry_point` in `prompt` and
turns each example whose expected value is a Python literal into an expression test
`TestCase(name=code, code="f(x)", expected="<literal text>")`. Shapes understood:

- doctest: `>>> f(x)` (with `...` continuation lines) followed by its output line(s);
  `>>> f(x) == y` with no output line; `>>> f(x) y` (a HumanEval typo for `== y`).
- prose: `f(x) == y`, `f(x) ➞ y`, `f(x) => y`, `f(x) ==> y`, `f(x) -> y`, `f(x) = y`,
  `f(x) returns y`, `f(x) should return y`, `f(x) # => y`, also mid-line (`* f(x) => y`,
  `for f(x) == y`) and calls spanning several lines. A chain `f(x) == 1 + 9 = 10` takes the
  value after the last `=`. `true`/`false` are read as `True`/`False`.
- `For a = 1, b = "x" the output should be y` (arguments by position).
- `Input: ...` / `Output: y` blocks, the input a literal or `name = value` / `name : value`.

What is skipped (on purpose, precision over recall: a wrong visible test makes a problem
unsolvable for the search): examples whose expected text is not a literal (`f(x) => x + 1`),
prose calls whose arguments are not literals (`is_happy(a)`, `fib4(n-1)`), calls of another
function name, argument counts that do not fit the signature, and prose examples that come
before the docstring's last recursive definition line (`tri(3) = tri(2) + tri(1) + tri(4)`):
those state sequence values, not return values.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

from envs.code_limits import parse_bounded
from envs.testcase import TestCase

# Separators between a call and its expected value, longest first so `==>` wins over `==`.
_SEPARATOR = re.compile(
    r"\s*(?:#\s*)?(==>|-->|=>|==|➞|->|=|returns?\b|should\s+return\b|should\s+be\b)\s*"
)
_LOWER_BOOL = re.compile(r"(true|false)(?![\w'\"])")
_FOR_LINE = re.compile(r"^For\s+(?P<args>.*?)\s*,?\s*(?:the\s+)?(?:output|result)\s+should\s+be\s+(?P<out>.*)$")
_ASSIGNMENT = re.compile(r"\s*[A-Za-z_]\w*\s*[=:]\s*")
_EXAMPLE = "a docstring example"
_MAX_EXAMPLE_CHARS = 10_000
_MAX_LINE_CHARS = 2_000
_MAX_CALL_LINES = 12  # a prose call may span this many docstring lines (`get_row([\n ...\n], 1)`)


def docstring_tests(prompt: str, entry_point: str) -> tuple[TestCase, ...]:
    """Expression tests from the examples in `entry_point`'s docstring, in docstring order.

    Returns () when the prompt has no such function, no docstring or no usable example.
    Never executes anything; duplicates (same code and expected value) are dropped. Raises
    `CodeTooComplex` for a prompt or example too large or too deeply nested to parse safely.
    """
    found = _entry_function(prompt, entry_point)
    if found is None:
        return ()
    lines, n_required, n_total = found
    examples = _Scanner(lines, entry_point, n_required, n_total).scan()
    tests: list[TestCase] = []
    seen: set[tuple[str, str]] = set()
    for code, expected in examples:
        if (code, expected) not in seen:
            seen.add((code, expected))
            tests.append(TestCase(name=code, code=code, expected=expected, entry_point=entry_point))
    return tuple(tests)


def _entry_function(prompt: str, entry_point: str) -> tuple[list[str], int, int] | None:
    """(raw docstring lines, stripped; required and total positional parameter counts)."""
    try:
        tree = parse_bounded(prompt, what="the prompt")
    except SyntaxError:
        return None
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == entry_point]
    if not functions:
        return None
    fn = functions[-1]
    # The raw source of the string, not its value: escapes like "a\nb" inside an example
    # must stay two characters, as the example's author wrote them for the reader.
    for stmt in fn.body[:3]:  # HumanEval/115 puts `import math` before its docstring
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            raw = ast.get_source_segment(prompt, stmt.value) or ""
            break
    else:
        return None
    raw = re.sub(r"^[rRuUbBfF]*('''|\"\"\"|'|\")", "", raw)
    raw = re.sub(r"('''|\"\"\"|'|\")$", "", raw)
    params = fn.args.posonlyargs + fn.args.args
    # a line longer than any example is prose or data; scanning it for literals is quadratic
    lines = [line.strip() if len(line) <= _MAX_LINE_CHARS else "" for line in raw.split("\n")]
    return lines, len(params) - len(fn.args.defaults), len(params)


def _literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def literal_prefix(text: str) -> str | None:
    """The longest prefix of `text` that is a Python literal and not glued to a following word.

    `"'No' (the name ...)"` -> `"'No'"`; `"16."` -> `"16"` (a sentence's full stop, not a
    float); `"1000, the sum"` -> `"1000"` (a trailing comma is punctuation, not a tuple).
    """
    text = text.strip()
    match = _LOWER_BOOL.match(text)
    if match:
        return match.group(1).capitalize()
    for end in range(len(text), 0, -1):
        rest = text[end:]
        if rest and (rest[0].isalnum() or rest[0] in "_'\""):
            continue
        candidate = text[:end].rstrip()
        if not candidate or candidate.endswith(","):
            continue
        if candidate.endswith(".") and candidate[:-1] and literal_prefix(candidate[:-1]) == candidate[:-1]:
            return candidate[:-1]
        if _literal(candidate) and not _has_comment(candidate):
            return candidate
    return None


def _has_comment(code: str) -> bool:
    """True if `code` (valid Python) holds a `#` comment, which literal_eval would ignore."""
    try:
        return any(t.type == tokenize.COMMENT for t in tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return True


def _matching_paren(text: str, open_index: int) -> int | None:
    """Index of the `)` closing the `(` at `open_index`, skipping string literals."""
    depth, i, quote = 0, open_index, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif text.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif ch in "'\"":
            quote = text[i : i + 3] if text[i : i + 3] in ("'''", '"""') else ch
            i += len(quote) - 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i if ch == ")" else None
        i += 1
    return None


# Sentinel: the text after a call holds no expectation (it is empty or a plain comment).
_NOTHING = object()


def _expected_after(rest: str) -> str | None | object:
    """The expected literal in the text after a call, `_NOTHING`, or None (not an example)."""
    stripped = rest.strip()
    if not stripped:
        return _NOTHING
    match = _SEPARATOR.match(rest)
    if match is None:
        if stripped.startswith("#"):
            return _NOTHING
        # A bare `f(x) [1, 2]`: accept only an obvious value, never `- 1` or prose.
        if not re.match(r"\s+[\[({'\"\d]", rest):
            return None
        value = stripped
    else:
        value = rest[match.end() :]
    # `f(x) == 1 + 9 + 0 + 0 = 10`: the value is what follows the last single `=`.
    chained = list(re.finditer(r"(?<![=!<>])=(?![=>])", value))
    if chained:
        value = value[chained[-1].end() :]
    return literal_prefix(value)


class _Scanner:
    """One pass over the docstring lines, collecting (code, expected) pairs."""

    def __init__(self, lines: list[str], entry_point: str, n_required: int, n_total: int):
        self.lines = lines
        self.entry_point = entry_point
        self.n_required, self.n_total = n_required, n_total
        self.call = re.compile(rf"(?<![\w.]){re.escape(entry_point)}\s*\(")

    def scan(self) -> list[tuple[str, str]]:
        doctest: list[tuple[str, str]] = []
        prose: list[tuple[int, str, str]] = []  # (line index, code, expected)
        last_definition = -1
        i = 0
        while i < len(self.lines):
            line = self.lines[i]
            if line.startswith(">>>"):
                i = self._doctest(i, doctest)
                continue
            if re.match(r"Input\s*:", line):
                i = self._input_output(i, prose)
                continue
            for_match = _FOR_LINE.match(line)
            if for_match:
                self._for_line(i, for_match, prose)
            elif self._prose(i, prose):
                last_definition = i
            i += 1
        kept = [(code, exp) for index, code, exp in prose if index > last_definition]
        return doctest + kept

    # --- doctest blocks -------------------------------------------------------------
    def _doctest(self, i: int, out: list[tuple[str, str]]) -> int:
        source = [self.lines[i][3:].strip()]
        i += 1
        while i < len(self.lines) and self.lines[i].startswith("..."):
            source.append(self.lines[i][3:].strip())
            i += 1
        outputs = []
        while i < len(self.lines) and self.lines[i] and not self.lines[i].startswith(">>>"):
            outputs.append(self.lines[i])
            i += 1
        example = self._doctest_example("\n".join(source).strip(), outputs)
        if example is not None:
            out.append(example)
        return i

    def _doctest_example(self, source: str, outputs: list[str]) -> tuple[str, str] | None:
        if len(source) > _MAX_EXAMPLE_CHARS:  # no reader's example; re-parsing its prefixes is quadratic
            return None
        try:
            tree = parse_bounded(source, mode="eval", what=_EXAMPLE).body
        except SyntaxError:
            tree = None
        if tree is not None:
            if not self._calls_entry(tree) or "print(" in source:
                return None
            if (
                isinstance(tree, ast.Compare)
                and len(tree.ops) == 1
                and isinstance(tree.ops[0], ast.Eq)
                and (not outputs or outputs == ["True"])
            ):
                expected = ast.get_source_segment(source, tree.comparators[0]) or ""
                code = ast.get_source_segment(source, tree.left) or ""
                return (code, expected) if _literal(expected) else None
            if outputs:
                expected = _output_literal(outputs)
                return (ast.unparse(tree) if "#" in source else source, expected) if expected else None
        # No output line (or no parse): a `>>> f(x) y` typo; split after the call.
        for end in (m.end() for m in re.finditer(r"\)", source)):
            try:
                call = parse_bounded(source[:end], mode="eval", what=_EXAMPLE).body
            except SyntaxError:
                continue
            expected = _expected_after(source[end:])
            if self._calls_entry(call) and isinstance(expected, str):
                return source[:end], expected
        if tree is not None and not outputs:
            return source, "None"  # doctest semantics: no output line means the value is None
        return None

    def _calls_entry(self, tree: ast.AST) -> bool:
        return any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == self.entry_point
            for n in ast.walk(tree)
        )

    # --- prose lines ----------------------------------------------------------------
    def _prose(self, i: int, out: list[tuple[int, str, str]]) -> bool:
        """Collect `f(x) <sep> y` examples on line i; True if the line defines f recursively."""
        text = self.lines[i]
        defines = False
        for match in self.call.finditer(text):
            span = text[match.start() :]
            close = _matching_paren(span, match.end() - match.start() - 1)
            extra = 1
            while close is None and extra < _MAX_CALL_LINES and i + extra < len(self.lines):
                span += "\n" + self.lines[i + extra]
                extra += 1
                close = _matching_paren(span, match.end() - match.start() - 1)
            if close is None:
                continue
            call_text, rest = span[: close + 1], span[close + 1 :].split("\n")[0]
            n_args = _literal_arguments(call_text)
            if _SEPARATOR.match(rest) and (n_args is None or self.call.search(rest)):
                defines = True  # `f(n) = f(n-1) + ...`: a definition, not an example
            expected = _expected_after(rest)
            if n_args is not None and self._fits(n_args) and isinstance(expected, str):
                out.append((i, _one_line(call_text), expected))
        return defines

    def _fits(self, n_args: int) -> bool:
        return self.n_required <= n_args <= self.n_total

    # --- "For x = 1 the output should be y" and Input:/Output: blocks ---------------
    def _for_line(self, i: int, match: re.Match, out: list[tuple[int, str, str]]) -> None:
        args = _assigned_values(match.group("args"), allow_tail=True)
        expected = literal_prefix(match.group("out"))
        if args and expected is not None and self._fits(len(args)):
            out.append((i, f"{self.entry_point}({', '.join(args)})", expected))

    def _input_output(self, i: int, out: list[tuple[int, str, str]]) -> int:
        start = i
        given = [re.sub(r"^Input\s*:", "", self.lines[i]).strip()]
        i += 1
        while i < len(self.lines) and not re.match(r"(Output|Input)\s*:", self.lines[i]):
            given.append(self.lines[i])
            i += 1
        if i >= len(self.lines) or not self.lines[i].startswith("Output"):
            return i
        shown = re.sub(r"^Output\s*:", "", self.lines[i]).strip()
        if not shown and i + 1 < len(self.lines):
            i += 1
            shown = self.lines[i]
        text = " ".join(part for part in given if part)
        args = _assigned_values(text, allow_tail=False) if _ASSIGNMENT.match(text) else None
        if args is None and _literal(text):
            args = [text]
        expected = literal_prefix(shown)
        if args and expected is not None and self._fits(len(args)):
            out.append((start, f"{self.entry_point}({', '.join(args)})", expected))
        return i + 1


def _assigned_values(text: str, *, allow_tail: bool) -> list[str] | None:
    """Values of `a = 1, b = "x"` (or `a : 1 b : 2`) in order; None if malformed.

    With `allow_tail`, prose after the last assignment is ignored (`N = 1000, the sum ...`).
    """
    values, pos = [], 0
    while True:
        match = _ASSIGNMENT.match(text, pos)
        if match is None:
            break
        value = literal_prefix(text[match.end() :])
        if value is None:
            return None
        values.append(value)
        pos = text.index(value, match.end()) + len(value)
        comma = re.match(r"\s*,?", text[pos:])
        pos += comma.end() if comma else 0
    if not values or (not allow_tail and text[pos:].strip()):
        return None
    return values


def _literal_arguments(code: str) -> int | None:
    """The number of arguments of the call `code` if all are literals (no keywords), else None."""
    try:
        call = parse_bounded(code.strip(), mode="eval", what=_EXAMPLE).body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call) or call.keywords:
        return None
    return len(call.args) if all(_literal(ast.unparse(a)) for a in call.args) else None


def _output_literal(outputs: list[str]) -> str | None:
    """The shortest run of leading output lines that reads as one literal (multi-line lists)."""
    for n in range(1, len(outputs) + 1):
        text = "\n".join(outputs[:n])
        if _literal(text):
            return text.replace("\n", " ") if text.lstrip()[:1] in "[({" else text
        match = _LOWER_BOOL.fullmatch(text)
        if match:
            return text.capitalize()
    return None


def _one_line(code: str) -> str:
    """A call written over several docstring lines, re-joined (valid inside brackets)."""
    return " ".join(part.strip() for part in code.split("\n"))
