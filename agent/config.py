"""Typed configuration: one dataclass per component, loaded from YAML, overridden by flags.

Precedence: command line > YAML file > the defaults written here. Unknown keys raise
`ConfigError` naming the key and the valid ones, so a typo never silently does nothing.
The resolved config (`asdict(config)`) is written into every result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.search.types import SearchSettings
from agent.search.selection import SelectionSettings
from agent.search.strategies import BeamSettings, BestFirstSettings, MCTSSettings, RExSettings, SampleSettings
from envs.testcase import Limits
from policies.sampling import SamplingParams

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the file and key."""


@dataclass
class SandboxConfig:
    backend: str = "bwrap"  # "bwrap" (isolated, default), "gvisor" (stronger), "subprocess" (NOT isolated)
    workers: int = 2  # long-lived fork-server workers; one per core is enough on small machines
    # the limits every execution runs under (envs.testcase.Limits has the defaults); only a
    # problem's own timeout_s replaces the wall clock
    timeout_s: float = Limits.timeout_s  # wall-clock limit per execution unless the problem sets its own
    memory_mb: int = Limits.memory_mb  # address-space limit of each execution


@dataclass
class LintConfig:
    cache_size: int = 65536  # lint results kept by program hash; programs recur often in a search


@dataclass
class PolicyConfig:
    # "qwen-coder-0.5b" (Qwen2.5-Coder-0.5B-Instruct, installed by setup.sh), "smollm2" (the small,
    # fast SmolLM2-135M-Instruct), a local dir, a .gguf file, or a hub id (policies.loading)
    model: str = "qwen-coder-0.5b"
    # "auto": edit/FIM formats by the tokenizer's special tokens (chat models: continuation,
    # free_cut mode; plain ones: end_of_line; policies/formats); or a format name, "continuation:MODE"
    format: str = "auto"
    # How a whole program is asked for (sampling's draws, the search's fresh programs), for
    # continuation free_cut: "free" (a free answer) or "cut" (the starter's function continued
    # from the end of its body). "auto": "free" for smollm2, whose answers prefilled that way
    # close at once, "cut" for every other model: the code model then writes only the body,
    # 2-3x fewer tokens a program than free answers that copy the signature and docstring.
    fresh: str = "auto"
    # How a refinement shows its parent's code and failing visible tests, for continuation
    # free_cut: "message", in one request beside the task; "conversation", the code as the
    # model's own answer and the failures as the user's reply (policies.formats.continuation).
    feedback_prompt: str = "message"
    temperature: float = SamplingParams.temperature  # policies.sampling.SamplingParams says why
    top_p: float = SamplingParams.top_p
    max_new_tokens: int = SamplingParams.max_new_tokens
    device: str | None = None  # None: CUDA when present, else CPU
    dtype: str | None = None  # None: bf16 on GPUs that support it, and for the code model on CPUs with native bf16; else float32
    # torch CPU threads; None leaves torch's default. 1: on a small shared machine OpenMP threads
    # spin against the lint gate, the sandbox and other processes (measured under load: a call
    # that takes ~27 s with 1 thread took over 10 minutes with 2).
    threads: int | None = 1


@dataclass
class SearchConfig:
    """How `agent solve` searches one problem: the loop's settings (agent.search.types.SearchSettings,
    where each default is defined and explained), each strategy's own settings (one section per
    strategy of agent.search.strategies.STRATEGIES) and the budget. A budget of None leaves that
    quantity unlimited; at least one of the budget_* keys must be set, since repeated sampling
    never runs out of work by itself."""

    strategy: str = "rex"  # sample | best-first | beam | mcts | rex (agent.search.strategies)
    samples_per_location: int = SearchSettings.samples_per_location
    max_locations: int = SearchSettings.max_locations
    max_depth: int = SearchSettings.max_depth
    model_choice: bool = SearchSettings.model_choice
    feedback: bool = SearchSettings.feedback
    stop_doomed: bool = SearchSettings.stop_doomed
    stop_when_solved: bool = SearchSettings.stop_when_solved
    # SearchSettings.stop_votes. Replayed on sampling's draws of all 164 HumanEval problems at 5
    # samples' tokens, 3 returned what drawing all 5 and choosing returns (116 problems at T = 0.7,
    # 113 at 1.0) for 3-5% fewer tokens; the first visible solution (1) returned 113 and 109, for
    # 22-26% fewer (benchmarks/stop_rule_replay.py; docs/results/README.md).
    stop_votes: int = 3
    seed: int = SearchSettings.seed
    sample: SampleSettings = field(default_factory=SampleSettings)
    best_first: BestFirstSettings = field(default_factory=BestFirstSettings)
    beam: BeamSettings = field(default_factory=BeamSettings)
    mcts: MCTSSettings = field(default_factory=MCTSSettings)
    rex: RExSettings = field(default_factory=RExSettings)
    budget_samples: int | None = None  # policy samples per problem, parse failures included
    budget_tokens: int | None = 6000  # prompt tokens encoded + generated tokens (agent.search.budget);
    # an unsolved run: 120-200 s of SmolLM2-135M on a shared 2-core CPU (measured)
    budget_seconds: float | None = None  # wall time of the search (checked between policy calls)

    def strategy_settings(self, name: str | None = None):
        """The settings record of strategy `name` (default: the configured one)."""
        return getattr(self, (name or self.strategy).replace("-", "_"))


