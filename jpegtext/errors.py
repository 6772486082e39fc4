"""The exception tree of jpegtext.

Every error the library raises on purpose derives from :class:`JpegTextError`, and each also
derives from the builtin that fits it, so ``except ValueError`` keeps working for callers that do
not know jpegtext. The CLI turns any of them into a one-line message and exit status 1.
"""

from __future__ import annotations

__all__ = [
    "BudgetError",
    "ConfigError",
    "ExportError",
    "InsufficientMemoryError",
    "InvalidImageError",
    "InvalidJpegError",
    "JpegTextError",
    "MissingDependencyError",
    "MissingWeightsError",
    "PayloadError",
    "WeightsError",
]


class JpegTextError(Exception):
    """Base class of every error jpegtext raises on purpose."""


class InvalidImageError(JpegTextError, ValueError):
    """The input is not an image jpegtext can read (unknown format, truncated, too large)."""


class InvalidJpegError(InvalidImageError):
    """The input is not a well-formed JPEG stream (bad marker, segment past the end, ...)."""


class PayloadError(JpegTextError, ValueError):
    """The caption payload cannot be written or read (too long, corrupt, wrong version)."""


class BudgetError(JpegTextError, ValueError):
    """A file cannot be made to fit the requested byte budget, even at the lowest quality."""


class ConfigError(JpegTextError, ValueError):
    """A model, training or evaluation configuration is invalid (unknown key, bad value)."""


class WeightsError(JpegTextError, RuntimeError):
    """Model weights are unusable: wrong format, wrong shapes, or a sha256 mismatch."""


class ExportError(JpegTextError, RuntimeError):
    """A model could not be exported, or the exported graph disagrees with PyTorch."""


class MissingWeightsError(WeightsError):
    """Weights that must be present locally are absent (offline machine, no cache)."""


class InsufficientMemoryError(JpegTextError, MemoryError):
    """The requested work does not fit in the free memory (choose a smaller tile)."""


class MissingDependencyError(JpegTextError, ImportError):
    """An optional Python package needed for this feature is not installed."""
