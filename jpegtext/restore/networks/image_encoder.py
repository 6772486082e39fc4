"""DAMSM image encoder: frozen ImageNet AlexNet conv layers + trainable projections.

The paper uses Inception-v3 (AttnGAN); its weights cannot be obtained on the project's machines,
so the ImageNet AlexNet conv trunk (the one LPIPS uses) stands in, with the same two trainable
heads: a 1x1 convolution to the region features and a linear layer to the global feature.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from jpegtext.errors import MissingWeightsError, WeightsError
from jpegtext.restore.networks.config import ImageEncoderConfig

__all__ = ["DAMSMImageEncoder", "alexnet_trunk", "load_alexnet_trunk_state"]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
ENV_TRUNK = "JPEGTEXT_ALEXNET_TRUNK"


def alexnet_trunk() -> nn.Sequential:
    """torchvision AlexNet ``features`` (conv1..conv5 + ReLUs + max-pools), untrained."""
    from torchvision.models import alexnet

    return alexnet(weights=None).features


def load_alexnet_trunk_state(path: str | os.PathLike[str] | None = None) -> dict[str, torch.Tensor]:
    """State dict of the ImageNet AlexNet conv layers with keys ``{0,3,6,8,10}.{weight,bias}``.

    Args:
        path: a torch file with torchvision key names (``features.N.weight``), e.g.
            ``../shared/weights/lpips/alexnet_features_imagenet_tv.pth``; default: the
            ``JPEGTEXT_ALEXNET_TRUNK`` (or ``JPEGTEXT_LPIPS_TRUNK``) environment variable, else
            torchvision's download (fails offline with MissingWeightsError).
    """
    path = path or os.environ.get(ENV_TRUNK) or os.environ.get("JPEGTEXT_LPIPS_TRUNK")
    if path:
        p = Path(path)
        if not p.is_file():
            raise MissingWeightsError(f"AlexNet trunk file not found: {p}")
        try:
            raw = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a weights problem
            raise WeightsError(f"{p}: not a torch state dict ({exc})") from None
        state = {k.removeprefix("features."): v for k, v in raw.items()
                 if k.removeprefix("features.").split(".")[0].isdigit()}
        if not state:
            raise WeightsError(f"{p}: no AlexNet 'features.N' tensors inside")
        return state
    try:
        from torchvision.models import AlexNet_Weights, alexnet

        model = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    except Exception as exc:  # noqa: BLE001 - network errors of every kind
        raise MissingWeightsError(
            "the ImageNet AlexNet weights could not be downloaded; give a local file with "
            f"--alexnet-trunk / {ENV_TRUNK} (on the project machines: "
            "../shared/weights/lpips/alexnet_features_imagenet_tv.pth)"
        ) from exc
    return model.features.state_dict()


class DAMSMImageEncoder(nn.Module):
    """Region features (B, D, R) and a global feature (B, D) of images.

    Args:
        config: feature size and input resolution.
        trunk_state: AlexNet conv weights (see :func:`load_alexnet_trunk_state`); None leaves the
            trunk random (tests only).
    """

    def __init__(self, config: ImageEncoderConfig | None = None,
                 trunk_state: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        cfg = config or ImageEncoderConfig()
        self.config = cfg
        feats = alexnet_trunk()
        if trunk_state is not None:
            feats.load_state_dict(trunk_state)
        self.trunk = feats[:12]  # conv1..conv5 + ReLU, before the last max-pool
        self.trunk.requires_grad_(False)
        self.region = nn.Conv2d(256, cfg.feature_dim, 1)
        self.glob = nn.Linear(256, cfg.feature_dim)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        nn.init.uniform_(self.region.weight, -0.1, 0.1)
        nn.init.uniform_(self.glob.weight, -0.1, 0.1)

    def train(self, mode: bool = True) -> DAMSMImageEncoder:
        super().train(mode)
        self.trunk.eval()  # frozen backbone
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode.

        Args:
            x: (B, 3, H, W) float in [0, 1].

        Returns:
            regions (B, D, R) with R = h*w of the conv5 map, and global (B, D).
        """
        s = self.config.input_size
        x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=False)
        f = self.trunk((x - self.mean) / self.std)  # (B, 256, h, w)
        regions = self.region(f).flatten(2)
        pooled = F.adaptive_avg_pool2d(F.max_pool2d(f, 3, 2), 1).flatten(1)
        return regions, self.glob(pooled)
