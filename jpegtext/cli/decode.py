"""``jpegtext decode``: restore JPEG files with the text-guided generator, write PNGs.

Under ``torchrun --nproc_per_node N -m jpegtext decode ... --out-dir DIR`` every process takes
its share of the inputs (input k goes to rank k mod N), so each file is restored exactly once,
each process on its own GPU (``cuda:LOCAL_RANK``) or on the CPU. A process whose share fails
waits for the others before it exits, so their inputs are still restored.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from jpegtext.cli._files import JPEG_SUFFIXES, check_output_path, expand_inputs, plan_outputs
from jpegtext.cli._limits import FiniteFloatRange, max_pixels_option
from jpegtext.cli._text import printable

__all__ = ["decode"]

def _shard() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


@contextlib.contextmanager
def _ranks_finish_together(world: int) -> Iterator[None]:
    """Under torchrun, a process that stops (done, or failed on its share) waits for the others
    before it exits: torchrun ends every process as soon as one exits with an error, which would
    leave the others' good inputs unrestored. One process: nothing to wait for."""
    if world == 1:
        yield
        return
    import torch.distributed as dist

    # gloo over torchrun's rendezvous (CPU or GPU alike); torchrun itself ends the group if a
    # process dies, so the long timeout only bounds the slowest share of the inputs
    from jpegtext.cli import Terminated

    dist.init_process_group("gloo", timeout=datetime.timedelta(days=7))
    try:
        yield
    except Terminated:
        raise  # ended from outside (torchrun ending the group): nobody to wait for
    except BaseException:
        dist.barrier()
        raise
    else:
        dist.barrier()
    finally:
        dist.destroy_process_group()


@click.command("decode")
@click.argument("inputs", nargs=-1, required=True, metavar="IN...")
@click.option("-o", "--output", help="Output PNG ('-' for standard output); one input only.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the outputs (<name>.png).")
@click.option("--caption", help="Text that replaces the stored caption (text control); also "
                                "restores a file whose payload is damaged (with a warning).")
@click.option("--ignore-payload", is_flag=True,
              help="Restore without the stored caption, reading past a damaged payload.")
@click.option("--gray/--no-gray", "gray", default=None,
              help="Write a gray image [default: when the JPEG is grayscale].")
@click.option("--model", default=None,
              help="Zoo name (see `jpegtext models`) or a .safetensors file; default: the "
                   "best shipped model.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available).")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default=None,
              help="Default fp16 on CUDA, fp32 on CPU (half precision needs CUDA).")
@click.option("--tile", type=click.IntRange(min=0), default=None,
              help="Tile side in pixels, multiple of 8 (default: from free memory; 0 = off).")
@click.option("--tile-overlap", type=click.IntRange(min=0), default=32, show_default=True,
              help="Halo: real context added on each side of a tile and cropped away, multiple of 8.")
@click.option("--ensemble", type=click.Choice(["1", "2", "8"]), default="1", show_default=True,
              help="Geometric self-ensemble: average the restorations of 2 (mirror) or 8 (all "
                   "flips and transpositions) copies; that many times slower, higher PSNR.")
@click.option("--consistency", type=click.Choice(["auto", "full", "luma", "off"]),
              default="auto", show_default=True,
              help="Keep the result's DCT coefficients within the file's quantisation intervals: "
                   "full = every one (a misleading caption cannot repaint past what the JPEG "
                   "allows, but deliberate colour steering is undone); luma = brightness and "
                   "detail only, colour left to the caption; auto = full for the file's own "
                   "caption, luma with --caption; off = the model's output.")
@click.option("--consistent", is_flag=True, help="Same as --consistency full.")
@click.option("--guidance", type=FiniteFloatRange(0, 10), default=1.0, show_default=True,
              help="Caption strength: S scales what the caption changes (the restoration with "
                   "an empty caption plus S times the difference; two passes). 1 = the model's "
                   "own; 1.5-2 steer colour further with --caption.")
