"""Training configuration: losses, data, and the whole run (stages 1 and 2), from YAML.

Model configs are in :mod:`jpegtext.restore.networks.config`; a run's YAML holds both. Every
value is checked against its field's type (integers, numbers, true/false, lists, sections), the
model's sections included, and named by its dotted key (``data.crop``), before any computation.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from jpegtext.errors import ConfigError
from jpegtext.restore.networks.config import (
    DiscriminatorConfig,
    ImageEncoderConfig,
    ModelConfig,
    _check,
    _Config,
    _config_class,
)

__all__ = ["DataConfig", "LossConfig", "TrainConfig", "load_yaml_config"]

C = TypeVar("C", bound="_TypedConfig")

# what each key of a data source (``data.sources[i]``, ``data.val``) holds
_SOURCE_KEYS: dict[str, Any] = {"root": str, "manifest": str | None, "split": str | None,
                                "caption": str, "captions": str | None, "weight": int}


def _show(value: Any) -> str:
    """A config value as YAML would show it: ``"abc"``, ``null``, ``[1, 2]``, ``32.0``."""
    return json.dumps(value, default=str)


def _expected(hint: Any, value: Any) -> str | None:
    """What ``hint`` wants when ``value`` (a raw YAML value or a field's value) does not fit it;
    None when it fits. Lists stand for tuples; floats must be finite."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        wanted = [_expected(a, value) for a in args if a is not type(None)]
        if any(w is None for w in wanted):
            return None
        return " or ".join(w for w in wanted if w) + (" or null" if type(None) in args else "")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return "a list"
        item = typing.get_args(hint)[0]
        bad = [_expected(item, v) for v in value]
        first = next((b for b in bad if b), None)
        return f"a list, each {first}" if first else None
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping) or \
            hint is Mapping:
        return None if isinstance(value, Mapping) else "a mapping"
    if hint is Any:
        return None
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return None if math.isfinite(value) else "a finite number"
        if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+[eE][+-]?[0-9]+", value.strip()):
            return "a number (YAML reads 1e-4 without a dot as text: write 1.0e-4)"
        if isinstance(value, str) and _is_number(value):
            return "a number, not text (no quotes)"
        return "a number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _section(cls: type[_Config]) -> str:
    """How a section is described when it is not a mapping."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    more = ", ..." if len(names) > 3 else ""
    return f"a mapping (a section of keys: {', '.join(names[:3])}{more})"


def _check_types(cls: type[_Config], data: Mapping[str, Any], prefix: str = "") -> None:
    """Check the raw values of ``data`` (a section of the YAML for ``cls``) against the types of
    ``cls``'s fields, sections included, so that a wrong type is named by its key before any
    value reaches a computation. Unknown keys are left to ``from_dict``."""
    hints = get_type_hints(cls)
    for name, value in data.items():
        if name not in hints:
            continue
        key = f"{prefix}{name}"
        sub = _config_class(hints[name])
        if sub is not None and isinstance(value, sub):  # a section built in code
            continue
        if sub is not None:
            _check(isinstance(value, Mapping), f"Invalid {key} {_show(value)}: should be "
                   f"{_section(sub)}")
            _check_types(sub, value, f"{key}.")
            continue
        wanted = _expected(hints[name], value)
        _check(wanted is None, f"Invalid {key} {_show(value)}: should be {wanted}")
        if cls is DataConfig and name == "sources":
            for i, src in enumerate(value):
                _check_source(src, f"{key}[{i}]")
        elif cls is DataConfig and name == "val" and value is not None:
            _check_source(value, key)


def _check_source(src: Mapping[str, Any], where: str) -> None:
    """The keys and value types of one data source, named ``where`` in messages."""
    _check(isinstance(src, Mapping) and "root" in src,
           f"each data source needs a 'root': {where} is {_show(src)}")
    bad = sorted(set(src) - set(_SOURCE_KEYS))
    _check(not bad, f"unknown key(s) {bad} in data source {where}; known keys: "
           f"{', '.join(_SOURCE_KEYS)}")
    for name, value in src.items():
        wanted = _expected(_SOURCE_KEYS[name], value)
        _check(wanted is None, f"Invalid {where}.{name} {_show(value)}: should be {wanted}")
    _check(src.get("caption", "builtin") in ("builtin", "manifest", "mixed"),
           f'Invalid {where}.caption {_show(src.get("caption"))}: should be "builtin", '
           '"manifest" or "mixed"')
    _check(src.get("weight", 1) >= 1, f"Invalid {where}.weight {_show(src.get('weight'))}: "
           "should be >= 1")


def _check_fields(config: _Config) -> None:
    """``__post_init__``: each field's value has its declared type (configs built in code, or
    changed with ``replace``, are checked as YAML is)."""
    hints = get_type_hints(type(config))
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        sub = _config_class(hints[f.name])
        if sub is not None:
            _check(isinstance(value, sub), f"Invalid {f.name} {_show(value)}: should be "
                   f"{_section(sub)}")
            continue
        wanted = _expected(hints[f.name], value)
        _check(wanted is None, f"Invalid {f.name} {_show(value)}: should be {wanted}")


class _TypedConfig(_Config):
    """A config whose ``from_dict`` checks every value's type (sections included) first."""

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any] | None) -> C:
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(f"Invalid {cls.__name__} {_show(data)}: should be a mapping")
        _check_types(cls, data or {})
        return super().from_dict(data)  # type: ignore[misc]


