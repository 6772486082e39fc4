"""Shared test fixtures.

Tests run offline on the CPU with one thread (timings on a 2-core machine swing when threads
compete). Tests that need real photos or weights from ``../shared`` use the fixtures below, which
skip with a reason when the folder is absent (a user's fresh clone).
"""

from __future__ import annotations

import os
from pathlib import Path

# Set before torch/transformers are imported by any test module.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO_ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path under ``../shared``; skips the calling test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (real data lives in ../shared beside the clone)")
    return path


@pytest.fixture
def kodak_dir() -> Path:
    return shared_path("data", "kodak")


@pytest.fixture
def live1_dir() -> Path:
    return shared_path("data", "live1_color")


@pytest.fixture
def lpips_trunk() -> Path:
    return shared_path("weights", "lpips", "alexnet_features_imagenet_tv.pth")


@pytest.fixture
def lpips_reference_dir() -> Path:
    return shared_path("data", "lpips_reference")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*.json from the current model and decode path "
        "(also JPEGTEXT_REGEN_GOLDEN=1)",
    )
