"""The lint gate: which static errors a program has, from a pylint kept alive in a worker.

What counts as an error (LintSeq's choice, see `ENABLED_MESSAGES`): pylint's error (E) and
fatal (F) message classes, plus bad-indentation (W0311) and super-init-not-called (W0231).

How a program is checked:
1. `ast.parse` first. A program that does not parse gets one "syntax-error" (E0001) message
   with the parser's line, column and text, and pylint is never called.
2. Otherwise one long-lived pylint linter checks it from memory: the astroid module is built
   from the text (`AstroidBuilder.string_build`) under the module name `MODULE_NAME` and a
   path that is never written, and walked by only the checkers that own an enabled message.
   No subprocess, no temporary file.
3. Afterwards every cache that holds the program's nodes is emptied. astroid's module cache
   is keyed by module name and keeps the first module stored under a name, so without this
   every lookup of "prog" by name would find the first program ever checked (the stale
   results of pylint issue #5888); the other caches would keep old trees alive. Library
   modules stay cached: they do not change, and parsing them is the slow part of a pylint run.

Results are the messages `python -m pylint --disable=C,R prog.py` prints (`lint_with_subprocess`),
both passed through `filter_messages`; tests/envs/test_lint.py compares the two. Inline
`# pylint: ...` pragmas are made inert first (`neutralise_pragmas`, on both sides): the program
is model output, and a `# pylint: disable=all` must not switch the gate off. Known differences: imports resolve
against this process's `sys.path`, which may hold folders (the current directory, a script's)
that a fresh pylint process would not search, and a program importing itself by the name
"prog" gets import-error here, while pylint finds prog.py on disk.

Steps 1-3 run in a kept-alive worker process with a wall-clock and memory limit
(`envs.lint_worker`): the text is untrusted, and parsing or inferring over it can take
seconds or gigabytes. A program that trips a limit is rejected with its own status.

A gate is not thread-safe, and gates in one process share astroid's global manager: lint from
one thread at a time.
"""

from __future__ import annotations

import ast
import collections
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.program import Program

logger = logging.getLogger(__name__)

# Message classes (one letter) and single message ids that count as errors. pylint's E and F
# classes, plus the two warnings LintSeq also counts.
ENABLED_MESSAGES: tuple[str, ...] = ("E", "F", "W0311", "W0231")

# The module name every program is checked under: what pylint calls a file named "prog.py".
MODULE_NAME = "prog"

SYNTAX_ERROR_ID = "E0001"
SYNTAX_ERROR_SYMBOL = "syntax-error"
_CRASH_ID = "F0002"  # what pylint reports when a checker or astroid crashes on a module
_CRASH_SYMBOL = "astroid-error"


@dataclass(frozen=True)
class LintMessage:
    """One static error. `line` is 1-based, `column` 0-based (pylint's convention)."""

    line: int
    column: int
    msg_id: str  # e.g. "E0602"
    symbol: str  # e.g. "undefined-variable"
    message: str  # the human-readable text, e.g. "Undefined variable 'x'"

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies an error across edits: everything but its position."""
        return (self.msg_id, self.symbol, self.message)


@dataclass(frozen=True)
class LintResult:
    """A verdict: `ok` iff `messages` is empty. `syntax_error` iff the program did not parse;
    `LintGate.lint` then gives the one syntax-error message, and `LintGate.check` against a
    parent gives only the errors that are new (see there). `tripped` is "lint_timeout" or
    "lint_memory" when linting the program hit the worker's limits: it is then rejected
    with one message saying so (see `envs.lint_worker`)."""

    ok: bool
    messages: tuple[LintMessage, ...]
    syntax_error: bool = False
    tripped: str = ""


@dataclass
class LintStats:
    """Counters over a gate's life. `lint_seconds` is wall time spent inside pylint and
    `ast.parse` (cache hits cost nothing here)."""

    calls: int = 0  # lint() calls, including those check() makes
    cache_hits: int = 0
    pylint_runs: int = 0
    syntax_errors: int = 0  # programs rejected by ast.parse, with no pylint run
    tripped: int = 0  # programs rejected for hitting the lint worker's time or memory limit
    lint_seconds: float = 0.0


def is_counted(msg_id: str) -> bool:
    """True iff a message id (e.g. "E0602") is one the gate counts as an error."""
    return msg_id in ENABLED_MESSAGES or msg_id[:1] in ENABLED_MESSAGES


def filter_messages(messages: Iterable[LintMessage]) -> tuple[LintMessage, ...]:
    """Keep the counted messages (see `ENABLED_MESSAGES`), in order.

    The gate and the subprocess comparison both filter through this function, so "filtered
    the same way" is the same code.
    """
    return tuple(message for message in messages if is_counted(message.msg_id))


def new_errors(
    child: tuple[LintMessage, ...], parent: tuple[LintMessage, ...]
) -> tuple[LintMessage, ...]:
    """The child's messages that the parent does not have, compared as a multiset of
    `LintMessage.key` (not by line: an edit shifts the lines below it). Order is the child's."""
    remaining = collections.Counter(message.key for message in parent)
    fresh = []
    for message in child:
        if remaining[message.key] > 0:
            remaining[message.key] -= 1
        else:
            fresh.append(message)
    return tuple(fresh)


