"""jpegtext/restore/runtime/modelfile.py: the bytes a model file is written as."""

from __future__ import annotations

from pathlib import Path

from tiny_model import save_tiny_model

from jpegtext.restore.runtime.modelfile import load_model_file


def test_one_model_is_one_file(tmp_path: Path) -> None:
    """Saving the same model again gives the same bytes (safetensors alone orders its header's
    keys differently from run to run), and the file still loads."""
    paths = [save_tiny_model(tmp_path / f"m{i}.safetensors", seed=3, info={"b": 1, "a": 2})
             for i in range(6)]
    first = paths[0].read_bytes()
    assert all(p.read_bytes() == first for p in paths[1:])
    header_len = int.from_bytes(first[:8], "little")
    assert header_len % 8 == 0
    assert load_model_file(paths[0]).info == {"a": 2, "b": 1}
