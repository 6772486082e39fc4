"""Training data: (clean crop, JPEG crop, quality, caption, class id), made on the fly.

The low-quality input is produced with the product's own JPEG encoder (Pillow, 4:2:0 by
default) at a quality drawn from the configured set, so training sees exactly the artifacts
that ``jpegtext encode`` creates. Every random choice of a sample (crop, flip, quality, caption)
comes from a generator seeded by ``(seed, epoch, index)``: a sample is the same whichever process
or worker loads it, which makes resumed and distributed runs repeat single-process runs.

Captions: ``builtin`` sources are captioned by the product's built-in captioner on the clean
crop (what the network sees), so training text looks like deployment text; ``manifest`` sources
use the manifest's human captions; ``mixed`` uses a human caption with probability
``human_caption_prob`` when the crop covers most of the image, else the built-in caption.

``colour_swap`` repaints the colour a human caption names, in the target only, and names the new
colour in the caption (see :mod:`jpegtext.restore.training.colour_swap`); with
``colour_swap_paired`` the sample keeps its truthful twin, which :func:`with_true_twins` puts in the
same batch.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from jpegtext.errors import ConfigError
from jpegtext.restore.training.colour_swap import distractor_clause, named_region, swap_colour
from jpegtext.restore.training.config import DataConfig

__all__ = ["CaptionedImageDataset", "ImageRecord", "desaturate", "jpeg_degrade", "read_records",
           "to_tensor", "with_true_twins"]

_IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class ImageRecord:
    """One training image: path, human captions (may be empty), class id (-1 = none)."""

    path: Path
    captions: tuple[str, ...] = ()
    class_id: int = -1
    caption_mode: str = "builtin"


def read_records(source: Mapping[str, Any]) -> list[ImageRecord]:
    """Images of one data source, sorted by path.

    ``source`` has ``root``, optionally ``manifest`` (JSONL rows with ``file`` and maybe
    ``split``, ``class_id``, ``captions``), ``split``, ``caption`` (the caption policy) and
    ``captions`` (a second JSONL whose ``captions`` replace the manifest's, matched by ``file``:
    flowers256 keeps splits in ``labels.jsonl`` and human captions in ``captions.jsonl``).
    """
    root = Path(source["root"])
    if not root.is_dir():
        raise ConfigError(f"data root not found: {root}")
    mode = source.get("caption", "builtin")
    manifest = source.get("manifest")
    split = source.get("split")
    records: list[ImageRecord] = []
    extra = _caption_file(root, source["captions"]) if source.get("captions") else {}
    if manifest:
        mpath = Path(manifest)
        if not mpath.is_absolute():
            mpath = root / mpath
        if not mpath.is_file():
            raise ConfigError(f"manifest not found: {mpath}")
        for lineno, line in enumerate(mpath.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{mpath}:{lineno}: not JSON ({exc})") from None
            if split is not None and row.get("split") != split:
                continue
            caps = row.get("captions") or ([row["caption"]] if row.get("caption") else [])
            caps = extra.get(row["file"], caps)
            records.append(ImageRecord(root / row["file"], tuple(caps),
                                       int(row.get("class_id", -1)), mode))
    else:
        if mode != "builtin":
            raise ConfigError(f"source {root} has no manifest, so its captions must be 'builtin'")
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() in _IMAGE_EXTS:
                records.append(ImageRecord(p, (), -1, mode))
    if not records:
        raise ConfigError(f"no images found for data source {dict(source)}")
    records.sort(key=lambda r: str(r.path))
    return records


def _caption_file(root: Path, name: str) -> dict[str, list[str]]:
    """``{file: captions}`` of a JSONL captions file (rows ``{"file", "captions": [...]}``)."""
    path = Path(name) if Path(name).is_absolute() else root / name
    if not path.is_file():
        raise ConfigError(f"captions file not found: {path}")
    out: dict[str, list[str]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            caps = row.get("captions") or [row["caption"]]
            out[row["file"]] = [str(c) for c in caps]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{lineno}: not a captions row ({exc})") from None
    return out


def jpeg_degrade(image: Image.Image, quality: int, subsampling: str = "4:2:0") -> Image.Image:
    """Compress ``image`` to JPEG at ``quality`` with the product's encoder and decode it."""
    from jpegtext.codec import encode_jpeg

    data = encode_jpeg(image, quality, subsampling=subsampling, keep_metadata=False)
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def desaturate(image: Image.Image, keep: float) -> Image.Image:
    """``image`` with its chroma scaled towards grey by ``keep`` (0 = grey, 1 = unchanged), in
    BT.601 YCbCr as JPEG stores it; the luma is untouched."""
    ycc = np.asarray(image.convert("YCbCr"), dtype=np.float32).copy()
    ycc[:, :, 1:] = 128.0 + keep * (ycc[:, :, 1:] - 128.0)
    out = Image.fromarray(np.clip(np.rint(ycc), 0, 255).astype(np.uint8), mode="YCbCr")
    return out.convert("RGB")


