"""The offline built-in captioner and its colour naming."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jpegtext.captioner import BUILTIN_VOCABULARY, BuiltinCaptioner, name_colour
from jpegtext.captioner.base import as_rgb, count_words, truncate_words
from jpegtext.captioner.colour import COLOUR_MODIFIERS, COLOUR_NAMES
from jpegtext.codec import load_image
from jpegtext.errors import ConfigError, InvalidImageError

BLUE = (70, 120, 200)
GREEN = (60, 140, 50)
RED = (190, 40, 35)
WHITE = (245, 245, 245)
YELLOW = (235, 205, 40)


def bands(*rows: tuple[int, int, int] | tuple[tuple[int, int, int], tuple[int, int, int]],
          size: tuple[int, int] = (384, 256)) -> Image.Image:  # fmt: skip
    """An image of horizontal bands (top to bottom); a pair of colours splits a band in halves."""
    w, h = size
    arr = np.zeros((h, w, 3), np.uint8)
    for i, row in enumerate(rows):
        y0, y1 = h * i // len(rows), h * (i + 1) // len(rows)
        if isinstance(row[0], tuple):
            arr[y0:y1, : w // 2] = row[0]
            arr[y0:y1, w // 2 :] = row[1]
        else:
            arr[y0:y1] = row
    return Image.fromarray(arr)


def phrases(caption: str) -> dict[str, str]:
    """Map each location of a caption to its colour words: {'at the top': 'pale blue', ...}."""
    out = {}
    for part in caption.split(", "):
        m = re.fullmatch(
            r"(.*?) ?(at the top|in the middle|at the bottom|in the upper part|in the lower part"
            r"|at the top left|at the top right|on the left|in the centre|on the right"
            r"|at the bottom left|at the bottom right)?",
            part,
        )
        assert m is not None
        body, where = m.group(1), m.group(2) or "everywhere"
        out[where] = body
    return out


@pytest.fixture(scope="module")
def captioner() -> BuiltinCaptioner:
    return BuiltinCaptioner()


@pytest.mark.parametrize(
    ("rgb", "expected"),
    [
        ((255, 0, 0), "bright red"),
        ((139, 0, 0), "dark red"),
        ((255, 165, 0), "bright orange"),
        ((255, 255, 0), "bright yellow"),
        ((0, 128, 0), "bright green"),
        ((90, 110, 50), "green"),
        ((0, 128, 128), "teal"),
        ((100, 150, 220), "blue"),
        ((150, 180, 210), "pale blue"),
        ((0, 0, 128), "dark blue"),
        ((128, 0, 128), "dark purple"),
        ((255, 192, 203), "pink"),
        ((139, 69, 19), "brown"),
        ((194, 178, 128), "beige"),
        ((128, 128, 0), "olive"),
        ((0, 0, 0), "black"),
        ((255, 255, 255), "white"),
        ((128, 128, 128), "grey"),
        ((60, 60, 60), "dark grey"),
        ((200, 200, 200), "light grey"),
    ],
)
def test_name_colour_reference_colours(rgb: tuple[int, int, int], expected: str) -> None:
    assert name_colour(rgb) == expected


def test_three_bands_are_named_in_place(captioner: BuiltinCaptioner) -> None:
    caption = captioner.caption(bands(BLUE, GREEN, RED))
    found = phrases(caption)
    assert set(found) == {"at the top", "in the middle", "at the bottom"}, caption
    assert found["at the top"].split()[-1] == "blue"
    assert found["in the middle"].split()[-1] == "green"
    assert found["at the bottom"].split()[-1] == "red"


def test_adjacent_bands_of_one_colour_merge(captioner: BuiltinCaptioner) -> None:
    found = phrases(captioner.caption(bands(BLUE, BLUE, GREEN)))
    assert found["in the upper part"].split()[-1] == "blue"
    assert found["at the bottom"].split()[-1] == "green"
    found = phrases(captioner.caption(bands(WHITE, GREEN, GREEN)))
    assert found["at the top"].split()[-1] == "white"
    assert found["in the lower part"].split()[-1] == "green"


def test_uniform_image_is_mostly_one_colour(captioner: BuiltinCaptioner) -> None:
    assert captioner.caption(bands((128, 128, 128))) == "mostly smooth grey"
    assert captioner.caption(bands(GREEN, GREEN, GREEN)).startswith("mostly ")


def test_left_and_right_halves(captioner: BuiltinCaptioner) -> None:
    caption = captioner.caption(bands((RED, BLUE)))
    assert re.fullmatch(r"(\w+ )?red on the left and (\w+ )?blue on the right", caption), caption
    # Only the lower bands differ between their halves.
    found = phrases(captioner.caption(bands(BLUE, (GREEN, RED), (GREEN, RED))))
    assert re.fullmatch(
        r"(\w+ )?green on the left and (\w+ )?red on the right", found["in the lower part"]
    )
    assert found["at the top"].split()[-1] == "blue"
    # Three bands leave too few words for the sides: the left colour is named first.
    found = phrases(captioner.caption(bands(BLUE, (GREEN, RED), WHITE)))
    assert re.fullmatch(r"(\w+ )?green and (\w+ )?red", found["in the middle"]), found


def test_two_colours_in_one_band(captioner: BuiltinCaptioner) -> None:
    # Stripes 60/40 mix within every band (no left/right split): both colours named.
    arr = np.zeros((240, 360, 3), np.uint8)
    arr[:, :] = GREEN
    for x in range(0, 360, 30):
        arr[:, x : x + 12] = YELLOW
    caption = captioner.caption(Image.fromarray(arr))
    assert re.fullmatch(r"mostly (\w+ )?green and (\w+ )?yellow", caption), caption


@pytest.mark.parametrize(
    ("box", "spot"),
    [
        ((0.45, 0.45, 0.55, 0.55), "in the centre"),
        ((0.80, 0.05, 0.90, 0.18), "at the top right"),
        ((0.05, 0.45, 0.15, 0.58), "on the left"),
    ],
)
def test_small_salient_patch(captioner: BuiltinCaptioner, box: tuple, spot: str) -> None:
    w, h = 384, 256
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:] = GREEN
    x0, y0, x1, y1 = int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)
    arr[y0:y1, x0:x1] = RED
    caption = captioner.caption(Image.fromarray(arr))
    assert caption.endswith(f"red patch {spot}"), caption
    # A patch of a colour already named, or a tiny one, is not mentioned.
    arr[y0:y1, x0:x1] = (40, 100, 40)
    assert "patch" not in captioner.caption(Image.fromarray(arr))
    arr[:] = GREEN
    arr[y0 : y0 + 2, x0 : x0 + 2] = RED
    assert "patch" not in captioner.caption(Image.fromarray(arr))


def test_lightness_and_saturation_modifiers(captioner: BuiltinCaptioner) -> None:
    found = phrases(captioner.caption(bands((175, 200, 230), (20, 30, 90), (240, 240, 240))))
    assert found["at the top"] == "pale blue" or found["at the top"].endswith("pale blue")
    assert found["in the middle"].endswith("dark blue")
    assert found["at the bottom"].endswith("white")


def test_smooth_and_textured(captioner: BuiltinCaptioner) -> None:
    rng = np.random.default_rng(0)
    arr = np.zeros((256, 384, 3), np.float32)
    arr[:] = GREEN
    arr[:86] = BLUE
    arr[86:] += rng.normal(0, 40, (170, 384, 1))  # luminance texture on the lower two thirds
    image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    found = phrases(captioner.caption(image))
    assert found["at the top"].startswith("smooth "), found
    assert found["in the lower part"].startswith("textured "), found


def test_deterministic(captioner: BuiltinCaptioner) -> None:
    rng = np.random.default_rng(3)
    images = [
        Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)) for _ in range(3)
    ]
    images.append(bands(BLUE, (GREEN, RED), WHITE))
    first = captioner(images)
    assert first == BuiltinCaptioner()(images)
    assert first == [captioner.caption(im.copy()) for im in images]
    assert len(first) == 4 and all(isinstance(c, str) and c for c in first)


def random_scene(rng: np.random.Generator) -> Image.Image:
    """A random image with bands, halves, patches, gradients and noise of random colours."""
    w = int(rng.integers(40, 500))
    h = int(rng.integers(40, 500))
    arr = np.zeros((h, w, 3), np.float32)
    n = int(rng.integers(1, 5))
    for i in range(n):
        y0, y1 = h * i // n, h * (i + 1) // n
        arr[y0:y1] = rng.integers(0, 256, 3)
        if rng.random() < 0.4:
            arr[y0:y1, : w // 2] = rng.integers(0, 256, 3)
    for _ in range(int(rng.integers(0, 4))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        arr[
            y0 : y0 + int(rng.integers(1, h // 3 + 2)), x0 : x0 + int(rng.integers(1, w // 3 + 2))
        ] = rng.integers(0, 256, 3)
    if rng.random() < 0.5:
        arr += np.linspace(-60, 60, h)[:, None, None] * rng.uniform(-1, 1, 3)
    if rng.random() < 0.5:
        arr += rng.normal(0, rng.uniform(1, 50), (h, w, 1))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def test_every_word_is_in_the_fixed_vocabulary(captioner: BuiltinCaptioner) -> None:
    rng = np.random.default_rng(12345)
    seen: set[str] = set()
    for _ in range(300):
        caption = captioner.caption(random_scene(rng))
        words = re.findall(r"\w+", caption)
        assert words, caption
        assert len(words) <= 18, caption
        assert caption == caption.lower()
        unknown = set(words) - BUILTIN_VOCABULARY
        assert not unknown, f"{unknown} in {caption!r}"
        seen |= set(words)
    # The random scenes reach most of the vocabulary (the test would be empty otherwise).
    assert len(seen) >= 0.7 * len(BUILTIN_VOCABULARY), sorted(BUILTIN_VOCABULARY - seen)


def test_vocabulary_covers_the_tables() -> None:
    assert set(COLOUR_NAMES) <= BUILTIN_VOCABULARY
    assert set(COLOUR_MODIFIERS) <= BUILTIN_VOCABULARY
    assert {"smooth", "textured", "mostly", "patch"} <= BUILTIN_VOCABULARY
    assert all(w == w.lower() and re.fullmatch(r"\w+", w) for w in BUILTIN_VOCABULARY)


def test_max_words(captioner: BuiltinCaptioner) -> None:
    image = bands((RED, BLUE), (GREEN, WHITE), (YELLOW, (20, 20, 20)))
    assert count_words(captioner.caption(image)) <= 18
    short = BuiltinCaptioner(max_words=6).caption(image)
    assert 1 <= count_words(short) <= 6, short
    for bad in (0, 19, 2.5, True, False):
        with pytest.raises(ConfigError, match="max_words"):
            BuiltinCaptioner(max_words=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (50, 40), 128),
        Image.new("RGBA", (50, 40), (0, 0, 255, 0)),  # fully transparent: white
        Image.new("P", (50, 40), 3),
        Image.new("RGB", (1, 1), RED),
        Image.new("RGB", (3, 200), BLUE),
        Image.new("I;16", (40, 30), 30000),
    ],
)
def test_any_mode_and_size(captioner: BuiltinCaptioner, image: Image.Image) -> None:
    caption = captioner.caption(image)
    assert caption.startswith("mostly "), caption
    assert set(re.findall(r"\w+", caption)) <= BUILTIN_VOCABULARY


def test_transparent_pixels_are_composited_on_white(captioner: BuiltinCaptioner) -> None:
    assert captioner.caption(Image.new("RGBA", (50, 40), (0, 0, 255, 0))) == "mostly smooth white"
    assert as_rgb(Image.new("LA", (4, 4), (0, 0))).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_16_bit_grey_is_read_as_the_codec_reads_it(
    captioner: BuiltinCaptioner, mode: str
) -> None:
    ramp = np.tile(np.linspace(0, 65535, 64), (48, 1)).astype(np.uint16)  # black to white
    image = Image.fromarray(ramp).convert(mode) if mode != "I;16" else Image.fromarray(ramp)
    assert image.mode == mode
    rgb = np.asarray(as_rgb(image))
    # Scaled to 8 bits like jpegtext.codec.load_image, not clipped at 255 (all white).
    np.testing.assert_array_equal(rgb, np.asarray(load_image(image)))
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, -1].tolist() == [255, 255, 255]
    assert captioner.caption(image) == captioner.caption(load_image(image))
    assert captioner.caption(image) != "mostly smooth white"


def test_16_bit_png_is_captioned_as_by_the_cli(
    captioner: BuiltinCaptioner, tmp_path: Path
) -> None:
    ramp = np.tile(np.linspace(0, 65535, 64), (48, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    opened = Image.open(tmp_path / "g16.png")
    assert opened.mode == "I;16"
    assert captioner([opened]) == captioner([load_image(tmp_path / "g16.png")])
    assert captioner([opened]) == ["mostly smooth grey and black"]


def test_large_image_is_reduced_first(captioner: BuiltinCaptioner) -> None:
    big = bands(BLUE, GREEN, RED, size=(3000, 2000))
    assert captioner.caption(big) == captioner.caption(bands(BLUE, GREEN, RED, size=(300, 200)))


def test_rejects_non_images(captioner: BuiltinCaptioner) -> None:
    with pytest.raises(InvalidImageError, match="PIL"):
        captioner([np.zeros((4, 4, 3), np.uint8)])  # type: ignore[list-item]


def test_word_helpers() -> None:
    assert count_words("light-blue sky, at the top!") == 6
    assert truncate_words("one, two three four", 2) == "one, two"
    assert truncate_words("one two", 5) == "one two"
    assert truncate_words("one two", 0) == ""


@pytest.mark.slow
def test_kodak_captions_are_short_and_in_vocabulary(kodak_dir) -> None:  # noqa: ANN001
    files = sorted(kodak_dir.glob("*.png"))
    assert len(files) == 24
    captioner = BuiltinCaptioner()
    captions = [captioner.caption(Image.open(f).convert("RGB")) for f in files]
    for caption in captions:
        words = re.findall(r"\w+", caption)
        assert 1 <= len(words) <= 18 and set(words) <= BUILTIN_VOCABULARY, caption
    assert len(set(captions)) >= 20  # the captions tell the images apart
