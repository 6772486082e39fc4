"""A synthetic outdoor photo drawn by code: the project's redistributable sample image.

The README's main job (``encode`` + ``decode`` of a sample) must run on a fresh machine, and the
photos under ``../shared`` cannot be shipped, so jpegtext draws its own: a farm scene with a sky
gradient, clouds, a sun, hazy mountains, hills with a tree line, a red barn and a silo, trees,
a pond, a fence, a path and a textured meadow with flowers. It has what JPEG at QF 1-10
destroys: smooth gradients (banding and blocks), sharp straight edges (ringing), fine texture
(smoothed away) and small saturated details (colour lost to 4:2:0 and step-255 quantisation).

Everything is drawn with numpy, OpenCV and Pillow from one seed, so the image is identical on
every run of the same library versions; it is free of third-party rights (public domain / MIT
like the code).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image, ImageDraw

from jpegtext.errors import ConfigError

__all__ = ["make_sample_image"]

_SUPERSAMPLE = 2  # shapes are drawn at twice the size and box-filtered down: anti-aliased edges
_MIN_SIDE, _MAX_SIDE = 64, 8192


def make_sample_image(width: int = 768, height: int = 512, seed: int = 0) -> Image.Image:
    """Draw the sample scene.

    Args:
        width: image width in pixels (64-8192).
        height: image height in pixels (64-8192). The scene is laid out for 3:2 and scales to
            other shapes.
        seed: changes the clouds, hills, tree and flower positions and the textures.

    Returns:
        An RGB ``PIL.Image`` of ``width`` x ``height``, the same for the same arguments.

    Raises:
        ConfigError: a size out of range or a non-integer argument.
    """
    for arg, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f'Invalid {arg} "{value}", should be an integer')
        if not _MIN_SIDE <= value <= _MAX_SIDE:
            raise ConfigError(
                f'Invalid {arg} "{value}", should be between {_MIN_SIDE} and {_MAX_SIDE}'
            )
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f'Invalid seed "{seed}", should be a non-negative integer')
    scene = _Scene(width * _SUPERSAMPLE, height * _SUPERSAMPLE, np.random.default_rng(seed))
    big = scene.render()
    small = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
    # Film grain after the resize, so that it is per output pixel like a camera's noise.
    small = small + scene.rng.normal(0.0, 1.6, small.shape).astype(np.float32)
    return Image.fromarray(np.clip(small + 0.5, 0, 255).astype(np.uint8), "RGB")


class _Scene:
    """Draws the layers back to front on an (H, W, 3) float32 canvas in [0, 255]."""

    def __init__(self, width: int, height: int, rng: np.random.Generator) -> None:
        self.w, self.h, self.rng = width, height, rng
        self.img = np.zeros((height, width, 3), np.float32)
        self.yy, self.xx = np.mgrid[0:height, 0:width].astype(np.float32)
        self.horizon = 0.50 * height  # where the far mountains meet the hills

    # ----------------------------------------------------------------- helpers
    def noise(self, cells: float, octaves: int = 4, aspect: float = 1.0) -> np.ndarray:
        """Fractal value noise in about [-1, 1], (H, W) float32; ``cells`` across the width."""
        out = np.zeros((self.h, self.w), np.float32)
        amp, total = 1.0, 0.0
        for octave in range(octaves):
            nx = max(2, int(cells * 2**octave))
            ny = max(2, int(nx * self.h / self.w * aspect))
            grid = self.rng.uniform(-1.0, 1.0, (ny, nx)).astype(np.float32)
            out += amp * cv2.resize(grid, (self.w, self.h), interpolation=cv2.INTER_CUBIC)
            total += amp
            amp *= 0.5
        return out / total

    def profile(self, cells: int, octaves: int = 4) -> np.ndarray:
        """1-D fractal noise along x, (W,) float32 in about [-1, 1] (hill and cloud outlines)."""
        out = np.zeros(self.w, np.float32)
        amp, total = 1.0, 0.0
        for octave in range(octaves):
            n = cells * 2**octave + 1
            knots = self.rng.uniform(-1.0, 1.0, n)
            out += amp * np.interp(np.linspace(0, n - 1, self.w), np.arange(n), knots).astype(
                np.float32
            )
            total += amp
            amp *= 0.5
        return cv2.GaussianBlur(out[None, :], (0, 0), self.w / 400)[0] / total

    def mask(self, draw_fn: Callable[[ImageDraw.ImageDraw], object]) -> np.ndarray:
        """(H, W) float32 coverage in [0, 1] of the shapes that ``draw_fn(draw)`` draws."""
        layer = Image.new("L", (self.w, self.h), 0)
        draw_fn(ImageDraw.Draw(layer))
        return np.asarray(layer, np.float32) / 255.0

    def paint(self, mask: np.ndarray, colour: np.ndarray | tuple[float, float, float]) -> None:
        """Alpha-blend ``colour`` (RGB triple or (H, W, 3) layer) where ``mask`` is set."""
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return
        cols = np.flatnonzero(mask.any(axis=0))
        # Blend only inside the mask's bounding box: most shapes are small.
        ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        m = mask[ys, xs, None]
        colour = np.asarray(colour, np.float32)
        if colour.ndim == 3:
            colour = colour[ys, xs]
        region = self.img[ys, xs]
        region *= 1.0 - m
        region += colour * m

    def sx(self, fraction: float) -> float:
        return fraction * self.w

    def sy(self, fraction: float) -> float:
        return fraction * self.h

    # ------------------------------------------------------------------ layers
    def render(self) -> np.ndarray:
        self.sky()
        self.mountains()
        self.hills()
        self.meadow()
        self.pond()
        self.path()
        self.shadows()
        self.barn()
        self.trees()
        self.fence()
        self.flowers()
        self.vignette()
        return self.img

    def sky(self) -> None:
        t = (self.yy / self.horizon).clip(0, 1)[..., None] ** 0.8
        top, low = np.array([48, 98, 178], np.float32), np.array([178, 206, 230], np.float32)
        self.img[:] = top * (1 - t) + low * t
        sun_x, sun_y = self.sx(0.80), self.sy(0.15)
        dist = np.hypot(self.xx - sun_x, self.yy - sun_y) / self.w
        glow = np.exp(-((dist / 0.16) ** 2))[..., None]
        self.img += glow * np.array([70, 55, 20], np.float32)
        # Clouds: thresholded fractal noise in soft horizontal bands, shaded darker underneath.
        density = self.noise(3.0, octaves=5, aspect=2.5)
        band = np.exp(-(((self.yy - self.sy(0.12)) / self.sy(0.10)) ** 2))
        band += 0.8 * np.exp(-(((self.yy - self.sy(0.30)) / self.sy(0.06)) ** 2))
        cover = np.clip((density + 0.55 * band - 0.45) * 3.0, 0, 1) * (self.yy < self.horizon)
        shade = np.clip(np.roll(cover, -int(self.sy(0.02)), axis=0) - cover, 0, 1)
        cloud = np.array([250, 250, 252], np.float32) - 55.0 * shade[..., None]
        self.paint(cover * 0.9, cloud)
        disc = np.clip((self.sx(0.035) - dist * self.w) / 3.0, 0, 1) * (1 - cover)
        self.paint(disc, (255, 247, 215))

    def mountains(self) -> None:
        # Two ranges: the far one paler (aerial perspective), both with ridged fractal outlines
        # (1 - |noise| makes sharp summits and rounded valleys) and snow above a ragged line.
        for base, amp, rock_rgb, cells in (
            (0.44, 0.16, (150, 166, 192), 3),
            (0.47, 0.11, (108, 124, 156), 5),
        ):
            lift = 0.55 * (self.profile(cells, octaves=3) + 1) + 0.45 * (
                1 - np.abs(self.profile(cells * 2, octaves=6))
            )
            ridge = self.sy(base) - self.sy(amp) * lift
            inside = np.clip(self.yy - ridge[None, :], 0, 1)
            shade = self.noise(12.0, octaves=5)
            haze = ((self.yy - ridge[None, :]) / self.sy(0.16)).clip(0, 1)[..., None]
            rock = np.asarray(rock_rgb, np.float32) * (1 + 0.10 * shade)[..., None]
            colour = rock * (1 - 0.45 * haze) + np.array([176, 198, 216], np.float32) * 0.45 * haze
            self.paint(inside, colour)
            snow_line = self.sy(base - 0.75 * amp) + self.sy(0.025) * shade
            snow = inside * np.clip((snow_line - self.yy) / 3.0, 0, 1)
            self.paint(snow * 0.9, (234, 238, 246))

    def hills(self) -> None:
        for depth, (top, colour) in enumerate([(0.47, (96, 132, 92)), (0.53, (82, 128, 62))]):
            crest = self.sy(top) + self.sy(0.04) * self.profile(3 + depth, octaves=5)
            inside = np.clip(self.yy - crest[None, :], 0, 1)
            texture = self.noise(40.0 + 30 * depth, octaves=3)
            shade = (1.0 + 0.12 * texture)[..., None]
            self.paint(inside, np.asarray(colour, np.float32) * shade)
            # A tree line on the crest: many dark overlapping crowns.
            crowns = self.mask(lambda d, c=crest, k=depth: self._tree_line(d, c, k))
            leaf = (1.0 + 0.25 * self.noise(90.0, octaves=2))[..., None]
            self.paint(crowns, np.array([38, 68, 40], np.float32) * leaf)

    def _tree_line(self, draw: ImageDraw.ImageDraw, crest: np.ndarray, depth: int) -> None:
        step = self.w / (90 - 30 * depth)
        x = 0.0
        while x < self.w:
            if self.rng.random() < 0.7:
                r = self.rng.uniform(0.5, 1.2) * step * (1.0 + 0.5 * depth)
                y = crest[min(int(x), self.w - 1)]
                draw.ellipse([x - r, y - 1.7 * r, x + r, y + 0.3 * r], fill=255)
            x += step * self.rng.uniform(0.6, 1.4)

    def meadow(self) -> None:
        top = self.sy(0.60) + self.sy(0.02) * self.profile(2, octaves=3)
        inside = np.clip(self.yy - top[None, :], 0, 1)
        depth = ((self.yy - top[None, :]) / (self.h - top.min())).clip(0, 1)[..., None]
        far, near = np.array([128, 160, 70], np.float32), np.array([70, 120, 40], np.float32)
        base = far * (1 - depth) + near * depth
        patches = self.noise(8.0, octaves=3)[..., None]
        # Grass blades: noise stretched vertically, finer than a JPEG block.
        blades = cv2.GaussianBlur(
            self.rng.normal(0, 1, (self.h, self.w)).astype(np.float32), (0, 0), sigmaX=0.8, sigmaY=4
        )[..., None]
        grass = base * (1 + 0.10 * patches) + 75.0 * blades * (0.4 + 0.6 * depth)
        grass += np.array([10, 6, -6], np.float32) * patches  # dry, yellowish patches
        self.paint(inside, grass)

    def pond(self) -> None:
        cx, cy, rx, ry = self.sx(0.66), self.sy(0.68), self.sx(0.13), self.sy(0.045)
        pond = self.mask(lambda d: d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255))
        t = ((self.yy - (cy - ry)) / (2 * ry)).clip(0, 1)[..., None]
        water = np.array([150, 185, 215], np.float32) * (1 - t) + np.array([70, 110, 150]) * t
        ripples = 10.0 * np.sin(self.yy * 0.9 + 3.0 * self.noise(20.0, octaves=2))[..., None]
        self.paint(pond, water + ripples)
        bank = self.mask(
            lambda d: d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], outline=255, width=3)
        )
        self.paint(bank * 0.6, (92, 84, 60))

    def path(self) -> None:
        def draw(d: ImageDraw.ImageDraw) -> None:
            pts_l, pts_r = [], []
            for i in range(21):
                t = i / 20
                x = self.sx(0.30 + 0.10 * t + 0.05 * np.sin(3.5 * t))
                y = self.sy(0.62) + t * (self.h - self.sy(0.62))
                half = self.sx(0.006 + 0.06 * t**1.5)
                pts_l.append((x - half, y))
                pts_r.append((x + half, y))
            d.polygon(pts_l + pts_r[::-1], fill=255)

        path = self.mask(draw)
        grit = self.noise(120.0, octaves=2)[..., None]
        self.paint(path, np.array([176, 150, 112], np.float32) * (1 + 0.12 * grit))

    def shadows(self) -> None:
        """Soft shadows on the grass, cast to the lower left (the sun is at the upper right)."""

        def draw(d: ImageDraw.ImageDraw) -> None:
            d.polygon(
                [(self.sx(0.10), self.sy(0.66)), (self.sx(0.30), self.sy(0.66)),
                 (self.sx(0.24), self.sy(0.70)), (self.sx(0.03), self.sy(0.70))],
                fill=255,
            )  # fmt: skip
            d.ellipse([self.sx(0.70), self.sy(0.72), self.sx(0.88), self.sy(0.77)], fill=255)
            for fx, fy, r in ((0.05, 0.62, 0.04), (0.40, 0.60, 0.03), (0.52, 0.58, 0.025)):
                d.ellipse(
                    [self.sx(fx - r * 1.4), self.sy(fy - 0.008), self.sx(fx + r * 0.4),
                     self.sy(fy + 0.012)],
                    fill=255,
                )  # fmt: skip

        soft = cv2.GaussianBlur(self.mask(draw), (0, 0), self.w / 300)
        self.img *= (1.0 - 0.38 * soft)[..., None]

    def barn(self) -> None:
        x0, x1 = self.sx(0.12), self.sx(0.30)
        y1 = self.sy(0.66)
        eave, ridge = self.sy(0.50), self.sy(0.40)
        mid = (x0 + x1) / 2
        walls = self.mask(lambda d: d.rectangle([x0, eave, x1, y1], fill=255))
        boards = (np.sin(self.xx * (2 * np.pi / self.sx(0.008))) > 0.85)[..., None]
        wall = np.array([166, 38, 32], np.float32) * (1 - 0.18 * boards)
        self.paint(walls, wall)
        overhang = self.sx(0.012)
        roof = self.mask(
            lambda d: d.polygon(
                [(x0 - overhang, eave), (mid, ridge), (x1 + overhang, eave)], fill=255
            )
        )
        self.paint(
            roof, np.array([64, 64, 70], np.float32) * (1 + 0.08 * self.noise(60.0, 2))[..., None]
        )
        lw = max(2, int(self.sx(0.004)))

        def trim(d: ImageDraw.ImageDraw) -> None:
            d.line([(x0, eave), (x1, eave)], fill=255, width=lw)
            d.line([(x0, eave), (x0, y1)], fill=255, width=lw)
            d.line([(x1, eave), (x1, y1)], fill=255, width=lw)
            dx0, dx1, dy0 = mid - self.sx(0.035), mid + self.sx(0.035), self.sy(0.555)
            d.rectangle([dx0, dy0, dx1, y1], outline=255, width=lw)
            d.line([(dx0, dy0), (dx1, y1)], fill=255, width=lw)
            d.line([(dx0, y1), (dx1, dy0)], fill=255, width=lw)
            wy, ws = self.sy(0.445), self.sx(0.018)
            d.rectangle([mid - ws, wy - ws, mid + ws, wy + ws], outline=255, width=lw)

        door = self.mask(
            lambda d: d.rectangle(
                [mid - self.sx(0.035), self.sy(0.555), mid + self.sx(0.035), y1], fill=255
            )
        )
        self.paint(door, (120, 28, 26))
        window = self.mask(
            lambda d: d.rectangle(
                [mid - self.sx(0.018), self.sy(0.427), mid + self.sx(0.018), self.sy(0.463)],
                fill=255,
            )
        )
        self.paint(window, (30, 30, 36))
        self.paint(self.mask(trim), (242, 240, 232))
        # Silo: a grey cylinder with a dome, shaded across its width.
        sx0, sx1, stop = self.sx(0.31), self.sx(0.36), self.sy(0.36)
        silo = self.mask(
            lambda d: (
                d.rectangle([sx0, stop, sx1, y1], fill=255),
                d.ellipse([sx0, stop - (sx1 - sx0) / 2, sx1, stop + (sx1 - sx0) / 2], fill=255),
            )
        )
        across = ((self.xx - sx0) / (sx1 - sx0)).clip(0, 1)
        metal = 200 - 70 * (across - 0.3) ** 2 * 2
        rings = (np.sin(self.yy * (2 * np.pi / self.sy(0.025))) > 0.9) * 25.0
        grey = (metal - rings)[..., None] * np.array([1.0, 1.0, 1.04], np.float32)
        self.paint(silo, grey)

    def trees(self) -> None:
        spots = [(0.05, 0.62, 1.0), (0.40, 0.60, 0.7), (0.86, 0.74, 1.9), (0.52, 0.58, 0.6)]
        for fx, fy, size in spots:
            fx += self.rng.uniform(-0.01, 0.01)
            self._tree(self.sx(fx), self.sy(fy), self.sx(0.045) * size)

    def _tree(self, x: float, ground: float, radius: float) -> None:
        trunk_w = radius * 0.22
        trunk = self.mask(
            lambda d: d.rectangle(
                [x - trunk_w / 2, ground - 1.4 * radius, x + trunk_w / 2, ground], fill=255
            )
        )
        bark = 1 + 0.2 * self.noise(200.0, octaves=2)[..., None]
        self.paint(trunk, np.array([92, 66, 44], np.float32) * bark)
        cy = ground - 1.9 * radius
        blobs = [
            (self.rng.uniform(-0.7, 0.7), self.rng.uniform(-0.6, 0.5), self.rng.uniform(0.5, 0.8))
            for _ in range(9)
        ]
        crown = self.mask(
            lambda d: [
                d.ellipse(
                    [
                        x + bx * radius - br * radius,
                        cy + by * radius - br * radius,
                        x + bx * radius + br * radius,
                        cy + by * radius + br * radius,
                    ],
                    fill=255,
                )
                for bx, by, br in blobs
            ]
        )
        # Light from the upper right (the sun), leaf clusters as fine noise.
        light = ((self.xx - x) - (self.yy - cy)) / (2.5 * radius)
        leaves = self.noise(110.0, octaves=3)
        shade = np.clip(1.0 + 0.35 * light + 0.35 * leaves, 0.45, 1.6)[..., None]
        self.paint(crown, np.array([52, 96, 44], np.float32) * shade)

    def fence(self) -> None:
        y_far, y_near = self.sy(0.80), self.sy(0.86)
        x_start, x_end = self.sx(0.44), self.sx(1.0)

        def y_at(x: float) -> float:
            return y_far + (y_near - y_far) * (x - x_start) / (x_end - x_start)

        def draw(d: ImageDraw.ImageDraw) -> None:
            posts = 9
            for i in range(posts + 1):
                x = x_start + (x_end - x_start) * i / posts
                y = y_at(x)
                hgt, wid = (
                    self.sy(0.07) + self.sy(0.02) * i / posts,
                    self.sx(0.004 + 0.003 * i / posts),
                )
                d.rectangle([x - wid, y - hgt, x + wid, y], fill=255)
            for frac in (0.35, 0.75):
                d.line(
                    [
                        (x_start, y_at(x_start) - frac * self.sy(0.07)),
                        (x_end, y_at(x_end) - frac * self.sy(0.09)),
                    ],
                    fill=255,
                    width=max(2, int(self.sy(0.006))),
                )

        self.paint(self.mask(draw), (128, 104, 80))

    def flowers(self) -> None:
        top = self.sy(0.70)
        colours = [(250, 214, 40), (245, 245, 240), (214, 58, 96), (150, 100, 200)]
        n = int(240 * self.w * self.h / (1536 * 1024))
        clumps = self.noise(6.0, octaves=2)

        def draw(d: ImageDraw.ImageDraw) -> None:
            placed = 0
            while placed < n // len(colours):
                y = self.rng.uniform(top, self.h)
                x = self.rng.uniform(0, self.w)
                # Flowers grow in clumps: keep a point with a probability from smooth noise.
                if clumps[int(y), int(x)] < self.rng.uniform(-0.2, 0.6):
                    continue
                r = self.sx(0.001 + 0.0025 * (y - top) / (self.h - top))
                d.ellipse([x - r, y - r, x + r, y + r], fill=255)
                placed += 1

        for colour in colours:
            self.paint(self.mask(draw), colour)

    def vignette(self) -> None:
        r = np.hypot((self.xx / self.w - 0.5) * 1.2, self.yy / self.h - 0.5)
        self.img *= (1.0 - 0.22 * r**2)[..., None]
