"""NIQE, the Natural Image Quality Evaluator of Mittal, Soundararajan and Bovik (IEEE SPL 2013).

A no-reference metric (lower is better): a multivariate Gaussian fitted to 36 natural-scene
statistics of 96x96 patches (MSCN coefficients and their pairwise products at two scales) is
compared with the Gaussian of a corpus of pristine images. This module reproduces the official
MATLAB release (``computequality.m`` with ``blocksize 96, overlap 0``), including MATLAB's
``rgb2gray`` and bicubic ``imresize``; see ``jpegtext.metrics._matlab``.

The pristine model is data, loaded from a path: the ``params`` argument, else the
``JPEGTEXT_NIQE_PARAMS`` environment variable. Accepted files: an ``.npz`` with
``mu_pris_param`` (36), ``cov_pris_param`` (36x36) and optionally ``gaussian_window`` (7x7)
(the BasicSR/pyiqa export of the official model), or the release's ``modelparameters.mat``
(``mu_prisparam``, ``cov_prisparam``).

Verification against the MATLAB release: pyiqa publishes the official release's scores of the
five TID2013 images of its calibration set (pyiqa 0.1.16 sdist, ``ResultsCalibra/dist_dir``,
values in ``results_official.csv`` row ``niqe``: I03 15.7536, I04 3.6549, I06 3.2355,
I08 3.1840, I19 8.6352). This implementation gives 15.7417, 3.6549 (equal to 1e-13),
3.2342, 3.2020 and 8.6646: exact on the natural image, within 0.6 % where the image has large
flat areas, whose MATLAB score depends on floating-point rounding (see ``_mscn``; with plain
scipy rounding I19 scores 9.087). ``tests/test_metrics_niqe.py`` repeats the check when the
images are present (``JPEGTEXT_NIQE_CALIBRATION``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage, special

from jpegtext.errors import InvalidImageError, MissingWeightsError, WeightsError
from jpegtext.metrics._image import _is_torch_tensor, as_float_image
from jpegtext.metrics._matlab import imresize, rgb2gray

__all__ = ["ENV_NIQE_PARAMS", "NIQEParams", "load_niqe_params", "niqe"]

ENV_NIQE_PARAMS = "JPEGTEXT_NIQE_PARAMS"

_BLOCK = 96
_FEATURES_PER_SCALE = 18

# The grid of shape parameters searched by estimateaggdparam.m (moment matching by table look-up).
_GAMMA_GRID = np.arange(0.2, 10.0 + 1e-9, 0.001)
_R_GAMMA = special.gamma(2.0 / _GAMMA_GRID) ** 2 / (
    special.gamma(1.0 / _GAMMA_GRID) * special.gamma(3.0 / _GAMMA_GRID)
)


@dataclass(frozen=True)
class NIQEParams:
    """The pristine multivariate Gaussian and the MSCN window.

    Attributes:
        mu: (36,) mean of the pristine features.
        cov: (36, 36) covariance of the pristine features.
        window: (7, 7) normalised Gaussian window (MATLAB ``fspecial('gaussian', 7, 7/6)``).
        path: where they were loaded from.
    """

    mu: np.ndarray
    cov: np.ndarray
    window: np.ndarray
    path: str


def _default_window() -> np.ndarray:
    r = np.arange(7, dtype=np.float64) - 3.0
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * (7.0 / 6.0) ** 2))
    return g / g.sum()


@functools.lru_cache(maxsize=4)
def _load_params_cached(path: str) -> NIQEParams:
    p = Path(path)
    try:
        if p.suffix.lower() == ".mat":
            from scipy.io import loadmat

            data = loadmat(p)
            mu, cov = data["mu_prisparam"], data["cov_prisparam"]
            window = _default_window()
        else:
            with np.load(p, allow_pickle=False) as data:
                mu, cov = data["mu_pris_param"], data["cov_pris_param"]
                window = data["gaussian_window"] if "gaussian_window" in data else _default_window()
    except KeyError as exc:
        raise WeightsError(f"NIQE parameter file {p} lacks the entry {exc}") from exc
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read NIQE parameters from {p}: {exc}") from exc
    mu = np.asarray(mu, dtype=np.float64).ravel()
    cov = np.asarray(cov, dtype=np.float64)
    window = np.asarray(window, dtype=np.float64)
    if mu.shape != (2 * _FEATURES_PER_SCALE,) or cov.shape != (36, 36) or window.ndim != 2:
        raise WeightsError(
            f"NIQE parameters in {p} have shapes mu {mu.shape}, cov {cov.shape}, "
            f"window {window.shape}; expected (36,), (36, 36), (k, k)"
        )
    return NIQEParams(mu=mu, cov=cov, window=window / window.sum(), path=str(p))


def load_niqe_params(params: str | os.PathLike[str] | None = None) -> NIQEParams:
    """Load the pristine NIQE model.

    Args:
        params: path to the ``.npz``/``.mat`` file; ``None`` reads ``JPEGTEXT_NIQE_PARAMS``.

    Returns:
        The parameters (cached per path).

    Raises:
        MissingWeightsError: no path given and the environment variable is unset, or the file
            does not exist.
        WeightsError: the file is unreadable or has the wrong entries.
    """
    if params is None:
        params = os.environ.get(ENV_NIQE_PARAMS)
        if not params:
            raise MissingWeightsError(
                "NIQE needs the pristine model parameters (niqe_pris_params.npz from the "
                f"official LIVE release): pass params=PATH or set {ENV_NIQE_PARAMS}"
            )
    path = Path(params).expanduser()
    if not path.is_file():
        raise MissingWeightsError(f"NIQE parameter file not found: {path}")
    return _load_params_cached(str(path.resolve()))


def _aggd_features(vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric generalised Gaussian fit per row (``estimateaggdparam.m``).

    Args:
        vec: (N, M) samples, one row per patch.

    Returns:
        alpha, beta_left, beta_right, each (N,); NaN where a side has no samples.
    """
    neg, pos = vec < 0, vec > 0
    sq = vec * vec
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt((sq * neg).sum(1) / neg.sum(1))
        right_std = np.sqrt((sq * pos).sum(1) / pos.sum(1))
        gamma_hat = left_std / right_std
        r_hat = np.abs(vec).mean(1) ** 2 / sq.mean(1)
        r_hat_norm = (r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1)) / ((gamma_hat**2 + 1) ** 2)
    # MATLAB's min() returns the first minimiser, as argmin does; for an all-NaN row (a side
    # without samples) both return index 1, so alpha is 0.2 there, not NaN, and nanmean keeps it.
    idx = np.argmin((_R_GAMMA[None, :] - r_hat_norm[:, None]) ** 2, axis=1)
    alpha = _GAMMA_GRID[idx]
    with np.errstate(invalid="ignore"):
        ratio = np.sqrt(special.gamma(1.0 / alpha) / special.gamma(3.0 / alpha))
    return alpha, left_std * ratio, right_std * ratio


