"""The `agent` command line: one subcommand per module.

    agent check examples/sum_evens.json --program examples/sum_evens_solution.py
    agent check examples/sum_evens.json --program my.py --hidden --json
    agent solve examples/sum_evens.json --strategy mcts --budget-tokens 40000

Adding a subcommand: write a module with `HELP` (one line), `DESCRIPTION` (shown by
`agent NAME --help`, usage examples welcome), `add_arguments(parser)` and
`run(args) -> int` (the exit status), then add one line to `COMMANDS`. Command modules are
imported only to build the parser, so they must stay cheap to import: heavy imports (torch,
pylint, the sandbox) go inside `run`.

Exit status: what the command returns; 2 for bad input, reported as one line on stderr
(a command raises `UsageError` with that line); 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING

from agent.output.logs import configure as configure_logging

if TYPE_CHECKING:
    from agent.config import Config

# name -> module implementing it; resolved lazily in build_parser.
COMMANDS: dict[str, str] = {
    "check": "agent.cli.check",
    "solve": "agent.cli.solve",
    "bench": "agent.cli.bench",
    "export": "agent.cli.export",
    "finetune": "agent.cli.finetune",
    "lintseq": "agent.cli.lintseq",
    "corpus": "agent.cli.corpus",
    "iterate": "agent.cli.iterate",
}

EXIT_USAGE = 2  # bad input: missing file, bad JSON, bad field, unusable option


class UsageError(Exception):
    """Bad input from the user. Its message is printed as one line; the exit status is 2."""


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """`--set KEY=VALUE`: any config key, e.g. --set search.mcts.c_puct=1.5 (repeatable)."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key (dotted, e.g. search.mcts.c_puct=1.5); repeatable")


def load_config_or_exit(path: str | None, overrides: dict, sets: list[str] = ()) -> Config:
    """`agent.config.load_config` for a command: a bad config file or value is a UsageError.
    `sets` ("KEY=VALUE", values read as YAML scalars) apply after the named flags' `overrides`."""
    import yaml

    from agent.config import ConfigError, load_config

    settings = {}  # applied after `overrides`, null kept: `--set search.rex.refine_min_tokens=null`
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. search.mcts.c_puct=1.5")
        try:
            settings[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UsageError(f"--set {item!r}: the value is not a YAML scalar") from None
    try:
        return load_config(path, overrides, settings)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent",
        description="A search-based coding agent that writes programs through lint-gated edits.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="also show library warnings and progress bars (kept in the run folder's agent.log "
                        "otherwise); -vv: debug")
    parser.add_argument("--version", action=_VersionAction, help="print the version and git commit, then exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


class _VersionAction(argparse.Action):
    """Like argparse's "version" action, but the git lookup runs only when asked for."""

    def __init__(self, option_strings, dest, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from agent.output.versions import describe

        print(describe())
        parser.exit()


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]), run the subcommand, return its exit status."""
    args = build_parser().parse_args(argv)  # argparse itself exits 2 on a bad flag
    configure_logging(args.verbose)  # library noise to the run folder's agent.log (agent.output.logs)
    try:
        return int(args.run(args))
    except UsageError as exc:
        print(f"agent {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

