"""LPIPS (Zhang et al., CVPR 2018) through the ``lpips`` package, with an offline-friendly trunk.

``lpips.LPIPS(net="alex")`` downloads the ImageNet AlexNet trunk from torchvision's servers in its
constructor, which fails on a machine without internet. Here the package's network is built with
``pnet_rand=True`` (random trunk, the package's calibrated v0.1 linear layers) and the trunk is
then loaded from, in order:

1. ``trunk_path`` (argument), else the ``JPEGTEXT_LPIPS_TRUNK`` environment variable: a torch
   state dict with torchvision key names (``features.N.weight`` ...); a full torchvision
   classification checkpoint works too (its classifier is ignored);
2. torchvision's download cache, if the official checkpoint is already there;
3. torchvision's download (the package's normal behaviour), unless ``HF_HUB_OFFLINE`` or
   ``JPEGTEXT_OFFLINE`` is set; a failed or forbidden download raises
   :class:`~jpegtext.errors.MissingWeightsError` naming the option and the variable.

Check: ``d(ex_ref, ex_p0) = 0.722`` and ``d(ex_ref, ex_p1) = 0.138`` on the LPIPS authors'
example images (``tests/test_metrics_lpips.py``).

The module doubles as the frozen perceptual loss of training: it is a plain ``nn.Module``
differentiable w.r.t. its inputs, its parameters have ``requires_grad=False``, and it stays in
eval mode (dropout off) even when a parent module calls ``.train()``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from jpegtext._device import resolve_device
from jpegtext.errors import ConfigError, InvalidImageError, MissingWeightsError, WeightsError

__all__ = ["ENV_LPIPS_TRUNK", "LPIPSMetric", "load_lpips", "lpips_distance"]

logger = logging.getLogger(__name__)

ENV_LPIPS_TRUNK = "JPEGTEXT_LPIPS_TRUNK"
_OFFLINE_ENV = ("JPEGTEXT_OFFLINE", "HF_HUB_OFFLINE")

# Smallest input side each trunk accepts (its strides and poolings leave nothing below it).
_MIN_SIDE = {"alex": 31, "vgg": 16, "squeeze": 17}

# torchvision weights enum (module attribute name, member) of each trunk lpips supports.
_TV_WEIGHTS = {
    "alex": ("AlexNet_Weights", "IMAGENET1K_V1"),
    "vgg": ("VGG16_Weights", "IMAGENET1K_V1"),
    "squeeze": ("SqueezeNet1_1_Weights", "IMAGENET1K_V1"),
}


def _offline() -> bool:
    return any(os.environ.get(name, "").strip() not in ("", "0") for name in _OFFLINE_ENV)


def _trunk_state_dict(net: str, trunk_path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The torchvision-named state dict of the ImageNet trunk, from a file, cache or download."""
    path = trunk_path or os.environ.get(ENV_LPIPS_TRUNK) or None
    how_to = (
        f"pass trunk_path=... or set {ENV_LPIPS_TRUNK} to a torchvision state dict of the "
        f"ImageNet {net} trunk (e.g. alexnet_features_imagenet_tv.pth)"
    )
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise MissingWeightsError(f"LPIPS trunk file not found: {p}")
        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for a bad file
            raise WeightsError(f"cannot read the LPIPS trunk {p}: {exc}") from exc

    import torchvision.models as tvm

    enum_name, member = _TV_WEIGHTS[net]
    weights = getattr(getattr(tvm, enum_name), member)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if cached.is_file():
        return torch.load(cached, map_location="cpu", weights_only=True)
    if _offline():
        raise MissingWeightsError(
            f"LPIPS needs the ImageNet {net} trunk and this machine is offline "
            f"({' / '.join(_OFFLINE_ENV)} set): {how_to}"
        )
    try:
        return weights.get_state_dict(progress=False)
    except Exception as exc:  # URLError, HTTPError, socket errors, hash mismatch...
        raise MissingWeightsError(
            f"could not download the ImageNet {net} trunk for LPIPS ({exc}): {how_to}"
        ) from exc


