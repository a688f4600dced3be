"""Loading: every tiny family through the real path, actionable errors, offline hub ids, GGUF cache."""

from __future__ import annotations

import os
import time

import pytest

from policies import loading
from policies.loading import ModelLoadError, convert_gguf, load_model
from tiny import FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_each_tiny_family_loads_through_load_model(tiny_dirs, family):
    loaded = load_model(str(tiny_dirs(family)))
    assert loaded.device == "cpu" and loaded.dtype == "float32"
    assert (loaded.n_layers, loaded.d_model) == (2, 64)
    assert loaded.n_params == sum(p.numel() for p in loaded.model.parameters())
    assert not loaded.model.training
    assert loaded.tokenizer.eos_token_id is not None
    assert loaded.source == tiny_dirs(family)


def test_dtype_override(tiny_dirs):
    import torch

    loaded = load_model(str(tiny_dirs("llama")), dtype="bf16")
    assert loaded.dtype == "bfloat16"
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_unknown_dtype_lists_the_choices(tiny_dirs):
    with pytest.raises(ModelLoadError, match="bfloat16"):
        load_model(str(tiny_dirs("llama")), dtype="float8")


def test_missing_path_says_what_to_pass(tmp_path):
    with pytest.raises(ModelLoadError, match="no such model file or directory"):
        load_model(str(tmp_path / "nowhere" / "model"))


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="config.json"):
        load_model(str(tmp_path))


def test_file_that_is_not_gguf(tmp_path):
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\0")
    with pytest.raises(ModelLoadError, match=r"\.gguf"):
        load_model(str(weights))


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    """A Hugging Face cache with nothing in it, and a hub endpoint nothing listens on."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # Port 9 (discard) on loopback refuses at once: "no network" even on a machine that has one.
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")


def test_hub_id_without_network_fails_fast_and_says_how(empty_hub_cache):
    start = time.monotonic()
    with pytest.raises(ModelLoadError) as info:
        load_model("bigcode/santacoder")
    assert time.monotonic() - start < 15
    message = str(info.value)
    assert "no network" in message
    assert "--model DIR" in message and "huggingface-cli download bigcode/santacoder" in message


def test_hub_id_with_hf_hub_offline_fails_without_probing(empty_hub_cache, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(loading, "_probe", lambda *a: pytest.fail("probed the network while offline"))
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE"):
        load_model("bigcode/santacoder")


def test_probe_gives_up_within_its_timeout():
    start = time.monotonic()
    reason = loading._probe("http://127.0.0.1:9", timeout_s=1.0)
    assert reason is not None and time.monotonic() - start < 3


def test_embedded_gguf_ships_with_the_package():
    path = loading.embedded_gguf_path()
    assert path.name == loading.EMBEDDED_GGUF and path.stat().st_size > 50_000_000


def test_interrupted_conversion_leaves_no_folder(tmp_path, monkeypatch):
    import transformers

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # what a Ctrl-C in the middle of dequantising looks like

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", killed)
    target = tmp_path / "models" / "m"
    with pytest.raises(KeyboardInterrupt):
        convert_gguf(loading.embedded_gguf_path(), target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # its temp folder is gone too


def test_finished_conversion_is_reused_and_stale_temps_cleared(tmp_path, monkeypatch):
    import transformers

    target = tmp_path / "m"
    target.mkdir()
    (target / loading.CONVERSION_MARKER).write_text("x\n")
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: pytest.fail("reconverted"))
    assert convert_gguf(tmp_path / "x.gguf", target) == target

    stale = tmp_path / ".n.tmp-abc"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = tmp_path / ".n.tmp-def"  # maybe a conversion running right now: left alone
    fresh.mkdir()
    loading._remove_stale_temps(tmp_path / "n")
    assert not stale.exists() and fresh.exists()


def test_cache_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EDIT_AGENT_CACHE", str(tmp_path))
    assert loading.cache_root() == tmp_path / "models"


@pytest.mark.slow
def test_gguf_conversion_into_a_fresh_cache(tmp_path, monkeypatch):
    """The real conversion (~30 s): complete folder, no temp left, then reused in well under that."""
    monkeypatch.setenv("EDIT_AGENT_CACHE", str(tmp_path))
    loaded = load_model("smollm2")
    folder = tmp_path / "models" / loading.EMBEDDED_CACHE_NAME
    assert loaded.source == folder and (folder / loading.CONVERSION_MARKER).is_file()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [loading.EMBEDDED_CACHE_NAME]
    assert "quantization_config" not in (folder / "config.json").read_text()
    assert (loaded.n_layers, loaded.d_model) == (30, 576)
    start = time.monotonic()
    load_model("smollm2")
    assert time.monotonic() - start < 10