@dataclasses.dataclass(frozen=True)
class LossConfig(_TypedConfig):
    """Loss weights of stage 2 (paper: 0.01 / 1 / 0.001 / 0.0005) and the contrastive constant.

    ``perceptual_fade`` (an extension, off by default) scales the per-sample contrastive and
    GAN terms by the sample's JPEG quality: x1 up to ``perceptual_fade[0]``, falling linearly to
    ``perceptual_floor`` at ``perceptual_fade[1]`` and above. Mild compression then trains
    mostly for fidelity (L1), extreme compression for perception.

    ``lightness_anchor`` (an extension, 0 = off) ties the CIELAB lightness of the output for a
    truthful caption (any non-empty caption that was not colour-swapped) to the lightness the same
    generator gives the same JPEG with an empty caption (a second forward, without gradient):
    L1 on L*/100, this weight. The text may then move colour, not lightness or texture.
    The no-text twin skips it (its captions are all empty: the term is zero).
    ``lightness_anchor_sigma`` > 0 ties only the fine part of the lightness change (the change
    minus its Gaussian blur of that sigma, in pixels: texture and edges), leaving broad shading
    free; 0 ties all of it.
    ``lightness_anchor_reference``: ``"self"`` (the generator being trained, as above) or
    ``"start"`` (a frozen copy of the generator as training starts, e.g. the ``init_from`` model,
    given an empty caption): then every sample that is not a colour swap is tied, empty captions
    and the no-text twin's too, so the texture stays the starting model's.

    ``chroma_weight`` (an extension, 0 = off) adds L1 between the CIELAB a*b* (/100) of the
    output and of the clean image after a Gaussian blur of ``chroma_sigma`` pixels: the colour of
    regions, which the RGB L1 and LPIPS weigh lightly and a caption's colour words carry.

    ``keep_start`` (an extension, 0 = off) adds L1 (RGB, this weight) between the output and what
    a frozen copy of the starting generator (the ``init_from`` model) gives the same JPEG with the
    same caption, on every sample that is not a colour swap: learning without forgetting, so that
    swaps teach the caption's colour words while truthful and empty captions keep the starting
    model's result.

    ``keep_named`` and ``keep_swapped`` (extensions, 0 = off; they need ``keep_start`` > 0) make
    that term per pixel, from the region a human caption's colour word names in the clean crop
    (:func:`jpegtext.restore.training.colour_swap.named_region`): a truthful sample is kept with
    ``keep_start`` + ``keep_named`` on that region (``keep_start`` elsewhere), so the colour the
    JPEG and its caption agree on stays the starting model's; a colour-swapped sample is kept with
    ``keep_swapped`` outside the repainted region only, so a swap may change the region its word
    names and nothing else.
    """

    contrastive_weight: float = 0.01
    l1_weight: float = 1.0
    gan_weight: float = 0.001
    damsm_weight: float = 0.0005
    contrastive_c: float = 0.1
    gamma1: float = 4.0
    gamma2: float = 5.0
    gamma3: float = 10.0
    perceptual_fade: tuple[int, ...] = (1, 10)
    perceptual_floor: float = 1.0
    lightness_anchor: float = 0.0
    lightness_anchor_sigma: float = 0.0
    lightness_anchor_reference: str = "self"
    chroma_weight: float = 0.0
    chroma_sigma: float = 0.0
    keep_start: float = 0.0
    keep_named: float = 0.0
    keep_swapped: float = 0.0

    def __post_init__(self) -> None:
        _check_fields(self)
        for name in ("contrastive_weight", "l1_weight", "gan_weight", "damsm_weight",
                     "lightness_anchor", "lightness_anchor_sigma", "chroma_weight", "chroma_sigma",
                     "keep_start", "keep_named", "keep_swapped"):
            _check(getattr(self, name) >= 0, f"{name} must be >= 0")
        _check(self.keep_start > 0 or (self.keep_named == 0 and self.keep_swapped == 0),
               "keep_named and keep_swapped need keep_start > 0")
        _check(self.contrastive_c > 0, "contrastive_c must be > 0")
        _check(self.lightness_anchor_reference in ("self", "start"),
               f'Invalid lightness_anchor_reference "{self.lightness_anchor_reference}", should '
               'be "self" or "start"')
        fade = self.perceptual_fade
        _check(len(fade) == 2 and 1 <= fade[0] < fade[1] <= 100,
               f'Invalid perceptual_fade "{fade}", should be [start, end] with 1 <= start < end'
               " <= 100")
        _check(0 <= self.perceptual_floor <= 1,
               f'Invalid perceptual_floor "{self.perceptual_floor}", should be 0-1')

    @property
    def per_pixel_keep(self) -> bool:
        """Whether the keep term is weighted per pixel (``keep_named`` or ``keep_swapped``)."""
        return self.keep_named > 0 or self.keep_swapped > 0

    def perceptual_scale(self, quality: Any) -> Any:
        """Per-sample factor of the perceptual terms for JPEG ``quality`` (int or tensor)."""
        start, end = self.perceptual_fade
        t = (quality - start) / float(end - start)
        t = t.clamp(0, 1) if hasattr(t, "clamp") else min(max(t, 0.0), 1.0)
        return 1.0 - (1.0 - self.perceptual_floor) * t