@click.option("-r", "--recursive", is_flag=True, help="Search folders (and ** globs) recursively.")
@click.option("--resume", is_flag=True, help="Skip inputs whose output already exists.")
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
@max_pixels_option()
@click.pass_context
def decode(ctx: click.Context, inputs: tuple[str, ...], output: str | None,
           out_dir: Path | None, caption: str | None, ignore_payload: bool, gray: bool | None,
           model: str | None, device: str | None,
           precision: str | None, tile: int | None, tile_overlap: int, ensemble: str,
           consistency: str, consistent: bool, guidance: float, recursive: bool, resume: bool, force: bool, max_pixels: int | None) -> None:
    """Restore JPEG files IN... with the caption stored in each (or --caption) and write PNGs.

    IN may be files, folders (their .jpg/.jpeg files), globs or '-' (standard input). The
    output PNG keeps the caption (iTXt "Description") and the ICC profile. Existing outputs are
    kept unless --force (or skipped with --resume); files are written atomically. When one
    input of a batch fails, the error is reported, the rest are restored, and the command exits
    with status 1 at the end. Every input is read and checked (stream, size, payload) before
    the model is loaded.
    """
    if resume and force:
        raise click.UsageError("--resume and --force exclude each other")
    if consistent:
        source = ctx.get_parameter_source("consistency")
        if consistency != "full" and source is not click.core.ParameterSource.DEFAULT:
            raise click.UsageError(f"--consistent means --consistency full, not {consistency}")
        consistency = "full"
    items = expand_inputs(inputs, recursive=recursive, suffixes=JPEG_SUFFIXES)
    if output is not None:
        check_output_path(output, out_dir_hint=True)  # `new.png/` is a folder, not a PNG
    if output not in (None, "-") and Path(output).suffix.lower() != ".png":
        raise click.BadParameter("the restored image is written as PNG: name it *.png "
                                 "(a JPEG would bring the artifacts back)",
                                 param_hint="-o/--output")
    outputs = plan_outputs(items, output, out_dir, suffix=".png")
    rank, world, local = _shard()
    with _ranks_finish_together(world):
        if world > 1:
            if output is not None:
                raise click.UsageError("under torchrun use --out-dir (inputs are shared out)")
            items, outputs = items[rank::world], outputs[rank::world]
            if device is None:
                import torch

                device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
        jobs = []
        for item, out in zip(items, outputs, strict=True):
            if out != "-" and Path(out).exists():
                if resume:
                    continue
                if not force:
                    raise click.ClickException(f"{printable(out)} exists (use --force to "
                                               "overwrite, or --resume to skip it)")
            jobs.append((item, out))

        from jpegtext.cli import _one_line
        from jpegtext.errors import ConfigError, JpegTextError, PayloadError
        from jpegtext.receiver import check_caption, check_input, get_restorer

        debug = bool((ctx.find_root().obj or {}).get("debug"))
        if caption is not None:
            # once, before any input is read or the model loads: the PNG stores the caption
            try:
                check_caption(caption)
            except PayloadError as exc:
                if debug:
                    raise
                raise click.ClickException(f"--caption: {_one_line(exc)}") from None
        options = {"caption": caption, "ignore_payload": ignore_payload, "max_pixels": max_pixels,
                   "gray": gray, "ensemble": int(ensemble), "consistency": consistency, "guidance": guidance,
                   "force": force}
        # Fail fast: check every input before the model loads (seconds), keeping stdin's bytes.
        early: list[str] = []
        checked = []
        for item, out in jobs:
            try:
                file, _ = check_input(_read(item), caption=caption, ignore_payload=ignore_payload,
                                      max_pixels=max_pixels, log_warnings=False)
            except (JpegTextError, OSError, MemoryError) as exc:
                if debug:
                    raise
                if len(jobs) == 1 and world == 1:
                    raise click.ClickException(f"{item.label}: {_one_line(exc)}") from None
                early.append(f"Error: {item.label}: {_one_line(exc)}")
                continue
            # one input, or stdin: keep the parsed file (restored without a second parse); a
            # folder's files are read again when their turn comes (not all held in memory)
            keep = item.path is None or len(jobs) == 1
            checked.append((item, out, file if keep else None))
        if early and not checked:
            for line in early:
                click.echo(line, err=True)
            raise click.ClickException(f"{len(early)} of {len(jobs)} inputs failed (see above)")

        try:
            restorer = get_restorer(model, device=device, precision=precision, tile=tile,
                                    tile_overlap=tile_overlap)
        except ConfigError as exc:
            raise click.BadParameter(str(exc)) from None
        tag = f"[rank {rank}/{world}] " if world > 1 else ""
        if len(jobs) == 1 and world == 1:
            item, out, file = checked[0]
            try:
                click.echo(_restore_one(restorer, item, out, file, **options), err=True)
            except (JpegTextError, OSError, MemoryError) as exc:
                if debug:
                    raise
                raise click.ClickException(f"{item.label}: {_one_line(exc)}") from None
            return
        failures = early
        with click.progressbar(checked, label=f"{tag}Restoring", file=sys.stderr) as bar:
            for item, out, file in bar:
                try:
                    line = _restore_one(restorer, item, out, file, **options)
                    if world > 1:
                        click.echo(f"\n{tag}{line}", err=True)
                except (JpegTextError, OSError, MemoryError) as exc:
                    if debug:
                        raise
                    failures.append(f"Error: {item.label}: {_one_line(exc)}")
        for line in failures:
            click.echo(line, err=True)
        skipped = len(items) - len(jobs)
        click.echo(f"{tag}Restored {len(jobs) - len(failures)} of {len(items)} inputs"
                   + (f" ({skipped} skipped: output exists)" if skipped else "") + ".", err=True)
        if failures:
            raise click.ClickException(f"{len(failures)} of {len(jobs)} inputs failed (see above)")


def _read(item: object) -> bytes:
    from jpegtext._io import read_bytes

    return read_bytes("-" if item.path is None else item.path)  # type: ignore[attr-defined]


def _restore_one(restorer: object, item: object, out: str, file: object | None, *,
                 caption: str | None, ignore_payload: bool, max_pixels: int | None,
                 gray: bool | None, ensemble: int, consistency: str, guidance: float,
                 force: bool) -> str:
    from jpegtext._io import write_output
    from jpegtext.receiver import decode_detailed, encode_png

    data = file if file is not None else _read(item)
    result = decode_detailed(data, model=restorer, caption=caption, ensemble=ensemble,
                             ignore_payload=ignore_payload, grayscale=gray,
                             max_pixels=max_pixels, consistent=consistency, guidance=guidance)
    write_output(out, encode_png(result), force=force)
    shown = result.caption if len(result.caption) <= 60 else result.caption[:57] + "..."
    qf = "QF unknown" if result.quality is None else (
        f"QF {result.quality}" + (" (estimated)" if result.quality_kind == "estimated" else ""))
    bound = f", bound {result.consistency}" + (f", strength {guidance:g}" if guidance != 1 else "")
    shown_out = printable(out)
    return (f"{item.label} -> {shown_out}: {qf}, model {result.model}, "  # type: ignore[attr-defined]
            f"caption ({result.caption_source}): {shown!r}{bound}")