def _load_trunk(model: nn.Module, state: dict[str, Any], source: str) -> None:
    """Copy torchvision ``features.N.*`` tensors into lpips' ``net.sliceK.N.*`` parameters."""
    # lpips keeps torchvision's layer index N as the child name inside its slices, so the
    # mapping is found by name rather than hard-coded per network.
    targets = dict(model.net.named_parameters())
    by_suffix = {}
    for name in targets:
        _slice, rest = name.split(".", 1)
        by_suffix[rest] = name
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not key.startswith("features."):
            continue
        rest = key[len("features.") :]
        if rest in by_suffix:
            mapped[by_suffix[rest]] = value
    missing = sorted(set(targets) - set(mapped))
    if missing:
        raise WeightsError(
            f"LPIPS trunk {source} lacks {len(missing)} tensors, e.g. "
            f"{[('features.' + m.split('.', 1)[1]) for m in missing[:3]]}"
        )
    for name, value in mapped.items():
        if tuple(value.shape) != tuple(targets[name].shape):
            raise WeightsError(
                f"LPIPS trunk {source}: {name} has shape {tuple(value.shape)}, "
                f"expected {tuple(targets[name].shape)}"
            )
    model.net.load_state_dict(mapped, strict=True)


class LPIPSMetric(nn.Module):
    """Learned Perceptual Image Patch Similarity, v0.1, spatially averaged.

    Args:
        net: trunk, ``"alex"`` (the LPIPS paper's default), ``"vgg"`` or ``"squeeze"``.
        trunk_path: local torchvision state dict of the ImageNet trunk (see the module
            docstring for the search order when ``None``).
        device: ``None`` picks CUDA when available, else CPU.
        lin_path: the v0.1 linear layers; ``None`` uses the file the ``lpips`` wheel ships.

    Raises:
        MissingWeightsError: no trunk file and no way to download it.
        WeightsError: a trunk file with missing or mis-shaped tensors.
        MissingDependencyError: the ``lpips`` package is absent.
    """

    def __init__(
        self,
        net: str = "alex",
        trunk_path: str | os.PathLike[str] | None = None,
        device: str | torch.device | None = None,
        *,
        lin_path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        if net not in _TV_WEIGHTS:
            raise ConfigError(f"unknown LPIPS net {net!r}; known: {sorted(_TV_WEIGHTS)}")
        try:
            import lpips
        except ImportError as exc:  # pragma: no cover - lpips is a hard dependency
            from jpegtext.errors import MissingDependencyError

            raise MissingDependencyError("LPIPS needs the 'lpips' package") from exc
        state = _trunk_state_dict(net, trunk_path)
        # The package prints from its constructor and torchvision warns about the deprecated
        # 'pretrained' argument lpips passes: neither belongs in a library's output.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = lpips.LPIPS(
                net=net,
                version="0.1",
                pnet_rand=True,
                model_path=None if lin_path is None else str(lin_path),
                verbose=False,
            )
        _load_trunk(model, state, str(trunk_path or os.environ.get(ENV_LPIPS_TRUNK) or net))
        self.net_name = net
        self.model = model
        self.model.requires_grad_(False)
        self.to(resolve_device(device))
        self.eval()

    @property
    def device(self) -> torch.device:
        """Where the parameters live."""
        return next(self.model.parameters()).device

    def train(self, mode: bool = True) -> LPIPSMetric:
        """Ignore ``mode``: LPIPS is always evaluated with dropout off (frozen metric/loss)."""
        return super().train(False)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised trunk features of (B, 3, H, W) images in [0, 1]."""
        import lpips

        outs = self.model.net.forward(self.model.scaling_layer(x * 2.0 - 1.0))
        return [lpips.normalize_tensor(outs[k]) for k in range(self.model.L)]

    def _distance(self, fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
        total = 0
        for k in range(self.model.L):
            total = total + self.model.lins[k]((fa[k] - fb[k]) ** 2).mean(dim=(2, 3))
        return total.reshape(fa[0].shape[0])

    def distances_from(self, a: torch.Tensor, *targets: torch.Tensor) -> list[torch.Tensor]:
        """LPIPS of ``a`` to each of ``targets``, computing ``a``'s trunk features once.

        Equals ``[self(a, t) for t in targets]`` (tested) at the cost of 1 + len(targets) trunk
        passes instead of 2 x len(targets); the targets get no gradient. Shapes and checks as in
        :meth:`forward`.
        """
        for t in targets:
            self._check(a, t)
        fa = self._features(a)
        out = []
        for t in targets:
            with torch.no_grad():
                ft = self._features(t)
            out.append(self._distance(fa, ft))
        return out

    def _check(self, a: torch.Tensor, b: torch.Tensor) -> None:
        for name, t in (("a", a), ("b", b)):
            if not isinstance(t, torch.Tensor) or not t.is_floating_point():
                raise InvalidImageError(f"LPIPS input {name} must be a float tensor")
            if t.ndim != 4 or t.shape[1] != 3:
                raise InvalidImageError(
                    f"LPIPS input {name} must be (B, 3, H, W), got {tuple(t.shape)}"
                )
        if a.shape != b.shape:
            raise InvalidImageError(
                f"LPIPS inputs differ in shape: {tuple(a.shape)} and {tuple(b.shape)}"
            )
        side = _MIN_SIDE[self.net_name]
        if min(a.shape[2:]) < side:
            raise InvalidImageError(
                f"LPIPS ({self.net_name}) needs at least {side}x{side} pixels, "
                f"got {tuple(a.shape[2:])}"
            )

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image pair.

        Args:
            a: (B, 3, H, W) float in [0, 1] (converted to [-1, 1] here).
            b: (B, 3, H, W) float in [0, 1], same shape as ``a``.

        Returns:
            (B,) distances (0 for identical images; about 0.1-0.8 for typical distortions).
            Differentiable with respect to ``a`` and ``b``.

        Raises:
            InvalidImageError: not 4-D float tensors of the same shape with 3 channels, or
                smaller than the trunk accepts (31x31 for AlexNet).
        """
        self._check(a, b)
        out = self.model(a * 2.0 - 1.0, b * 2.0 - 1.0)
        return out.reshape(a.shape[0])


