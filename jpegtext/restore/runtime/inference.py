"""Inference: the reusable, thread-safe :class:`Restorer`, with tiling for large images.

Tiling (:mod:`jpegtext.restore.tiling`) runs the generator's encoder and its decoder once each
per tile, never the encoder twice. The image is padded once to the generator's
``downsampling_factor`` (as an untiled pass pads it) and split into grid-aligned cores, each run
with ``tile_overlap`` pixels of real context (a halo) on every side that has any:

1. encoder pass: each tile's 1/2, 1/4 and 1/8 feature maps are computed and their cores kept in
   whole-image maps (a small share of the image's pixels x channels: 1/4, 1/16, 1/64); the GFM's
   global feature is then pooled over exactly the cells an untiled pass pools;
2. decoder pass: each tile recomputes only the full-resolution skip (head + first blocks) from
   the pixels, takes its 1/2-1/8 maps, halo included, from the whole-image maps, runs GFM,
   mid blocks, LFMs and decoder, and keeps its core. No blending: with a halo of the network's
   effective receptive radius the cores equal the untiled result.

Geometric self-ensemble (``ensemble=2`` or ``8``) averages the restorations of mirrored
(x2) or mirrored and transposed (x8: the 8 symmetries of the square) copies, each mapped back;
the image is first padded at the bottom/right to a multiple of 16 by edge replication, so every
copy keeps the 8x8 (and 4:2:0 16x16) JPEG grid where the model expects it.
"""

from __future__ import annotations

import logging
import math
import threading

import numpy as np
import torch

from jpegtext._device import resolve_device
from jpegtext.codec.image import is_integer
from jpegtext.errors import ConfigError, InsufficientMemoryError, WeightsError
from jpegtext.restore.networks.text import TextFeatures, check_caption_type
from jpegtext.restore.runtime.modelfile import LoadedModel
from jpegtext.restore.tiling import pad_to_multiple, tiles

__all__ = ["AUTO_TILES", "ENSEMBLES", "PRECISIONS", "Restorer", "check_guidance",
           "check_precision", "check_tiling"]

log = logging.getLogger(__name__)

_GRID = 8
_MCU = 16  # the 4:2:0 chroma block grid, in luma pixels
#: tile sides (cores, without the halo) the automatic choice picks from: the largest whose
#: crop fits the memory budget, at least the smallest. The floor is 384 px because smaller
#: tiles with the default 32 px halo miss the agreement bar on Kodak (max 10 levels at 128 and
#: 256 px, ``benchmarks/results/tiling_agreement_128_2048.json``); ``--tile`` can still ask.
AUTO_TILES = (384, 512, 640, 768, 1024, 1536, 2048)
#: geometric self-ensemble sizes: 1 = off, 2 = + mirror, 8 = every flip and transposition
ENSEMBLES = (1, 2, 8)


def check_guidance(value: float) -> float:
    """``value`` as a caption strength (a finite number from 0 to 10), else ConfigError."""
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Invalid guidance {value!r}: a number from 0 to 10") from None
    if not math.isfinite(s) or not 0.0 <= s <= 10.0:
        raise ConfigError(f"Invalid guidance {value!r}: a number from 0 to 10")
    return s


#: restoration precisions and their dtypes (the half ones on CUDA only)
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def check_precision(precision: str | None, device: torch.device) -> str:
    """``precision`` on ``device``; None = fp16 on CUDA, fp32 elsewhere.

    Raises:
        ConfigError: an unknown precision, or a half precision on a device other than CUDA
            (the value quoted).
    """
    if precision is None:
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise ConfigError(f'Invalid precision "{precision}", should be one of '
                          f'{", ".join(PRECISIONS)}')
    if precision != "fp32" and device.type != "cuda":
        raise ConfigError(f'Invalid precision "{precision}" on {device.type}: half precision '
                          "runs on CUDA only (use fp32)")
    return precision


def check_tiling(tile: int | None, tile_overlap: int) -> tuple[int | None, int]:
    """``tile`` and ``tile_overlap`` as ints, checked before any model is loaded.

    Args:
        tile: tile side, a multiple of 8 and >= 32; None = automatic; 0 = never tile.
        tile_overlap: the halo, a multiple of 8 and >= 0.

    Raises:
        ConfigError: a value that is not an integer (a bool, float or str) or out of range,
            quoted.
    """
    if tile is not None and (not is_integer(tile) or (tile != 0 and (tile < 32 or tile % _GRID))):
        raise ConfigError(f'Invalid tile "{tile!r}", should be None, 0 or an integer multiple of '
                          "8 and >= 32")
    if not is_integer(tile_overlap) or tile_overlap < 0 or tile_overlap % _GRID:
        raise ConfigError(f'Invalid tile overlap "{tile_overlap!r}", should be an integer '
                          "multiple of 8 and >= 0")
    return (None if tile is None else int(tile)), int(tile_overlap)


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


