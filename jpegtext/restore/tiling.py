"""The one tiler and the one padding rule of the restoration networks.

*Padding*: a network declares the multiple its input sides need (``downsampling_factor``, as in
CompressAI); :func:`pad_to_multiple` pads the bottom/right edges to it (reflect where the image
is large enough, else edge replication). The generator, the tiled inference and the geometric
self-ensemble (16-px MCU grid) all pad through it.

*Tiling*: :func:`tile_grid` splits an axis into near-equal cores on a grid; every tile is run
with ``halo`` pixels of real context on each side that has any, and only its core is kept. With a
halo of at least the network's receptive radius, the cores equal the untiled result (up to float
summation order); no blending is needed, so nothing is computed twice except the halos.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from jpegtext.errors import ConfigError

__all__ = ["Tile", "pad_to_multiple", "run_tiled", "tile_grid", "tiles"]


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> torch.Tensor:
    """Pad (B, C, H, W) ``x`` at the bottom/right so H and W are multiples of ``multiple``.

    Args:
        x: the input batch.
        multiple: the side multiple the network needs (its ``downsampling_factor``, or the
            16-px MCU grid of the self-ensemble).
        mode: ``"reflect"`` (falls back to ``"replicate"`` when the image is too small to
            reflect) or ``"replicate"``.

    Returns:
        ``x`` itself when no padding is needed, else the padded copy.
    """
    h, w = x.shape[2], x.shape[3]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    if mode == "reflect" and not (h > ph and w > pw):
        mode = "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


@dataclass(frozen=True)
class Tile:
    """One tile: the core it owns ``[y0, y1) x [x0, x1)`` and the crop it runs on (core + halo)."""

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: int
    cy1: int
    cx0: int
    cx1: int

    def core_in_crop(self, scale: int = 1) -> tuple[slice, slice]:
        """Slices of the core inside the crop's output, at 1/``scale`` resolution."""
        return (slice((self.y0 - self.cy0) // scale, (self.y1 - self.cy0) // scale),
                slice((self.x0 - self.cx0) // scale, (self.x1 - self.cx0) // scale))

    def crop(self, scale: int = 1) -> tuple[slice, slice]:
        """Slices of the crop in the full image, at 1/``scale`` resolution."""
        return (slice(self.cy0 // scale, math.ceil(self.cy1 / scale)),
                slice(self.cx0 // scale, math.ceil(self.cx1 / scale)))

    def core(self, scale: int = 1) -> tuple[slice, slice]:
        """Slices of the core in the full image, at 1/``scale`` resolution."""
        return (slice(self.y0 // scale, math.ceil(self.y1 / scale)),
                slice(self.x0 // scale, math.ceil(self.x1 / scale)))


def tile_grid(size: int, tile: int, grid: int = 1) -> list[int]:
    """Core boundaries along one axis: ``ceil(size / tile)`` near-equal cores on the grid.

    Args:
        size: axis length.
        tile: the largest core side.
        grid: boundaries are multiples of it (the last one is ``size``).

    Returns:
        ``[0, b1, ..., size]``, strictly increasing.
    """
    if tile < 1:
        raise ConfigError(f'Invalid tile "{tile}", should be >= 1')
    n = max(1, math.ceil(size / tile))
    bounds = [0]
    for k in range(1, n):
        b = round(k * size / n / grid) * grid
        if bounds[-1] < b < size:
            bounds.append(b)
    bounds.append(size)
    return bounds


def tiles(height: int, width: int, tile: int, halo: int, grid: int = 1) -> Iterator[Tile]:
    """The tiles of an image, row by row (cores partition it; crops add ``halo`` each side)."""
    ys, xs = tile_grid(height, tile, grid), tile_grid(width, tile, grid)
    for y0, y1 in zip(ys, ys[1:], strict=False):
        for x0, x1 in zip(xs, xs[1:], strict=False):
            yield Tile(y0, y1, x0, x1, max(y0 - halo, 0), min(y1 + halo, height),
                       max(x0 - halo, 0), min(x1 + halo, width))


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int,
              halo: int, grid: int = 1) -> torch.Tensor:
    """Apply a same-size fully convolutional ``fn`` to (B, C, H, W) ``x`` tile by tile.

    With ``halo`` >= the network's receptive radius the result equals the untiled one.
    """
    out: torch.Tensor | None = None
    for t in tiles(x.shape[2], x.shape[3], tile, halo, grid):
        ys, xs = t.crop()
        y = fn(x[:, :, ys, xs])
        if out is None:
            out = y.new_empty((y.shape[0], y.shape[1], x.shape[2], x.shape[3]))
        cy, cx = t.core_in_crop()
        out[:, :, t.y0:t.y1, t.x0:t.x1] = y[:, :, cy, cx]
    assert out is not None
    return out
