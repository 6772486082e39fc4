"""FID and the Perceptual Index: computed only from what the user supplies, never made up.

- FID (Heusel et al., 2017) is the Frechet distance between Gaussians fitted to Inception-v3
  pool features of two image sets. :func:`fid_from_features` computes it from any features
  (e.g. those of ``pytorch-fid``); :func:`fid` extracts 2048-d pool features with torchvision's
  Inception-v3 architecture and the weights file the user passes (``inception_path`` or the
  ``JPEGTEXT_FID_INCEPTION`` environment variable; torchvision's ImageNet checkpoint
  ``inception_v3_google-0cc3c7bd.pth`` fits). Numbers from those weights are comparable with
  each other, not digit-for-digit with the TensorFlow-Inception FID of other papers. With no
  weights, :func:`fid` raises :class:`~jpegtext.errors.MissingWeightsError` ("not available").
- PI (Blau et al., PIRM 2018) is ``((10 - Ma) + NIQE) / 2``. jpegtext computes NIQE; the score
  of Ma et al. (2017) comes from their MATLAB random-forest model, which is not ported, so
  :func:`perceptual_index` needs ``ma_score`` computed with the official code and otherwise
  raises :class:`~jpegtext.errors.MissingWeightsError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import linalg

from jpegtext._device import resolve_device
from jpegtext.errors import InvalidImageError, MissingWeightsError, WeightsError

if TYPE_CHECKING:
    import torch

__all__ = [
    "ENV_FID_INCEPTION",
    "InceptionFeatures",
    "fid",
    "fid_from_features",
    "frechet_distance",
    "perceptual_index",
]

ENV_FID_INCEPTION = "JPEGTEXT_FID_INCEPTION"


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2))``. The last trace
    is the sum of the square roots of the eigenvalues of ``sigma1 sigma2``, which equal those of
    the symmetric ``sigma1^(1/2) sigma2 sigma1^(1/2)``: two symmetric eigendecompositions, exact
    for the rank-deficient covariances of small image sets, and much faster than a general
    matrix square root at D = 2048.

    Args:
        mu1: (D,) mean of the first Gaussian.
        sigma1: (D, D) covariance of the first Gaussian (symmetric positive semi-definite).
        mu2: (D,) mean of the second Gaussian.
        sigma2: (D, D) covariance of the second Gaussian.

    Returns:
        The distance (>= 0 up to rounding).
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"inconsistent shapes: mu {mu1.shape} / {mu2.shape}, sigma {s1.shape} / {s2.shape}"
        )
    s1 = (s1 + s1.T) / 2.0
    s2 = (s2 + s2.T) / 2.0
    w, v = linalg.eigh(s1)
    # Rounding makes zero eigenvalues of a PSD matrix slightly negative: they are zero.
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    middle = root1 @ s2 @ root1
    ev = linalg.eigvalsh((middle + middle.T) / 2.0)
    tr_covmean = float(np.sqrt(np.clip(ev, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def fid_from_features(feats1: np.ndarray, feats2: np.ndarray) -> float:
    """FID from two feature sets.

    Args:
        feats1: (N1, D) features of the first image set (N1 >= 2).
        feats2: (N2, D) features of the second image set (N2 >= 2).

    Returns:
        The Frechet distance of their Gaussians (sample covariance, N - 1 normalisation, as
        pytorch-fid and the TensorFlow reference compute it).
    """
    f1, f2 = np.asarray(feats1, np.float64), np.asarray(feats2, np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D, got {f1.shape} and {f2.shape}")
    if len(f1) < 2 or len(f2) < 2:
        raise ValueError("FID needs at least two images per set")
    mu1, mu2 = f1.mean(0), f2.mean(0)
    if len(f1) * len(f2) > f1.shape[1] ** 2:
        return frechet_distance(mu1, np.cov(f1, rowvar=False), mu2, np.cov(f2, rowvar=False))
    # Fewer images than dimensions: with sigma_i = A_i^T A_i (A_i the centred features over
    # sqrt(N_i - 1)), the non-zero eigenvalues of sigma1 sigma2 are those of M M^T with
    # M = A1 A2^T, so Tr((sigma1 sigma2)^(1/2)) is the sum of M's singular values. Exact, and
    # O(N^2 D) instead of O(D^3).
    a1 = (f1 - mu1) / np.sqrt(len(f1) - 1)
    a2 = (f2 - mu2) / np.sqrt(len(f2) - 1)
    tr_covmean = float(linalg.svdvals(a1 @ a2.T).sum())
    diff = mu1 - mu2
    return float(diff @ diff + (a1 * a1).sum() + (a2 * a2).sum() - 2.0 * tr_covmean)


class InceptionFeatures:
    """2048-d pool features of torchvision's Inception-v3 with user-supplied weights.

    Args:
        inception_path: torch state dict of ``torchvision.models.inception_v3`` (with or
            without the auxiliary classifier); ``None`` reads ``JPEGTEXT_FID_INCEPTION``.
        device: ``None`` picks CUDA when available.

    Raises:
        MissingWeightsError: no path and no environment variable ("FID not available").
        WeightsError: the file does not fit the architecture.
    """

    def __init__(
        self, inception_path: str | os.PathLike[str] | None = None, device: Any = None
    ) -> None:
        import torch
        from torchvision.models import inception_v3

        path = inception_path or os.environ.get(ENV_FID_INCEPTION)
        if not path:
            raise MissingWeightsError(
                "FID is not available: it needs Inception-v3 weights; pass inception_path=... "
                f"or set {ENV_FID_INCEPTION} (e.g. torchvision's inception_v3_google-0cc3c7bd.pth)"
            )
        p = Path(path).expanduser()
        if not p.is_file():
            raise MissingWeightsError(f"FID is not available: Inception weights not found at {p}")
        state = torch.load(p, map_location="cpu", weights_only=True)
        has_aux = any(k.startswith("AuxLogits.") for k in state)
        model = inception_v3(
            weights=None, aux_logits=has_aux, init_weights=False, transform_input=False
        )
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"{p} is not a torchvision Inception-v3 state dict: {exc}") from exc
        model.fc = torch.nn.Identity()
        self.device = resolve_device(device)
        self.model = model.eval().requires_grad_(False).to(self.device)
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=self.device).view(1, 3, 1, 1)

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """Features of a batch.

        Args:
            images: (B, 3, H, W) float in [0, 1], any size (resized to 299x299, bilinear).

        Returns:
            (B, 2048) float64 array.
        """
        import torch
        import torch.nn.functional as F

        if images.ndim != 4 or images.shape[1] != 3:
            raise InvalidImageError(f"expected (B, 3, H, W), got {tuple(images.shape)}")
        with torch.no_grad():
            x = images.to(self.device, torch.float32)
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            x = (x - self.mean) / self.std
            return self.model(x).double().cpu().numpy()


def _image_batches(images: Iterable[Any], batch_size: int) -> Iterable[torch.Tensor]:
    import torch

    batch: list[torch.Tensor] = []
    for img in images:
        if isinstance(img, np.ndarray):
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise InvalidImageError(f"numpy images must be uint8 (H, W, 3), got {img.shape}")
            t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255.0
        else:
            t = img
        batch.append(t)
        if len(batch) == batch_size:
            yield _stack(batch)
            batch = []
    if batch:
        yield _stack(batch)


def _stack(batch: Sequence[torch.Tensor]) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    # Images of different sizes are brought to 299x299 one by one before stacking.
    return torch.cat(
        [F.interpolate(t[None].float(), size=(299, 299), mode="bilinear") for t in batch]
    )


def fid(
    images1: Iterable[Any],
    images2: Iterable[Any],
    *,
    inception_path: str | os.PathLike[str] | None = None,
    device: Any = None,
    batch_size: int = 16,
) -> float:
    """FID between two image sets with torchvision Inception-v3 features.

    Args:
        images1: uint8 (H, W, 3) arrays or (3, H, W) float tensors in [0, 1] (e.g. clean).
        images2: the other set (e.g. restored).
        inception_path: Inception-v3 weights (see :class:`InceptionFeatures`).
        device: ``None`` picks CUDA when available.
        batch_size: images per forward pass.

    Returns:
        The FID (lower is better). Meaningful only with a few hundred images or more.

    Raises:
        MissingWeightsError: no Inception weights given ("FID not available").
    """
    extractor = InceptionFeatures(inception_path, device)
    f1 = np.concatenate([extractor(b) for b in _image_batches(images1, batch_size)])
    f2 = np.concatenate([extractor(b) for b in _image_batches(images2, batch_size)])
    return fid_from_features(f1, f2)


def perceptual_index(niqe_score: float, ma_score: float | None = None) -> float:
    """Perceptual Index of the PIRM 2018 challenge, ``((10 - Ma) + NIQE) / 2`` (lower is better).

    Args:
        niqe_score: the image's NIQE (:func:`jpegtext.metrics.niqe`).
        ma_score: the image's score by Ma et al.'s model (official MATLAB code), in [0, 10].

    Returns:
        The PI.

    Raises:
        MissingWeightsError: ``ma_score`` not given: PI is not available (jpegtext does not
            ship or port Ma et al.'s model).
    """
    if ma_score is None:
        raise MissingWeightsError(
            "PI is not available: it needs the score of Ma et al.'s model, which jpegtext "
            "does not port; compute it with the official MATLAB code and pass ma_score"
        )
    return 0.5 * ((10.0 - float(ma_score)) + float(niqe_score))