#: CPU activation budget of one pass (the crop of one tile): with the tiling's whole-image
#: feature maps, a 12 MP restore of the small model stays under 2 GB RSS
_CPU_BUDGET = 1 << 30


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
        model: the loaded model (see :func:`jpegtext.restore.runtime.modelfile.load_model_file`).
        device: None = CUDA when available, else CPU.
        precision: ``"fp32"``, ``"fp16"`` or ``"bf16"``; half precisions only on CUDA; None =
            fp16 on CUDA, fp32 on CPU.
        tile: tile side (multiple of 8); None = automatic from the free memory; 0 = never tile.
        tile_overlap: the halo: pixels of real context each tile runs with on every side that
            has any, cropped away (multiple of 8; it should reach the network's effective
            receptive radius, see ``benchmarks/tiling_agreement.py``).
        tile_batch: kept for compatibility; tiles run one at a time (their shapes differ).
        ensemble: geometric self-ensemble size (1 = off, 2, 8), each call's default; it costs
            that many passes.
        name: the model's name (for reports).
    """

    def __init__(self, model: LoadedModel, *, device: str | torch.device | None = None,
                 precision: str | None = None, tile: int | None = None, tile_overlap: int = 32,
                 tile_batch: int = 4, ensemble: int = 1, name: str = "") -> None:
        self.ensemble = _check_ensemble(ensemble)
        self.device = resolve_device(device)
        precision = check_precision(precision, self.device)
        tile, tile_overlap = check_tiling(tile, tile_overlap)
        self.dtype = PRECISIONS[precision]
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
        """Text features (batch of 1) of ``caption`` on the model's device, cached.

        Raises:
            ConfigError: ``caption`` is not a str.
        """
        check_caption_type(caption)
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
        bi-LSTM, past its word limit for either encoder), in order; [] when it reads them all.

        Raises:
            ConfigError: ``caption`` is not a str.
        """
        check_caption_type(caption)
        fn = getattr(self.text_encoder, "lost_words", None)
        return list(fn(caption)) if fn is not None else []

    # ------------------------------------------------------------------ images
    def restore(self, image: np.ndarray, caption: str = "", quality: int | None = None,
                ensemble: int | None = None, guidance: float = 1.0) -> np.ndarray:
        """Restore one decoded JPEG.

        Args:
            image: (H, W, 3) uint8 RGB, the decoded JPEG.
            caption: the text guiding the restoration ("" = none).
            quality: the file's JPEG quality (1-100); required by models with a quality input;
                None = the middle of the model's trained qualities.
            ensemble: geometric self-ensemble size (1, 2, 8); None = the restorer's setting.
            guidance: caption strength (see :meth:`restore_tensor`); 1 = the model's own.

        Returns:
            (H, W, 3) uint8 RGB restored image.

        Raises:
            ConfigError: not an (H, W, 3) uint8 array with H, W >= 1; a caption that is not a
                str; a bad quality, ensemble or guidance.
        """
        check_caption_type(caption)
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or 0 in arr.shape:
            raise ConfigError(f"expected an (H, W, 3) uint8 RGB array with H, W >= 1, got "
                              f"{arr.shape} {arr.dtype}")
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr, copy=True)  # e.g. np.asarray(PIL image) is read-only
        x = torch.from_numpy(arr).permute(2, 0, 1)[None]
        out = self.restore_tensor(x.float().div_(255.0), caption, quality, ensemble, guidance)
        if not bool(torch.isfinite(out).all()):
            raise WeightsError(f"model {self.name or '?'} produced NaN or infinite values: its "
                               "weights (or the chosen precision) are unusable")
        with torch.inference_mode():
            return (out[0].permute(1, 2, 0).mul(255.0).add_(0.5).clamp_(0, 255)
                    .to(torch.uint8).numpy())

    def restore_tensor(self, x: torch.Tensor, caption: str = "", quality: int | None = None,
                       ensemble: int | None = None, guidance: float = 1.0) -> torch.Tensor:
        """Restore a (1, 3, H, W) float tensor in [0, 1]; returns the same shape, clamped.

        ``ensemble``: geometric self-ensemble size (1, 2, 8); None = the restorer's setting.
        ``guidance``: caption strength ``s`` (0-10; 1 = the model's own restoration). With a
        caption and ``s != 1`` the image is also restored with an empty caption and the result
        is ``empty + s * (captioned - empty)``, so what the caption changes is scaled by ``s``
        (as classifier-free guidance does; two passes, twice the time).
        """
        check_caption_type(caption)
        if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3 or 0 in x.shape:
            raise ConfigError(f"expected a (1, 3, H, W) tensor with H, W >= 1, got "
                              f"{tuple(x.shape)}")
        k = self.ensemble if ensemble is None else _check_ensemble(ensemble)
        q = self._quality(quality)
        s = check_guidance(guidance)
        text = self.encode_caption(caption)
        if s != 1.0 and caption.strip():
            with torch.inference_mode():
                captioned = self._restore_k(x, text, q, k)
                empty = self._restore_k(x, self.encode_caption(""), q, k)
                return empty.add_(captioned.sub_(empty).mul_(s)).clamp_(0, 1)
        return self._restore_k(x, text, q, k)

    def _restore_k(self, x: torch.Tensor, text: TextFeatures, q: torch.Tensor,
                   k: int) -> torch.Tensor:
        """One restoration, averaged over ``k`` symmetries (self-ensemble) when ``k > 1``."""
        if k == 1:
            return self._restore_once(x, text, q)
        h, w = x.shape[2], x.shape[3]
        with torch.inference_mode():
            padded = pad_to_multiple(x.float().cpu(), _MCU, mode="replicate")
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
        """Tile side (core) for an h x w image: 0 = untiled; else one of :data:`AUTO_TILES`
        when automatic (the largest whose crop, halo included, fits the memory budget).

        An explicit ``tile`` is checked against the largest pass it gives this image: its crop
        limited to the image, so a tile larger than the image costs one pass of the image.
        """
        bpp = self.bytes_per_pixel()
        if self.tile is not None:
            if self.tile:
                # The largest pass: a crop (core + halo) never extends past the padded image,
                # so an image within one tile is one pass of its own (padded) size.
                grid = self.generator.downsampling_factor
                side = self.tile + 2 * self.tile_overlap
                crop_h = min(side, -(-h // grid) * grid)
                crop_w = min(side, -(-w // grid) * grid)
                need = crop_h * crop_w * bpp
                if need > _available_memory(self.device):
                    raise InsufficientMemoryError(
                        f"tile {self.tile} needs about {need / 2 ** 30:.1f} GiB, more than is "
                        f"free on {self.device}; use a smaller --tile")
            return self.tile
        budget = _available_memory(self.device)
        if self.device.type == "cpu":
            budget = min(budget, _CPU_BUDGET)
        if h * w * bpp <= budget:
            return 0
        fits = [t for t in AUTO_TILES if (t + 2 * self.tile_overlap) ** 2 * bpp <= budget]
        return fits[-1] if fits else AUTO_TILES[0]

    def _run(self, x: torch.Tensor, text: TextFeatures, q: torch.Tensor,
             pooled: torch.Tensor | None) -> torch.Tensor:
        b = x.shape[0]
        return self.generator(x, text.words.expand(b, -1, -1), text.mask.expand(b, -1),
                              text.sentence.expand(b, -1), q.expand(b), pooled)

    def _run_tiled(self, x: torch.Tensor, text: TextFeatures, q: torch.Tensor,
                   tile: int) -> torch.Tensor:
        """Two passes over the tiles, the encoder in the first, the rest in the second."""
        gen, dev, dt = self.generator, self.device, self.dtype
        h, w = x.shape[2], x.shape[3]
        xp = pad_to_multiple(x.float().cpu(), gen.downsampling_factor)
        big_h, big_w = xp.shape[2], xp.shape[3]
        halo, grid = self.tile_overlap, gen.downsampling_factor
        scales = (2, 4, 8)
        wd = self.config.generator.widths
        need = big_h * big_w * 4 * (wd[1] / 4 + wd[2] / 16 + wd[3] / 64)
        avail = _available_memory(torch.device("cpu"))
        if need > avail:
            raise InsufficientMemoryError(
                f"tiling a {w}x{h} image keeps {need / 2 ** 30:.1f} GiB of feature maps, more "
                f"than the {avail / 2 ** 30:.1f} GiB free in RAM")
        maps: list[torch.Tensor] = []
        for t in tiles(big_h, big_w, tile, halo, grid):
            ys, xs = t.crop()
            feat, skips = gen.encode(xp[:, :, ys, xs].to(dev, dt), q)
            parts = (skips[1], skips[2], feat)
            if not maps:
                maps = [torch.empty(1, p.shape[1], big_h // s, big_w // s)
                        for p, s in zip(parts, scales, strict=True)]
            for m, p, s in zip(maps, parts, scales, strict=True):
                cy, cx = t.core_in_crop(s)
                my, mx = t.core(s)
                m[:, :, my, mx] = p[:, :, cy, cx].float().cpu()
        pooled = None
        if gen.gfm is not None:  # the mean over the untiled cells, as an untiled pass takes it
            pooled = gen.gfm.pool_map(maps[2].to(dev, dt)).float().mean(dim=(2, 3)).to(dt)
        out = torch.empty(1, 3, big_h, big_w)
        for t in tiles(big_h, big_w, tile, halo, grid):
            ys, xs = t.crop()
            inp = xp[:, :, ys, xs].to(dev, dt)
            crops = [m[:, :, t.crop(s)[0], t.crop(s)[1]].to(dev, dt)
                     for m, s in zip(maps, scales, strict=True)]
            res = gen.decode(inp, crops[2], [gen.full_skip(inp, q), crops[0], crops[1]],
                             text.words, text.mask, text.sentence, pooled)
            cy, cx = t.core_in_crop()
            out[:, :, t.y0:t.y1, t.x0:t.x1] = res[:, :, cy, cx].float().cpu()
        return out[:, :, :h, :w]

    # ------------------------------------------------------------------ info
    def describe(self) -> dict[str, object]:
        """Facts about this restorer for reports and ``--json`` output."""
        return {"model": self.name, "device": str(self.device), "precision": self.precision,
                "qualities": list(self.config.qualities),
                "text_encoder": self.config.text.kind,
                "parameters": sum(p.numel() for p in self.generator.parameters())}
