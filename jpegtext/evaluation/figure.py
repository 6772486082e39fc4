"""Comparison figures in the paper's style (its Fig. 4, 7 and 8).

:func:`comparison_figure`: one row per image — its caption drawn above, then the clean image,
the JPEG and each method side by side, and under them the same detail of every image zoomed in
(the most textured square of the clean image, marked by a box). :func:`captioned_strip`: one
image per caption with the caption above it (the paper's text-control figure).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from jpegtext.errors import InvalidImageError

__all__ = ["FigureRow", "captioned_strip", "comparison_figure", "detail_box"]

_BG = (255, 255, 255)
_FG = (0, 0, 0)
_BOX = (255, 40, 40)
_PAD = 6


@dataclass(frozen=True)
class FigureRow:
    """One row of a comparison figure.

    Attributes:
        caption: text drawn above the row.
        images: (H, W, 3) uint8 RGB arrays of one size, one per column; the first is the clean
            image (its detail box is chosen on it).
    """

    caption: str
    images: Sequence[np.ndarray]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow built without FreeType
        return ImageFont.load_default()


def _text_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    box = font.getbbox("Ag")
    return int(box[3] - box[1]) + 4


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    """Lines of ``text`` that fit ``width`` pixels."""
    if not text:
        return [""]
    avg = max(1.0, font.getlength("abcdefghijklmnopqrstuvwxyz") / 26.0)
    chars = max(8, int(width / avg))
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, chars) or [""]
    return lines


def detail_box(image: np.ndarray, frac: float = 0.25) -> tuple[int, int, int]:
    """The most textured square of ``image``, for the zoomed detail.

    Args:
        image: (H, W, 3) uint8 RGB.
        frac: side of the square as a fraction of the shorter image side.

    Returns:
        (top, left, side) in pixels.
    """
    h, w = image.shape[:2]
    side = max(8, int(min(h, w) * frac))
    side = min(side, h, w)
    g = image.astype(np.float64).mean(axis=2)
    energy = np.zeros_like(g)
    energy[:, 1:] += np.abs(np.diff(g, axis=1))
    energy[1:, :] += np.abs(np.diff(g, axis=0))
    # Box sums over every side x side window via an integral image, scanned on a coarse grid.
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    step = max(1, side // 4)
    best, best_pos = -1.0, (0, 0)
    for top in range(0, h - side + 1, step):
        for left in range(0, w - side + 1, step):
            s = (
                integral[top + side, left + side]
                - integral[top, left + side]
                - integral[top + side, left]
                + integral[top, left]
            )
            if s > best:
                best, best_pos = float(s), (top, left)
    return best_pos[0], best_pos[1], side


def _check_images(images: Sequence[np.ndarray]) -> tuple[int, int]:
    if not images:
        raise InvalidImageError("a figure row needs at least one image")
    shape = images[0].shape
    for img in images:
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise InvalidImageError(f"figure images must be uint8 (H, W, 3), got {img.shape}")
        if img.shape != shape:
            raise InvalidImageError(f"images of one row differ in size: {shape} vs {img.shape}")
    return int(shape[0]), int(shape[1])


def comparison_figure(
    rows: Sequence[FigureRow],
    column_titles: Sequence[str],
    *,
    tile_width: int = 256,
    zoom: bool = True,
    title: str | None = None,
) -> Image.Image:
    """Grid of images with captions above each row and zoomed details below.

    Args:
        rows: the rows; every row has ``len(column_titles)`` images.
        column_titles: the name of each column (``clean``, ``JPEG q1``, methods ...).
        tile_width: width every image is scaled to (the height keeps the aspect ratio).
        zoom: add the zoomed detail under each row.
        title: optional line at the top.

    Returns:
        The figure (RGB).
    """
    ncol = len(column_titles)
    if ncol == 0 or not rows:
        raise InvalidImageError("a figure needs at least one row and one column")
    font = _font(14)
    small = _font(12)
    line_h = _text_height(font)
    width = ncol * tile_width + (ncol + 1) * _PAD
    blocks: list[Image.Image] = []
    if title:
        lines = _wrap(title, font, width - 2 * _PAD)
        block = Image.new("RGB", (width, len(lines) * line_h + _PAD), _BG)
        draw = ImageDraw.Draw(block)
        for i, line in enumerate(lines):
            draw.text((_PAD, _PAD // 2 + i * line_h), line, fill=_FG, font=font)
        blocks.append(block)
    header = Image.new("RGB", (width, _text_height(small) + _PAD), _BG)
    draw = ImageDraw.Draw(header)
    for c, name in enumerate(column_titles):
        x = _PAD + c * (tile_width + _PAD)
        draw.text((x, _PAD // 2), name[: max(4, tile_width // 7)], fill=_FG, font=small)
    blocks.append(header)
    for row in rows:
        if len(row.images) != ncol:
            raise InvalidImageError(
                f"a row has {len(row.images)} images for {ncol} columns {list(column_titles)}"
            )
        h, w = _check_images(row.images)
        tile_h = max(1, round(h * tile_width / w))
        top, left, side = detail_box(row.images[0]) if zoom else (0, 0, 0)
        lines = _wrap(row.caption, font, width - 2 * _PAD)
        cap_h = len(lines) * line_h + _PAD
        total_h = cap_h + tile_h + _PAD + ((tile_width + _PAD) if zoom else 0)
        block = Image.new("RGB", (width, total_h), _BG)
        draw = ImageDraw.Draw(block)
        for i, line in enumerate(lines):
            draw.text((_PAD, _PAD // 2 + i * line_h), line, fill=_FG, font=font)
        sx = tile_width / w
        for c, img in enumerate(row.images):
            x = _PAD + c * (tile_width + _PAD)
            tile = Image.fromarray(np.ascontiguousarray(img)).resize(
                (tile_width, tile_h), Image.Resampling.LANCZOS
            )
            block.paste(tile, (x, cap_h))
            if zoom:
                box = (
                    x + left * sx,
                    cap_h + top * sx,
                    x + (left + side) * sx,
                    cap_h + (top + side) * sx,
                )
                draw.rectangle(box, outline=_BOX, width=2)
                crop = Image.fromarray(
                    np.ascontiguousarray(img[top : top + side, left : left + side])
                )
                # Nearest neighbour: a zoom must show the blocks and ringing as they are.
                crop = crop.resize((tile_width, tile_width), Image.Resampling.NEAREST)
                block.paste(crop, (x, cap_h + tile_h + _PAD))
        blocks.append(block)
    height = sum(b.height for b in blocks) + _PAD
    fig = Image.new("RGB", (width, height), _BG)
    y = 0
    for b in blocks:
        fig.paste(b, (0, y))
        y += b.height
    return fig


def captioned_strip(
    images: Sequence[np.ndarray], captions: Sequence[str], *, tile_width: int = 256
) -> Image.Image:
    """Images side by side, each with its own caption wrapped above it.

    Args:
        images: (H, W, 3) uint8 RGB arrays of one size.
        captions: one text per image.
        tile_width: width each image is scaled to.

    Returns:
        The strip (RGB).
    """
    if len(images) != len(captions):
        raise InvalidImageError(f"{len(images)} images but {len(captions)} captions")
    h, w = _check_images(images)
    tile_h = max(1, round(h * tile_width / w))
    font = _font(13)
    line_h = _text_height(font)
    wrapped = [_wrap(c, font, tile_width) for c in captions]
    cap_h = max(len(lines) for lines in wrapped) * line_h + _PAD
    n = len(images)
    fig = Image.new("RGB", (n * tile_width + (n + 1) * _PAD, cap_h + tile_h + 2 * _PAD), _BG)
    draw = ImageDraw.Draw(fig)
    for i, (img, lines) in enumerate(zip(images, wrapped, strict=True)):
        x = _PAD + i * (tile_width + _PAD)
        for k, line in enumerate(lines):
            draw.text((x, _PAD // 2 + k * line_h), line, fill=_FG, font=font)
        tile = Image.fromarray(np.ascontiguousarray(img)).resize(
            (tile_width, tile_h), Image.Resampling.LANCZOS
        )
        fig.paste(tile, (x, cap_h + _PAD))
    return fig
