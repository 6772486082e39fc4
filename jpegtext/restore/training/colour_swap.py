"""Colour swap: a training sample whose caption, not its JPEG, knows the colour of the subject.

A human caption that names a colour ("this flower has yellow petals") describes pixels the clean
image has. A colour swap repaints those pixels in another colour (``purple``) in the clean
*target* only, keeping their shading, and puts the new colour word in the caption; the JPEG
input is still made from the unchanged image. The generator can only produce the target's
colour by reading the caption, which is what the paper's Fig. 8 asks of it (change the colour
word, the restored flower changes colour) and what truthful captions never force: there, the
JPEG's own chroma already points the same way as the text.

The pixels of a colour are found by the built-in captioner's own colour naming
(:func:`jpegtext.captioner.colour.classify_lab`, CIELAB), widened to the terms people use for
the same petals (a "pink" flower has pixels the naming calls red or purple, a "blue" one purple);
their CIELAB hue is turned to the new colour's, their chroma brought up to a floor (to white:
down to nearly grey) and their lightness moved half way to the new colour's (shading kept), with
the mask's edge softened so no seam is drawn. That "absolute" repaint taught round 12 to paint
every named colour at its anchor even when the caption was true (flowers val PSNR -2 dB); the
"relative" one turns the region's mean hue to the new colour's and scales chroma and shifts
lightness by the difference between the two colours' anchors, keeping the pixels' spread, so a
caption that names the colour the pixels have asks for little change. "Offset" goes one step
further (round 15): the region's hue, chroma and lightness all move by the difference between the
new colour's anchor and the anchor of the colour the pixels themselves have (the term most of the
region's pixels are named), so a petal that sits 10 degrees off its own anchor lands 10 degrees
off the new one. Only then is "the caption names the colour the pixels have" exactly "no change":
relative swaps still put the region's mean hue on the new colour's anchor, which teaches the
generator to pull a truthfully named colour towards its anchor too. The anchors themselves are
saturated sRGB colours far from what people call a colour (flowers256 "purple" petals: L 57 /
C 41; the anchor: L 39 / C 82), so every anchor-based swap also changes what follows a word;
"natural" (round 22) moves between the mean petal colours people give the two words instead.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from jpegtext.captioner.colour import ANCHOR_RGB, COLOUR_NAMES, classify_lab, lab_to_lch, rgb_to_lab

__all__ = ["DISTRACTOR_PARTS", "SOURCE_COLOURS", "TARGET_COLOURS", "distractor_clause",
           "family_mask", "named_region", "natural_lch", "swap_colour"]

#: Colour words a swap starts from (hues the colour naming finds reliably in petals and objects).
SOURCE_COLOURS: tuple[str, ...] = ("red", "orange", "yellow", "blue", "purple", "pink")
#: Colour words a swap may end at, with their sRGB anchors (the text-control benchmark's).
TARGET_COLOURS: dict[str, tuple[int, int, int]] = {
    name: ANCHOR_RGB[name] for name in (*SOURCE_COLOURS, "white")
}
#: Small parts of a flower a distractor clause gives a colour to (see :func:`distractor_clause`).
DISTRACTOR_PARTS: tuple[str, ...] = ("stem", "pedicel", "stamen", "stamens", "anthers",
                                     "filaments", "pistil", "stigma", "sepals")
_DISTRACTOR_FORMS = ("the {part} is {colour}, ", "it has {colour} {part} and ",
                     "{colour} {part}; ")
# the pixel terms a caption's colour word covers
_FAMILY: dict[str, tuple[str, ...]] = {
    "red": ("red", "pink"),
    "orange": ("orange", "yellow"),
    "yellow": ("yellow", "orange"),
    "blue": ("blue", "purple"),
    "purple": ("purple", "blue", "pink"),
    "pink": ("pink", "red", "purple"),
    "white": ("white",),
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
_NATURAL_TABLE = Path(__file__).with_name("colour_words_lch.json")


def family_mask(terms: np.ndarray, word: str) -> np.ndarray:
    """1.0 where the colour naming's ``terms`` fall in the family of the caption word ``word``."""
    return np.isin(terms, [COLOUR_NAMES.index(t) for t in _FAMILY[word]]).astype(np.float32)


_Lch = tuple[np.ndarray, np.ndarray, np.ndarray]


