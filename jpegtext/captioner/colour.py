"""Perceptual colour naming in CIELAB, used by the built-in captioner.

Every pixel is named with one of a small set of basic colour terms (the eleven basic terms of
Berlin & Kay plus ``teal``, ``beige`` and ``olive``, which cover water, sand/skin and dry foliage)
from its CIE L*C*h coordinates: lightness ``L`` in [0, 100], chroma ``C`` (distance from grey)
and hue angle ``h`` in degrees. CIELAB is used because distances and hue angles there follow
perception far better than in RGB or HSV: a dark orange is brown, a light red is pink, and a
blue sky at chroma 15 is still blue while a white wall at chroma 5 is grey/white.

A region is then described by the term covering most of its pixels, with one modifier
(``dark``, ``pale``, ``light`` or ``bright``) chosen from the mean lightness and chroma of the
pixels carrying that term.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "ANCHOR_RGB",
    "COLOUR_NAMES",
    "COLOUR_MODIFIERS",
    "CHROMATIC",
    "classify_lab",
    "colour_modifier",
    "lab_to_lch",
    "name_colour",
    "rgb_to_lab",
]

# Index -> term. The order is part of the classification maps below; do not reorder.
COLOUR_NAMES: tuple[str, ...] = (
    "black",
    "grey",
    "white",
    "red",
    "orange",
    "yellow",
    "green",
    "teal",
    "blue",
    "purple",
    "pink",
    "brown",
    "beige",
    "olive",
)
_IDX = {name: i for i, name in enumerate(COLOUR_NAMES)}
BLACK, GREY, WHITE = _IDX["black"], _IDX["grey"], _IDX["white"]
RED, ORANGE, YELLOW, GREEN = _IDX["red"], _IDX["orange"], _IDX["yellow"], _IDX["green"]
TEAL, BLUE, PURPLE, PINK = _IDX["teal"], _IDX["blue"], _IDX["purple"], _IDX["pink"]
BROWN, BEIGE, OLIVE = _IDX["brown"], _IDX["beige"], _IDX["olive"]

#: sRGB anchors of the chromatic colour words and white: what "towards red" means when a
#: caption's colour word is changed (text control) or a training target is repainted.
ANCHOR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (240, 140, 20),
    "yellow": (240, 220, 30),
    "green": (40, 170, 40),
    "teal": (20, 150, 150),
    "blue": (30, 70, 220),
    "purple": (140, 40, 180),
    "pink": (240, 120, 180),
    "brown": (130, 80, 40),
    "white": (240, 240, 240),
}

#: Terms that name a hue (used for "a small red patch": greys are never salient).
CHROMATIC: frozenset[int] = frozenset({RED, ORANGE, YELLOW, GREEN, TEAL, BLUE, PURPLE, PINK})

COLOUR_MODIFIERS: tuple[str, ...] = ("dark", "pale", "light", "bright")

# Hue sectors (degrees of CIELAB hue, upper bounds), measured on sRGB references:
# red 40, orange 73, yellow 103, green 136, cyan 196, sky blue 235, blue 306, violet 313,
# purple/magenta 328, hot pink 351.
_HUE_SECTORS: tuple[tuple[float, int], ...] = (
    (48.0, RED),
    (78.0, ORANGE),
    (112.0, YELLOW),
    (190.0, GREEN),
    (225.0, TEAL),
    (309.0, BLUE),
    (345.0, PURPLE),
    (360.0, RED),
)
_ACHROMATIC_C = 10.0  # below: no hue is seen (white walls, overcast sky, asphalt)
_DARK_ACHROMATIC_C = 20.0  # dark pixels need more chroma before a hue is seen
_PALE_C = 20.0
_BRIGHT_C = 70.0
# Per-term (dark below L, light above L); None where the term already implies the lightness
# (a light orange is beige or pink, a dark orange is brown, black/white carry no modifier).
_LIGHTNESS_LIMITS: dict[int, tuple[float | None, float | None]] = {
    GREY: (40.0, 68.0),
    RED: (35.0, None),
    ORANGE: (None, None),
    YELLOW: (None, None),
    GREEN: (35.0, 72.0),
    TEAL: (35.0, 72.0),
    BLUE: (28.0, 72.0),  # pure sRGB blue is L* 32 and reads as plain blue
    PURPLE: (30.0, 62.0),
    PINK: (None, None),
    BROWN: (25.0, 48.0),
}
# Terms that take no "pale"/"bright" (they are defined by their chroma already).
_NO_CHROMA_MODIFIER = frozenset({BLACK, GREY, WHITE, BROWN, BEIGE, OLIVE, PINK})


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB pixels to CIELAB (D65).

    Args:
        rgb: (H, W, 3) uint8 sRGB, or float in [0, 1].

    Returns:
        (H, W, 3) float32: L* in [0, 100], a* and b* in about [-128, 127].
    """
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) * np.float32(1.0 / 255.0)
    else:
        arr = np.clip(arr.astype(np.float32), 0.0, 1.0)
    return cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2Lab)


