"""``jpegtext evaluate``: score methods on a dataset at several JPEG qualities (paper's tables).

Only click and the standard library are imported at module level; the harness (numpy, torch,
the metrics) is imported inside the command.

``--qualities``, ``--methods``, ``--metrics`` and ``--figure-methods`` take several values after
one flag (``--qualities 1 5 10``), comma-separated values (``--qualities 1,5,10``) or repeated
flags.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["evaluate"]

#: kept equal to ``jpegtext.evaluation.harness.METRIC_CHOICES`` (a test checks it)
METRIC_NAMES = ("psnr", "ssim", "psnr-b", "lpips", "niqe")

# Options that take a list of values after one flag, and when a token no longer belongs to it.
_GREEDY: dict[str, str] = {
    "-q": "--qualities",
    "--qualities": "--qualities",
    "-m": "--methods",
    "--methods": "--methods",
    "--metrics": "--metrics",
    "--figure-methods": "--figure-methods",
}

# Standard layout of a weights folder (the project's ../shared/weights).
_WEIGHTS_LAYOUT = {
    "arcnn_dir": "arcnn",
    "dncnn3": "dncnn/DnCNN3.mat",
    "lpips_trunk": "lpips/alexnet_features_imagenet_tv.pth",
    "niqe_params": "niqe/niqe_pris_params.npz",
}


def _belongs(option: str, token: str) -> bool:
    if token.startswith("-") and len(token) > 1:
        return False
    if option == "--qualities":
        return all(p.strip().isdigit() for p in token.split(",") if p.strip())
    if option == "--metrics":
        return all(p.strip() in METRIC_NAMES for p in token.split(",") if p.strip())
    # A method is never a folder: this lets DATASET_DIR follow the method list.
    return not Path(token).is_dir()


class _ListOptionsCommand(click.Command):
    """Expands ``--opt a b c`` / ``--opt a,b,c`` into repeated ``--opt`` before parsing."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["jpegtext.evaluate.argv"] = list(args)
        out: list[str] = []
        i = 0
        while i < len(args):
            token = args[i]
            if token == "--":
                out += args[i:]
                break
            flag, eq, inline = token.partition("=")
            option = _GREEDY.get(flag)
            if option is None or (eq and not flag.startswith("--")):
                out.append(token)
                i += 1
                continue
            values = [inline] if eq else []
            i += 1
            if not eq:
                while i < len(args) and _belongs(option, args[i]):
                    values.append(args[i])
                    i += 1
            parts = [p.strip() for v in values for p in v.split(",") if p.strip()]
            if not parts:
                out.append(option)  # click reports the missing value
            for p in parts:
                out += [option, p]
        return super().parse_args(ctx, out)