@dataclasses.dataclass(frozen=True)
class DataConfig(_TypedConfig):
    """Training data: image folders + JSONL manifests, degraded on the fly.

    Attributes:
        sources: list of dicts ``{"root": folder, "manifest": jsonl or null, "split": name or
            null, "caption": "builtin"|"manifest"|"mixed", "captions": jsonl or null,
            "weight": n}``. Paths may be relative to the
            config file. Manifest rows have ``file`` and optionally ``split``, ``class_id``,
            ``captions``/``caption``.
        val: one source dict for validation (checkpoint selection), or null.
        crop: training crop size (pixels, square, multiple of 8).
        scale_min: crops cover between ``scale_min`` and 1 of the shorter side, resized to crop.
        qualities: JPEG qualities the low-quality input is drawn from.
        subsampling: chroma subsampling of the degraded input ("4:2:0", as the product encodes).
        human_caption_prob: for "mixed" sources, chance of using a human caption (when the crop
            covers at least ``human_caption_min_cover`` of the image).
        val_limit: number of validation images used (first N, fixed order).
        caption_dropout: chance of an empty caption for a training sample, so that the model
            also restores without text (and the text ablation's "empty" column is in-domain).
        chroma_drop: chance that a training sample's JPEG input loses most of its colour (its
            chroma scaled towards grey by a factor drawn from [0, ``chroma_keep``]), so the
            colour must come from the caption (the clean target keeps its colour).
        chroma_keep: the largest chroma factor of a ``chroma_drop`` sample.
        chroma_drop_on: which samples may lose their colour: "all", or "human" (only those
            whose caption is a human one, so that built-in and empty captions never have to
            carry colour the input lacks).
        colour_swap: chance that a sample with a human caption naming a colour (and quality at
            most ``colour_swap_max_quality``) has that colour repainted in the clean target only,
            and the caption's colour word changed to match; the JPEG input keeps the original
            colour, so only the caption tells the new one
            (:mod:`jpegtext.restore.training.colour_swap`).
        colour_swap_max_quality: the highest JPEG quality a colour swap is drawn at (where the
            JPEG's own chroma is coarse enough that text should win over it).
        colour_swap_mode: ``"absolute"`` (the new colour's anchor), ``"relative"`` (the region's
            mean hue turned to the new colour's, chroma and lightness moved by the difference
            between the two colours' anchors), ``"offset"`` (all three moved by the difference
            between the new colour's anchor and that of the pixels' own colour term) or
            ``"natural"`` (as offset, between the mean petal colours people give the two
            words); see
            :func:`jpegtext.restore.training.colour_swap.swap_colour`.
        colour_swap_far: the new colour is never in the colour family of the caption's word or
            of the pixels (no red to pink, no purple to blue), so every swap shows in the JPEG's
            colour and a caption that names the colour the JPEG shows is never a swap.
        colour_swap_lightness: for ``"natural"`` swaps, the share of the two words' lightness
            difference the region moves (0 keeps the lightness: the caption only steers colour).
        colour_swap_paired: a swapped sample also keeps its truthful twin in the same batch (the
            same JPEG with the true caption and the unchanged target), so each swap is learnt
            as a contrast: one input, two captions, two targets.
        part_distractor: chance that a training sample's human caption (and its truthful twin's)
            is prefixed with a clause giving a small part of the flower a random colour ("the
            pedicel is purple, "), the target unchanged, so a colour bound to a part does not
            repaint the whole subject (round 54;
            :func:`jpegtext.restore.training.colour_swap.distractor_clause`).
    """

    sources: tuple[Mapping[str, Any], ...] = ()
    val: Mapping[str, Any] | None = None
    crop: int = 128
    scale_min: float = 0.5
    qualities: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    subsampling: str = "4:2:0"
    human_caption_prob: float = 0.5
    human_caption_min_cover: float = 0.8
    val_limit: int = 32
    caption_dropout: float = 0.1
    chroma_drop: float = 0.0
    chroma_keep: float = 0.5
    chroma_drop_on: str = "all"
    colour_swap: float = 0.0
    colour_swap_max_quality: int = 100
    colour_swap_mode: str = "absolute"
    colour_swap_far: bool = False
    colour_swap_lightness: float = 1.0
    colour_swap_paired: bool = False
    part_distractor: float = 0.0

    def __post_init__(self) -> None:
        _check_fields(self)
        _check(self.crop >= 32 and self.crop % 8 == 0, f'Invalid crop "{self.crop}", need a '
               "multiple of 8 >= 32")
        _check(0 < self.scale_min <= 1, f'Invalid scale_min "{self.scale_min}"')
        _check(len(self.qualities) > 0 and all(1 <= q <= 100 for q in self.qualities),
               f'Invalid qualities "{self.qualities}"')
        _check(self.val_limit >= 1, f'Invalid val_limit "{self.val_limit}", should be >= 1')
        _check(self.subsampling in ("4:2:0", "4:4:4"), f'Invalid subsampling "{self.subsampling}"')
        _check(0 <= self.caption_dropout < 1, f'Invalid caption_dropout "{self.caption_dropout}"')
        _check(0 <= self.chroma_drop <= 1, f'Invalid chroma_drop "{self.chroma_drop}"')
        _check(0 <= self.chroma_keep <= 1, f'Invalid chroma_keep "{self.chroma_keep}"')
        _check(self.chroma_drop_on in ("all", "human"),
               f'Invalid chroma_drop_on "{self.chroma_drop_on}", need "all" or "human"')
        _check(0 <= self.colour_swap <= 1, f'Invalid colour_swap "{self.colour_swap}"')
        _check(1 <= self.colour_swap_max_quality <= 100,
               f'Invalid colour_swap_max_quality "{self.colour_swap_max_quality}"')
        _check(self.colour_swap_mode in ("absolute", "relative", "offset", "natural"),
               f'Invalid colour_swap_mode "{self.colour_swap_mode}", need "absolute", "relative",'
               ' "offset" or "natural"')
        _check(isinstance(self.colour_swap_far, bool),
               f'Invalid colour_swap_far "{self.colour_swap_far}", need true or false')
        _check(0 <= self.colour_swap_lightness <= 1,
               f'Invalid colour_swap_lightness "{self.colour_swap_lightness}", need 0-1')
        _check(isinstance(self.colour_swap_paired, bool),
               f'Invalid colour_swap_paired "{self.colour_swap_paired}", need true or false')
        _check(0 <= self.part_distractor <= 1,
               f'Invalid part_distractor "{self.part_distractor}", need 0-1')
        for i, src in enumerate(self.sources):
            _check_source(src, f"sources[{i}]")
        if self.val is not None:
            _check_source(self.val, "val")


