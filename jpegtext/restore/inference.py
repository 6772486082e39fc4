"""Inference: the reusable, thread-safe :class:`Restorer`, with tiling for large images.

Tiles are aligned to the 8x8 JPEG grid (origins and sizes are multiples of 8) and overlap; each
tile's output is blended with a weight that ramps linearly to zero across the overlap, so there
are no seams. The GFM's global feature is computed over the *whole* image in a first pass and
given to every tile, so tiled and untiled outputs agree closely.

Geometric self-ensemble (``ensemble=2`` or ``8``) averages the restorations of mirrored
(x2) or mirrored and transposed (x8: the 8 symmetries of the square) copies, each mapped back;
the image is first padded at the bottom/right to a multiple of 16 by edge replication, so every
copy keeps the 8x8 (and 4:2:0 16x16) JPEG grid where the model expects it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from jpegtext.errors import ConfigError, InsufficientMemoryError, WeightsError
from jpegtext.restore.modelfile import LoadedModel
from jpegtext.restore.text import TextFeatures

__all__ = ["ENSEMBLES", "Restorer", "TilePlan", "plan_tiles", "resolve_device"]

log = logging.getLogger(__name__)

_GRID = 8
_MCU = 16  # the 4:2:0 chroma block grid, in luma pixels
#: geometric self-ensemble sizes: 1 = off, 2 = + mirror, 8 = every flip and transposition
ENSEMBLES = (1, 2, 8)


def _check_ensemble(ensemble: int) -> int:
    if ensemble not in ENSEMBLES:
        raise ConfigError(f'Invalid ensemble "{ensemble}", should be one of {list(ENSEMBLES)}')
    return int(ensemble)


def _symmetry(x: torch.Tensor, k: int, inverse: bool = False) -> torch.Tensor:
    """Symmetry ``k`` (0-7) of (B, C, H, W) ``x``: bit 0 mirrors, bit 1 flips, bit 2 transposes."""
    flips = [d for bit, d in ((1, 3), (2, 2)) if k & bit]
    if inverse and k & 4:
        x = x.transpose(2, 3)
    if flips:
        x = x.flip(flips)
    if not inverse and k & 4:
        x = x.transpose(2, 3)
    return x


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> CUDA when available, else CPU; a CUDA request without CUDA is an error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f'Invalid device "{device}", should be cpu, cuda or cuda:N') from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f'device "{device}" requested but CUDA is not available')
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f'Invalid device "{device}", should be cpu, cuda or cuda:N')
    return dev


@dataclass(frozen=True)
class TilePlan:
    """Tile origins along one axis of length ``size`` (tile length ``tile``)."""

    size: int
    tile: int
    starts: tuple[int, ...]

    def end(self, start: int) -> int:
        """End of the tile at ``start``; the last tile runs to the edge (up to 7 px longer,
        because its start stays on the 8-pixel grid)."""
        return self.size if start == self.starts[-1] else min(start + self.tile, self.size)


def _starts(size: int, tile: int, overlap: int) -> tuple[int, ...]:
    if size <= tile:
        return (0,)
    stride = tile - overlap
    starts = list(range(0, size - tile, stride))
    last = size - tile
    last -= last % _GRID  # keep the grid alignment; the last tile may reach past the end
    if not starts or starts[-1] != last:
        starts.append(max(last, 0))
    return tuple(sorted(set(starts)))


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> tuple[TilePlan, TilePlan]:
    """Grid-aligned tile layout of an image.

    Args:
        height, width: image size.
        tile: tile side, a multiple of 8.
        overlap: overlap between neighbouring tiles, a multiple of 8 smaller than ``tile``.
    """
    if tile < 32 or tile % _GRID:
        raise ConfigError(f'Invalid tile "{tile}", should be a multiple of 8 and >= 32')
    if overlap < 0 or overlap % _GRID or overlap >= tile // 2:
        raise ConfigError(f'Invalid tile overlap "{overlap}", should be a multiple of 8 in '
                          f"[0, {tile // 2})")
    return (TilePlan(height, tile, _starts(height, tile, overlap)),
            TilePlan(width, tile, _starts(width, tile, overlap)))


def _ramp(length: int, start: int, plan: TilePlan, overlap: int) -> torch.Tensor:
    """1-D blending weight of a tile: ramps up/down across overlaps with neighbours."""
    wgt = torch.ones(length)
    if overlap <= 0:
        return wgt
    ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
    if start > 0:  # a neighbour before
        wgt[:overlap] = ramp
    if start + length < plan.size:  # a neighbour after
        wgt[-overlap:] = torch.minimum(wgt[-overlap:], ramp.flip(0))
    return wgt


def _ownership(plan: TilePlan) -> dict[int, tuple[int, int]]:
    """Pixel range [lo, hi) each tile start owns; boundaries on the 8-pixel grid."""
    starts = plan.starts
    bounds = [0]
    for k in range(1, len(starts)):
        prev_end = plan.end(starts[k - 1])
        mid = (starts[k] + prev_end) // 2
        bounds.append(max(bounds[-1], mid - mid % _GRID))
    bounds.append(plan.size)
    return {s: (bounds[k], bounds[k + 1]) for k, s in enumerate(starts)}


def _available_memory(device: torch.device) -> int:
    """Bytes that inference may use now on ``device`` (a conservative share)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh}
        avail = info.get("MemAvailable", 0)
    except OSError:
        avail = 0
    return int(avail * 0.5) if avail else 2 << 30


