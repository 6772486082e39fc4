"""Evaluation datasets: which images, in which order, with which captions.

Two layouts are read:

- a folder of images (Kodak, LIVE1): the image files directly inside ``DATASET_DIR``, sorted by
  name; the image id is the file name;
- a manifest (flowers256 ``labels.jsonl``, coco_mini ``captions.jsonl``): one JSON object per
  line with ``file`` (relative to ``DATASET_DIR``) and optionally ``split``, ``caption`` (a
  string) or ``captions`` (a list: the first one is used, as the paper's COCO experiment uses one
  text per image); the image id is ``file``.

Captions come, in order of precedence, from a captions file, the manifest, a template over the
manifest's fields (``"a photo of a {class_name}"``) or a captioner run on the *clean* image (what
the sender does); the harness records them so that a run can be repeated exactly.

The text ablation's wrong captions are a derangement of the images: image ``i`` gets the caption
of image ``j != i`` (Sattolo's algorithm, seeded), moved on to another image where ``j``'s text is
the same as ``i``'s.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jpegtext.errors import ConfigError

__all__ = [
    "IMAGE_SUFFIXES",
    "EvalImage",
    "derangement",
    "list_images",
    "read_captions_file",
    "select_subset",
    "wrong_caption_sources",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp"})


@dataclass(frozen=True)
class EvalImage:
    """One clean image of an evaluation set.

    Attributes:
        id: stable name of the image in results (path relative to the dataset folder, POSIX).
        path: the file.
        caption: the caption given by the manifest (or its template), None when it has to come
            from a captions file or a captioner.
        fields: the manifest's fields for this image (empty for a plain folder).
    """

    id: str
    path: Path
    caption: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False)


def select_subset(items: Sequence[Any], n: int | None, seed: int = 0) -> list[Any]:
    """``n`` of ``items`` drawn by a fixed seeded shuffle (all of them when ``n`` is None/large).

    Manifests are grouped by class, so the first ``n`` images would often share one class; a
    seeded draw keeps a short run representative and deterministic, and the draws are nested
    (the images of ``--limit 3`` are among those of ``--limit 5``), so a resumed run with a
    larger limit reuses every finished result.

    Args:
        items: the sorted candidates.
        n: how many to keep (>= 1), or None for all.
        seed: the shuffle's seed.

    Returns:
        The kept items, in their original order.
    """
    if n is None or n >= len(items):
        return list(items)
    if n < 1:
        raise ConfigError(f'Invalid limit "{n}", should be >= 1')
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    return [items[i] for i in sorted(order[:n])]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{lineno}: expected a JSON object per line")
            rows.append(row)
    return rows


def _manifest_caption(row: Mapping[str, Any], where: str) -> str | None:
    if "caption" in row:
        if not isinstance(row["caption"], str):
            raise ConfigError(f"{where}: 'caption' must be a string")
        return row["caption"]
    caps = row.get("captions")
    if caps is None:
        return None
    if not isinstance(caps, list) or not caps or not all(isinstance(c, str) for c in caps):
        raise ConfigError(f"{where}: 'captions' must be a non-empty list of strings")
    return caps[0]


def _fill_template(template: str, row: Mapping[str, Any], where: str) -> str:
    try:
        return template.format(**row)
    except KeyError as exc:
        known = ", ".join(sorted(row)) or "(none)"
        raise ConfigError(
            f"caption template {template!r} uses field {exc} that {where} lacks; fields: {known}"
        ) from None
    except (IndexError, ValueError) as exc:
        raise ConfigError(f"invalid caption template {template!r}: {exc}") from None


def list_images(
    dataset_dir: str | os.PathLike[str],
    *,
    manifest: str | os.PathLike[str] | None = None,
    split: str | None = None,
    limit: int | None = None,
    caption_template: str | None = None,
) -> list[EvalImage]:
    """The images of an evaluation set, sorted by id.

    Args:
        dataset_dir: the folder of images, or the root the manifest's ``file`` fields are
            relative to.
        manifest: a JSONL manifest (a relative path is looked for in ``dataset_dir`` too).
        split: keep only manifest rows whose ``split`` equals this.
        limit: keep this many images, drawn by a seeded shuffle (see :func:`select_subset`).
        caption_template: ``str.format`` template over each manifest row, used when the row has
            no ``caption``/``captions`` (e.g. ``"a photo of a {class_name}"``).

    Returns:
        The images.

    Raises:
        ConfigError: no images, a bad manifest, an unknown split, a missing image file.
    """
    root = Path(dataset_dir).expanduser()
    if not root.is_dir():
        raise ConfigError(f"dataset folder not found: {root}")
    if split is not None and manifest is None:
        raise ConfigError("--split needs a --manifest")
    if caption_template is not None and manifest is None:
        raise ConfigError("a caption template needs a --manifest (its fields fill the template)")
    images: list[EvalImage] = []
    if manifest is None:
        for p in sorted(root.iterdir()):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                images.append(EvalImage(id=p.name, path=p))
        if not images:
            raise ConfigError(
                f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {root}; for a dataset "
                "described by a JSONL file pass --manifest"
            )
    else:
        mpath = Path(manifest).expanduser()
        if not mpath.is_file() and not mpath.is_absolute() and (root / mpath).is_file():
            mpath = root / mpath
        if not mpath.is_file():
            raise ConfigError(f"manifest not found: {manifest}")
        rows = _read_jsonl(mpath)
        splits = sorted({str(r.get("split")) for r in rows if "split" in r})
        seen: set[str] = set()
        for lineno, row in enumerate(rows, 1):
            where = f"{mpath.name} row {lineno}"
            if not isinstance(row.get("file"), str):
                raise ConfigError(f"{where}: needs a 'file' string")
            if split is not None and row.get("split") != split:
                continue
            rel = row["file"]
            if rel in seen:
                raise ConfigError(f"{where}: {rel} is listed twice")
            seen.add(rel)
            caption = _manifest_caption(row, where)
            if caption is None and caption_template is not None:
                caption = _fill_template(caption_template, row, where)
            images.append(EvalImage(id=rel, path=root / rel, caption=caption, fields=dict(row)))
        if not images:
            raise ConfigError(
                f"{mpath} has no images"
                + (f" in split {split!r}; splits: {', '.join(splits) or '(none)'}" if split else "")
            )
        images.sort(key=lambda im: im.id)
    images = select_subset(images, limit)
    missing = [im.path for im in images if not im.path.is_file()]
    if missing:
        raise ConfigError(f"{len(missing)} image file(s) not found, e.g. {missing[0]}")
    return images


def read_captions_file(path: str | os.PathLike[str], images: Sequence[EvalImage]) -> dict[str, str]:
    """Captions of ``images`` from a file.

    Accepted: JSONL with one ``{"image" or "file": ..., "caption": ...}`` per line (the
    ``captions.jsonl`` an evaluation writes), or a JSON list of such objects (``jpegtext caption
    --json``). Entries are matched to images by id, else by file name when that is unambiguous.

    Returns:
        image id -> caption, for every image.

    Raises:
        ConfigError: unreadable file, or an image without a caption.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"captions file not found: {p}")
    text = p.read_text(encoding="utf-8")
    rows: list[Any]
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{p}: not JSON ({exc.msg})") from None
    else:
        rows = _read_jsonl(p)
    by_key: dict[str, str] = {}
    by_name: dict[str, list[str]] = {}
    for i, row in enumerate(rows, 1):
        key = row.get("image", row.get("file")) if isinstance(row, dict) else None
        cap = row.get("caption") if isinstance(row, dict) else None
        if not isinstance(key, str) or not isinstance(cap, str):
            raise ConfigError(f"{p} entry {i}: needs 'image' (or 'file') and 'caption' strings")
        by_key[key] = cap
        by_name.setdefault(Path(key).name, []).append(cap)
    out: dict[str, str] = {}
    missing = []
    for im in images:
        if im.id in by_key:
            out[im.id] = by_key[im.id]
        elif len(by_name.get(Path(im.id).name, [])) == 1:
            out[im.id] = by_name[Path(im.id).name][0]
        else:
            missing.append(im.id)
    if missing:
        raise ConfigError(
            f"{p} has no caption for {len(missing)} image(s), e.g. {missing[0]!r} "
            "(entries are matched by image id, then by unique file name)"
        )
    return out


