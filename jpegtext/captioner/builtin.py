"""The offline built-in captioner: what a QF 1-10 JPEG destroys, measured, in a few words.

At quality 1 every quantisation step is 255: the chroma of each 16x16 block collapses to a
few levels and all texture disappears, while the mean lightness of a block survives roughly.
So the caption names the colours of the main regions (top / middle / bottom bands, left and
right where they differ), a small region of distinct colour when there is one, and whether a
region is smooth or textured. It knows nothing about objects and never guesses them: every
word comes from a measurement and from the fixed vocabulary :data:`BUILTIN_VOCABULARY`.

Method (deterministic, numpy + OpenCV, about 1-2 ms for 768x512):

1. Resize to 96x64 (64x96 for portrait images) with area averaging and name every pixel with a
   basic colour term in CIELAB (:mod:`jpegtext.captioner.colour`); a 192x128 grey copy gives
   the texture measure (mean absolute Laplacian).
2. Split into three horizontal bands; a band is split into left/right when the two halves are
   dominated by different colours that barely occur on the other side. Adjacent bands with the
   same colour terms and main modifier are merged ("in the upper part", "mostly ..."). Votes
   grow with chroma, so a colourful minority is named before a grey majority of the same size.
3. A small salient region: the largest connected patch (0.4-10% of the image) of a hue not
   named otherwise, with a colour difference of at least 25 CIELAB units from its surround.
4. The caption starts from the colour terms only; richer parts are added in order of value to
   the restorer while the caption stays within ``max_words`` ``\\w+`` tokens: the salient
   patch (its colour is lost entirely at QF 1), second colours and left/right sides (largest
   regions first), lightness/saturation modifiers, texture words.

Example: ``"pale blue at the top, dark green in the middle, brown at the bottom, red patch on
the left"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from jpegtext.captioner.base import MAX_CAPTION_WORDS, as_rgb, count_words, truncate_words
from jpegtext.captioner.colour import (
    CHROMATIC,
    COLOUR_NAMES,
    classify_lab,
    colour_modifier,
    lab_to_lch,
    rgb_to_lab,
)
from jpegtext.errors import ConfigError

__all__ = ["BUILTIN_VOCABULARY", "BuiltinCaptioner"]

# Every word the built-in captioner can emit. Fixed on purpose: the restorer's text encoder
# builds its vocabulary from training captions, so a caption source with a closed vocabulary
# never produces out-of-vocabulary words once the encoder has seen a few hundred captions.
BUILTIN_VOCABULARY: frozenset[str] = frozenset(
    {
        # colour terms (colour.COLOUR_NAMES)
        "black", "grey", "white", "red", "orange", "yellow", "green", "teal", "blue",
        "purple", "pink", "brown", "beige", "olive",
        # modifiers (colour.COLOUR_MODIFIERS) and texture
        "dark", "pale", "light", "bright", "smooth", "textured",
        # places and glue
        "at", "in", "on", "the", "top", "middle", "bottom", "left", "right", "centre",
        "upper", "lower", "part", "and", "mostly", "patch",
    }
)  # fmt: skip

_GRID_LONG, _GRID_SHORT = 96, 64  # colour grid: one cell = 8x8 pixels of a 768x512 image
_TEXTURE_LONG, _TEXTURE_SHORT = 192, 128
_SPLIT_MIN_SHARE = 0.40  # each side's colour covers at least this much of its half ...
_SPLIT_MAX_CROSS = 0.25  # ... and less than this much of the other half
_SECOND_MIN_SHARE = 0.20  # a second colour is named when it covers this much of a region
_SALIENT_MIN_AREA, _SALIENT_MAX_AREA = 0.004, 0.10  # fractions of the image
_SALIENT_MAX_EXTENT = 0.6  # of the image width and height (a tall hydrant is still small)
_SALIENT_MIN_CHROMA = 25.0
_SALIENT_MIN_DELTA_E = 25.0
# Mean |Laplacian| of the 192x128 grey image (0-255 scale). Set from the distribution over the
# bands of the BSDS500 train split and the COCO-mini train split (about the 15th and 75th
# percentiles); see benchmarks/captioner.py --calibrate. Never tuned on evaluation images.
_SMOOTH_BELOW = 12.0
_TEXTURED_ABOVE = 32.0

_LOCATIONS: dict[tuple[int, ...], str] = {
    (0,): "at the top",
    (1,): "in the middle",
    (2,): "at the bottom",
    (0, 1): "in the upper part",
    (1, 2): "in the lower part",
}
_SPOTS = (
    ("at the top left", "at the top", "at the top right"),
    ("on the left", "in the centre", "on the right"),
    ("at the bottom left", "at the bottom", "at the bottom right"),
)


@dataclass(frozen=True)
class _Colour:
    """A colour term with its modifier for one region."""

    term: int
    modifier: str

    def words(self, with_modifier: bool) -> str:
        name = COLOUR_NAMES[self.term]
        return f"{self.modifier} {name}" if with_modifier and self.modifier else name


@dataclass(frozen=True)
class _Region:
    """Merged horizontal bands and what was measured in them."""

    rows: tuple[int, ...]
    main: _Colour
    second: _Colour | None  # None when no second colour covers enough
    sides: tuple[_Colour, _Colour] | None  # (left, right) when the halves differ
    texture: str  # "smooth", "textured" or ""
    area: int  # pixels of the colour grid, to rank regions

    def body(self, detail: bool, modifiers: bool, texture: bool) -> str:
        """The colour words of the region, without its location."""
        if self.sides is not None:
            left, right = (c.words(modifiers) for c in self.sides)
            if detail:
                return f"{left} on the left and {right} on the right"
            return f"{left} and {right}"
        body = self.main.words(modifiers)
        if detail and self.second is not None:
            body = f"{body} and {self.second.words(modifiers)}"
        if texture and self.texture:
            body = f"{self.texture} {body}"
        return body


def _place(body: str, rows: tuple[int, ...], split: bool) -> str:
    """``body`` with the location of the bands ``rows``."""
    location = _LOCATIONS.get(rows)
    if location is None:  # the whole image
        return body if split else f"mostly {body}"
    return f"{body} {location}"


@dataclass(frozen=True)
class _Salient:
    colour: _Colour
    spot: str

    def phrase(self) -> str:
        # No article: six words at most, so that it fits beside three four-word bands.
        return f"{COLOUR_NAMES[self.colour.term]} patch {self.spot}"


class BuiltinCaptioner:
    """Offline captioner naming the measured colours of the main image regions.

    No weights and no randomness: the same image always gives the same caption. Takes about
    1-2 ms per 768x512 image on one CPU thread.

    Args:
        max_words: at most this many ``\\w+`` tokens per caption (1-18; the restorer reads 18).

    Example:
        >>> BuiltinCaptioner()([image])  # doctest: +SKIP
        ['pale blue at the top, dark green in the middle, brown at the bottom']
    """

    name = "builtin"

    def __init__(self, *, max_words: int = MAX_CAPTION_WORDS) -> None:
        # bool is an int to Python, but max_words=True is a mistake, not a 1-word cap.
        if (
            not isinstance(max_words, int)
            or isinstance(max_words, bool)
            or not 1 <= max_words <= MAX_CAPTION_WORDS
        ):
            raise ConfigError(
                f'Invalid max_words "{max_words}", should be an integer between 1 and '
                f"{MAX_CAPTION_WORDS}"
            )
        self.max_words = max_words

    def __call__(self, images: Sequence[Image.Image]) -> list[str]:
        """Caption each image; see :meth:`caption`."""
        return [self.caption(image) for image in images]

    def __repr__(self) -> str:
        return f"BuiltinCaptioner(max_words={self.max_words})"

    def caption(self, image: Image.Image) -> str:
        """Caption one image.

        Args:
            image: PIL image of any size and mode (converted to RGB; alpha composited on white).

        Returns:
            Lower-case English of at most ``max_words`` words from :data:`BUILTIN_VOCABULARY`.
        """
        image = as_rgb(image)
        # Box-reduce very large photos in Pillow first: converting 24 MP to numpy and resizing
        # costs ~170 ms, the reduced copy ~20 ms, and both are box averages of the same pixels.
        long_side, short_side = max(image.size), min(image.size)
        factor = min(long_side // _TEXTURE_LONG, short_side // _TEXTURE_SHORT) // 2
        if factor >= 2:
            image = image.reduce(factor)
        regions, salient = _analyse(np.asarray(image))
        return _assemble(regions, salient, self.max_words)


def _analyse(rgb: np.ndarray) -> tuple[list[_Region], _Salient | None]:
    """Measure the regions of an (H, W, 3) uint8 RGB image."""
    height, width = rgb.shape[:2]
    if width >= height:
        grid_size, texture_size = (_GRID_LONG, _GRID_SHORT), (_TEXTURE_LONG, _TEXTURE_SHORT)
    else:
        grid_size, texture_size = (_GRID_SHORT, _GRID_LONG), (_TEXTURE_SHORT, _TEXTURE_LONG)
    # INTER_AREA averages (a box filter) when shrinking; two steps cost less than one from a
    # large image and give the same colours.
    medium = cv2.resize(rgb, texture_size, interpolation=cv2.INTER_AREA)
    small = cv2.resize(medium, grid_size, interpolation=cv2.INTER_AREA)

    lab = rgb_to_lab(small)
    lightness, chroma, hue = lab_to_lch(lab)
    terms = classify_lab(lightness, chroma, hue)

    grey = cv2.cvtColor(medium, cv2.COLOR_RGB2GRAY).astype(np.float32)
    laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=1))

    gh, gw = terms.shape
    bands = [(gh * i) // 3 for i in range(4)]
    half = gw // 2

    # Votes grow with chroma (1 for grey, 1.5 from C* = 50): chroma is what a QF 1 JPEG loses
    # first (4:2:0 and step-255 quantisation), so a colourful minority is worth naming before
    # a grey majority of the same size.
    weights = 1.0 + np.minimum(chroma, 50.0) / 100.0

    def counts(rows: slice, cols: slice) -> np.ndarray:
        return np.bincount(
            terms[rows, cols].ravel(), weights[rows, cols].ravel(), minlength=len(COLOUR_NAMES)
        )

    # A key per band (its colour terms); adjacent bands with equal keys are merged.
    keys: list[tuple[object, ...]] = []
    for band in range(3):
        rows = slice(bands[band], bands[band + 1])
        left, right = counts(rows, slice(0, half)), counts(rows, slice(half, gw))
        sides = _sides(left, right)
        if sides is not None:
            keys.append(("split", *sides))
        else:
            main, second = _main_and_second(left + right)
            # The modifier is part of the key: a pale blue band over a dark blue one stays two
            # phrases instead of merging into one "blue".
            colour = _colour(main, terms[rows] == main, lightness[rows], chroma[rows])
            keys.append(("one", main, colour.modifier, -1 if second is None else second))

    regions: list[_Region] = []
    start = 0
    for band in range(1, 4):
        if band == 3 or keys[band] != keys[start]:
            rows = slice(bands[start], bands[band])
            regions.append(
                _describe_region(
                    tuple(range(start, band)),
                    rows,
                    half,
                    terms,
                    lightness,
                    chroma,
                    weights,
                    laplacian,
                    gh,
                    split=keys[start][0] == "split",
                )
            )
            start = band

    named = {c.term for r in regions for c in _colours_of(r)}
    salient = _find_salient(terms, lab, lightness, chroma, named)
    return regions, salient


def _sides(left: np.ndarray, right: np.ndarray) -> tuple[int, int] | None:
    """(left term, right term) when the two halves of a band are dominated by different colours."""
    left_share, right_share = left / max(left.sum(), 1), right / max(right.sum(), 1)
    lw, rw = int(np.argmax(left_share)), int(np.argmax(right_share))
    if (
        lw != rw
        and left_share[lw] >= _SPLIT_MIN_SHARE
        and right_share[rw] >= _SPLIT_MIN_SHARE
        and right_share[lw] < _SPLIT_MAX_CROSS
        and left_share[rw] < _SPLIT_MAX_CROSS
    ):
        return lw, rw
    return None


def _main_and_second(count: np.ndarray) -> tuple[int, int | None]:
    """The most frequent term, and the next one when it covers enough of the region."""
    order = np.argsort(-count, kind="stable")
    main, second = int(order[0]), int(order[1])
    if count[second] >= _SECOND_MIN_SHARE * count.sum() and count[second] > 0:
        return main, second
    return main, None


def _colour(term: int, mask: np.ndarray, lightness: np.ndarray, chroma: np.ndarray) -> _Colour:
    """``term`` with the modifier measured on the pixels of ``mask`` that carry it."""
    return _Colour(
        term, colour_modifier(term, float(lightness[mask].mean()), float(chroma[mask].mean()))
    )


def _describe_region(
    rows_idx: tuple[int, ...],
    rows: slice,
    half: int,
    terms: np.ndarray,
    lightness: np.ndarray,
    chroma: np.ndarray,
    weights: np.ndarray,
    laplacian: np.ndarray,
    grid_height: int,
    *,
    split: bool,
) -> _Region:
    region_terms = terms[rows]
    region_l, region_c = lightness[rows], chroma[rows]
    region_w = weights[rows]
    count = np.bincount(region_terms.ravel(), region_w.ravel(), minlength=len(COLOUR_NAMES))
    main_term, second_term = _main_and_second(count)
    main = _colour(main_term, region_terms == main_term, region_l, region_c)
    second = None
    if second_term is not None:
        second = _colour(second_term, region_terms == second_term, region_l, region_c)

    sides = None
    if split:
        halves = []
        for cols in (slice(0, half), slice(half, None)):
            t = region_terms[:, cols]
            side = np.bincount(t.ravel(), region_w[:, cols].ravel(), minlength=len(COLOUR_NAMES))
            term = int(np.argmax(side))
            halves.append(_colour(term, t == term, region_l[:, cols], region_c[:, cols]))
        sides = (halves[0], halves[1])

    # The texture map has its own resolution: take the same fraction of its rows.
    th = laplacian.shape[0]
    t0, t1 = (rows.start * th) // grid_height, (rows.stop * th) // grid_height
    energy = float(laplacian[t0:t1].mean())
    texture = "smooth" if energy < _SMOOTH_BELOW else "textured" if energy > _TEXTURED_ABOVE else ""
    return _Region(rows_idx, main, second, sides, texture, int(region_terms.size))


def _colours_of(region: _Region) -> list[_Colour]:
    if region.sides is not None:
        return list(region.sides)
    return [region.main] + ([region.second] if region.second is not None else [])


def _find_salient(
    terms: np.ndarray,
    lab: np.ndarray,
    lightness: np.ndarray,
    chroma: np.ndarray,
    named: set[int],
) -> _Salient | None:
    """The most distinct small patch of a hue that the region phrases do not name."""
    gh, gw = terms.shape
    total = gh * gw
    best: tuple[float, int, np.ndarray, tuple[float, float]] | None = None
    kernel = np.ones((3, 3), np.uint8)
    for term in sorted(CHROMATIC - named):
        mask = (terms == term).astype(np.uint8)
        if mask.sum() < _SALIENT_MIN_AREA * total:
            continue
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n < 2:
            continue
        comp = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[comp, cv2.CC_STAT_AREA])
        if not _SALIENT_MIN_AREA * total <= area <= _SALIENT_MAX_AREA * total:
            continue
        if (
            stats[comp, cv2.CC_STAT_WIDTH] > _SALIENT_MAX_EXTENT * gw
            or stats[comp, cv2.CC_STAT_HEIGHT] > _SALIENT_MAX_EXTENT * gh
        ):
            continue
        patch = labels == comp
        if float(chroma[patch].mean()) < _SALIENT_MIN_CHROMA:
            continue
        ring = cv2.dilate(patch.astype(np.uint8), kernel, iterations=2).astype(bool) & ~patch
        if not ring.any():
            continue
        delta_e = float(np.linalg.norm(lab[patch].mean(axis=0) - lab[ring].mean(axis=0)))
        if delta_e < _SALIENT_MIN_DELTA_E:
            continue
        score = area * delta_e
        if best is None or score > best[0]:
            best = (score, term, patch, (float(centroids[comp][0]), float(centroids[comp][1])))
    if best is None:
        return None
    _, term, patch, (cx, cy) = best
    spot = _SPOTS[min(2, int(3 * cy / gh))][min(2, int(3 * cx / gw))]
    return _Salient(_colour(term, patch, lightness, chroma), spot)


def _assemble(regions: list[_Region], salient: _Salient | None, max_words: int) -> str:
    """Join the region phrases, adding detail in order of value while it fits ``max_words``."""
    n = len(regions)
    detail, modifiers, texture = [False] * n, [False] * n, [False] * n
    with_salient = False

    def render() -> str:
        # Bands kept apart for a difference that is not shown (e.g. a second colour left out
        # for lack of words) read the same: merge them again ("green in the lower part").
        items: list[tuple[str, tuple[int, ...], bool]] = []
        for i, r in enumerate(regions):
            body, split = r.body(detail[i], modifiers[i], texture[i]), r.sides is not None
            if items and not split and not items[-1][2] and items[-1][0] == body:
                items[-1] = (body, items[-1][1] + r.rows, False)
            else:
                items.append((body, r.rows, split))
        parts = [_place(body, rows, split) for body, rows, split in items]
        if with_salient and salient is not None:
            parts.append(salient.phrase())
        return ", ".join(parts)

    # Largest regions first; ties keep the top-to-bottom order (stable sort).
    ranked = sorted(range(n), key=lambda i: -regions[i].area)
    upgrades: list[tuple[str, int]] = [("salient", -1)]
    upgrades += [("detail", i) for i in ranked]
    upgrades += [("modifiers", i) for i in ranked]
    upgrades += [("texture", i) for i in ranked]
    for kind, i in upgrades:
        if kind == "salient":
            if salient is None:
                continue
            with_salient = True
            if count_words(render()) > max_words:
                with_salient = False
            continue
        flags = {"detail": detail, "modifiers": modifiers, "texture": texture}[kind]
        flags[i] = True
        if count_words(render()) > max_words:
            flags[i] = False
    return truncate_words(render(), max_words)