def lab_to_lch(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split CIELAB pixels into lightness, chroma and hue.

    Args:
        lab: (..., 3) float CIELAB.

    Returns:
        ``(L, C, h)``, each (...) float32: lightness in [0, 100], chroma >= 0 (about 0-134 for
        sRGB), hue angle in degrees [0, 360).
    """
    lab = np.asarray(lab, dtype=np.float32)
    a, b = lab[..., 1], lab[..., 2]
    hue = np.degrees(np.arctan2(b, a)) % np.float32(360.0)
    return lab[..., 0], np.hypot(a, b), hue.astype(np.float32)


def classify_lab(lightness: np.ndarray, chroma: np.ndarray, hue: np.ndarray) -> np.ndarray:
    """Name every pixel with the index of a term in :data:`COLOUR_NAMES`.

    Args:
        lightness: (...) float, CIE L* in [0, 100].
        chroma: (...) float, CIE C* >= 0.
        hue: (...) float, hue angle in degrees [0, 360).

    Returns:
        (...) uint8 indices into :data:`COLOUR_NAMES`.
    """
    lightness = np.asarray(lightness, dtype=np.float32)
    chroma = np.asarray(chroma, dtype=np.float32)
    hue = np.asarray(hue, dtype=np.float32)

    hue_term = np.full(hue.shape, RED, dtype=np.uint8)
    lower = 0.0
    for upper, term in _HUE_SECTORS:
        hue_term[(hue >= lower) & (hue < upper)] = term
        lower = upper
    out = hue_term.copy()

    # Lightness and chroma turn warm hues into brown, beige, olive and pink.
    red, orange, yellow = hue_term == RED, hue_term == ORANGE, hue_term == YELLOW
    muted = (red | orange | yellow) & (chroma < 30.0)
    out[muted & (lightness < 60.0)] = np.where(hue[muted & (lightness < 60.0)] < 85.0, BROWN, OLIVE)
    out[muted & (lightness >= 60.0) & ~red] = BEIGE
    out[red & (lightness < 60.0) & (chroma < 35.0)] = BROWN  # chestnut, rust, red-brown earth
    out[red & (lightness < 45.0) & (chroma < 55.0)] = BROWN
    out[orange & ~muted & (lightness < 50.0)] = BROWN
    out[yellow & ~muted & (lightness < 60.0)] = OLIVE
    out[
        (red | (hue_term == PURPLE)) & (lightness >= 60.0) & ((chroma < 30.0) | (lightness >= 65.0))
    ] = PINK

    # Light cyans (clear skies near the horizon, ice) read as light blue, not teal.
    out[(hue_term == TEAL) & (lightness >= 70.0)] = BLUE

    achromatic = (chroma < _ACHROMATIC_C) | ((lightness < 30.0) & (chroma < _DARK_ACHROMATIC_C))
    grey_term = np.where(lightness < 22.0, BLACK, np.where(lightness > 86.0, WHITE, GREY))
    out = np.where(achromatic, grey_term, out).astype(np.uint8)
    out[(lightness < 12.0) | ((lightness < 22.0) & (chroma < 30.0))] = BLACK
    return out


def colour_modifier(term: int, mean_lightness: float, mean_chroma: float) -> str:
    """The modifier for a region named ``term`` with the given mean L* and C* ('' for none).

    Dark beats pale beats light beats bright, so that every region gets at most one word.
    """
    dark, light = _LIGHTNESS_LIMITS.get(term, (None, None))
    if dark is not None and mean_lightness < dark:
        return "dark"
    if term not in _NO_CHROMA_MODIFIER and mean_chroma < _PALE_C:
        return "pale"
    if light is not None and mean_lightness > light:
        return "light"
    if term not in _NO_CHROMA_MODIFIER and mean_chroma > _BRIGHT_C:
        return "bright"
    return ""


def name_colour(rgb: tuple[int, int, int]) -> str:
    """Name one sRGB colour, with its modifier: ``name_colour((20, 60, 140)) == 'dark blue'``.

    Args:
        rgb: three integers in [0, 255].
    """
    arr = np.asarray(rgb, dtype=np.uint8).reshape(1, 1, 3)
    lightness, chroma, hue = lab_to_lch(rgb_to_lab(arr))
    term = int(classify_lab(lightness, chroma, hue)[0, 0])
    modifier = colour_modifier(term, float(lightness[0, 0]), float(chroma[0, 0]))
    return f"{modifier} {COLOUR_NAMES[term]}".strip()
