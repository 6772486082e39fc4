"""Peer baselines built from their authors' released weight files: AR-CNN and DnCNN-3.

Both are luminance models. For a colour image they restore the BT.601 limited-range luma
(MATLAB ``rgb2ycbcr``, the convention they were trained and evaluated with) and keep the
decoded chroma untouched, then convert back to RGB; a greyscale ``(H, W)`` image is restored
directly. Both take and give luma on a ``[0, 1]`` scale (MATLAB ``im2double``/``im2single``), as
their training code did.

- **AR-CNN** (Dong, Deng, Loy and Tang, ICCV 2015): four layers 9x9x64 - 7x7x32 - 1x1x16 - 5x5x1,
  ReLU after the first three, direct (non-residual) output. The official test code
  (``ARCNN.m``) filters with MATLAB ``imfilter(..., 'same', 'replicate')``: correlation with
  replicated borders, reproduced here with replication padding. Weights are stored as
  ``(in, k*k, out)`` and reshaped column-major into ``k x k`` kernels. One model per JPEG
  quality (``q10/q20/q30/q40.mat``); for an input of quality ``q`` the model trained at the
  nearest quality at or above ``q`` is used (a model trained on milder artifacts smooths less,
  the safer error), and inputs above 40 use ``q40``.
- **DnCNN-3** (Zhang, Zuo, Chen, Meng and Zhang, IEEE TIP 2017): one blind model for Gaussian
  denoising, super-resolution and JPEG deblocking (QF 5-99); 20 3x3 convolutions of 64
  channels with ReLU, batch norm folded into the convolutions, zero padding (MatConvNet
  ``pad = 1``), residual output ``y - f(y)``. The ``.mat`` file is MATLAB v7.3 (HDF5), read with
  h5py: HDF5 shows MATLAB's ``(H, W, in, out)`` column-major arrays with their axes reversed,
  i.e. ``(out, in, W, H)``, so the last two axes are swapped to get torch's ``(out, in, H, W)``.
  The quality argument is ignored.

Kernel orientation follows the file formats (``ARCNN.m`` reshapes column-major and
correlates; MatConvNet filters are ``(H, W, in, out)``). The numbers confirm what they can:
transposing every kernel equals restoring the transposed image, so on natural images both
readings score within a few hundredths of a dB, and only the asymmetry of JPEG's quantisation
table tells them apart. Compressing each LIVE1 image and its transpose cancels the content: the
reading used here beats the transposed one for AR-CNN on 27 of 29 images (mean +0.047 dB,
``tests/test_baselines.py``); for DnCNN-3, blind over qualities and also trained for denoising
and super-resolution, the same check is inconclusive (+0.008 dB at QF 10 with 19 of 29 images
ahead, +0.002 dB at QF 5 with 17), so its order rests on the MatConvNet layout. The other
possible misreadings are loud: on six LIVE1 crops at QF 10 (gain +1.76 dB as read here),
swapping DnCNN's input/output channels gives -13.5 dB, the wrong residual sign -2.7 dB and a
[0, 255] input scale -12.2 dB.

Reproduction (``benchmarks/baselines_live1.py``, all 29 LIVE1 images, QF 10): with the papers'
protocol (the image's uint8 luma compressed as a greyscale JPEG) JPEG / AR-CNN / DnCNN-3 score
27.770 / 28.958 / 29.195 dB Y-PSNR and 0.8076 / 0.8123 Y-SSIM for the two networks, the
DnCNN paper's 27.77 / 28.96 / 29.19 dB and 0.8076 / 0.8123. With the product's colour
pipeline (Pillow 4:2:0) the gains are +1.05 dB (AR-CNN) and +1.37 dB (DnCNN-3).

Weights come from the ``path`` arguments or the ``JPEGTEXT_ARCNN_DIR`` / ``JPEGTEXT_DNCNN3``
environment variables; a missing file raises :class:`~jpegtext.errors.MissingWeightsError`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jpegtext._device import resolve_device
from jpegtext.errors import InvalidImageError, MissingWeightsError, WeightsError
from jpegtext.metrics._image import rgb_to_ycbcr, ycbcr_to_rgb
from jpegtext.restore.tiling import run_tiled

__all__ = [
    "ARCNN_QUALITIES",
    "ENV_ARCNN_DIR",
    "ENV_DNCNN3",
    "ARCNNNet",
    "ARCNNRestorer",
    "DnCNN3Restorer",
    "DnCNNNet",
    "LumaRestorer",
    "choose_arcnn_quality",
    "load_arcnn",
    "load_dncnn3",
]

logger = logging.getLogger(__name__)

ENV_ARCNN_DIR = "JPEGTEXT_ARCNN_DIR"
ENV_DNCNN3 = "JPEGTEXT_DNCNN3"
ARCNN_QUALITIES = (10, 20, 30, 40)


def _check_quality(quality: int) -> int:
    if isinstance(quality, bool) or not isinstance(quality, int | np.integer):
        raise ValueError(f'Invalid quality "{quality!r}", should be an integer in [1, 100]')
    if not 1 <= quality <= 100:
        raise ValueError(f'Invalid quality "{quality}", should be between (1, 100)')
    return int(quality)


# --------------------------------------------------------------------------------------------
# Networks


class ARCNNNet(nn.Module):
    """The four-layer AR-CNN on one channel.

    Forward: ``(B, 1, H, W)`` luma in [0, 1] -> ``(B, 1, H, W)`` restored luma (unclipped).
    """

    receptive_radius = 4 + 3 + 0 + 2

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 9)
        self.conv2 = nn.Conv2d(64, 32, 7)
        self.conv22 = nn.Conv2d(32, 16, 1)
        self.conv3 = nn.Conv2d(16, 1, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 'replicate' borders as MATLAB imfilter(..., 'replicate') in the official test code.
        x = F.relu(self.conv1(F.pad(x, (4, 4, 4, 4), mode="replicate")))
        x = F.relu(self.conv2(F.pad(x, (3, 3, 3, 3), mode="replicate")))
        x = F.relu(self.conv22(x))
        return self.conv3(F.pad(x, (2, 2, 2, 2), mode="replicate"))

    @classmethod
    def from_mat(cls, path: str | os.PathLike[str]) -> ARCNNNet:
        """Build from an official ``q*.mat`` file (``weights_conv*`` / ``biases_conv*``)."""
        from scipy.io import loadmat

        try:
            mat = loadmat(str(path))
        except Exception as exc:  # scipy raises ValueError/OSError/MatReadError
            raise WeightsError(f"cannot read AR-CNN weights {path}: {exc}") from exc
        net = cls()
        layers = (("conv1", 9), ("conv2", 7), ("conv22", 1), ("conv3", 5))
        state = {}
        for name, k in layers:
            try:
                w = np.asarray(mat[f"weights_{name}"], dtype=np.float64)
                b = np.asarray(mat[f"biases_{name}"], dtype=np.float64).ravel()
            except KeyError as exc:
                raise WeightsError(f"AR-CNN file {path} lacks {exc}") from exc
            if w.ndim == 2:  # conv3: (in, k*k), the single output filter squeezed away
                w = w[:, :, None]
            conv: nn.Conv2d = getattr(net, name)
            c_out, c_in = conv.out_channels, conv.in_channels
            if w.shape != (c_in, k * k, c_out) or b.shape != (c_out,):
                raise WeightsError(
                    f"AR-CNN {path}: weights_{name} {w.shape} / biases {b.shape}, expected "
                    f"{(c_in, k * k, c_out)} / {(c_out,)}"
                )
            # MATLAB reshape(w(j, :, i), k, k) is column-major: entry r + k*c -> kernel (r, c).
            kernel = w.reshape(c_in, k, k, c_out, order="F").transpose(3, 0, 1, 2)
            state[f"{name}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel)).float()
            state[f"{name}.bias"] = torch.from_numpy(b).float()
        net.load_state_dict(state)
        return net


class DnCNNNet(nn.Module):
    """DnCNN with folded batch norm: ``depth`` 3x3 convolutions, residual output.

    Forward: ``(B, C, H, W)`` in [0, 1] -> ``x - f(x)`` (unclipped).
    """

    def __init__(self, depth: int = 20, channels: int = 1, width: int = 64) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be >= 2, got {depth}")
        convs = [nn.Conv2d(channels, width, 3, padding=1)]
        convs += [nn.Conv2d(width, width, 3, padding=1) for _ in range(depth - 2)]
        convs.append(nn.Conv2d(width, channels, 3, padding=1))
        self.convs = nn.ModuleList(convs)
        self.receptive_radius = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.convs[:-1]:
            h = F.relu(conv(h))
        return x - self.convs[-1](h)

    @classmethod
    def from_mat(cls, path: str | os.PathLike[str]) -> DnCNNNet:
        """Build from the official MatConvNet ``simplenn`` file (MATLAB v7.3, BN folded)."""
        import h5py

        def text(ds: h5py.Dataset) -> str:
            return "".join(chr(int(c)) for c in np.asarray(ds).ravel())

        convs: list[tuple[np.ndarray, np.ndarray]] = []
        try:
            with h5py.File(path, "r") as f:
                refs = f["net"]["layers"]
                for i in range(refs.shape[0]):
                    layer = f[refs[i, 0]]
                    kind = text(layer["type"])
                    if kind == "relu":
                        if float(np.asarray(layer["leak"]).ravel()[0]) != 0.0:
                            raise WeightsError(f"DnCNN {path}: leaky ReLU in layer {i}")
                        continue
                    if kind != "conv":
                        raise WeightsError(
                            f"DnCNN {path}: layer {i} is {kind!r}; only conv/relu are "
                            "supported (batch norm must be folded, as in DnCNN3.mat)"
                        )
                    pad = np.asarray(layer["pad"]).ravel()
                    stride = np.asarray(layer["stride"]).ravel()
                    if not (np.all(pad == 1) and np.all(stride == 1)):
                        raise WeightsError(f"DnCNN {path}: layer {i} pad {pad} stride {stride}")
                    w = np.asarray(f[layer["weights"][0, 0]], dtype=np.float32)
                    b = np.asarray(f[layer["weights"][1, 0]], dtype=np.float32).ravel()
                    if w.ndim == 3:  # MATLAB dropped the trailing singleton (out = 1)
                        w = w[None]
                    # HDF5 reverses MATLAB's (H, W, in, out) to (out, in, W, H).
                    convs.append((np.ascontiguousarray(w.transpose(0, 1, 3, 2)), b))
        except (OSError, KeyError) as exc:
            raise WeightsError(f"cannot read DnCNN weights {path}: {exc}") from exc
        if len(convs) < 2:
            raise WeightsError(f"DnCNN {path}: found {len(convs)} conv layers")
        channels, width = convs[0][0].shape[1], convs[0][0].shape[0]
        net = cls(depth=len(convs), channels=channels, width=width)
        state = {}
        for i, (w, b) in enumerate(convs):
            expected = tuple(net.convs[i].weight.shape)
            if w.shape != expected or b.shape != (expected[0],):
                raise WeightsError(
                    f"DnCNN {path}: conv {i} has {w.shape} / {b.shape}, expected {expected}"
                )
            state[f"convs.{i}.weight"] = torch.from_numpy(w)
            state[f"convs.{i}.bias"] = torch.from_numpy(b)
        net.load_state_dict(state)
        return net


# --------------------------------------------------------------------------------------------
# Restorers: the common method interface


def _tiled(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, pad: int
) -> torch.Tensor:
    """Apply a same-size fully convolutional ``fn`` tile by tile (the shared tiler).

    Each tile is processed with ``pad`` pixels of real context on every side that has any, so
    with ``pad`` >= the network's receptive radius the result equals the untiled one.
    """
    return run_tiled(fn, x, tile, pad)


class LumaRestorer(nn.Module):
    """Base of the baselines: restores luma, keeps the decoded chroma.

    Subclasses implement :meth:`restore_y`. Use :meth:`restore` on uint8 images.

    Args:
        device: ``None`` picks CUDA when available, else CPU.
        tile: process images larger than ``tile`` x ``tile`` in tiles (bounded memory);
            ``None`` processes the whole image at once. The output does not depend on it.
    """

    name = "luma"

    def __init__(self, device: str | torch.device | None = None, tile: int | None = None) -> None:
        super().__init__()
        if tile is not None and tile < 16:
            raise ValueError(f"tile must be >= 16 pixels or None, got {tile}")
        self.tile = tile
        self._device = resolve_device(device)

    @property
    def device(self) -> torch.device:
        """Where the network runs."""
        return self._device

    def restore_y(self, y: torch.Tensor, quality: int) -> torch.Tensor:
        """Restore luma.

        Args:
            y: (B, 1, H, W) float luma in [0, 1] (BT.601 limited range, i.e. [16, 235] / 255).
            quality: the JPEG quality the input was compressed with.

        Returns:
            (B, 1, H, W) restored luma, unclipped.
        """
        raise NotImplementedError

    def _run(self, net: nn.Module, y: torch.Tensor, radius: int) -> torch.Tensor:
        if self.tile is None or max(y.shape[2:]) <= self.tile:
            return net(y)
        return _tiled(net, y, self.tile, radius)

    @torch.no_grad()
    def restore(self, image: np.ndarray, quality: int) -> np.ndarray:
        """Restore one decoded JPEG.

        Args:
            image: uint8 ``(H, W, 3)`` RGB or ``(H, W)`` greyscale, as decoded.
            quality: the JPEG quality factor it was compressed with (1-100).

        Returns:
            uint8 array of the same shape: luma restored, decoded chroma kept.

        Raises:
            InvalidImageError: not a uint8 (H, W) / (H, W, 3) array.
        """
        quality = _check_quality(quality)
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise InvalidImageError(
                f"restore takes a uint8 numpy array, got {getattr(image, 'dtype', type(image))}"
            )
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise InvalidImageError(f"restore takes (H, W) or (H, W, 3), got {image.shape}")
        if min(image.shape[:2]) < 1:
            raise InvalidImageError(f"empty image {image.shape}")
        x = image.astype(np.float64)
        if image.ndim == 2:
            ycc = None
            y = x / 255.0
        else:
            ycc = rgb_to_ycbcr(x)
            y = ycc[:, :, 0] / 255.0
        t = torch.from_numpy(y).float()[None, None].to(self.device)
        out = self.restore_y(t, quality)[0, 0].double().cpu().numpy() * 255.0
        if ycc is None:
            result = out
        else:
            ycc[:, :, 0] = out
            result = ycbcr_to_rgb(ycc)
        return np.clip(np.floor(result + 0.5), 0, 255).astype(np.uint8)


def choose_arcnn_quality(quality: int, available: tuple[int, ...] | list[int]) -> int:
    """The trained quality to use for an input of ``quality``.

    The nearest trained quality at or above the input's; the highest one when the input is
    above all of them.

    Args:
        quality: the input's JPEG quality (1-100).
        available: trained qualities on offer.

    Returns:
        One of ``available``.
    """
    quality = _check_quality(quality)
    if not available:
        raise MissingWeightsError("no AR-CNN model is loaded")
    above = [q for q in sorted(available) if q >= quality]
    return above[0] if above else max(available)


class ARCNNRestorer(LumaRestorer):
    """AR-CNN with one model per trained JPEG quality.

    Args:
        models: trained quality -> network.
        device: ``None`` picks CUDA when available.
        tile: see :class:`LumaRestorer`.
    """

    name = "arcnn"

    def __init__(
        self,
        models: dict[int, ARCNNNet],
        device: str | torch.device | None = None,
        tile: int | None = None,
    ) -> None:
        super().__init__(device, tile)
        if not models:
            raise MissingWeightsError("ARCNNRestorer needs at least one model")
        self.nets = nn.ModuleDict({f"q{q}": net for q, net in sorted(models.items())})
        self.nets.requires_grad_(False)
        self.to(self.device)
        self.eval()

    @property
    def qualities(self) -> tuple[int, ...]:
        """Trained qualities of the loaded models."""
        return tuple(int(k[1:]) for k in self.nets)

    def restore_y(self, y: torch.Tensor, quality: int) -> torch.Tensor:  # noqa: D102
        q = choose_arcnn_quality(quality, self.qualities)
        if q < quality:
            logger.warning("AR-CNN: no model for quality >= %d, using q%d", quality, q)
        return self._run(self.nets[f"q{q}"], y, ARCNNNet.receptive_radius)


class DnCNN3Restorer(LumaRestorer):
    """DnCNN-3, one blind model for every quality (5-99 in training).

    Args:
        net: the network.
        device: ``None`` picks CUDA when available.
        tile: see :class:`LumaRestorer`.
    """

    name = "dncnn3"

    def __init__(
        self, net: DnCNNNet, device: str | torch.device | None = None, tile: int | None = None
    ) -> None:
        super().__init__(device, tile)
        self.net = net.requires_grad_(False)
        self.to(self.device)
        self.eval()

    def restore_y(self, y: torch.Tensor, quality: int) -> torch.Tensor:  # noqa: D102
        return self._run(self.net, y, self.net.receptive_radius)


# --------------------------------------------------------------------------------------------
# Builders


def _arcnn_files(directory: Path) -> dict[int, Path]:
    files = {}
    for p in directory.iterdir():
        m = re.fullmatch(r"q(\d+)\.mat", p.name)
        if m and p.is_file():
            files[int(m.group(1))] = p
    return files


def load_arcnn(
    path_or_dir: str | os.PathLike[str] | None = None,
    quality: int | None = None,
    *,
    device: str | torch.device | None = None,
    tile: int | None = None,
) -> ARCNNRestorer:
    """Load the official AR-CNN weights.

    Args:
        path_or_dir: a folder of ``q10.mat`` ... ``q40.mat``, or one ``qNN.mat`` file;
            ``None`` reads ``JPEGTEXT_ARCNN_DIR``.
        quality: with a folder, load only the model that serves this input quality (see
            :func:`choose_arcnn_quality`); ``None`` loads every model in the folder and picks per
            call of :meth:`~LumaRestorer.restore`.
        device: ``None`` picks CUDA when available.
        tile: see :class:`LumaRestorer`.

    Returns:
        The restorer.

    Raises:
        MissingWeightsError: no path, or no ``q*.mat`` there.
        WeightsError: a file with the wrong content.
    """
    if path_or_dir is None:
        path_or_dir = os.environ.get(ENV_ARCNN_DIR)
        if not path_or_dir:
            raise MissingWeightsError(
                "AR-CNN needs its official weights (q10/q20/q30/q40.mat): pass a folder or "
                f"set {ENV_ARCNN_DIR}"
            )
    path = Path(path_or_dir).expanduser()
    if path.is_dir():
        files = _arcnn_files(path)
        if not files:
            raise MissingWeightsError(f"no AR-CNN weights (q*.mat) in {path}")
        if quality is not None:
            q = choose_arcnn_quality(quality, list(files))
            files = {q: files[q]}
    elif path.is_file():
        m = re.fullmatch(r"q(\d+)\.mat", path.name)
        if not m:
            raise WeightsError(f"cannot tell the trained quality of {path}: name it qNN.mat")
        files = {int(m.group(1)): path}
    else:
        raise MissingWeightsError(f"AR-CNN weights not found: {path}")
    models = {q: ARCNNNet.from_mat(p) for q, p in files.items()}
    return ARCNNRestorer(models, device=device, tile=tile)


def load_dncnn3(
    path: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device | None = None,
    tile: int | None = None,
) -> DnCNN3Restorer:
    """Load the official DnCNN-3 weights (``DnCNN3.mat``).

    Args:
        path: the file; ``None`` reads ``JPEGTEXT_DNCNN3``.
        device: ``None`` picks CUDA when available.
        tile: see :class:`LumaRestorer`.

    Raises:
        MissingWeightsError: no path, or no file there.
        WeightsError: a file with the wrong content.
    """
    if path is None:
        path = os.environ.get(ENV_DNCNN3)
        if not path:
            raise MissingWeightsError(
                f"DnCNN-3 needs its official weights (DnCNN3.mat): pass a path or set {ENV_DNCNN3}"
            )
    p = Path(path).expanduser()
    if not p.is_file():
        raise MissingWeightsError(f"DnCNN-3 weights not found: {p}")
    return DnCNN3Restorer(DnCNNNet.from_mat(p), device=device, tile=tile)