def load_lpips(
    net: str = "alex",
    trunk_path: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
) -> LPIPSMetric:
    """Build the frozen LPIPS metric (see :class:`LPIPSMetric`)."""
    return LPIPSMetric(net=net, trunk_path=trunk_path, device=device)


def _to_batch(x: Any, device: torch.device, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
            raise InvalidImageError(
                f"{name}: numpy inputs must be uint8 (H, W, 3), got {x.dtype} {x.shape}"
            )
        # np.array copies: decoded JPEGs are read-only views, which torch.from_numpy warns about
        t = torch.from_numpy(np.array(x, copy=True)).permute(2, 0, 1)[None].float() / 255.0
    elif isinstance(x, torch.Tensor):
        t = x[None] if x.ndim == 3 else x
    else:
        raise InvalidImageError(f"{name}: expected a numpy array or a tensor, got {type(x)}")
    return t.to(device)


@torch.no_grad()
def lpips_distance(a: Any, b: Any, metric: LPIPSMetric) -> float:
    """LPIPS of one image pair given as uint8 ``(H, W, 3)`` arrays or [0, 1] tensors.

    Args:
        a: uint8 (H, W, 3) numpy array, or float tensor (3, H, W) / (1, 3, H, W) in [0, 1].
        b: the other image, same form and size.
        metric: a loaded :class:`LPIPSMetric`.

    Returns:
        The distance as a Python float.
    """
    ta = _to_batch(a, metric.device, "a")
    tb = _to_batch(b, metric.device, "b")
    if ta.shape[0] != 1:
        raise InvalidImageError(f"lpips_distance takes one pair, got a batch of {ta.shape[0]}")
    return float(metric(ta, tb)[0])