@dataclass
class BenchConfig:
    """What `agent bench` studies (agent/cli/bench.py); its flags of the same names override these."""

    strategies: str = "sample,rex"  # comma-separated: agent.search.strategies' names, or sample+stop
    budgets: str = "1,5,10,20"  # samples-equivalent (agent/bench/budgets.py), or "tokens:2000,8000"
    n: int = 20  # draws per problem of strategy sample, for unbiased pass@k
    # True: a tree search runs once, to the largest budget, read off at the smaller ones
    # (agent.bench.anytime; each call capped at the next budget). False: one search per budget,
    # for the sum of their cost: no call is cut at a smaller budget on the way, which matters for
    # a search whose programs do not end where sampling's draws do (rex with a greedy first program:
    # cut at 1 sample's tokens, it is missing at 2 and 5 as well; HumanEval/0 lost both that way).
    anytime: bool = True
    # True: every strategy spends each budget in full, so all of them are compared at the same
    # tokens: a tree search keeps going after its first visible solution (as `agent solve
    # --keep-going`; rex then draws only fresh programs, the votes of the choice) and returns the
    # choice by agreement among its visible solutions, as `sample` does. Stopping at the first
    # visible solution (False: search.stop_when_solved) returned 3 of the 164 HumanEval problems
    # fewer than sampling at 5 samples-equivalent at T = 0.7 (4 at T = 1.0), replayed on sampling's
    # draws, for 26% (22%) fewer tokens (docs/results/README.md).
    spend_budget: bool = True


@dataclass
class Config:
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    lint: LintConfig = field(default_factory=LintConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    selection: SelectionSettings = field(default_factory=SelectionSettings)  # agent.search.selection
    bench: BenchConfig = field(default_factory=BenchConfig)

    def solve_dict(self) -> dict:
        """The resolved config without the sections one search does not read (`bench`): what
        `agent solve` records."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "bench"}

    def digest(self) -> str:
        """Short hash of the resolved config, recorded with rollouts and results."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    """Instantiate dataclass `cls` from a dict, recursing into nested dataclasses."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    kwargs = {}
    for name, value in values.items():
        default = fields[name].default_factory() if fields[name].default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        else:
            _check_scalar(fields[name], value, f"{where}.{name}")
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a settings class refusing a value (its __post_init__)
        raise ConfigError(f"{where}: {exc}") from None


# What a scalar setting accepts, by its annotation: a string such as "maybe" for a flag would
# otherwise count as true, and "8" for a count fail deep inside the search.
_SCALARS = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}


def _check_scalar(field_: dataclasses.Field, value: Any, where: str) -> None:
    annotation = field_.type if isinstance(field_.type, str) else getattr(field_.type, "__name__", str(field_.type))
    base, _, optional = annotation.replace(" ", "").partition("|")
    kinds = _SCALARS.get(base)
    if kinds is None or (optional == "None" and value is None) or optional not in ("", "None"):
        return
    if isinstance(value, kinds) and not (isinstance(value, bool) and base != "bool"):
        return
    expected = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}[base]
    raise ConfigError(f"{where}: expected {expected}{' or null' if optional else ''}, got {value!r}")


def config_from_dict(values: dict[str, Any], where: str = "config") -> Config:
    """A Config from a mapping such as a run.json's "config", every missing key at its default."""
    return _build(Config, values, where)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> Config:
    """Defaults, then `configs/default.yaml`, then `path` (if given), then dotted overrides.

    overrides: {"sandbox.backend": "subprocess", ...}, a command's named flags: values of None
    are ignored (flag unset). settings: dotted values set explicitly (`--set`), after the
    overrides; None there is null, for the keys that allow it.
    """
    merged: dict[str, Any] = {}
    for source in [DEFAULT_CONFIG, path]:
        if source is None:
            continue
        source = Path(source)
        if not source.is_file():
            raise ConfigError(f"{source}: config file not found")
        try:
            data = yaml.safe_load(source.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level")
        _build(Config, data, str(source))  # validate keys against the file that has them
        _deep_update(merged, data)
    explicit = [(dotted, value) for dotted, value in (overrides or {}).items() if value is not None]
    for dotted, value in explicit + list((settings or {}).items()):
        *sections, key = dotted.split(".")  # "search.mcts.c_puct": nested sections
        target = merged
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = value
    return _build(Config, merged, "config")


def _deep_update(target: dict, source: dict) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value
