"""The models shipped inside the package: present, intact, loadable, documented.

Guards a release against a registry entry whose file, hash, QFs or model card do not match what
is committed (the sha256 is checked before every load, so a mismatch would break `decode`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jpegtext.restore import zoo
from jpegtext.restore.modelfile import file_sha256, load_model_file

REPO = Path(__file__).resolve().parents[1]


def test_default_model_is_shipped() -> None:
    assert zoo.DEFAULT_MODEL in {e.name for e in zoo.SHIPPED_MODELS}


@pytest.mark.parametrize("entry", zoo.SHIPPED_MODELS, ids=lambda e: e.name)
def test_shipped_model_file_matches_its_entry(entry: zoo.ModelEntry) -> None:
    path = zoo.resolve_model_file(entry.name)
    assert path.parent == REPO / "jpegtext" / "restore" / "weights"
    assert path.stat().st_size <= 25 * 2**20
    assert file_sha256(path) == entry.sha256
    loaded = load_model_file(path)
    assert tuple(loaded.config.qualities) == entry.qualities
    assert loaded.config.text.kind == entry.text_encoder
    assert (REPO / entry.card).is_file()


@pytest.mark.parametrize("entry", zoo.SHIPPED_MODELS, ids=lambda e: e.name)
def test_shipped_model_restores_a_jpeg(entry: zoo.ModelEntry) -> None:
    from PIL import Image

    from jpegtext.codec import decode_jpeg, encode_jpeg

    rng = np.random.default_rng(0)
    clean = np.kron(rng.integers(0, 256, (5, 7, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    jpeg = np.asarray(decode_jpeg(encode_jpeg(Image.fromarray(clean), 1)))
    out = zoo.load_restorer(entry.name, device="cpu").restore(jpeg, "red at the top", 1)
    assert out.shape == jpeg.shape and out.dtype == np.uint8
    assert not np.array_equal(out, jpeg)