@click.command("evaluate", cls=_ListOptionsCommand)
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (a rerun with the same folder resumes).",
)
@click.option(
    "-q",
    "--qualities",
    type=click.IntRange(1, 100),
    multiple=True,
    help="JPEG quality factors.  [default: 1 5 10]",
)
@click.option(
    "-m",
    "--methods",
    multiple=True,
    help="jpeg, arcnn, dncnn3, a zoo model or .safetensors file (append +x2 or +x8 for "
    "geometric self-ensemble, then +c / +raw to bound its colour by the file too / to bound "
    "nothing (see --consistency), then :nocap for an empty caption, :wrongcap for another "
    "image's caption or :capbytes for no caption with its bytes given to the image), "
    "zoo[+x8][:nocap|:wrongcap] for every zoo model; webp, avif (other codecs within the "
    "jpegtext file's bytes); waifu2x, realcugan (jpegtext[peers]).  [default: jpeg arcnn "
    "dncnn3 and every zoo model with and without caption]",
)
@click.option(
    "--captions",
    "captions_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Captions file: JSONL {image|file, caption} or `jpegtext caption --json` output.",
)
@click.option(
    "--captioner",
    metavar="NAME",
    help="Caption the clean images with this captioner (builtin, blip-base, hf:<id>, folder). "
    "[default: manifest captions, else the default captioner]",
)
@click.option(
    "--caption-template",
    metavar="TEXT",
    help="Caption from manifest fields, e.g. 'a photo of a {class_name}'.",
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL manifest with 'file' (relative to DATASET_DIR), 'split', 'caption(s)'; a "
    "relative path is also looked for inside DATASET_DIR.",
)
@click.option("--split", help="Keep only this split of the manifest (test, val ...).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="Evaluate N images (a fixed seeded draw: a smaller N gives a subset).",
)
@click.option("--name", help="Dataset name in the tables (default: the folder's name).")
@click.option("--device", help="cpu, cuda, cuda:N (default: cuda if available).")
@click.option("--tile", type=click.IntRange(min=0), help="Tile side for TGJAR models (0 = off).")
@click.option(
    "--precision",
    type=click.Choice(["fp32", "fp16", "bf16"]),
    help="TGJAR precision (default: fp16 on CUDA, fp32 on CPU, as decode).",
)
@click.option(
    "--crop-border",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Pixels removed from each side before every metric.",
)
@click.option(
    "--metrics",
    type=click.Choice(METRIC_NAMES),
    multiple=True,
    help="Per-image metrics to compute.  [default: all]",
)
@click.option(
    "--weights-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder laid out as arcnn/q*.mat, dncnn/DnCNN3.mat, lpips/alexnet_features_"
    "imagenet_tv.pth, niqe/niqe_pris_params.npz (each overridable below).",
)
@click.option(
    "--arcnn-dir",
    type=click.Path(exists=True, path_type=Path),
    help="Official AR-CNN weights (q10/q20/q30/q40.mat) [env JPEGTEXT_ARCNN_DIR].",
)
@click.option(
    "--dncnn3",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Official DnCNN3.mat [env JPEGTEXT_DNCNN3].",
)
@click.option(
    "--lpips-trunk",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ImageNet AlexNet state dict for LPIPS [env JPEGTEXT_LPIPS_TRUNK].",
)
@click.option(
    "--niqe-params",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="NIQE pristine model (.npz/.mat) [env JPEGTEXT_NIQE_PARAMS].",
)
@click.option(
    "--fid-inception",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="torchvision Inception-v3 state dict; without it FID is 'n/a (weights not given)'.",
)
@click.option(
    "--ma-scores",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSONL {image, quality, method, ma} of Ma et al.'s scores (official code); without "
    "it PI is 'n/a (weights not given)'.",
)
@click.option(
    "--figure-images",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Images in each comparison figure (0 = no figure).",
)
@click.option(
    "--figure-methods",
    multiple=True,
    help="Methods shown in the figures, in this order (of those evaluated; clean and JPEG are "
    "always shown).  [default: every evaluated method]",
)
@click.option("--save-images", is_flag=True, help="Keep every restored PNG and JPEG.")
@click.option(
    "--wrongcap-seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the wrong-caption derangement.",
)
@click.option(
    "--consistency",
    type=click.Choice(["auto", "full", "luma", "off"]),
    default="auto",
    show_default=True,
    help="How models named without +c (full) or +raw (off) are bounded by their file, as "
    "`jpegtext decode --consistency` restores a file holding the column's caption (auto = full "
    "there; off: the model's output, as every run before 2026-12-05).",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.pass_context
def evaluate(ctx: click.Context, dataset_dir: Path, out_dir: Path, **opts: Any) -> None:
    """Score methods on the images of DATASET_DIR at each JPEG quality; write tables.

    Each clean image is captioned, compressed with the product's encoder, decoded once and
    restored by every method; PSNR (RGB, Y), SSIM-Y, PSNR-B-Y, LPIPS and NIQE are measured per
    image. OUT gets results.jsonl/.csv (per image), summary.json (means, command, versions),
    table.md (the paper's table layouts), figure_q*.png and captions.jsonl. A rerun with the
    same OUT skips finished (image, QF, method) results.

    \b
    Examples:
      jpegtext evaluate ../shared/data/kodak -q 1 -m jpeg arcnn tgjar-small-v4 \\
          --weights-dir ../shared/weights --captioner builtin --out runs/kodak
      jpegtext evaluate ../shared/data/coco_mini --manifest captions.jsonl --split val \\
          -q 1 -m jpeg zoo zoo:nocap zoo:wrongcap --weights-dir ../shared/weights --out runs/coco
    """
    from jpegtext.errors import ConfigError
    from jpegtext.evaluation import (
        EvaluationConfig,
        check_runtime,
        parse_method_specs,
        run_evaluation,
    )

    methods = opts["methods"] or None
    if methods is not None:
        try:
            parse_method_specs(methods, quiet=True)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="'--methods'") from None
    wd: Path | None = opts["weights_dir"]
    found: dict[str, Path | None] = {}
    for key, rel in _WEIGHTS_LAYOUT.items():
        value = opts[key]
        if value is None and wd is not None and (wd / rel).exists():
            value = wd / rel
        found[key] = value
    argv = ctx.meta.get("jpegtext.evaluate.argv", [])
    command = "jpegtext evaluate " + shlex.join(argv)
    try:
        cfg = EvaluationConfig(
            dataset_dir=dataset_dir,
            out_dir=out_dir,
            qualities=tuple(dict.fromkeys(opts["qualities"])) or (1, 5, 10),
            methods=methods,
            manifest=opts["manifest"],
            split=opts["split"],
            limit=opts["limit"],
            name=opts["name"],
            captions_file=opts["captions_file"],
            captioner=opts["captioner"],
            caption_template=opts["caption_template"],
            device=opts["device"],
            tile=opts["tile"],
            precision=opts["precision"],
            crop_border=opts["crop_border"],
            metrics=tuple(opts["metrics"]) or tuple(METRIC_NAMES),
            lpips_trunk=found["lpips_trunk"],
            niqe_params=found["niqe_params"],
            arcnn_dir=found["arcnn_dir"],
            dncnn3_path=found["dncnn3"],
            fid_inception=opts["fid_inception"],
            ma_scores=opts["ma_scores"],
            figure_images=opts["figure_images"],
            figure_methods=tuple(opts["figure_methods"]) or None,
            save_images=opts["save_images"],
            wrongcap_seed=opts["wrongcap_seed"],
            consistency=opts["consistency"],
            command=command,
        )
        # --device, --tile, --precision: usage errors before anything is written, even when
        # every result is already done (the summary would otherwise record them)
        check_runtime(cfg)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None

    bar: Any = None

    def progress(done: int, total: int, label: str) -> None:
        nonlocal bar
        if opts["no_progress"]:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="Evaluating", unit="img", file=sys.stderr, mininterval=1)
        bar.set_postfix_str(label, refresh=False)
        bar.update(done - bar.n)

    try:
        result = run_evaluation(cfg, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    click.echo(result.markdown)
    click.echo(
        f"{result.computed} result(s) computed, {result.skipped} already done; wrote "
        + ", ".join(str(p) for p in result.files.values()),
        err=True,
    )