def _block_features(structdis: np.ndarray, block: int) -> np.ndarray:
    """The 18 features of ``computefeature.m`` for every block, blocks in column-major order."""
    h, w = structdis.shape
    nr, nc = h // block, w // block
    # (nc, nr, block, block): column-major block order, as blkproc + reshape produce.
    blocks = structdis.reshape(nr, block, nc, block).transpose(2, 0, 1, 3)
    blocks = blocks.reshape(nr * nc, block, block)
    flat = blocks.reshape(len(blocks), -1)
    alpha, bl, br = _aggd_features(flat)
    feats = [alpha, (bl + br) / 2.0]
    # circshift offsets (rows, cols), wrapping inside each block.
    for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):
        shifted = np.roll(blocks, shift, axis=(1, 2)).reshape(len(blocks), -1)
        alpha, bl, br = _aggd_features(flat * shifted)
        with np.errstate(invalid="ignore"):
            mean = (br - bl) * (special.gamma(2.0 / alpha) / special.gamma(1.0 / alpha))
        feats += [alpha, mean, bl, br]
    return np.stack(feats, axis=1)


def _mscn(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients, ``(I - mu) / (sigma + 1)``."""
    # imfilter(..., 'replicate') is a correlation with edge replication ('nearest').
    mu = ndimage.correlate(img, window, mode="nearest")
    sigma = np.sqrt(np.abs(ndimage.correlate(img * img, window, mode="nearest") - mu * mu))
    out = (img - mu) / (sigma + 1.0)
    # Where the whole window is constant the exact coefficient is 0, but the filter's rounding
    # leaves +-1e-16 whose sign depends on the summation order (MATLAB's differs from scipy's)
    # and decides which side of the AGGD fit the sample joins. Flat areas are common in
    # low-quality JPEGs (DC-only blocks), where this swung NIQE by up to 0.45 on pyiqa's
    # calibration images; the exact value makes the score deterministic.
    size = window.shape
    hi = ndimage.maximum_filter(img, size=size, mode="nearest")
    lo = ndimage.minimum_filter(img, size=size, mode="nearest")
    flat = (hi - lo) <= 1e-9 * np.maximum(1.0, np.abs(hi))
    out[flat] = 0.0
    return out


def _pinv_matlab(a: np.ndarray) -> np.ndarray:
    # MATLAB's pinv tolerance: max(size(A)) * eps(norm(A)).
    u, s, vt = np.linalg.svd(a)
    tol = max(a.shape) * np.spacing(s.max())
    s_inv = np.where(s > tol, 1.0 / np.where(s > tol, s, 1.0), 0.0)
    return (vt.T * s_inv) @ u.T


def niqe(
    img: Any,
    *,
    params: str | os.PathLike[str] | NIQEParams | None = None,
    crop_border: int = 0,
    data_range: float = 255.0,
) -> float:
    """NIQE score of one image (lower is better), as the official MATLAB release computes it.

    Colour images are converted with MATLAB's ``rgb2gray`` (rounded to integers for uint8 input,
    as MATLAB does; unrounded for float input). The image is cropped to a multiple of 96 pixels
    (top-left kept), features are taken from non-overlapping 96x96 blocks and from the 48x48
    blocks of the half-size image (MATLAB bicubic ``imresize``), and the score is the Mahalanobis
    distance between the two Gaussians with the pooled covariance (MATLAB ``pinv``).

    Args:
        img: numpy ``(H, W)``/``(H, W, 3)`` or torch ``(C, H, W)``/``(1, C, H, W)`` with values
            in ``[0, data_range]``; at least 96 pixels each way and two 96x96 blocks.
        params: a :class:`NIQEParams`, a path, or ``None`` for ``JPEGTEXT_NIQE_PARAMS``.
        crop_border: pixels removed from each side first.
        data_range: value of white in ``img`` (255 for uint8, 1.0 for [0, 1] floats).

    Returns:
        The NIQE score.

    Raises:
        MissingWeightsError: no parameter file (see :func:`load_niqe_params`).
        InvalidImageError: bad input or an image too small for two blocks.
    """
    p = params if isinstance(params, NIQEParams) else load_niqe_params(params)
    is_integer = isinstance(img, np.ndarray) and np.issubdtype(img.dtype, np.integer)
    if _is_torch_tensor(img):
        is_integer = not img.is_floating_point()
    x = as_float_image(img, data_range=data_range, name="img")
    if crop_border:
        if not isinstance(crop_border, int) or crop_border < 0:
            raise InvalidImageError(f"crop_border must be an integer >= 0, got {crop_border!r}")
        x = x[crop_border:-crop_border, crop_border:-crop_border]
    if x.shape[2] == 3:
        gray = rgb2gray(x, round_to_uint8=is_integer and data_range == 255.0)
    else:
        gray = x[:, :, 0]
    h, w = gray.shape
    nr, nc = h // _BLOCK, w // _BLOCK
    if nr * nc < 2:
        raise InvalidImageError(
            f"NIQE needs at least two 96x96 blocks (e.g. 96x192 pixels), got {h}x{w}"
        )
    gray = gray[: nr * _BLOCK, : nc * _BLOCK]

    feats = []
    scaled = gray
    for scale in (1, 2):
        feats.append(_block_features(_mscn(scaled, p.window), _BLOCK // scale))
        if scale == 1:
            scaled = imresize(scaled, 0.5)
    features = np.concatenate(feats, axis=1)  # (blocks, 36)

    # nanmean per column; nancov over the rows without NaN (MATLAB's defaults).
    mu_d = np.nanmean(features, axis=0)
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise InvalidImageError("NIQE is undefined for this image: too few textured blocks")
    cov_d = np.cov(complete, rowvar=False)
    diff = p.mu - mu_d
    score = float(np.sqrt(diff @ _pinv_matlab((p.cov + cov_d) / 2.0) @ diff))
    return score
