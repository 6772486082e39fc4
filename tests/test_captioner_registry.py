"""The captioner registry: names, duplicates, errors, and the light import."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from jpegtext.captioner import (
    BuiltinCaptioner,
    Captioner,
    FixedCaptioner,
    get_captioner,
    list_captioners,
    register_captioner,
    registry,
)
from jpegtext.errors import ConfigError


class EchoSize:
    """A test captioner: the size of each image."""

    name = "echo-size"

    def __call__(self, images: Sequence[Image.Image]) -> list[str]:
        return [f"{im.width}x{im.height}" for im in images]


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_builtin_names() -> None:
    assert {"builtin", "blip-base", "fixed"} <= set(list_captioners())
    assert list_captioners() == sorted(list_captioners())


def test_builtin_follows_the_protocol() -> None:
    cap = get_captioner("builtin")
    assert isinstance(cap, BuiltinCaptioner) and isinstance(cap, Captioner)
    assert cap.name == "builtin"
    assert get_captioner("builtin", max_words=5).max_words == 5


def test_fixed_text() -> None:
    cap = get_captioner("fixed", text="  a red   barn ")
    assert isinstance(cap, FixedCaptioner) and cap.name == "fixed"
    assert cap([Image.new("RGB", (4, 4))] * 2) == ["a red barn", "a red barn"]
    with pytest.raises(ConfigError, match="text"):
        get_captioner("fixed")


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        get_captioner("blip-huge")
    message = str(info.value)
    assert '"blip-huge"' in message
    for name in list_captioners():
        if name != "fixed":
            assert name in message
    assert "hf:<hub id>" in message
    with pytest.raises(ConfigError):
        get_captioner("")
    with pytest.raises(ConfigError, match="hf:<hub id>"):
        get_captioner("hf:")


def test_unknown_name_offers_only_names_these_arguments_can_build(tmp_path: Path) -> None:
    # `fixed` needs text=...: the CLI (which passes none) must not suggest it.
    with pytest.raises(ConfigError) as info:
        get_captioner("blip-huge")
    assert "fixed" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        get_captioner("blip-huge", text="a barn")
    assert "known: fixed," in str(info.value)
    from click.testing import CliRunner

    from jpegtext.cli import main

    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    result = CliRunner().invoke(main, ["caption", "--captioner", "nope", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "known: blip-base, builtin, hf:" in result.output and "fixed" not in result.output


def test_bad_keyword_arguments() -> None:
    with pytest.raises(ConfigError, match="bad arguments"):
        get_captioner("builtin", colour=True)


def test_register_and_refuse_duplicates(clean_registry: None) -> None:
    register_captioner("echo-size", EchoSize)
    assert "echo-size" in list_captioners()
    assert get_captioner("echo-size")([Image.new("RGB", (3, 2))]) == ["3x2"]
    with pytest.raises(ConfigError, match="already registered"):
        register_captioner("echo-size", EchoSize)
    with pytest.raises(ConfigError, match="already registered"):
        register_captioner("builtin", EchoSize)


@pytest.mark.parametrize("bad", ["", "Has Caps", "with space", "hf:x", " lead"])
def test_register_refuses_bad_names(clean_registry: None, bad: str) -> None:
    with pytest.raises(ConfigError, match="Invalid captioner name"):
        register_captioner(bad, EchoSize)


def test_register_refuses_non_callables(clean_registry: None) -> None:
    with pytest.raises(ConfigError, match="not callable"):
        register_captioner("thing", "not a factory")  # type: ignore[arg-type]


def test_import_is_light() -> None:
    code = (
        "import sys, jpegtext.captioner, jpegtext.cli.caption; "
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