@dataclasses.dataclass(frozen=True)
class TrainConfig(_TypedConfig):
    """A training run (stage 1 ``damsm`` or stage 2 ``tgjar``), as read from YAML.

    Attributes:
        stage: ``"damsm"`` or ``"tgjar"``.
        model: the generator/text encoder to train (stage 2) or whose text encoder to pretrain.
        image_encoder: the DAMSM image encoder.
        discriminator: the PatchGAN.
        loss: stage-2 loss weights.
        data: training and validation data.
        damsm_checkpoint: stage-2 only: the stage-1 run's export (text + image encoders).
        init_from: stage-2 only: a model ``.safetensors`` whose generator weights start the run
            (fine-tuning); its text config and vocabulary must match the run's unless
            ``init_new_text`` is set.
        init_new_text: allow ``init_from`` a model with another text encoder (the generator,
            fusion layers included, starts from its weights and learns the new text features).
        text_lr_scale: stage-2 only: the generator layers that read text features (the GFM's
            first FC layer, the LFMs' word projections and null words) learn at this multiple
            of ``lr`` (a new text encoder must be learnt by them first).
        image_lr_scale: stage-2 only: every other generator layer learns at this multiple of
            ``lr``; 0 freezes them, so only the text-reading layers above change (round 45).
        text_off: stage-2 only: the no-text twin of the paper's ablation: every caption is
            replaced by the empty caption (training and validation), all else unchanged.
        keep_twin: stage-2 only, needs ``loss.keep_start`` > 0 (not per pixel): a model
            ``.safetensors`` with the same generator (a no-text twin) that offers a second keep
            target: each kept sample is tied to whichever output is closer (mean L1) to its clean
            crop, the starting model's with the sample's caption or this model's with an empty
            caption. The no-text twin's own run may name its starting file here (both targets are
            then the same), so the two recipes stay one.
        vocab_min_count: words seen fewer times in the training captions are dropped.
        batch_size: per-process batch (paper: 4). With DDP the global batch is N x this.
        lr: Adam learning rate (paper: 1e-4); ``lr_gamma`` every ``lr_step_epochs`` epochs, never
            below ``lr_min``.
        betas: Adam betas.
        epochs: epochs to run; ``max_steps`` stops earlier when > 0.
        max_minutes: stop (with a checkpoint and an export) after this much wall time in this
            process, when > 0; a later run resumes from the checkpoint.
        epoch_size: samples per epoch (0 = the dataset length).
        ema_decay: EMA of the generator (0 = off).
        log_every / val_every / ckpt_every: in steps.
        seed: everything random (crops, QFs, captions, init) derives from it.
        threads: torch intra-op threads (0 = leave as is).
        workers: data-loading worker processes (0 = load in the training process).
        lpips_trunk: local AlexNet trunk for LPIPS (null = env var / download).
        alexnet_trunk: local AlexNet conv weights for the DAMSM image encoder.
    """

    stage: str = "tgjar"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    image_encoder: ImageEncoderConfig = dataclasses.field(default_factory=ImageEncoderConfig)
    discriminator: DiscriminatorConfig = dataclasses.field(default_factory=DiscriminatorConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    damsm_checkpoint: str | None = None
    init_from: str | None = None
    init_new_text: bool = False
    text_off: bool = False
    keep_twin: str | None = None
    text_lr_scale: float = 1.0
    image_lr_scale: float = 1.0
    vocab_min_count: int = 1
    batch_size: int = 4
    lr: float = 1e-4
    betas: tuple[float, ...] = (0.9, 0.999)
    lr_step_epochs: int = 20
    lr_gamma: float = 0.1
    lr_min: float = 1e-8
    epochs: int = 100
    max_steps: int = 0
    max_minutes: float = 0.0
    epoch_size: int = 0
    ema_decay: float = 0.0
    log_every: int = 10
    val_every: int = 500
    ckpt_every: int = 500
    seed: int = 0
    threads: int = 0
    workers: int = 1
    lpips_trunk: str | None = None
    alexnet_trunk: str | None = None

    def __post_init__(self) -> None:
        _check_fields(self)
        _check(self.stage in ("damsm", "tgjar"), f'Invalid stage "{self.stage}", should be '
               '"damsm" or "tgjar"')
        _check(self.batch_size >= 1, f'Invalid batch_size "{self.batch_size}"')
        _check(self.lr > 0 and 0 < self.lr_gamma <= 1 and self.lr_min >= 0, "invalid lr schedule")
        _check(self.lr_step_epochs >= 1 and self.epochs >= 1 and self.max_steps >= 0
               and self.max_minutes >= 0, "invalid epochs/steps/minutes")
        _check(0 <= self.ema_decay < 1, f'Invalid ema_decay "{self.ema_decay}"')
        _check(self.text_lr_scale > 0, f'Invalid text_lr_scale "{self.text_lr_scale}"')
        _check(self.image_lr_scale >= 0, f'Invalid image_lr_scale "{self.image_lr_scale}"')
        _check(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
               f'Invalid betas "{self.betas}", should be [b1, b2] with 0 <= b < 1')
        _check(0 <= self.seed < 2**63, f'Invalid seed "{self.seed}", should be >= 0')
        for name in ("threads", "workers", "epoch_size"):
            _check(getattr(self, name) >= 0, f'Invalid {name} "{getattr(self, name)}", should be '
                   ">= 0")
        _check(self.vocab_min_count >= 1,
               f'Invalid vocab_min_count "{self.vocab_min_count}", should be >= 1')
        _check(self.image_encoder.feature_dim == self.model.text.feature_dim,
               f"image_encoder.feature_dim ({self.image_encoder.feature_dim}) must equal the text "
               f"feature size ({self.model.text.feature_dim})")
        for name in ("log_every", "val_every", "ckpt_every"):
            _check(getattr(self, name) >= 1, f"{name} must be >= 1")
        _check(not self.keep_twin or (self.loss.keep_start > 0 and not self.loss.per_pixel_keep),
               "keep_twin needs loss.keep_start > 0 and no keep_named / keep_swapped")


def load_yaml_config(path: str | Path) -> TrainConfig:
    """Read a training config from YAML; relative data paths resolve against its folder."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    base = path.resolve().parent
    data = raw.get("data")
    if isinstance(data, dict):
        data = dict(data)
        data["sources"] = [_resolve_source(s, base) for s in data.get("sources", [])]
        if data.get("val"):
            data["val"] = _resolve_source(data["val"], base)
        raw["data"] = data
    for key in ("damsm_checkpoint", "init_from", "keep_twin", "lpips_trunk", "alexnet_trunk"):
        if raw.get(key):
            raw[key] = str((base / raw[key]).resolve()) if not Path(raw[key]).is_absolute() \
                else raw[key]
    return TrainConfig.from_dict(raw)


def _resolve_source(src: Any, base: Path) -> Any:
    if not isinstance(src, dict):
        return src
    out = dict(src)
    # the manifest stays relative to the source's root (see read_records)
    if out.get("root") and not Path(out["root"]).is_absolute():
        out["root"] = str((base / out["root"]).resolve())
    return out
