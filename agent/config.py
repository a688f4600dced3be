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

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the file and key."""


@dataclass
class SandboxConfig:
    backend: str = "bwrap"  # "bwrap" (isolated, default), "gvisor" (stronger), "subprocess" (NOT isolated)
    workers: int = 2  # long-lived fork-server workers; one per core is enough on small machines
    timeout_s: float = 5.0  # wall-clock limit per execution unless the problem sets its own
    memory_mb: int = 1024  # address-space limit of each execution


@dataclass
class LintConfig:
    cache_size: int = 65536  # lint results kept by program hash; programs recur often in a search


@dataclass
class PolicyConfig:
    model: str = "smollm2"  # "smollm2" (embedded default), a local dir, a .gguf file, or a hub id
    format: str = "auto"  # "auto" detects from the tokenizer's special tokens; or a format name
    temperature: float = 1.0  # LintSeq's protocol samples at temperature 1 ...
    top_p: float = 0.95  # ... with nucleus 0.95
    max_new_tokens: int = 256  # per sample; long enough for a HumanEval function body
    device: str | None = None  # None: CUDA when present, else CPU
    dtype: str | None = None  # None: bf16 on GPUs that support it, float32 on CPU
    # torch CPU threads; None leaves torch's default. 1: on a small shared machine OpenMP threads
    # spin against the lint gate, the sandbox and other processes (measured under load: a call
    # that takes ~27 s with 1 thread took over 10 minutes with 2).
    threads: int | None = 1


@dataclass
class SearchConfig:
    """How `agent solve` searches one problem (agent.search.SearchSettings plus the strategy's own
    settings and the budget). A budget of None leaves that quantity unlimited; at least one of
    the budget_* keys must be set, since repeated sampling never runs out of work by itself."""

    strategy: str = "best-first"  # sample | best-first | beam | mcts (agent.strategies)
    samples_per_location: int = 2  # n per hunk location per expansion; siblings share one prompt encoding
    max_locations: int = 3  # hunk locations per expansion, best first: an expansion costs n * this samples
    max_depth: int = 8  # edits from the starter; LintSeq splits a short solution into a handful
    model_choice: bool = False  # also let the model choose the hunk (edit-sequence formats only)
    batch_size: int = 8  # strategy "sample": whole programs per policy call (one shared prompt)
    beam_width: int = 4  # strategy "beam": nodes kept per level
    c_puct: float = 1.0  # strategy "mcts": exploration weight (values are test fractions in [0, 1])
    mcts_widening: float = 1.0  # strategy "mcts": progressive widening k (agent.strategies._widen)
    feedback: bool = False  # show the policy a node's failing VISIBLE tests when it asks for a rewrite
    seed: int = 0  # base seed; the same seed replays the same search on CPU
    budget_samples: int | None = 64  # policy samples per problem, parse failures included
    budget_tokens: int | None = None  # prompt tokens encoded + generated tokens (agent.budget)
    budget_seconds: float | None = None  # wall time of the search (checked between policy calls)


@dataclass
class BenchConfig:
    """What `agent bench` studies (agent/bench.py); its flags of the same names override these."""

    strategies: str = "sample,best-first,mcts"  # comma-separated names from agent.strategies
    budgets: str = "1,5,10,20"  # samples-equivalent (agent/bench_budgets.py), or "tokens:2000,8000"
    n: int = 20  # draws per problem of strategy sample, for unbiased pass@k


@dataclass
class Config:
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    lint: LintConfig = field(default_factory=LintConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)

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
            kwargs[name] = value
    return cls(**kwargs)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then `configs/default.yaml`, then `path` (if given), then dotted overrides.

    overrides: {"sandbox.backend": "subprocess", ...}; values of None are ignored (flag unset).
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
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        merged.setdefault(section, {})[key] = value
    return _build(Config, merged, "config")


def _deep_update(target: dict, source: dict) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value
