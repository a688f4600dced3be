"""Shared fixtures for policy tests: tiny models built once per session (see tiny.py)."""

from __future__ import annotations

import pytest

from tiny import make_tiny


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """family -> save_pretrained folder of its tiny model, built on first use."""
    root = tmp_path_factory.mktemp("tiny-models")
    built: dict[str, object] = {}

    def get(family: str):
        if family not in built:
            built[family] = make_tiny(family, root)
        return built[family]

    return get


@pytest.fixture(scope="session")
def tiny_llama(tiny_dirs):
    """The tiny Llama (SmolLM2 stand-in), loaded through the real loading path."""
    from policies.loading import load_model

    return load_model(str(tiny_dirs("llama")))