_PRAGMA = re.compile(r"\bpylint(\s*:)")  # what pylint's own pragma parser looks for in a comment


def neutralise_pragmas(text: str) -> str:
    """`text` with every `# pylint: ...` comment made inert ("pylint:" becomes "pylint-inert:").

    Only comment tokens change, and only inside them, so line and column numbers of code stay
    the same. Text that does not tokenize is returned unchanged (it fails `ast.parse` anyway).
    """
    if "pylint" not in text:
        return text
    lines = text.split("\n")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text
    for token in tokens:
        if token.type == tokenize.COMMENT and _PRAGMA.search(token.string):
            row, col = token.start[0] - 1, token.start[1]
            line = lines[row]
            lines[row] = line[:col] + _PRAGMA.sub(r"pylint-inert\1", line[col:], count=0)
    return "\n".join(lines)


def _result(messages: Iterable[LintMessage], syntax_error: bool = False) -> LintResult:
    kept = filter_messages(messages)
    return LintResult(ok=not kept, messages=kept, syntax_error=syntax_error)


def syntax_error_message(text: str) -> LintMessage | None:
    """The syntax-error message for text `ast.parse` rejects, or None if it parses.

    Besides SyntaxError (and its IndentationError/TabError), text `compile` cannot even read
    (null bytes, lone surrogates: ValueError) or nests too deep (RecursionError, MemoryError)
    counts as not parsing.
    """
    try:
        ast.parse(text)
    except SyntaxError as error:
        # Line and column as pylint reports them (it passes the parser's offset through).
        # The text leaves out the "(file, line N)" suffix pylint has, so that the same syntax
        # error on a shifted line is the same error (see `new_errors`).
        return LintMessage(error.lineno or 1, error.offset or 0, SYNTAX_ERROR_ID,
                           SYNTAX_ERROR_SYMBOL, f"Parsing failed: '{error.msg}'")
    except (ValueError, RecursionError, MemoryError) as error:
        return LintMessage(1, 0, SYNTAX_ERROR_ID, SYNTAX_ERROR_SYMBOL,
                           f"Parsing failed: '{type(error).__name__}: {error}'")
    return None


