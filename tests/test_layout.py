"""The package layout the README's Layout section describes, checked on the source (no imports).

Each rule says which parts of jpegtext a part may import; a module breaking one is named. The
check reads every ``import`` / ``from ... import`` of the source with :mod:`ast`, including the
imports inside functions (the lazy ones), so a heavy or circular dependency cannot hide there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "jpegtext"

#: part -> parts of jpegtext it must never import
FORBIDDEN = {
    "jpegtext.codec": ("jpegtext.restore", "jpegtext.captioner", "jpegtext.cli",
                       "jpegtext.evaluation", "jpegtext.serve", "jpegtext.metrics"),
    "jpegtext.captioner": ("jpegtext.restore", "jpegtext.cli", "jpegtext.evaluation",
                           "jpegtext.serve"),
    "jpegtext.metrics": ("jpegtext.restore", "jpegtext.cli", "jpegtext.evaluation",
                         "jpegtext.serve"),
    "jpegtext.restore": ("jpegtext.cli", "jpegtext.evaluation", "jpegtext.serve"),
    "jpegtext.restore.networks": ("jpegtext.restore.training", "jpegtext.restore.runtime"),
    "jpegtext.restore.runtime": ("jpegtext.restore.training",),
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _violations() -> list[str]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        name = _module_name(path)
        for part, banned in FORBIDDEN.items():
            if name != part and not name.startswith(part + "."):
                continue
            for imp in sorted(_imports(path)):
                hit = next((b for b in banned if imp == b or imp.startswith(b + ".")), None)
                if hit is not None:
                    out.append(f"{name} imports {imp} ({part} must not import {hit})")
    return out


def test_import_directions_follow_the_layout() -> None:
    assert _violations() == []


def test_the_layout_check_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "jpegtext" / "codec"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("def f():\n    from jpegtext.restore.runtime import zoo\n")
    monkeypatch.setattr(__import__(__name__), "PKG", tmp_path / "jpegtext")
    assert _violations() == [
        "jpegtext.codec.bad imports jpegtext.restore.runtime (jpegtext.codec must not import "
        "jpegtext.restore)",
        "jpegtext.codec.bad imports jpegtext.restore.runtime.zoo (jpegtext.codec must not "
        "import jpegtext.restore)",
    ]


def test_readme_layout_names_every_part() -> None:
    readme = (PKG.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    parts = sorted(p.relative_to(PKG.parent).as_posix() + "/" for p in PKG.rglob("*")
                   if p.is_dir() and (p / "__init__.py").is_file())
    missing = [p for p in parts if p not in section]
    assert missing == [], f"README Layout does not name {missing}"
