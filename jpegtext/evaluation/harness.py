"""The evaluation harness behind ``jpegtext evaluate``.

For every clean image, every JPEG quality and every method: the clean image is captioned (once,
as the sender does), compressed with the product's encoder (Pillow 4:2:0, the caption payload in
a COM segment), decoded once, restored by each method and scored against the clean image.
The text-guided models restore the file through the same receiver as ``jpegtext decode``
(:class:`jpegtext.receiver.Receiver`): caption and quality are read from the file, and only
``:nocap`` / ``:wrongcap`` override the caption.

Metrics per image (see :mod:`jpegtext.metrics` for the conventions): ``psnr_rgb`` and
``psnr_y`` (BT.601 luma as MATLAB ``rgb2ycbcr``), ``ssim_y``, ``psnrb_y``, ``lpips`` (AlexNet,
v0.1), ``niqe`` (official MATLAB release), ``bpp`` (whole JPEG file, caption included) and
``restore_s``. Set-level FID is computed only with user-supplied Inception-v3 weights, PI only
with user-supplied scores of Ma et al.'s model; otherwise they read ``n/a (weights not given)``.

Output folder::

    run.json        settings that must not change when a run is resumed, commands so far
    captions.jsonl  the caption of every image and where it came from (reused on resume)
    results.jsonl   one line per (image, QF, method), appended as each finishes (a text-guided
                    model's line says in ``runtime`` the device, precision and tile it ran with)
    results.csv     the same as CSV (rewritten at the end)
    summary.json    means per (QF, method), command line, versions, notes
    table.md        the paper-style tables (see :mod:`jpegtext.evaluation.report`)
    figure_q{QF}.png  clean | JPEG | methods, caption above, zoomed details (first N images)
    images/q{QF}/   restored PNGs (figure images, or all with ``save_images``) and the JPEGs

A rerun with the same output folder skips the (image, QF, method) triples already in
``results.jsonl``; settings that would change their numbers (dataset, crop border, metric
weights, captions) are checked against ``run.json`` and a mismatch is refused. The device, tile
and precision, and every clean image (one that cannot be read stops the run, named: skipping it
would change the set), are checked before anything is written. ``summary.json`` records the tile
and precision the text-guided numbers were made with, from their records (a list when a resumed
run mixed several), not the options of the call that summarised them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import platform
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from jpegtext.errors import ConfigError, InvalidImageError
from jpegtext.evaluation.dataset import (
    EvalImage,
    list_images,
    read_captions_file,
    wrong_caption_sources,
)
from jpegtext.evaluation.methods import (
    MethodLoader,
    MethodSpec,
    default_method_names,
    parse_method_specs,
)
from jpegtext.evaluation.report import (
    NA_WEIGHTS,
    aggregate,
    json_number,
    render_markdown,
    to_number,
    write_csv,
)

__all__ = [
    "METRIC_CHOICES",
    "EvaluationConfig",
    "EvaluationOutput",
    "ProgressCallback",
    "check_images",
    "check_runtime",
    "run_evaluation",
]

logger = logging.getLogger(__name__)

#: metric groups the user can select -> the record keys they produce
METRIC_CHOICES: dict[str, tuple[str, ...]] = {
    "psnr": ("psnr_rgb", "psnr_y"),
    "ssim": ("ssim_y",),
    "psnr-b": ("psnrb_y",),
    "lpips": ("lpips",),
    "niqe": ("niqe",),
}
SUBSAMPLING = "4:2:0"  # the product's encoder default (every camera's, too)
_CAPTION_BATCH = 8

#: ``progress(done, total, label)`` after each unit of work
ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class EvaluationConfig:
    """Everything one evaluation run needs.

    Attributes:
        dataset_dir: folder of clean images (or the root of a manifest's paths).
        out_dir: output folder (created; reused to resume).
        qualities: JPEG quality factors.
        methods: method names (see :mod:`jpegtext.evaluation.methods`); None = ``jpeg``,
            ``arcnn``, ``dncnn3`` and every zoo model with and without caption.
        manifest: JSONL manifest (flowers256 ``labels.jsonl``, coco_mini ``captions.jsonl``).
        split: manifest split to keep (``test``, ``val`` ...).
        limit: evaluate this many images (a fixed seeded draw; smaller limits are subsets).
        name: dataset name in tables (default: the folder's name).
        captions_file: captions to use (JSONL/JSON, see ``read_captions_file``).
        captioner: captioner name for images without a caption (default: the product's
            default captioner, run on the clean image).
        caption_template: ``str.format`` template over manifest fields for rows without one.
        device: ``None`` = CUDA when available.
        tile: tile side for TGJAR models (None = automatic).
        precision: TGJAR precision (None = fp16 on CUDA, fp32 on CPU, as ``decode``).
        crop_border: pixels cropped from each side before every metric (keep it a multiple of
            8 so PSNR-B's block grid stays aligned).
        metrics: metric groups to compute (keys of :data:`METRIC_CHOICES`).
        lpips_trunk: ImageNet AlexNet state dict for LPIPS (None: ``JPEGTEXT_LPIPS_TRUNK``).
        niqe_params: NIQE pristine model (None: ``JPEGTEXT_NIQE_PARAMS``).
        arcnn_dir: official AR-CNN ``q*.mat`` folder (None: ``JPEGTEXT_ARCNN_DIR``).
        dncnn3_path: official ``DnCNN3.mat`` (None: ``JPEGTEXT_DNCNN3``).
        fid_inception: torchvision Inception-v3 state dict; None = FID not computed.
        ma_scores: JSONL of ``{"image", "quality", "method", "ma"}`` (Ma et al.'s scores of the
            restored images, official code); None = PI not computed.
        figure_images: images in each comparison figure (0 = no figure).
        figure_methods: the methods shown in the figures, in this order (names as in
            ``methods``; clean and JPEG are always shown); None = every evaluated method.
        save_images: keep every restored PNG and JPEG (else only the figure images').
        wrongcap_seed: seed of the wrong-caption derangement.
        consistency: how TGJAR methods named without ``+c`` / ``+raw`` are bounded by their
            file: ``auto`` (``jpegtext decode``'s default: ``full`` for a file's own caption,
            which every column stands for), ``luma``, ``full`` or ``off`` (the model's output;
            every run before 2026-12-05 measured this).
        command: the command line, recorded in the outputs.
    """

    dataset_dir: Path
    out_dir: Path
    qualities: tuple[int, ...] = (1, 5, 10)
    methods: tuple[str, ...] | None = None
    manifest: Path | None = None
    split: str | None = None
    limit: int | None = None
    name: str | None = None
    captions_file: Path | None = None
    captioner: str | None = None
    caption_template: str | None = None
    device: str | None = None
    tile: int | None = None
    precision: str | None = None
    crop_border: int = 0
    metrics: tuple[str, ...] = tuple(METRIC_CHOICES)
    lpips_trunk: Path | None = None
    niqe_params: Path | None = None
    arcnn_dir: Path | None = None
    dncnn3_path: Path | None = None
    fid_inception: Path | None = None
    ma_scores: Path | None = None
    figure_images: int = 3
    figure_methods: tuple[str, ...] | None = None
    save_images: bool = False
    wrongcap_seed: int = 0
    consistency: str = "auto"
    command: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("Path", "Path | None") and value is not None:
                object.__setattr__(self, f.name, Path(value).expanduser())
        qs = tuple(self.qualities)
        if not qs:
            raise ConfigError("give at least one JPEG quality")
        for q in qs:
            if isinstance(q, bool) or not isinstance(q, int | np.integer) or not 1 <= q <= 100:
                raise ConfigError(f'Invalid quality "{q}", should be an integer in [1, 100]')
        if len(set(qs)) != len(qs):
            raise ConfigError(f"qualities repeat: {list(qs)}")
        from jpegtext.receiver import CONSISTENCY

        if self.consistency not in CONSISTENCY:
            raise ConfigError(f'Invalid consistency "{self.consistency}", should be one of '
                              f"{list(CONSISTENCY)}")
        object.__setattr__(self, "qualities", tuple(int(q) for q in qs))
        if self.methods is not None:
            object.__setattr__(self, "methods", tuple(self.methods))
        if self.figure_methods is not None:
            object.__setattr__(self, "figure_methods", tuple(self.figure_methods))
        bad = [m for m in self.metrics if m not in METRIC_CHOICES]
        if bad or not self.metrics:
            raise ConfigError(
                f"unknown metric {bad[0] if bad else '(none given)'!r}; "
                f"choose from {', '.join(METRIC_CHOICES)}"
            )
        object.__setattr__(self, "metrics", tuple(dict.fromkeys(self.metrics)))
        sources = [
            n
            for n, v in (
                ("captions_file", self.captions_file),
                ("captioner", self.captioner),
                ("caption_template", self.caption_template),
            )
            if v is not None
        ]
        if len(sources) > 1:
            raise ConfigError(f"give one caption source, not {' and '.join(sources)}")
        if self.crop_border < 0:
            raise ConfigError(f'Invalid crop border "{self.crop_border}", should be >= 0')
        if self.figure_images < 0:
            raise ConfigError(f'Invalid figure images "{self.figure_images}", should be >= 0')
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f'Invalid limit "{self.limit}", should be >= 1')


@dataclass
class EvaluationOutput:
    """What :func:`run_evaluation` did.

    Attributes:
        summary: the content of ``summary.json``.
        markdown: the content of ``table.md``.
        files: name -> path of each file written.
        computed: (image, QF, method) triples scored in this call.
        skipped: triples found done in ``results.jsonl`` and skipped.
    """

    summary: dict[str, Any]
    markdown: str
    files: dict[str, Path] = field(default_factory=dict)
    computed: int = 0
    skipped: int = 0


# ---------------------------------------------------------------------------------------------
# Small helpers


def _safe(name: str) -> str:
    """A file-name-safe form of an image id or method name."""
    stem = re.sub(r"\.(png|jpe?g|bmp|tiff?|ppm|webp)$", "", name, flags=re.IGNORECASE)
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem.replace("/", "__"))


def _sha256(path: Path | None) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("jpegtext", "numpy", "scipy", "pillow", "torch", "torchvision", "lpips"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "absent"
    from jpegtext import __version__

    out["jpegtext"] = __version__
    return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


class _ResultsFile:
    """``results.jsonl``: read what is done, append new records durably."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[tuple[str, int, str], dict[str, Any]] = {}
        if path.is_file():
            self._load()

    def _load(self) -> None:
        raw = self.path.read_bytes()
        lines = raw.splitlines(keepends=True)
        good = 0
        for n, line in enumerate(lines, 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                    key = (str(rec["image"]), int(rec["quality"]), str(rec["method"]))
                except (ValueError, KeyError, TypeError):
                    if any(rest.strip() for rest in lines[n:]):
                        raise ConfigError(
                            f"{self.path} line {n} is damaged; remove that line to resume"
                        ) from None
                    # The last record was cut short by a crash: drop it, it is computed again.
                    logger.warning("%s: dropping an incomplete last record", self.path)
                    with open(self.path, "r+b") as fh:
                        fh.truncate(good)
                    break
                self.records[key] = rec  # a later record of the same triple replaces an earlier
            good += len(line)
        if good and not raw[:good].endswith(b"\n"):
            with open(self.path, "ab") as fh:
                fh.write(b"\n")

    def append(self, rec: dict[str, Any]) -> None:
        line = json.dumps(rec, ensure_ascii=False, allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self.records[(rec["image"], rec["quality"], rec["method"])] = rec


# ---------------------------------------------------------------------------------------------
# Run settings and captions


def _fingerprint(cfg: EvaluationConfig) -> dict[str, Any]:
    """Settings that change the numbers of already computed records."""
    lpips = cfg.lpips_trunk or os.environ.get("JPEGTEXT_LPIPS_TRUNK")
    niqe = cfg.niqe_params or os.environ.get("JPEGTEXT_NIQE_PARAMS")
    return {
        "dataset_dir": str(cfg.dataset_dir.resolve()),
        "manifest": None if cfg.manifest is None else cfg.manifest.name,
        "split": cfg.split,
        "crop_border": cfg.crop_border,
        "subsampling": SUBSAMPLING,
        "huffman": "optimized",  # bpp: encode_jpeg's default since the Huffman tables are fitted
        "lpips_trunk_sha256": _sha256(Path(lpips)) if lpips else None,
        "niqe_params_sha256": _sha256(Path(niqe)) if niqe else None,
        "wrongcap_seed": cfg.wrongcap_seed,
        "consistency": cfg.consistency,
    }


def _check_run_file(cfg: EvaluationConfig, path: Path) -> dict[str, Any]:
    from jpegtext._io import atomic_write_bytes

    fp = _fingerprint(cfg)
    entry = {"time": _now(), "command": cfg.command}
    if path.is_file():
        run = json.loads(path.read_text(encoding="utf-8"))
        # runs from before the consistency setting restored every model unbounded
        old = {"consistency": "off", **run.get("fingerprint", {})}
        diff = [
            f"{k}: {old.get(k)!r} -> {v!r}"
            for k, v in fp.items()
            if k in old and old[k] != v and not (k.endswith("sha256") and v is None)
        ]
        if diff:
            raise ConfigError(
                f"{cfg.out_dir} holds a run with other settings ({'; '.join(diff)}); "
                "use another --out folder"
            )
        run["fingerprint"] = {**old, **{k: v for k, v in fp.items() if v is not None}}
        run.setdefault("commands", []).append(entry)
    else:
        run = {"fingerprint": fp, "commands": [entry]}
    atomic_write_bytes(path, (json.dumps(run, indent=2) + "\n").encode("utf-8"), force=True)
    return run


def _read_stored_captions(path: Path) -> dict[str, dict[str, str]]:
    stored: dict[str, dict[str, str]] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash: its caption is computed again
                stored[row["image"]] = row
    return stored


def _resolve_captions(
    cfg: EvaluationConfig, images: Sequence[EvalImage], path: Path
) -> tuple[dict[str, str], list[str]]:
    """Caption of every image and the list of sources used; new captions appended to ``path``.

    Captions from a file, the manifest or a template are compared with the stored ones; a
    captioner's stored captions are reused (running it again could give other text).
    """
    stored = _read_stored_captions(path)
    given: dict[str, tuple[str, str]] = {}
    if cfg.captions_file is not None:
        src = f"file {cfg.captions_file.name}"
        for k, v in read_captions_file(cfg.captions_file, images).items():
            given[k] = (v, src)
    elif cfg.captioner is None:
        for im in images:
            if im.caption is not None:
                src = f"template {cfg.caption_template!r}" if cfg.caption_template else "manifest"
                if im.fields.get("caption") is not None or im.fields.get("captions"):
                    src = "manifest"  # the row's own caption wins over the template
                given[im.id] = (im.caption, src)
    captions: dict[str, str] = {}
    new_rows: list[dict[str, str]] = []
    todo: list[EvalImage] = []
    for im in images:
        old = stored.get(im.id)
        if im.id in given:
            text, src = given[im.id]
            if old is not None and old["caption"] != text:
                raise ConfigError(
                    f"{cfg.out_dir} was run with another caption for {im.id} "
                    f"({old['caption']!r}, {old['source']}; now {text!r}); use another --out"
                )
            captions[im.id] = text
            if old is None:
                new_rows.append({"image": im.id, "caption": text, "source": src})
        elif old is not None:
            if cfg.captioner is not None and old["source"] != f"captioner {cfg.captioner}":
                raise ConfigError(
                    f"{cfg.out_dir} holds captions from {old['source']}, not captioner "
                    f"{cfg.captioner}; use another --out"
                )
            captions[im.id] = old["caption"]
        else:
            todo.append(im)
    if todo:
        from jpegtext.captioner import default_captioner, get_captioner

        captioner = get_captioner(cfg.captioner) if cfg.captioner else default_captioner()
        logger.info("captioning %d clean image(s) with %s", len(todo), captioner.name)
        for start in range(0, len(todo), _CAPTION_BATCH):
            chunk = todo[start : start + _CAPTION_BATCH]
            texts = captioner([_load_clean(im) for im in chunk])
            for im, text in zip(chunk, texts, strict=True):
                captions[im.id] = text
                new_rows.append(
                    {"image": im.id, "caption": text, "source": f"captioner {captioner.name}"}
                )
    if new_rows:
        with open(path, "a", encoding="utf-8") as fh:
            for row in new_rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    final = _read_stored_captions(path)
    sources = sorted({final[im.id]["source"] for im in images if im.id in final})
    return captions, sources


def _read_ma_scores(path: Path) -> dict[tuple[str, int, str], float]:
    out: dict[tuple[str, int, str], float] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out[(str(row["image"]), int(row["quality"]), str(row["method"]))] = float(row["ma"])
            except (ValueError, KeyError, TypeError):
                raise ConfigError(
                    f"{path}:{lineno}: expected {{'image', 'quality', 'method', 'ma'}}"
                ) from None
    return out


# ---------------------------------------------------------------------------------------------
# Metrics


class _Metrics:
    """Per-image metrics with their models loaded once."""

    def __init__(self, cfg: EvaluationConfig) -> None:
        self.cfg = cfg
        self.keys = tuple(k for m in cfg.metrics for k in METRIC_CHOICES[m])
        self._lpips: Any = None
        self._niqe: Any = None
        if "niqe" in cfg.metrics:
            from jpegtext.metrics import load_niqe_params

            self._niqe = load_niqe_params(cfg.niqe_params)  # fail before any restoration
        if "lpips" in cfg.metrics:
            from jpegtext.metrics.perceptual import load_lpips

            self._lpips = load_lpips("alex", cfg.lpips_trunk, device=cfg.device)

    def _crop(self, a: np.ndarray) -> np.ndarray:
        c = self.cfg.crop_border
        return a[c:-c, c:-c] if c else a

    def __call__(self, clean: np.ndarray, out: np.ndarray) -> dict[str, float | str]:
        from jpegtext.metrics import niqe, psnr, psnr_b, ssim

        cb = self.cfg.crop_border
        res: dict[str, float] = {}
        if "psnr" in self.cfg.metrics:
            res["psnr_rgb"] = psnr(clean, out, crop_border=cb)
            res["psnr_y"] = psnr(clean, out, channel="y", crop_border=cb)
        if "ssim" in self.cfg.metrics:
            res["ssim_y"] = ssim(clean, out, channel="y", crop_border=cb)
        if "psnr-b" in self.cfg.metrics:
            res["psnrb_y"] = psnr_b(clean, out, channel="y", crop_border=cb)
        if self._lpips is not None:
            from jpegtext.metrics.perceptual import lpips_distance

            res["lpips"] = lpips_distance(
                np.ascontiguousarray(self._crop(clean)),
                np.ascontiguousarray(self._crop(out)),
                self._lpips,
            )
        if self._niqe is not None:
            res["niqe"] = niqe(out, params=self._niqe, crop_border=cb)
        return {k: json_number(float(v)) for k, v in res.items()}


def _load_inception(path: Path, device: str | None) -> Callable[[np.ndarray], np.ndarray]:
    """Feature extractor for FID: uint8 (H, W, 3) -> (2048,) features."""
    import torch

    from jpegtext.metrics.distribution import InceptionFeatures

    extractor = InceptionFeatures(path, device)

    def features(img: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0
        return extractor(t)[0]

    return features


# ---------------------------------------------------------------------------------------------
# Checks made before anything is written


def check_runtime(cfg: EvaluationConfig) -> None:
    """Refuse a device, tile or precision the methods could not run with (as ``decode`` does).

    Called by :func:`run_evaluation` before anything is written, whether or not any result is
    left to compute (a resumed run that is already complete is checked too).

    Raises:
        ConfigError: an unknown or unavailable device, a tile that is not 0 or a multiple of 8
            >= 32, an unknown precision, or fp16/bf16 on a device other than CUDA (the value
            quoted).
    """
    from jpegtext._device import resolve_device
    from jpegtext.restore.runtime.inference import check_precision, check_tiling

    check_tiling(cfg.tile, 0)  # the tile only: the restorers keep their default overlap
    check_precision(cfg.precision, resolve_device(cfg.device))


def _image_error(im: EvalImage, exc: Exception) -> InvalidImageError:
    """``exc`` about image ``im`` as one error that names it (its id: the path in the set)."""
    if isinstance(exc, OSError) and exc.strerror:
        return InvalidImageError(f"{im.id}: cannot read: {exc.strerror}")
    return InvalidImageError(f"{im.id}: {exc}")


def check_images(images: Sequence[EvalImage]) -> None:
    """Check that every clean image can be read, without decoding the pixels.

    An evaluation is a benchmark over a fixed set of images: one that cannot be read stops the
    run here, before anything is written, rather than being skipped (which would change the
    numbers) or failing after the images before it were restored.

    Raises:
        InvalidImageError: the first unreadable image, named by its id (its path relative to
            the dataset folder), with the reason.
    """
    from jpegtext.codec.image import probe_image

    for im in images:
        try:
            probe_image(im.path.read_bytes())
        except (InvalidImageError, OSError) as exc:
            raise _image_error(im, exc) from None


def _load_clean(im: EvalImage) -> Any:
    """The clean image as loaded by the product, an error naming it if it cannot be decoded."""
    from jpegtext.codec import load_image

    try:
        return load_image(im.path)
    except (InvalidImageError, OSError) as exc:
        raise _image_error(im, exc) from None


def _runtime_of(method: Any) -> dict[str, Any] | None:
    """What a text-guided method's numbers are made with: device, precision and tile."""
    restorer = getattr(method, "restorer", None)
    if restorer is None or not hasattr(restorer, "precision"):
        return None
    return {
        "device": str(restorer.device),
        "precision": restorer.precision,
        "tile": getattr(restorer, "tile", None),
    }


#: the value of a runtime setting in a record made before records carried it
NOT_RECORDED = "not recorded"


def _made_with(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Each runtime setting -> its distinct values over ``records`` (text-guided ones)."""
    out: dict[str, list[Any]] = {"device": [], "precision": [], "tile": []}
    for rec in records:
        runtime = rec.get("runtime")
        for key, values in out.items():
            value = runtime.get(key) if isinstance(runtime, Mapping) else NOT_RECORDED
            if value not in values:
                values.append(value)
    return out


def _one_or_all(values: Sequence[Any]) -> Any:
    """None for no value, the value when there is one, else the list of them."""
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


# ---------------------------------------------------------------------------------------------
# The run


def run_evaluation(
    cfg: EvaluationConfig, progress: ProgressCallback | None = None
) -> EvaluationOutput:
    """Run (or resume) an evaluation and write every output (see the module docstring).

    Args:
        cfg: the settings.
        progress: called as ``progress(done, total, label)`` after each restored image.

    Returns:
        The summary, the markdown and the files written.

    Raises:
        ConfigError: bad settings (device, tile and precision included, checked even when
            every result is done), or an output folder made with other settings.
        InvalidImageError: a clean image cannot be read (named by its id; found before
            anything is written).
        MissingWeightsError: weights of a method or metric not found.
    """
    from PIL import Image

    from jpegtext._io import atomic_write_bytes
    from jpegtext.codec import Payload, encode_jpeg, parse_file

    started = time.perf_counter()
    check_runtime(cfg)  # a bad device, tile or precision fails here, before any work
    images = list_images(
        cfg.dataset_dir,
        manifest=cfg.manifest,
        split=cfg.split,
        limit=cfg.limit,
        caption_template=cfg.caption_template,
    )
    check_images(images)  # an unreadable image stops the run, named, before anything is written
    specs = parse_method_specs(cfg.methods if cfg.methods is not None else default_method_names(),
                               consistency=cfg.consistency)
    shown = _figure_specs(cfg, specs)
    # metric weights, Inception and every model file are found (or refused) before anything
    # is written
    metrics = _Metrics(cfg)
    inception = _load_inception(cfg.fid_inception, cfg.device) if cfg.fid_inception else None
    loader = MethodLoader(cfg.device, cfg.arcnn_dir, cfg.dncnn3_path, cfg.tile, cfg.precision)
    for spec in specs:
        loader.get(spec)  # a damaged model file or absent baseline weights fail here
    weights = {s.name: loader.weights_sha256(s) for s in specs}
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    _check_run_file(cfg, out / "run.json")
    captions, caption_sources = _resolve_captions(cfg, images, out / "captions.jsonl")
    ids = [im.id for im in images]
    wrong_of: dict[str, str] = {}
    if any(s.caption_mode == "wrongcap" for s in specs):
        src = wrong_caption_sources([captions[i] for i in ids], cfg.wrongcap_seed)
        wrong_of = {ids[i]: ids[j] for i, j in enumerate(src)}

    results = _ResultsFile(out / "results.jsonl")
    figure_ids = set(ids[: cfg.figure_images])
    img_dir = out / "images"
    fid_dir = out / "fid_features"

    def override_for(spec: MethodSpec, image_id: str) -> str | None:
        """The caption a text-guided model is given instead of the file's, or None."""
        if spec.caption_mode == "nocap":
            return ""
        if spec.caption_mode == "wrongcap":
            return captions[wrong_of[image_id]]
        return None  # the file's own caption (none in a :capbytes file)

    def png_path(q: int, spec: MethodSpec, image_id: str) -> Path:
        return img_dir / f"q{q}" / _safe(spec.name) / f"{_safe(image_id)}.png"

    def fid_path(q: int, spec: MethodSpec, image_id: str) -> Path:
        return fid_dir / f"q{q}" / _safe(spec.name) / f"{_safe(image_id)}.npy"

    def needs(image_id: str, q: int, spec: MethodSpec) -> tuple[bool, bool]:
        """(score it, save its restored image)."""
        rec = results.records.get((image_id, q, spec.name))
        score = (
            rec is None
            or any(k not in rec for k in metrics.keys)
            # a model whose weights changed since the record was made is scored again
            or rec.get("weights_sha256") != weights[spec.name]
            or (
                spec.caption_mode == "wrongcap"
                and rec.get("wrong_caption_of") != wrong_of[image_id]
            )
            or (inception is not None and not fid_path(q, spec, image_id).is_file())
        )
        keep = cfg.save_images or image_id in figure_ids
        return score, keep and (score or not png_path(q, spec, image_id).is_file())

    plan = {
        (im.id, q, s.name): needs(im.id, q, s)
        for im in images
        for q in cfg.qualities
        for s in specs
    }
    total = sum(1 for score, save in plan.values() if score or save)
    skipped = sum(1 for score, _ in plan.values() if not score)
    done = 0
    computed = 0
    for im in images:
        work = [(q, s) for q in cfg.qualities for s in specs if any(plan[(im.id, q, s.name)])]
        if not work:
            continue
        clean = np.array(_load_clean(im))
        h, w = clean.shape[:2]
        if inception is not None:
            cpath = fid_dir / "clean" / f"{_safe(im.id)}.npy"
            if not cpath.is_file():
                atomic_write_bytes(cpath, _npy_bytes(inception(clean)), force=True)
        for q in cfg.qualities:
            todo = [s for qq, s in work if qq == q]
            if not todo:
                continue
            payload = Payload(captions[im.id], None, q)
            data = encode_jpeg(Image.fromarray(clean), q, subsampling=SUBSAMPLING, payload=payload)
            jfile = parse_file(data)  # one parse and one decode serve every method
            shared = jfile.pixels().view()
            shared.flags.writeable = False  # none may edit it (the receiver only reads it)
            if cfg.save_images or im.id in figure_ids:
                jpath = img_dir / f"q{q}" / "jpeg_files" / f"{_safe(im.id)}.jpg"
                if not jpath.is_file():
                    atomic_write_bytes(jpath, data, force=True)
            for spec in todo:
                score, save = plan[(im.id, q, spec.name)]
                method = loader.get(spec)
                caption = ""
                t0 = time.perf_counter()
                coded = _equal_bytes(spec, method, clean, data, q)
                if coded is None and spec.kind == "tgjar":
                    # the product's path: the receiver reads caption and QF from the file
                    received = method.receive(jfile, caption=override_for(spec, im.id))
                    restored, caption = received.image, received.caption
                    coded = {"bytes": len(data)}
                elif coded is None:
                    restored = method.restore(shared, caption, q)
                    coded = {"bytes": len(data)}
                else:
                    restored = coded.pop("decoded")
                elapsed = time.perf_counter() - t0
                if restored.shape != clean.shape or restored.dtype != np.uint8:
                    raise ConfigError(
                        f"method {spec.name} returned {restored.dtype} {restored.shape} for a "
                        f"{clean.shape} image"
                    )
                if save:
                    buf = _png_bytes(restored)
                    atomic_write_bytes(png_path(q, spec, im.id), buf, force=True)
                if score:
                    rec: dict[str, Any] = {
                        "image": im.id,
                        "quality": q,
                        "method": spec.name,
                        "caption_mode": spec.caption_mode,
                        "caption": caption,
                        "wrong_caption_of": wrong_of.get(im.id)
                        if spec.caption_mode == "wrongcap"
                        else None,
                        "width": w,
                        "height": h,
                        **coded,
                        "bpp": coded["bytes"] * 8.0 / (h * w),
                        **metrics(clean, restored),
                        "restore_s": elapsed,
                        "weights_sha256": weights[spec.name],
                    }
                    if spec.kind == "tgjar":
                        rec["runtime"] = _runtime_of(method)  # what its numbers were made with
                    if inception is not None:
                        feats = _npy_bytes(inception(restored))
                        atomic_write_bytes(fid_path(q, spec, im.id), feats, force=True)
                    results.append(rec)
                    computed += 1
                done += 1
                if progress is not None:
                    progress(done, total, f"{im.id} q{q} {spec.name}")

    # ----------------------------------------------------------------- summary and outputs
    method_names = [s.name for s in specs]
    requested = [
        results.records[(i, q, m)]
        for i in ids
        for q in cfg.qualities
        for m in method_names
        if (i, q, m) in results.records
    ]
    notes: list[str] = []
    na: dict[str, str] = {}
    ma = _read_ma_scores(cfg.ma_scores) if cfg.ma_scores else None
    for rec in requested:
        rec.pop("pi", None)
        if ma is not None:
            key = (rec["image"], rec["quality"], rec["method"])
            niqe_value = to_number(rec.get("niqe"))
            if key in ma and niqe_value is not None:
                from jpegtext.metrics.distribution import perceptual_index

                rec["pi"] = perceptual_index(niqe_value, ma[key])
    if ma is None:
        na["pi"] = NA_WEIGHTS
        notes.append(
            "PI: n/a (weights not given). PI = ((10 - Ma) + NIQE) / 2 needs the scores of Ma et "
            "al.'s model, which jpegtext does not port: compute them with the official code on "
            "the saved images (--save-images) and pass --ma-scores FILE.jsonl."
        )
    results_by_qm = aggregate(requested, cfg.qualities, method_names, na=na)
    fid_note = None
    for q in cfg.qualities:
        for m in method_names:
            cell = results_by_qm[str(q)][m]
            if inception is None:
                cell["fid"] = NA_WEIGHTS
                fid_note = (
                    "FID: n/a (weights not given): pass --fid-inception with a torchvision "
                    "Inception-v3 state dict to compute it (meaningful with hundreds of images)."
                )
                continue
            mine = [i for i in ids if (i, q, m) in results.records]
            if len(mine) < 2:
                cell["fid"] = "n/a (needs >= 2 images)"
                continue
            from jpegtext.metrics.distribution import fid_from_features

            a = np.stack([np.load(fid_dir / "clean" / f"{_safe(i)}.npy") for i in mine])
            b = np.stack([np.load(fid_dir / f"q{q}" / _safe(m) / f"{_safe(i)}.npy") for i in mine])
            cell["fid"] = json_number(fid_from_features(a, b))
    if fid_note:
        notes.append(fid_note)
    kinds = {s.kind for s in specs}
    if "codec" in kinds:
        over = sum(1 for r in requested if r.get("fits") is False)
        notes.append(
            "webp / avif: the clean image encoded by Pillow (WebP method 6, AVIF defaults) at the "
            "highest quality whose file is at most the jpegtext file's bytes; their bpp is their "
            "own file's"
            + (f"; {over} results over the budget even at quality 0 (kept at quality 0)."
               if over else ".")
        )
    if any(s.caption_mode == "capbytes" for s in specs):
        notes.append(
            ":capbytes: no caption, the image re-encoded at the highest QF (>= the row's) whose "
            "file fits the captioned file's bytes, restored with an empty caption."
        )
    if "peer" in kinds:
        notes.append(
            "waifu2x (upconv_7_photo; CUNet fails on the CPU) / realcugan (se): x2 with noise "
            "level 3 on the CPU (ncnn), then a 2x2 box average back to the input size."
        )
    if kinds & {"arcnn", "dncnn3"}:
        notes.append(
            "arcnn and dncnn3 (official weights) restore the BT.601 luma and keep the decoded "
            "chroma, as their papers did."
        )
    if "arcnn" in kinds and min(cfg.qualities) < 10:
        notes.append("AR-CNN has models for QF 10/20/30/40 only: below QF 10 its q10 model runs.")
    if "dncnn3" in kinds and min(cfg.qualities) < 5:
        notes.append("DnCNN-3 was trained for QF 5-99: QF below 5 is outside its training.")
    notes.append(
        f"JPEG: the product's encoder (Pillow, {SUBSAMPLING}) with the caption payload in a COM "
        "segment; bpp counts the whole file. Text-guided models restore the file through the "
        "same receiver as `jpegtext decode` (caption and QF read from the file). PSNR on RGB; PSNR-Y, SSIM-Y (Gaussian 11x11, no "
        "downsampling) and PSNR-B-Y on BT.601 luma (MATLAB rgb2ycbcr); LPIPS AlexNet v0.1; NIQE "
        f"as the MATLAB release; crop border {cfg.crop_border} px."
    )
    if wrong_of:
        notes.append(
            f"Wrong captions: each image gets another image's caption (seeded derangement, seed "
            f"{cfg.wrongcap_seed}; a different text where the dataset has one)."
        )
    missing = sum(1 for score, _ in plan.values() if score) - computed
    if missing:
        notes.append(f"{missing} (image, QF, method) results are missing.")

    # The device, tile and precision the text-guided numbers were made with, from their records
    # (a resumed run's records may predate this call's options, which then made no number).
    tgjar_names = {s.name for s in specs if s.kind == "tgjar"}
    made_with = _made_with([r for r in requested if r["method"] in tgjar_names])
    mixed = [f"{k} {', '.join(map(str, v))}" for k, v in made_with.items() if len(v) > 1]
    if mixed:
        notes.append(
            "Text-guided results made with different settings (a resumed run): "
            + "; ".join(mixed) + " (each method's `runtime` in summary.json lists its own)."
        )
    method_info = []
    for s in specs:
        d = s.to_dict()
        if s.kind == "tgjar":
            d["sha256"] = loader.weights_sha256(s)
            mine = [r for r in requested if r["method"] == s.name]
            d["runtime"] = {k: _one_or_all(v) for k, v in _made_with(mine).items()}
            built = loader.loaded(s)
            if built is not None and hasattr(getattr(built, "restorer", None), "describe"):
                d["restorer"] = built.restorer.describe()  # device, precision, parameters
        method_info.append(d)
    summary: dict[str, Any] = {
        "dataset": {
            "name": cfg.name or cfg.dataset_dir.resolve().name,
            "dir": str(cfg.dataset_dir),
            "manifest": None if cfg.manifest is None else str(cfg.manifest),
            "split": cfg.split,
            "images": len(images),
            "limit": cfg.limit,
        },
        "command": cfg.command or "(library call)",
        "config": {
            **{f.name: _jsonable(getattr(cfg, f.name)) for f in fields(cfg)},
            # the text-guided options as the numbers were made with them (None: no such number)
            "tile": _one_or_all(made_with["tile"]),
            "precision": _one_or_all(made_with["precision"]),
        },
        "versions": _versions(),
        "device": _device_name(cfg.device),
        "qualities": list(cfg.qualities),
        "methods": method_info,
        "method_names": method_names,
        "captions": {"source": ", ".join(caption_sources) or "none", "file": "captions.jsonl"},
        "metrics": {
            "computed": list(metrics.keys),
            "fid": "computed" if inception is not None else NA_WEIGHTS,
            "pi": "computed" if ma is not None else NA_WEIGHTS,
            "lpips_trunk": str(cfg.lpips_trunk or os.environ.get("JPEGTEXT_LPIPS_TRUNK") or ""),
            "niqe_params": str(cfg.niqe_params or os.environ.get("JPEGTEXT_NIQE_PARAMS") or ""),
        },
        "results": results_by_qm,
        "notes": notes,
        "finished": _now(),
        "elapsed_s": round(time.perf_counter() - started, 2),
        "computed": computed,
        "skipped": skipped,
    }
    markdown = render_markdown([summary])
    files = {
        "summary": out / "summary.json",
        "table": out / "table.md",
        "csv": out / "results.csv",
        "results": results.path,
        "captions": out / "captions.jsonl",
    }
    atomic_write_bytes(
        files["summary"],
        (json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode(),
        force=True,
    )
    atomic_write_bytes(files["table"], markdown.encode("utf-8"), force=True)
    write_csv(files["csv"], requested)
    for q in cfg.qualities if figure_ids else ():
        path = out / f"figure_q{q}.png"
        fig = _figure(cfg, images, shown, captions, q, png_path, img_dir)
        if fig is not None:
            buf = _png_bytes(np.asarray(fig))
            atomic_write_bytes(path, buf, force=True)
            files[f"figure_q{q}"] = path
    return EvaluationOutput(summary, markdown, files, computed, skipped)


def _equal_bytes(
    spec: MethodSpec, method: Any, clean: np.ndarray, data: bytes, q: int
) -> dict[str, Any] | None:
    """The equal-bytes methods: another codec, or the caption's bytes given to the image.

    Returns None for a method that restores the evaluated JPEG; else the decoded (and, for
    ``:capbytes``, restored) image under ``"decoded"`` with ``bytes``, ``coded_quality`` (the
    quality the budget bought) and ``fits`` (False when even the lowest quality is over).
    """
    from PIL import Image

    from jpegtext.codec.image import encode_jpeg_within

    if spec.kind == "codec":
        decoded, nbytes, quality, fits = method.compress(clean, len(data))
        return {"decoded": decoded, "bytes": nbytes, "coded_quality": quality, "fits": fits}
    if spec.kind == "tgjar" and spec.caption_mode == "capbytes":
        # No caption: the same bytes buy at least QF q, often more.
        alt, quality = encode_jpeg_within(
            Image.fromarray(clean), len(data), qualities=(q, 100), subsampling=SUBSAMPLING
        )
        # no caption in the file: the receiver restores it with none, at its tables' QF
        restored = method.receive(alt).image
        return {"decoded": restored, "bytes": len(alt), "coded_quality": quality, "fits": True}
    return None


def _device_name(device: str | None) -> str:
    import torch

    from jpegtext._device import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"{dev} ({torch.cuda.get_device_name(dev)})"
    return f"{dev} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(arr))
    return buf.getvalue()


def _png_bytes(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


def _figure_specs(cfg: EvaluationConfig, specs: Sequence[MethodSpec]) -> list[MethodSpec]:
    """The restored columns of the figures: ``cfg.figure_methods`` (checked) or every method."""
    restored = [s for s in specs if s.kind != "jpeg"]
    if cfg.figure_methods is None:
        return restored
    by_name = {s.name: s for s in restored}
    shown: list[MethodSpec] = []
    for token in cfg.figure_methods:
        # A column's name in the tables, or a method as given to --methods (a file, "zoo").
        if token in by_name:
            shown.append(by_name[token])
            continue
        try:
            named = [s for s in parse_method_specs([token], quiet=True,
                                                   consistency=cfg.consistency)
                     if s.kind != "jpeg"]
        except ConfigError:
            named = None
        if named is None or any(s.name not in by_name for s in named):
            raise ConfigError(
                f'figure method "{token}" is not among the evaluated methods '
                f"({', '.join(by_name) or 'none besides jpeg'})"
            )
        shown += [by_name[s.name] for s in named]  # jpeg: always shown
    return list(dict.fromkeys(shown))


def _figure(
    cfg: EvaluationConfig,
    images: Sequence[EvalImage],
    shown: Sequence[MethodSpec],
    captions: Mapping[str, str],
    q: int,
    png_path: Callable[[int, MethodSpec, str], Path],
    img_dir: Path,
) -> Any:
    """The comparison figure of QF ``q`` (clean, JPEG, ``shown``) from the saved images.

    None when some images are missing."""
    from PIL import Image

    from jpegtext.codec import decode_jpeg, load_image
    from jpegtext.evaluation.figure import FigureRow, comparison_figure

    rows = []
    for im in images[: cfg.figure_images]:
        jpath = img_dir / f"q{q}" / "jpeg_files" / f"{_safe(im.id)}.jpg"
        paths = [png_path(q, s, im.id) for s in shown]
        if not jpath.is_file() or not all(p.is_file() for p in paths):
            logger.warning("figure q%d: images of %s are missing; figure skipped", q, im.id)
            return None
        pics = [np.array(load_image(im.path)), np.array(decode_jpeg(jpath.read_bytes()))]
        for p in paths:
            with Image.open(p) as f:
                pics.append(np.array(f.convert("RGB")))
        rows.append(FigureRow(f"{im.id}: {captions[im.id]}", pics))
    titles = ["clean", f"JPEG q{q}", *[s.name for s in shown]]
    name = cfg.name or cfg.dataset_dir.resolve().name
    return comparison_figure(rows, titles, title=f"{name}, QF {q}")