class _InProcessPylint:
    """One pylint linter configured for `ENABLED_MESSAGES`, with its checkers and AST walker
    prepared once and reused for every module.

    Built lazily by the gate (importing pylint and registering its checkers takes ~0.2 s; the
    first module then takes ~0.3 s more while astroid builds the builtins).
    """

    def __init__(self) -> None:
        # Imported here so that importing envs.lint stays cheap for code that only needs types.
        # pylint: disable=import-outside-toplevel
        from pylint import checkers
        from pylint.lint import PyLinter
        from pylint.reporters import CollectingReporter
        from pylint.utils import ASTWalker

        linter = PyLinter()
        linter.load_default_plugins()
        linter.set_reporter(CollectingReporter())
        linter.disable("all")
        for entry in ENABLED_MESSAGES:
            linter.enable(entry)
        linter.initialize()  # turns off messages the running Python version cannot emit
        # Only checkers owning an enabled message, and only their visit methods that such a
        # message needs (ASTWalker honours `only_required_for_messages`).
        self._checkers = linter.prepare_checkers()
        self._walker = ASTWalker(linter)
        for checker in self._checkers:
            self._walker.add_checker(checker)
        _drop_convention_only_callbacks(self._walker, self._checkers)
        self._raw_checkers = [
            c for c in self._checkers if isinstance(c, checkers.BaseRawFileChecker)]
        self._token_checkers = [
            c for c in self._checkers if isinstance(c, checkers.BaseTokenChecker)]
        self._linter = linter
        # The module's file name, in a directory that is never created. astroid resolves
        # absolute imports by name against sys.path, not next to the file, and reads the
        # source from memory; a path that exists nowhere makes any read of it fail loudly.
        self._path = os.path.join(tempfile.gettempdir(), "lint-gate-virtual-dir",
                                  MODULE_NAME + ".py")

    def run(self, text: str) -> tuple[LintMessage, ...]:
        """All messages pylint emits for `text`, which must parse (see `syntax_error_message`).

        A crash inside astroid or a checker comes back as an astroid-error (F0002) message, as
        the pylint command line reports it.
        """
        # pylint: disable=import-outside-toplevel
        from astroid import MANAGER, AstroidSyntaxError
        from astroid.builder import AstroidBuilder
        from pylint.utils.file_state import FileState

        linter = self._linter
        linter.reporter.reset()
        # Checkers re-read their options and reset per-run state in open(), as in a fresh run.
        for checker in self._checkers:
            checker.open()
        _reset_class_access_map(self._checkers)
        linter.set_current_module(MODULE_NAME, self._path)
        try:
            module = AstroidBuilder(MANAGER).string_build(text, MODULE_NAME, self._path)
            # Same per-file setup as PyLinter._lint_file: pragma state and the current file.
            linter.file_state = FileState(MODULE_NAME, linter.msgs_store, module)
            linter._ignore_file = False  # pylint: disable=protected-access
            linter.current_file = module.file
            linter.check_astroid_module(module, self._walker, self._raw_checkers,
                                        self._token_checkers)
        except AstroidSyntaxError as error:  # rare: ast.parse accepted what astroid rejects
            line = getattr(error.error, "lineno", None) or 1
            return (LintMessage(line, 0, SYNTAX_ERROR_ID, SYNTAX_ERROR_SYMBOL,
                                f"Parsing failed: '{error.error}'"),)
        except Exception as error:  # pylint: disable=broad-except
            logger.warning("pylint crashed on a program: %r", error)
            return (LintMessage(1, 0, _CRASH_ID, _CRASH_SYMBOL,
                                f"{type(error).__name__}: {error}"),)
        finally:
            _evict_program_state(MANAGER)
        return tuple(_from_pylint(message) for message in linter.reporter.messages)


def _drop_convention_only_callbacks(walker: Any, checkers: list[Any]) -> None:
    """Unhook `FormatChecker.visit_default` from the walker.

    The walker keeps every method without an `only_required_for_messages` list, and this one
    runs on every node, though all it can emit is multiple-statements (C0321, not counted).
    The format checker itself stays: its token pass emits bad-indentation (W0311).
    """
    for checker in checkers:
        if checker.name != "format":
            continue
        for callbacks in walker.visit_events.values():
            callbacks[:] = [c for c in callbacks if c != checker.visit_default]


def _reset_class_access_map(checkers: list[Any]) -> None:
    """Empty the classes checker's map of accessed attributes per class.

    pylint fills it for every class it sees and never empties it within a run (open() does
    not reset it), so in a gate that lives for thousands of programs it would keep every
    program's tree alive. Entries are keyed by class node, so no result depends on them once
    their program is done. tests/envs/test_lint.py checks that old trees are freed.
    """
    for checker in checkers:
        accessed = getattr(checker, "_accessed", None)
        if accessed is not None:
            checker._accessed = type(accessed)()  # pylint: disable=protected-access


