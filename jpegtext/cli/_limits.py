"""One set of input limits for every command that opens images (encode, decode, info, caption).

``@max_pixels_option()`` adds ``--max-pixels N`` to a command; while the command runs, Pillow's
``DecompressionBombWarning`` is silenced (jpegtext checks the size itself first and says so in its
own words) and Pillow's own hard limit is raised to N when N is above it, so that the option is
the one limit that applies. :class:`FiniteFloatRange` is click's ``FloatRange`` that also refuses
``nan`` (which every comparison lets through) and ``inf``. Only click, the standard library and
Pillow.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import click

__all__ = [
    "MAX_PIXELS_HELP",
    "FiniteFloatRange",
    "check_image_sizes",
    "max_pixels_option",
    "pixel_limit",
]

F = TypeVar("F", bound=Callable[..., Any])

MAX_PIXELS_HELP = (
    "Refuse images with more pixels (decompression-bomb guard), checked before anything is "
    "written or a model is loaded [default: Pillow's, 89,478,485]."
)


class FiniteFloatRange(click.FloatRange):
    """A float option within a range that must also be a finite number (a usage error if not).

    ``click.FloatRange`` compares the value with its bounds, and every comparison with ``nan``
    is false, so ``nan`` passes any range; without an upper bound ``inf`` passes too.
    """

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


@contextlib.contextmanager
def pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Make ``max_pixels`` the only pixel limit while the block runs.

    Pillow warns above ``PIL.Image.MAX_IMAGE_PIXELS`` and refuses above twice that; jpegtext's
    own check (:func:`jpegtext.codec.check_pixel_limit`) runs first, so Pillow's warning is only
    noise, and a larger ``max_pixels`` must lift Pillow's limit too. Both are restored after.
    """
    from PIL import Image

    old = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if max_pixels is not None and old is not None and max_pixels > old:
            Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = old


def _enter(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    ctx.with_resource(pixel_limit(value))
    return value


def max_pixels_option() -> Callable[[F], F]:
    """The ``--max-pixels`` option: ``@max_pixels_option()`` above a click command.

    The command receives ``max_pixels: int | None`` (None = Pillow's default limit) and must
    pass it to every API call that opens an image.
    """
    return click.option(
        "--max-pixels",
        type=click.IntRange(min=1),
        default=None,
        callback=_enter,
        help=MAX_PIXELS_HELP,
    )


def check_image_sizes(items: Iterable[Any], max_pixels: int | None) -> None:
    """Refuse oversized input files from their headers, before a slow model is loaded.

    Args:
        items: :class:`~jpegtext.cli._files.InputItem` objects (standard input is skipped:
            it is checked when read).
        max_pixels: the limit (None = Pillow's default).

    Raises:
        InvalidImageError: a file is over the limit (named in the message). Files Pillow cannot
            open are left to the command, which reports the precise error.
    """
    from PIL import Image

    from jpegtext.codec import check_pixel_limit, load_image
    from jpegtext.errors import InvalidImageError

    for item in items:
        if item.path is None:
            continue
        try:
            try:
                with Image.open(item.path) as im:
                    width, height = im.size
            except Image.DecompressionBombError:
                load_image(item.path, max_pixels=max_pixels)  # words the refusal
                continue
            except (OSError, ValueError, SyntaxError):
                continue
            check_pixel_limit(width, height, max_pixels, "the image")
        except InvalidImageError as exc:
            raise type(exc)(f"{item.label}: {exc}") from None
