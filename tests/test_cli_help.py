"""Every command has help, and every command appears in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from jpegtext.cli import _COMMANDS, main

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_command_has_help(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 5


@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_command_is_in_readme(name: str) -> None:
    assert re.search(rf"jpegtext {name}\b", README.read_text(encoding="utf-8"))


def test_top_level_help_lists_every_command() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    for name in _COMMANDS:
        assert name in out