def _from_pylint(message: Any) -> LintMessage:
    """Convert a `pylint.message.Message`."""
    return LintMessage(message.line, message.column, message.msg_id, message.symbol, message.msg)


def _evict_program_state(manager: Any) -> None:
    """Forget everything astroid and pylint cached about the program just checked.

    The module cache is keyed by module name (see the module docstring, step 3). The other
    caches are keyed by node, so they cannot go stale, but they keep old programs' trees
    alive, and the inference and guard caches are unbounded. The list follows
    `AstroidManager.clear_cache` of the pinned astroid (constraints.txt) minus the library
    modules; tests/envs/test_lint.py catches a new unbounded cache after an upgrade. Library modules stay in the module cache.
    Measured cost: a millisecond or less per program, re-inferring library nodes included.
    """
    # pylint: disable=import-outside-toplevel
    from astroid.constraint import clear_preceding_guards_cache
    from astroid.context import _invalidate_cache
    from astroid.inference_tip import clear_inference_tip_cache
    from astroid.interpreter.objectmodel import ObjectModel
    from astroid.nodes._base_nodes import LookupMixIn
    from astroid.nodes.scoped_nodes import ClassDef
    from pylint.checkers.clear_lru_cache import clear_lru_caches

    manager.astroid_cache.pop(MODULE_NAME, None)
    _invalidate_cache()
    clear_inference_tip_cache()
    clear_preceding_guards_cache()  # astroid >= 4.4: keyed by statement node, unbounded
    clear_lru_caches()
    node_caches = (LookupMixIn.lookup, ObjectModel.attributes,
                   ClassDef._metaclass_lookup_attribute)  # pylint: disable=protected-access
    for node_cache in node_caches:
        node_cache.cache_clear()


_engine: _InProcessPylint | None = None  # this process's pylint, built on first use


def lint_text_in_process(text: str) -> tuple[tuple[LintMessage, ...], bool, bool]:
    """(unfiltered messages, syntax_error, whether pylint ran) for `text`, in this process,
    without limits: the lint worker calls this (`envs.lint_worker`), and so does a gate
    built with `isolated=False`."""
    global _engine  # pylint: disable=global-statement
    syntax = syntax_error_message(text)
    if syntax is not None:
        return (syntax,), True, False
    if _engine is None:
        _engine = _InProcessPylint()
    messages = _engine.run(neutralise_pragmas(text))
    return messages, any(m.msg_id == SYNTAX_ERROR_ID for m in messages), True


TRIP_MESSAGES = {"lint_timeout": ("F9901", "lint-timeout", "linting took longer than {limit} s"),
                 "lint_memory": ("F9902", "lint-memory", "linting needed more than {limit} MB")}


