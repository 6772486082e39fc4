"""Colour swap: a training sample whose caption, not its JPEG, knows the colour of the subject.

A human caption that names a colour ("this flower has yellow petals") describes pixels the clean
image has. A colour swap repaints those pixels in another colour (``purple``) in the clean
*target* only, keeping their lightness, and puts the new colour word in the caption; the JPEG
input is still made from the unchanged image. The generator can only produce the target's
colour by reading the caption, which is what the paper's Fig. 8 asks of it (change the colour
word, the restored flower changes colour) and what truthful captions never force: there, the
JPEG's own chroma already points the same way as the text.

The pixels of a colour are found by the built-in captioner's own colour naming
(:func:`jpegtext.captioner.colour.classify_lab`, CIELAB), widened to the terms people use for
the same petals (a "pink" flower has pixels the naming calls red or purple, a "blue" one purple);
their CIELAB hue is turned to the new colour's, their chroma brought up to a floor (to white:
down to nearly grey) and their lightness moved half way to the new colour's (shading kept), with
the mask's edge softened so no seam is drawn.
"""

from __future__ import annotations

import re

import cv2
import numpy as np
from PIL import Image

from jpegtext.captioner.colour import COLOUR_NAMES, classify_lab, lab_to_lch, rgb_to_lab

__all__ = ["SOURCE_COLOURS", "TARGET_COLOURS", "swap_colour"]

#: Colour words a swap starts from (hues the colour naming finds reliably in petals and objects).
SOURCE_COLOURS: tuple[str, ...] = ("red", "orange", "yellow", "blue", "purple", "pink")
#: Colour words a swap may end at, with their sRGB anchors (as the text-control benchmark's).
TARGET_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (240, 140, 20),
    "yellow": (240, 220, 30),
    "blue": (30, 70, 220),
    "purple": (140, 40, 180),
    "pink": (240, 120, 180),
    "white": (240, 240, 240),
}
# the pixel terms a caption's colour word covers
_FAMILY: dict[str, tuple[str, ...]] = {
    "red": ("red", "pink"),
    "orange": ("orange", "yellow"),
    "yellow": ("yellow", "orange"),
    "blue": ("blue", "purple"),
    "purple": ("purple", "blue", "pink"),
    "pink": ("pink", "red", "purple"),
}
_WORD = re.compile(r"\b(" + "|".join(SOURCE_COLOURS) + r")\b", re.IGNORECASE)
_MIN_COVER = 0.03  # the named colour must cover this share of the crop to be swapped
_CHROMA_FLOOR = 0.6  # a recoloured pixel keeps at least this share of its anchor's chroma
_WHITE_CHROMA = 3.0
_LIGHTNESS_PULL = 0.5  # share of the way the region's mean lightness moves to the anchor's


def _anchor_lch(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    lab = rgb_to_lab(np.array([[rgb]], dtype=np.uint8))
    lightness, chroma, hue = lab_to_lch(lab)
    return float(lightness[0, 0]), float(chroma[0, 0]), float(hue[0, 0])


_ANCHORS = {name: _anchor_lch(rgb) for name, rgb in TARGET_COLOURS.items()}


def swap_colour(image: Image.Image, caption: str, u: float) -> tuple[Image.Image, str, str]:
    """Repaint the caption's first colour in ``image`` and name the new colour in the caption.

    Args:
        image: the clean RGB crop.
        caption: its (human) caption.
        u: a uniform draw in [0, 1) that picks the new colour among the others.

    Returns:
        (image, caption, new colour). Unchanged, with new colour ``""``, when the caption names
        none of :data:`SOURCE_COLOURS` or that colour covers under 3 % of the crop.
    """
    match = _WORD.search(caption)
    if match is None:
        return image, caption, ""
    source = match.group(1).lower()
    rgb = np.asarray(image.convert("RGB"))
    lab = rgb_to_lab(rgb)
    lightness, chroma, hue = lab_to_lch(lab)
    terms = classify_lab(lightness, chroma, hue)
    mask = np.isin(terms, [COLOUR_NAMES.index(t) for t in _FAMILY[source]]).astype(np.float32)
    if mask.mean() < _MIN_COVER:
        return image, caption, ""
    choices = [c for c in TARGET_COLOURS if c != source]
    target = choices[min(int(u * len(choices)), len(choices) - 1)]
    anchor_lightness, anchor_chroma, anchor_hue = _ANCHORS[target]
    if target == "white":
        new_chroma = np.full_like(chroma, _WHITE_CHROMA)
    else:
        new_chroma = np.maximum(chroma, _CHROMA_FLOOR * anchor_chroma)
    region_lightness = float((lightness * mask).sum() / mask.sum())
    new_lightness = np.clip(lightness + _LIGHTNESS_PULL * (anchor_lightness - region_lightness),
                            0.0, 100.0)
    rad = np.deg2rad(anchor_hue)
    recoloured = np.stack([new_lightness, new_chroma * np.cos(rad), new_chroma * np.sin(rad)], -1)
    weight = cv2.GaussianBlur(mask, (0, 0), sigmaX=1.0)[..., None]
    out_lab = (lab + weight * (recoloured - lab)).astype(np.float32)
    out = cv2.cvtColor(out_lab, cv2.COLOR_Lab2RGB)
    out = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    pattern = re.compile(rf"\b{source}\b", re.IGNORECASE)
    return Image.fromarray(out, mode="RGB"), pattern.sub(target, caption), target
