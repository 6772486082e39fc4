"""The one rule for choosing a torch device, used by every part that runs a network.

``None`` (or ``"auto"``) means CUDA when it is available, else the CPU; an explicit CUDA request on
a machine without CUDA, or a name torch does not know, is a :class:`~jpegtext.errors.ConfigError`
(never a silent fall-back). torch is imported on first call, so importing this module stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jpegtext.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device to run on.

    Args:
        device: ``None``/``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:N"`` or a ``torch.device``.

    Raises:
        ConfigError: an unknown device, or CUDA requested where it is not available.
    """
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f'Invalid device "{device}", should be cpu, cuda or cuda:N') from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f'Invalid device "{device}", should be cpu, cuda or cuda:N')
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f'device "{device}" requested but CUDA is not available')
    return dev