class Restorer:
    """A loaded restoration model, ready to restore many images (load once, call many times).

    Calls are thread-safe: the modules are only read (``torch.inference_mode``), and the one
    piece of mutable state, the cache of encoded captions, is guarded by a lock.

    Args:
        model: the loaded model (see :func:`jpegtext.restore.modelfile.load_model_file`).
        device: None = CUDA when available, else CPU.
        precision: ``"fp32"``, ``"fp16"`` or ``"bf16"``; half precisions only on CUDA; None =
            fp16 on CUDA, fp32 on CPU.
        tile: tile side (multiple of 8); None = automatic from the free memory; 0 = never tile.
        tile_overlap: overlap of neighbouring tiles (multiple of 8).
        tile_batch: tiles run together on GPU (CPU runs one at a time).
        ensemble: geometric self-ensemble size (1 = off, 2, 8), each call's default; it costs
            that many passes.
        name: the model's name (for reports).
    """

    def __init__(self, model: LoadedModel, *, device: str | torch.device | None = None,
                 precision: str | None = None, tile: int | None = None, tile_overlap: int = 32,
                 tile_batch: int = 4, ensemble: int = 1, name: str = "") -> None:
        self.ensemble = _check_ensemble(ensemble)
        self.device = resolve_device(device)
        if precision is None:
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
        if precision not in dtypes:
            raise ConfigError(f'Invalid precision "{precision}", should be one of {list(dtypes)}')
        if precision != "fp32" and self.device.type != "cuda":
            raise ConfigError(f"{precision} runs on CUDA only; use fp32 on {self.device.type}")
        if tile is not None and tile != 0:
            plan_tiles(64, 64, tile, tile_overlap)  # validates both
        self.dtype = dtypes[precision]
        self.precision = precision
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.tile_batch = max(1, int(tile_batch))
        self.name = name
        self.config = model.config
        self.info = model.info
        self.generator = model.generator.to(self.device, self.dtype).eval().requires_grad_(False)
        self.text_encoder = model.text_encoder.to(self.device).eval().requires_grad_(False)
        self._lock = threading.Lock()
        self._text_cache: dict[str, TextFeatures] = {}

    # ------------------------------------------------------------------ text
    def encode_caption(self, caption: str) -> TextFeatures:
        """Text features (batch of 1) of ``caption`` on the model's device, cached."""
        with self._lock:
            hit = self._text_cache.get(caption)
        if hit is not None:
            return hit
        with torch.inference_mode():
            feats = self.text_encoder.encode([caption], self.device)
        feats = TextFeatures(feats.words.to(self.dtype), feats.mask,
                             feats.sentence.to(self.dtype))
        with self._lock:
            if len(self._text_cache) > 256:
                self._text_cache.clear()
            self._text_cache[caption] = feats
        return feats

    def lost_words(self, caption: str) -> list[str]:
        """Words of ``caption`` this model's text encoder cannot read (out of vocabulary for a
        bi-LSTM, past its word limit for either encoder), in order; [] when it reads them all."""
        fn = getattr(self.text_encoder, "lost_words", None)
        return list(fn(caption)) if fn is not None else []

    # ------------------------------------------------------------------ images
    def restore(self, image: np.ndarray, caption: str = "", quality: int | None = None,
                ensemble: int | None = None) -> np.ndarray:
        """Restore one decoded JPEG.

        Args:
            image: (H, W, 3) uint8 RGB, the decoded JPEG.
            caption: the text guiding the restoration ("" = none).
            quality: the file's JPEG quality (1-100); required by models with a quality input;
                None = the middle of the model's trained qualities.
            ensemble: geometric self-ensemble size (1, 2, 8); None = the restorer's setting.

        Returns:
            (H, W, 3) uint8 RGB restored image.
        """
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ConfigError(f"expected an (H, W, 3) uint8 RGB array, got {arr.shape} "
                              f"{arr.dtype}")
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr, copy=True)  # decode_jpeg's arrays are read-only views
        x = torch.from_numpy(arr).permute(2, 0, 1)[None]
        out = self.restore_tensor(x.float().div_(255.0), caption, quality, ensemble)
        if not bool(torch.isfinite(out).all()):
            raise WeightsError(f"model {self.name or '?'} produced NaN or infinite values: its "
                               "weights (or the chosen precision) are unusable")
        with torch.inference_mode():
            return (out[0].permute(1, 2, 0).mul(255.0).add_(0.5).clamp_(0, 255)
                    .to(torch.uint8).numpy())

    def restore_tensor(self, x: torch.Tensor, caption: str = "", quality: int | None = None,
                       ensemble: int | None = None) -> torch.Tensor:
        """Restore a (1, 3, H, W) float tensor in [0, 1]; returns the same shape, clamped.

        ``ensemble``: geometric self-ensemble size (1, 2, 8); None = the restorer's setting.
        """
        if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
            raise ConfigError(f"expected a (1, 3, H, W) tensor, got {tuple(x.shape)}")
        k = self.ensemble if ensemble is None else _check_ensemble(ensemble)
        q = self._quality(quality)
        text = self.encode_caption(caption)
        if k == 1:
            return self._restore_once(x, text, q)
        h, w = x.shape[2], x.shape[3]
        with torch.inference_mode():
            padded = torch.nn.functional.pad(x.float().cpu(), (0, -w % _MCU, 0, -h % _MCU),
                                             mode="replicate")
            total = torch.zeros_like(padded)
            for sym in range(k):
                out = self._restore_once(_symmetry(padded, sym).contiguous(), text, q)
                total += _symmetry(out, sym, inverse=True)
            return (total[:, :, :h, :w] / k).clamp_(0, 1)

    def _restore_once(self, x: torch.Tensor, text: TextFeatures, q: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        tile = self._tile_for(h, w)
        try:
            with torch.inference_mode():
                if tile == 0 or (h <= tile and w <= tile):
                    out = self._run(x.to(self.device, self.dtype), text, q, None)
                else:
                    out = self._run_tiled(x, text, q, tile)
                out = out.float().clamp_(0, 1).cpu()
        except torch.OutOfMemoryError as exc:
            raise InsufficientMemoryError(
                f"out of memory restoring a {w}x{h} image (tile {tile or 'off'}) on "
                f"{self.device}; use a smaller --tile") from exc
        except RuntimeError as exc:
            if "can't allocate memory" in str(exc) or "out of memory" in str(exc):
                raise InsufficientMemoryError(
                    f"out of memory restoring a {w}x{h} image (tile {tile or 'off'}) on "
                    f"{self.device}; use a smaller --tile") from exc
            raise
        return out

    def _quality(self, quality: int | None) -> torch.Tensor:
        if quality is None:
            qs = sorted(self.config.qualities)
            quality = qs[len(qs) // 2]
        if not 1 <= int(quality) <= 100:
            raise ConfigError(f'Invalid quality "{quality}", should be between 1 and 100')
        return torch.tensor([float(quality)], device=self.device)

    def bytes_per_pixel(self) -> float:
        """Rough peak activation memory per input pixel (calibrated on the CPU, fp32)."""
        w = self.config.generator.widths
        elem = torch.finfo(self.dtype).bits // 8
        # full-resolution maps dominate: head, skip, up-shuffled, merged (+ half-res terms)
        floats = 6 * w[0] + 3 * w[1] + 1.5 * w[2] + 24
        return floats * elem * 1.5

    def _tile_for(self, h: int, w: int) -> int:
        if self.tile is not None:
            if self.tile and self.tile * self.tile * self.bytes_per_pixel() > \
                    _available_memory(self.device):
                raise InsufficientMemoryError(
                    f"tile {self.tile} needs about "
                    f"{self.tile ** 2 * self.bytes_per_pixel() / 2 ** 30:.1f} GiB, more than is "
                    f"free on {self.device}; use a smaller --tile")
            return self.tile
        budget = _available_memory(self.device)
        if self.device.type == "cpu":
            budget = min(budget, 3 << 29)  # 1.5 GiB: a 12 MP restore stays under ~3 GB RSS
        if h * w * self.bytes_per_pixel() <= budget:
            return 0
        side = int(math.sqrt(budget / self.bytes_per_pixel()))
        side = max(64, side - side % _GRID)
        return min(side, 2048)

    def _run(self, x: torch.Tensor, text: TextFeatures, q: torch.Tensor,
             pooled: torch.Tensor | None) -> torch.Tensor:
        b = x.shape[0]
        return self.generator(x, text.words.expand(b, -1, -1), text.mask.expand(b, -1),
                              text.sentence.expand(b, -1), q.expand(b), pooled)

    def _run_tiled(self, x: torch.Tensor, text: TextFeatures, q: torch.Tensor,
                   tile: int) -> torch.Tensor:
        _, _, h, w = x.shape
        overlap = min(self.tile_overlap, tile // 2 - _GRID)
        overlap -= overlap % _GRID
        ph, pw = plan_tiles(h, w, tile, max(overlap, 0))
        boxes = [(y, xx) for y in ph.starts for xx in pw.starts]
        pooled = self._global_feature(x, q, boxes, tile, (ph, pw))
        out = torch.zeros(3, h, w)
        weight = torch.zeros(1, h, w)
        batch = self.tile_batch if self.device.type == "cuda" else 1
        for i in range(0, len(boxes), batch):
            group = boxes[i:i + batch]
            crops = [x[0, :, y:ph.end(y), xx:pw.end(xx)] for y, xx in group]
            same = all(c.shape == crops[0].shape for c in crops)
            results: Sequence[torch.Tensor]
            if same:
                tiles = torch.stack(crops).to(self.device, self.dtype)
                pb = None if pooled is None else pooled.expand(len(group), -1)
                results = self._run(tiles, text, q, pb).float().cpu()
            else:
                results = [self._run(c[None].to(self.device, self.dtype), text, q, pooled)
                           .float().cpu()[0] for c in crops]
            for (y, xx), res in zip(group, results, strict=True):
                th, tw = res.shape[1], res.shape[2]
                wy = _ramp(th, y, ph, overlap)
                wx = _ramp(tw, xx, pw, overlap)
                wgt = (wy[:, None] * wx[None, :])[None]
                out[:, y:y + th, xx:xx + tw] += res * wgt
                weight[:, y:y + th, xx:xx + tw] += wgt
        return out[None] / weight.clamp_min(1e-8)

    def _global_feature(self, x: torch.Tensor, q: torch.Tensor, boxes: list[tuple[int, int]],
                        tile: int, plans: tuple[TilePlan, TilePlan]) -> torch.Tensor | None:
        """Mean of the GFM's pooling map over the whole image, assembled from tile cores.

        Each 8x8 cell of the image is counted once, by the tile that owns it (overlaps are
        split in the middle), so the mean runs over the same cells as an untiled pass.
        """
        if self.generator.gfm is None:
            return None
        own_y, own_x = _ownership(plans[0]), _ownership(plans[1])
        total: torch.Tensor | None = None
        count = 0
        for y, xx in boxes:
            crop = x[:, :, y:plans[0].end(y), xx:plans[1].end(xx)].to(self.device, self.dtype)
            fmap = self.generator.global_pool_map(crop, q).float()  # (1, C, th/8, tw/8)
            (y0, y1), (x0, x1) = own_y[y], own_x[xx]
            part = fmap[:, :, (y0 - y) // _GRID:math.ceil((y1 - y) / _GRID),
                        (x0 - xx) // _GRID:math.ceil((x1 - xx) / _GRID)]
            s = part.sum(dim=(2, 3))
            total = s if total is None else total + s
            count += part.shape[2] * part.shape[3]
        assert total is not None
        return (total / max(count, 1)).to(self.dtype)

    # ------------------------------------------------------------------ info
    def describe(self) -> dict[str, object]:
        """Facts about this restorer for reports and ``--json`` output."""
        return {"model": self.name, "device": str(self.device), "precision": self.precision,
                "qualities": list(self.config.qualities),
                "text_encoder": self.config.text.kind,
                "parameters": sum(p.numel() for p in self.generator.parameters())}
