"""Concrete pieces from a config: the only module of `agent` that names real implementations.

The search takes a policy, a lint function, an evaluate function, a strategy, a budget and
settings as arguments and imports no concrete one; commands build them here. Every builder
takes the config section it needs and nothing else, so a test can swap one piece (a scripted
policy, a recording sandbox) and keep the real others.

Errors a user can fix (an unknown strategy, a budget without limits, a model that cannot be
loaded, a sandbox backend that cannot run here) raise `WiringError` with one line saying
what is wrong; commands turn it into exit status 2. Heavy modules (torch, pylint, the
sandbox) are imported inside the builders, never at import time.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Callable

from agent.config import LintConfig, PolicyConfig, SandboxConfig, SearchConfig

if TYPE_CHECKING:
    from agent.search.budget import Budget
    from agent.search.types import EvaluateFn, LintFn, SearchSettings, Strategy
    from envs.lint import LintGate
    from envs.problem import Problem
    from envs.sandbox.base import Sandbox
    from policies.base import Policy

PolicyFactory = Callable[[PolicyConfig], "Policy"]
SandboxFactory = Callable[[SandboxConfig], "Sandbox"]


class WiringError(ValueError):
    """A config names something that cannot be built; the message is one line for the user."""


# -- policy ------------------------------------------------------------------------------------
def check_policy(config: PolicyConfig) -> None:
    """Cheap checks of the policy config, before anything slow starts."""
    from policies.formats import FORMATS

    name = config.format.partition(":")[0]
    if name != "auto" and name not in FORMATS:
        raise WiringError(f"unknown format {config.format!r}; choose auto or one of: {', '.join(FORMATS)}")
    if config.threads is not None and (not isinstance(config.threads, int) or config.threads < 1):
        raise WiringError(f"policy.threads must be a positive integer or null, got {config.threads!r}")
    if config.fresh not in ("auto", "free", "cut"):
        raise WiringError(f"policy.fresh must be auto, free or cut, got {config.fresh!r}")
    if config.feedback_prompt not in ("message", "conversation"):
        raise WiringError(f"policy.feedback_prompt must be message or conversation, got {config.feedback_prompt!r}")


def check_model(config: PolicyConfig) -> None:
    """Fail in well under a second on a model spec that names nothing loadable: a missing path,
    a folder without config.json, a hub id neither cached here nor reachable. Runs before the
    sandbox starts and torch is imported (a named model's file missing included); converting a
    GGUF is left to `build_policy`, which says when it converts."""
    from policies.loading import ModelLoadError, locate

    try:
        locate(config.model)  # no weights read: a path check, the local cache, a probe
    except ModelLoadError as exc:
        raise WiringError(str(exc)) from None


def build_policy(config: PolicyConfig) -> Policy:
    """Load the model, pick its edit format, wrap both in an `LMPolicy`.

    `config.format` is "auto" (detected from the tokenizer's special tokens), a format name
    from `policies.formats.FORMATS`, or "continuation:MODE" for a continuation mode
    (free, end_of_line, open_body, new_line). Slow: loads weights (seconds to a minute).
    """
    from policies.formats import detect_format, get_format
    from policies.formats.continuation import is_chat
    from policies.lm import LMPolicy
    from policies.loading import ModelLoadError, load_model
    from policies.sampling import SamplingParams

    check_policy(config)
    if config.threads is not None:
        import torch

        torch.set_num_threads(config.threads)
    name, _, mode = config.format.partition(":")
    try:
        loaded = load_model(config.model, device=config.device, dtype=config.dtype)
    except ModelLoadError as exc:
        raise WiringError(str(exc)) from None
    if name == "auto":
        name = detect_format(loaded.model.config, loaded.tokenizer)
    options = {"mode": mode} if mode else {}
    if name == "continuation" and mode in ("", "free_cut") and is_chat(loaded.tokenizer):
        # only free_cut continues the starter; the other formats and modes have one prompt shape
        options["fresh"] = config.fresh if config.fresh != "auto" else ("free" if config.model == "smollm2" else "cut")
    try:
        fmt = get_format(name, loaded.tokenizer, **options)
    except (TypeError, ValueError) as exc:  # a mode the format lacks, free mode without a chat template
        raise WiringError(f"format {config.format!r} does not fit {config.model!r}: {exc}; "
                          "try --format auto") from None
    if config.feedback_prompt == "conversation":
        if not hasattr(fmt, "feedback_turns"):
            raise WiringError(f"policy.feedback_prompt 'conversation' needs the continuation format with a chat "
                              f"model; {config.model!r} uses {fmt.label!r}: set it to 'message'")
        fmt.feedback_turns = True
    params = SamplingParams(temperature=config.temperature, top_p=config.top_p, max_new_tokens=config.max_new_tokens)
    return LMPolicy(loaded, fmt, params=params)


def load_trainable_model(spec: str, *, device: str | None, dtype: str):
    """The model behind a policy, for training (agent finetune). Raises WiringError."""
    from policies.loading import ModelLoadError, load_model

    try:
        return load_model(spec, device=device, dtype=dtype)
    except ModelLoadError as exc:
        raise WiringError(str(exc)) from None


# -- lint and sandbox --------------------------------------------------------------------------
def build_lint_gate(config: LintConfig | None = None) -> LintGate:
    """The lint gate (`.check(program, parent)` for the search, `.lint(program)` for data tools)."""
    from envs.lint import LintGate

    return LintGate(cache_size=(config or LintConfig()).cache_size)


def build_lint(config: LintConfig) -> LintFn:
    """The lint gate's `check(program, parent)`, results cached by program digest."""
    return build_lint_gate(config).check


def build_sandbox(config: SandboxConfig) -> Sandbox:
    """A started sandbox (close it when done). Raises WiringError when the backend cannot run."""
    from envs.sandbox import SandboxUnavailable, make_sandbox
    from envs.testcase import Limits

    # the one place limits are made: every execution runs under these (a problem's timeout_s
    # replaces the wall clock only); CPU seconds at least the wall clock, so the wall clock decides
    limits = Limits(timeout_s=config.timeout_s, cpu_s=max(1, math.ceil(config.timeout_s)), memory_mb=config.memory_mb)
    try:
        return make_sandbox(config.backend, workers=config.workers, limits=limits)
    except (SandboxUnavailable, NotImplementedError, ValueError) as exc:
        raise WiringError(f"sandbox {config.backend!r} is unavailable: {exc or 'not implemented'}") from None


def visible_evaluator(problem: Problem, sandbox: Sandbox) -> EvaluateFn:
    """`evaluate(program)` on the problem's VISIBLE tests only.

    The hidden tests are dropped here, before the closure is made, so nothing reachable from
    the search's evaluate function can run them.
    """
    from envs.scoring import score_problem

    visible = problem.without_hidden_tests()
    return lambda program: score_problem(program, visible, sandbox)


# -- search ------------------------------------------------------------------------------------
def build_strategy(config: SearchConfig) -> Strategy:
    """The configured strategy with its own settings (the config's section of that name)."""
    from agent.search.strategies import STRATEGIES, make_strategy

    if config.strategy not in STRATEGIES:
        raise WiringError(f"unknown strategy {config.strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    own = config.strategy_settings()
    for name, value in dataclasses.asdict(own).items():
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise WiringError(f"search.{config.strategy.replace('-', '_')}.{name} must be positive, got {value!r}")
    try:
        return make_strategy(config.strategy, **dataclasses.asdict(own))
    except ValueError as exc:  # a setting the strategy itself refuses (e.g. rex's fresh)
        raise WiringError(f"search.{config.strategy.replace('-', '_')}: {exc}") from None


def build_settings(config: SearchConfig) -> SearchSettings:
    from agent.search.types import SearchSettings

    _positive(config, "samples_per_location", "max_locations", "max_depth", "stop_votes")
    return SearchSettings(samples_per_location=config.samples_per_location, max_locations=config.max_locations,
                          max_depth=config.max_depth, model_choice=config.model_choice, seed=config.seed,
                          feedback=config.feedback, stop_doomed=config.stop_doomed,
                          stop_when_solved=config.stop_when_solved, stop_votes=config.stop_votes)


def build_budget(config: SearchConfig) -> Budget:
    from agent.search.budget import Budget

    limits = {"samples": config.budget_samples, "tokens": config.budget_tokens, "seconds": config.budget_seconds}
    for name, value in limits.items():  # a zero budget would load a model to spend nothing
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            raise WiringError(f"search budget: --budget-{name} (search.budget_{name}) must be positive, got 0")
    try:
        return Budget(**limits)
    except (TypeError, ValueError) as exc:
        raise WiringError(f"search budget: {exc}") from None


def budget_dict(budget: Budget) -> dict:
    """The budget's set limits, for results (`describe_budget` says them in words)."""
    return {k: v for k, v in dataclasses.asdict(budget).items()
            if v not in (None, ()) and (k, v) != ("until", "any")}


BUDGET_UNITS = {"samples": "samples", "tokens": "tokens", "generated_tokens": "generated tokens",
                "flops": "FLOPs", "seconds": "seconds"}


def describe_budget(budget: Budget) -> str:
    """"6,000 tokens", "8 samples or 60 seconds, whichever comes first"."""
    parts = [f"{value:,g} {BUDGET_UNITS[name]}" if isinstance(value, float) else f"{value:,} {BUDGET_UNITS[name]}"
             for name, value in budget_dict(budget).items() if name in BUDGET_UNITS]
    if len(parts) < 2:
        return "".join(parts)
    joiner = " and " if budget.until == "all" else " or "
    return joiner.join(parts) + (", all of them" if budget.until == "all" else ", whichever comes first")


def _positive(config: SearchConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise WiringError(f"search.{name} must be a positive integer, got {value!r}")