def _named_pixels(image: Image.Image, caption: str
                  ) -> tuple[str, np.ndarray, _Lch, np.ndarray, np.ndarray] | None:
    """(word, CIELAB, (L, C, h), colour terms, 0/1 mask) of the caption's first colour word, or
    None when it names none of :data:`SOURCE_COLOURS` or that colour covers under 3 %."""
    match = _WORD.search(caption)
    if match is None:
        return None
    source = match.group(1).lower()
    lab = rgb_to_lab(np.asarray(image.convert("RGB")))
    lch = lab_to_lch(lab)
    terms = classify_lab(*lch)
    mask = family_mask(terms, source)
    if mask.mean() < _MIN_COVER:
        return None
    return source, lab, lch, terms, mask


def named_region(image: Image.Image, caption: str) -> np.ndarray | None:
    """The soft (H, W) weight map of the pixels the caption's first colour word names, the map a
    colour swap repaints (:func:`swap_colour`); None when the caption names none of
    :data:`SOURCE_COLOURS` or that colour covers under 3 % of the crop."""
    found = _named_pixels(image, caption)
    return None if found is None else _soften(found[-1])


def _soften(mask: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(mask, (0, 0), sigmaX=1.0)


@lru_cache(maxsize=1)
def natural_lch() -> dict[str, tuple[float, float, float]]:
    """(lightness, chroma, hue) of the petals people call each colour: the mean over flowers256
    train (``colour_words_lch.json``, made by ``tools/colour_word_stats.py``)."""
    words = json.loads(_NATURAL_TABLE.read_text(encoding="utf-8"))["words"]
    return {w: (float(r["lightness"]), float(r["chroma"]), float(r["hue"])) for w, r in words.items()}


def swap_colour(image: Image.Image, caption: str, u: float, mode: str = "absolute",
                far: bool = False, lightness_share: float = 1.0) -> tuple[Image.Image, str, str]:
    """Repaint the caption's first colour in ``image`` and name the new colour in the caption.

    Args:
        image: the clean RGB crop.
        caption: its (human) caption.
        u: a uniform draw in [0, 1) that picks the new colour among the others.
        mode: ``"absolute"``: the pixels take the new colour's hue, at least 0.6 of its chroma and
            half of its lightness difference from the region's mean (rounds 11-12);
            ``"relative"``: the region's mean hue is turned to the new colour's (each pixel by
            the same angle), chroma scaled by the ratio of the two colours' anchors and lightness
            shifted by half their difference, so that a caption naming the colour the pixels
            already have asks for little change (round 13);
            ``"offset"``: hue, chroma and lightness move by the difference between the new
            colour's anchor and the anchor of the pixels' own (most common) colour term, so the
            region keeps its offset from its anchor and the new colour is never that term
            (round 15);
            ``"natural"``: as offset, but between the colours people give the two words (the
            mean petal colour of each word in flowers256 train, :func:`natural_lch`; lightness
            moved the whole difference), so a swap to "purple" looks like the petals captions
            call purple and a true caption keeps meaning what it meant (round 22).
        far: the new colour is never one the caption word's or the pixels' own colour family
            covers (red and pink, orange and yellow, blue and purple ...: see ``_FAMILY``), so
            that a swap always shows in the JPEG's colour and a caption naming the colour the
            JPEG shows is never a swap (round 21).
        lightness_share: ``"natural"`` only: the share of the two words' lightness difference
            the region moves (1: all of it, round 22; 0: lightness and texture kept, only hue and
            chroma change, so the caption is taught to steer colour and nothing else).

    Returns:
        (image, caption, new colour). Unchanged, with new colour ``""``, when the caption names
        none of :data:`SOURCE_COLOURS` or that colour covers under 3 % of the crop.
    """
    found = _named_pixels(image, caption)
    if found is None:
        return image, caption, ""
    source, lab, (lightness, chroma, hue), terms, mask = found
    own = source
    if mode == "offset":  # the colour the pixels have, by the naming's own majority
        counts = np.bincount(terms[mask > 0].ravel(), minlength=len(COLOUR_NAMES))
        own = COLOUR_NAMES[int(np.argmax(counts))]
    near = {source, own, *_FAMILY[source], *_FAMILY.get(own, ())} if far else {source, own}
    choices = [c for c in TARGET_COLOURS if c not in near]
    target = choices[min(int(u * len(choices)), len(choices) - 1)]
    if mode == "offset":
        recoloured = _offset(lightness, chroma, hue, _ANCHORS[own], _ANCHORS[target])
    elif mode == "natural":
        people = natural_lch()
        recoloured = _offset(lightness, chroma, hue, people[source], people[target],
                             pull=lightness_share)
    elif mode == "relative":
        recoloured = _relative(lightness, chroma, hue, mask, _ANCHORS[source], _ANCHORS[target])
    else:
        recoloured = _absolute(lightness, chroma, mask, _ANCHORS[target], target == "white")
    weight = _soften(mask)[..., None]
    out_lab = (lab + weight * (recoloured - lab)).astype(np.float32)
    out = cv2.cvtColor(out_lab, cv2.COLOR_Lab2RGB)
    out = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    pattern = re.compile(rf"\b{source}\b", re.IGNORECASE)
    return Image.fromarray(out, mode="RGB"), pattern.sub(target, caption), target


def _lab(lightness: np.ndarray, chroma: np.ndarray, hue_deg: np.ndarray | float) -> np.ndarray:
    rad = np.deg2rad(hue_deg)
    return np.stack(np.broadcast_arrays(lightness, chroma * np.cos(rad), chroma * np.sin(rad)), -1)


def _absolute(lightness: np.ndarray, chroma: np.ndarray, mask: np.ndarray,
              anchor: tuple[float, float, float], white: bool) -> np.ndarray:
    anchor_lightness, anchor_chroma, anchor_hue = anchor
    if white:
        new_chroma = np.full_like(chroma, _WHITE_CHROMA)
    else:
        new_chroma = np.maximum(chroma, _CHROMA_FLOOR * anchor_chroma)
    region_lightness = float((lightness * mask).sum() / mask.sum())
    new_lightness = np.clip(lightness + _LIGHTNESS_PULL * (anchor_lightness - region_lightness),
                            0.0, 100.0)
    return _lab(new_lightness, new_chroma, anchor_hue)


def _relative(lightness: np.ndarray, chroma: np.ndarray, hue: np.ndarray, mask: np.ndarray,
              source: tuple[float, float, float], target: tuple[float, float, float]
              ) -> np.ndarray:
    # the hue turns from the region's own mean hue (a "pink" petal the naming calls red must
    # not land on green), the chroma and lightness move by the two anchors' difference
    rad = np.deg2rad(hue)
    weight = mask * chroma
    mean_hue = np.degrees(np.arctan2((weight * np.sin(rad)).sum(), (weight * np.cos(rad)).sum()))
    # as an offset move from a source anchor whose hue is the region's mean hue
    return _offset(lightness, chroma, hue, (source[0], source[1], float(mean_hue)), target)


def _offset(lightness: np.ndarray, chroma: np.ndarray, hue: np.ndarray,
            own: tuple[float, float, float], target: tuple[float, float, float],
            pull: float = _LIGHTNESS_PULL) -> np.ndarray:
    # every pixel moves by the anchors' difference: hue turned, chroma scaled, lightness shifted
    new_lightness = np.clip(lightness + pull * (target[0] - own[0]), 0.0, 100.0)
    new_chroma = chroma * (target[1] / max(own[1], 1.0))
    return _lab(new_lightness, new_chroma, hue + (target[2] - own[2]))


def distractor_clause(rng: np.random.Generator, chance: float) -> str:
    """A clause giving a small part a colour ("the pedicel is purple, ") to put before a true
    caption, or "" (with probability ``1 - chance``).

    Human captions often name a small part's colour first ("the pedicel is dark purple, but ...
    the petals turn a bright orange"); a model that learnt colour from swaps of the caption's
    first colour word paints the whole flower with it. Prefixed to a caption whose target is
    left unchanged, the clause teaches that a colour bound to such a part does not repaint the
    flower. Four random numbers are drawn whatever ``chance`` is (a fixed stream).
    """
    u, u_part, u_colour, u_form = rng.random(4)
    if u >= chance:
        return ""
    colours = tuple(TARGET_COLOURS)
    return _DISTRACTOR_FORMS[int(u_form * len(_DISTRACTOR_FORMS))].format(
        part=DISTRACTOR_PARTS[int(u_part * len(DISTRACTOR_PARTS))],
        colour=colours[int(u_colour * len(colours))])
