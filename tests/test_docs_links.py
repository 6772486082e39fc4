"""Every relative link of the project's Markdown (README, docs/, model and weights notes) points
at a file of the checkout, and every ``#anchor`` at a heading of its target (GitHub's slugs).

Pure text: no imports of the package, so it runs in a fraction of a second.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md"),
               *(ROOT / "examples").rglob("*.md"), *(ROOT / "benchmarks").rglob("*.md")])
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, inline code marks and punctuation dropped
    (letters, digits, ``_`` and ``-`` kept), each space a ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return "".join(c for c in text if c.isalnum() or c in "_- ").replace(" ", "-")


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors of a Markdown file's headings (a repeated slug gets -1, -2, ...); each file
    is read once however many links point into it."""
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return frozenset(out)


def broken_links(path: Path) -> list[str]:
    """``path``'s relative links whose file or anchor does not exist."""
    bad = []
    for line in _prose(path.read_text(encoding="utf-8")):
        line = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto: ...
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                bad.append(f"{target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                bad.append(f"{target} (no such heading)")
    return bad


def test_slug_follows_github() -> None:
    assert slug("The default: `tgjar-text-v11`") == "the-default-tgjar-text-v11"
    assert slug("Rate control: `--max-bytes`") == "rate-control---max-bytes"
    assert slug("`tgjar-text-v10`, the default before v11") == \
        "tgjar-text-v10-the-default-before-v11"
    assert slug("Library API (bytes in, bytes out)") == "library-api-bytes-in-bytes-out"


def test_checker_finds_a_broken_link(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    (tmp_path / "b.md").write_text("# Real heading\n\n```\n# not a heading\n```\n")
    doc.write_text("[ok](b.md#real-heading) [gone](c.md) [bad](b.md#not-a-heading) "
                   "`[code](x.md)` [web](https://example.org/x)\n\n## Here\n[self](#here)\n")
    assert broken_links(doc) == ["c.md (no such file)", "b.md#not-a-heading (no such heading)"]


def test_relative_links_resolve() -> None:
    bad = [f"{p.relative_to(ROOT).as_posix()}: {b}" for p in DOCS for b in broken_links(p)]
    assert bad == []
