"""The captioner contract shared by every caption source, and the fixed-text captioner."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from PIL import Image

from jpegtext.codec.image import to_rgb
from jpegtext.errors import ConfigError, InvalidImageError

__all__ = [
    "MAX_CAPTION_WORDS",
    "Captioner",
    "FixedCaptioner",
    "as_rgb",
    "count_words",
    "truncate_words",
]

#: The restorer's text encoder reads at most this many ``\w+`` tokens of a caption.
MAX_CAPTION_WORDS = 18

_WORD = re.compile(r"\w+")


@runtime_checkable
class Captioner(Protocol):
    """Anything that turns a batch of images into one caption per image.

    Attributes:
        name: short identifier stored in the JPEG payload (``"builtin"``, ``"blip-base"``, ...).
    """

    name: str

    def __call__(self, images: Sequence[Image.Image]) -> list[str]:
        """Caption ``images`` (RGB PIL images of any size); returns one string per image."""
        ...


def as_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` as an RGB PIL image, converted as the codec converts it.

    The same reading as :func:`jpegtext.codec.load_image` (palette, grey, 16-bit grey scaled
    to 8 bits, alpha composited on white, CMYK, ...), so a captioner sees the pixels the encoder
    compresses.

    Raises:
        InvalidImageError: ``image`` is not a PIL image, has no pixels, or has a mode without
            an RGB reading (floating point, LAB, ...).
    """
    if not isinstance(image, Image.Image):
        raise InvalidImageError(
            f"captioners take PIL images, got {type(image).__name__}; "
            "open files with jpegtext.codec.load_image or PIL.Image.open"
        )
    if image.width < 1 or image.height < 1:
        raise InvalidImageError(f"empty image ({image.width}x{image.height})")
    return to_rgb(image)


def count_words(text: str) -> int:
    """Number of ``\\w+`` tokens in ``text``: the unit of the restorer's caption length limit."""
    return len(_WORD.findall(text))


def truncate_words(text: str, max_words: int) -> str:
    """Cut ``text`` after its ``max_words``-th ``\\w+`` token (text is kept as written)."""
    if max_words < 1:
        return ""
    for index, match in enumerate(_WORD.finditer(text)):
        if index == max_words - 1:
            return text[: match.end()]
    return text


class FixedCaptioner:
    """A captioner that gives the same text for every image (``--caption TEXT``).

    Args:
        text: the caption; surrounding whitespace is removed, inner whitespace collapsed.
        name: identifier stored in the payload.
    """

    def __init__(self, text: str, *, name: str = "fixed") -> None:
        if not isinstance(text, str):
            raise ConfigError(f"caption text must be a str, got {type(text).__name__}")
        self.text = " ".join(text.split())
        self.name = name

    def __call__(self, images: Sequence[Image.Image]) -> list[str]:
        return [self.text for _ in images]

    def __repr__(self) -> str:
        return f"FixedCaptioner({self.text!r}, name={self.name!r})"