class LintGate:
    """The lint gate: `lint` says which errors a program has, `check` whether an edit may
    create a node. Results are cached by `Program.digest`, least recently used first out.

    isolated (default): lint in a kept-alive worker process with `timeout_s` of wall clock
    and `memory_mb` of address space per program (`envs.lint_worker`); a program that trips
    a limit is rejected with `tripped` set. isolated=False lints in this process, unbounded
    (for tests of the engine itself and trusted text).
    Not thread-safe (see the module docstring).
    """

    # timeout_s: far above an honest program's lint, yet bounded. The first program importing a
    # big stdlib module (asyncio) makes astroid build it: ~2 s on a quiet 2-core machine, 6-8 s
    # under load (measured), and a verdict must not depend on the machine's load.
    def __init__(self, *, cache_size: int = 65536, isolated: bool = True, timeout_s: float = 30.0,
                 memory_mb: int = 2048) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size}")
        self.cache_size = cache_size  # results kept; a result is a few hundred bytes
        self.stats = LintStats()
        self._cache: collections.OrderedDict[str, LintResult] = collections.OrderedDict()
        self._worker = None
        if isolated:
            from envs.lint_worker import LintWorker  # pylint: disable=import-outside-toplevel

            self._worker = LintWorker(timeout_s=timeout_s, memory_mb=memory_mb)

    def close(self) -> None:
        """Stop the worker process (a later lint starts a new one)."""
        if self._worker is not None:
            self._worker.close()

    def lint(self, program: Program) -> LintResult:
        """The errors of `program`: ok iff it has none."""
        self.stats.calls += 1
        key = program.digest
        cached = self._cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            self._cache.move_to_end(key)
            return cached
        result = self._lint_uncached(program.text)
        self._cache[key] = result
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result

    def check(self, program: Program, parent: Program | None = None) -> LintResult:
        """The gate's verdict on `program`.

        parent None: ok iff `program` has no errors; messages are all its errors.
        parent given (repair mode): ok iff `program` has no error that `parent` lacks (see
        `new_errors`); messages are those new errors. A parent that does not parse has
        unknown errors beyond its syntax error, so against such a parent only a syntax error
        can be new: a child that parses passes, whatever errors pylint then finds in it.
        `syntax_error` always describes `program`.
        """
        result = self.lint(program)
        if parent is None or result.tripped:  # a program that trips the limits is never let through
            return result
        parent_result = self.lint(parent)
        if parent_result.syntax_error and not result.syntax_error:
            return LintResult(ok=True, messages=(), syntax_error=False)
        fresh = new_errors(result.messages, parent_result.messages)
        return LintResult(ok=not fresh, messages=fresh, syntax_error=result.syntax_error)

    def clear_cache(self) -> None:
        """Forget cached results (the pylint linter stays alive)."""
        self._cache.clear()

    def _lint_uncached(self, text: str) -> LintResult:
        start = time.perf_counter()
        try:
            if self._worker is None:
                messages, syntax_error, pylint_run = lint_text_in_process(text)
            else:
                reply = self._worker.run(text)
                if reply.get("tripped") in TRIP_MESSAGES:
                    return self._tripped(reply["tripped"])
                messages = tuple(LintMessage(*m) for m in reply["messages"])
                syntax_error, pylint_run = reply["syntax_error"], reply["pylint_run"]
            self.stats.pylint_runs += pylint_run
            self.stats.syntax_errors += syntax_error and not pylint_run
            return _result(messages, syntax_error=syntax_error)
        finally:
            self.stats.lint_seconds += time.perf_counter() - start

    def _tripped(self, status: str) -> LintResult:
        self.stats.tripped += 1
        msg_id, symbol, text = TRIP_MESSAGES[status]
        assert self._worker is not None
        limit = self._worker.timeout_s if status == "lint_timeout" else self._worker.memory_mb
        message = LintMessage(1, 0, msg_id, symbol, text.format(limit=limit))
        return LintResult(ok=False, messages=(message,), tripped=status)


def lint_with_subprocess(text: str, *, timeout: float = 120.0) -> LintResult:
    """The reference verdict: a fresh `python -m pylint --disable=C,R prog.py`, filtered with
    `filter_messages`. Slow (most of a second per call); for tests and benchmarks.

    The program is written as prog.py into an empty temporary directory that is also the
    working directory, with an empty rcfile, so no configuration file nearby applies.
    Raises RuntimeError if pylint produced no JSON report (a crash, not a verdict).
    """
    with tempfile.TemporaryDirectory(prefix="lint-reference-") as folder:
        Path(folder, MODULE_NAME + ".py").write_text(neutralise_pragmas(text), encoding="utf-8")
        Path(folder, "empty.rc").write_text("", encoding="utf-8")
        command = [sys.executable, "-m", "pylint", "--disable=C,R", "--rcfile=empty.rc",
                   "--persistent=n", "--output-format=json", MODULE_NAME + ".py"]
        completed = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                                   timeout=timeout, check=False)
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"pylint printed no JSON report: {completed.stderr[-2000:]}") from error
    messages = [LintMessage(item["line"], item["column"], item["message-id"], item["symbol"],
                            item["message"]) for item in report]
    syntax_error = any(message.msg_id == SYNTAX_ERROR_ID for message in messages)
    return _result(messages, syntax_error=syntax_error)


_default_gate: LintGate | None = None


def lint_errors(text: str) -> LintResult:
    """The errors of a program given as text, from a module-level gate built on first use."""
    global _default_gate  # pylint: disable=global-statement
    if _default_gate is None:
        _default_gate = LintGate()
    return _default_gate.lint(Program.from_text(text))