def derangement(n: int, seed: int) -> list[int]:
    """A seeded random permutation of ``range(n)`` without fixed points (one n-cycle).

    Sattolo's algorithm: every result is a single cycle, so ``perm[i] != i`` for all ``i``.

    Raises:
        ConfigError: ``n < 2`` (one image cannot be given another image's caption).
    """
    if n < 2:
        raise ConfigError("wrong-caption methods need at least 2 images")
    perm = list(range(n))
    rng = random.Random(seed)
    for i in range(n - 1, 0, -1):
        j = rng.randrange(i)  # j < i, never i itself: this is what makes it one cycle
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def wrong_caption_sources(captions: Sequence[str], seed: int = 0) -> list[int]:
    """For each image, the index of the image whose caption it gets in the text ablation.

    Starts from :func:`derangement`; where the chosen caption has the same text as the image's
    own (datasets whose captions come from a class template often repeat texts), another image
    with a different text is taken, chosen with the same seed. Only when every caption is the
    same text is an equal text kept (logged as a warning).

    Args:
        captions: the true caption of each image.
        seed: the derangement's seed.

    Returns:
        ``src`` with ``src[i] != i`` for every ``i``.
    """
    n = len(captions)
    perm = derangement(n, seed)
    rng = random.Random(seed + 1)
    out = []
    equal_kept = 0
    for i, j in enumerate(perm):
        if captions[j] == captions[i]:
            others = [k for k in range(n) if captions[k] != captions[i]]
            if others:
                j = others[rng.randrange(len(others))]
            else:
                equal_kept += 1
        out.append(j)
    if equal_kept:
        logger.warning(
            "%d image(s) got another image's caption with the same text (all captions equal)",
            equal_kept,
        )
    return out