def to_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """(3, H, W) float tensor in [0, 1] from an RGB PIL image or (H, W, 3) uint8 array."""
    arr = np.asarray(image, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


class CaptionedImageDataset(Dataset):
    """Random crops of captioned images with their JPEG-degraded versions.

    Args:
        records: the images (see :func:`read_records`).
        config: crop size, qualities, caption policy.
        seed: base seed of every random choice.
        train: random crops/flips/qualities; False = deterministic validation samples (full
            image centre-cropped to a multiple of 8, quality cycling through ``qualities``).
        caption_dropout: chance of an empty caption during training (keeps no-text defined).
        named_regions: every sample also has ``"named"``, a (1, H, W) map of the pixels its human
            caption's colour word names in the clean crop, before any colour swap (zeros for
            other captions: :func:`~jpegtext.restore.training.colour_swap.named_region`), for the
            per-pixel keep terms.
    """

    def __init__(self, records: Sequence[ImageRecord], config: DataConfig, seed: int = 0,
                 train: bool = True, caption_dropout: float = 0.0,
                 named_regions: bool = False) -> None:
        self.records = list(records)
        self.config = config
        self.seed = seed
        self.train = train
        self.caption_dropout = caption_dropout
        self.named_regions = named_regions
        self.epoch = 0
        self._captioner = None

    def set_epoch(self, epoch: int) -> None:
        """Change the random draws (crops, qualities, captions) for a new epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def _builtin_caption(self, image: Image.Image) -> str:
        if self._captioner is None:
            from jpegtext.captioner import get_captioner

            self._captioner = get_captioner("builtin")
        return self._captioner([image])[0]

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        rng = np.random.default_rng([self.seed, self.epoch, index, int(self.train)])
        with Image.open(rec.path) as im:
            im.draft("RGB", (im.width, im.height))
            image = im.convert("RGB")
        w, h = image.size
        if self.train:
            crop = self.config.crop
            short = min(w, h)
            side = int(round(short * rng.uniform(self.config.scale_min, 1.0)))
            side = max(min(side, short), min(crop, short))
            x0 = int(rng.integers(0, w - side + 1))
            y0 = int(rng.integers(0, h - side + 1))
            image = image.crop((x0, y0, x0 + side, y0 + side))
            if side != crop:
                image = image.resize((crop, crop), Image.Resampling.BICUBIC, reducing_gap=None)
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            quality = int(rng.choice(self.config.qualities))
            cover = (side * side) / float(w * h)
        else:
            cw, ch = w - w % 8, h - h % 8
            x0, y0 = (w - cw) // 2, (h - ch) // 2
            image = image.crop((x0, y0, x0 + cw, y0 + ch))
            quality = int(self.config.qualities[index % len(self.config.qualities)])
            cover = 1.0
        caption, human = self._pick_caption(rec, image, cover, rng)
        jpeg = jpeg_degrade(image, quality, self.config.subsampling)
        if self.train and self.config.chroma_drop > 0:
            u_drop, u_keep = rng.random(), rng.random()
            eligible = human or self.config.chroma_drop_on == "all"
            if eligible and u_drop < self.config.chroma_drop:
                jpeg = desaturate(jpeg, u_keep * self.config.chroma_keep)
        true_image, true_caption, swapped = image, caption, ""
        named = named_region(image, caption) if self.named_regions and human else None
        if self.train and self.config.colour_swap > 0:
            u_swap, u_to = rng.random(), rng.random()  # drawn for every sample: a fixed stream
            if (human and quality <= self.config.colour_swap_max_quality
                    and u_swap < self.config.colour_swap):
                # the target and caption change; the JPEG input keeps the old colour
                image, caption, swapped = swap_colour(image, caption, u_to,
                                                      self.config.colour_swap_mode,
                                                      self.config.colour_swap_far,
                                                      self.config.colour_swap_lightness)
        if self.train and self.config.part_distractor > 0 and human:
            # its own stream, so that crops, qualities and swaps are those of a run without it
            clause = distractor_clause(
                np.random.default_rng([self.seed, self.epoch, index, 1, 54]),
                self.config.part_distractor)
            caption, true_caption = clause + caption, clause + true_caption
        item: dict[str, Any] = {
            "clean": to_tensor(image),
            "jpeg": to_tensor(jpeg),
            "quality": quality,
            "caption": caption,
            "class_id": rec.class_id,
            "index": index,
            "swapped": bool(swapped),
            "paired": bool(swapped) and self.config.colour_swap_paired,
        }
        if self.named_regions:
            item["named"] = torch.zeros(1, image.height, image.width) if named is None \
                else torch.from_numpy(named)[None]
        if item["paired"]:  # the truthful twin of a swapped sample: see colour_swap_paired
            item["true_clean"], item["true_caption"] = to_tensor(true_image), true_caption
        return item

    def _pick_caption(self, rec: ImageRecord, image: Image.Image, cover: float,
                      rng: np.random.Generator) -> tuple[str, bool]:
        """The sample's caption and whether a human wrote it."""
        # draw every random number unconditionally so that the stream does not depend on policy
        u_drop, u_human, u_pick = rng.random(), rng.random(), rng.random()
        if self.train and u_drop < self.caption_dropout:
            return "", False
        human = bool(rec.captions) and (
            rec.caption_mode == "manifest"
            or (rec.caption_mode == "mixed"
                and cover >= self.config.human_caption_min_cover
                and u_human < self.config.human_caption_prob)
        )
        if human:
            if self.train:
                return rec.captions[int(u_pick * len(rec.captions))], True
            return rec.captions[0], True
        return self._builtin_caption(image), False


def collate(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack tensors, keep captions as a list of str."""
    return {
        "clean": torch.stack([b["clean"] for b in batch]),
        "jpeg": torch.stack([b["jpeg"] for b in batch]),
        "quality": torch.tensor([b["quality"] for b in batch], dtype=torch.long),
        "caption": [b["caption"] for b in batch],
        "class_id": torch.tensor([b["class_id"] for b in batch], dtype=torch.long),
        "index": torch.tensor([b["index"] for b in batch], dtype=torch.long),
        "swapped": torch.tensor([b.get("swapped", False) for b in batch], dtype=torch.bool),
        "paired": torch.tensor([b.get("paired", False) for b in batch], dtype=torch.bool),
        # the named colour regions, where the dataset has them (named_regions)
        "named": torch.stack([b["named"] for b in batch]) if "named" in batch[0] else None,
        # the truthful twins of the paired samples only, in batch order
        "true_clean": [b["true_clean"] for b in batch if b.get("paired")],
        "true_caption": [b["true_caption"] for b in batch if b.get("paired")],
    }


def with_true_twins(batch: Mapping[str, Any]) -> dict[str, Any]:
    """``batch`` with the truthful twin of every paired (colour-swapped) sample appended: the same
    JPEG, quality and class with the true caption and the unchanged clean target."""
    out = {k: v for k, v in batch.items() if k not in ("true_clean", "true_caption")}
    keep = batch["paired"].nonzero().flatten()
    if keep.numel() == 0:
        return out
    out["clean"] = torch.cat([batch["clean"], torch.stack(batch["true_clean"])])
    for key in ("jpeg", "quality", "class_id", "index", "named"):
        if batch.get(key) is not None:  # a twin names the region its swapped sample repainted
            out[key] = torch.cat([batch[key], batch[key][keep]])
    out["caption"] = list(batch["caption"]) + list(batch["true_caption"])
    out["swapped"] = torch.cat([batch["swapped"], torch.zeros(len(keep), dtype=torch.bool)])
    out["paired"] = torch.zeros(len(out["caption"]), dtype=torch.bool)
    return out
