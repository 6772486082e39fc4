"""``jpegtext export``: the generator (and bi-LSTM text encoder) as ONNX or ``.pt2`` graphs.

Only click and the standard library are imported at module level; torch and the exporters are
imported inside the command.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["export"]

_SUFFIX_FORMAT = {".onnx": "onnx", ".pt2": "torch-export"}


def _size(path: Path) -> str:
    n = path.stat().st_size
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


@click.command("export")
@click.argument("model", metavar="MODEL")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The generator graph: *.onnx or *.pt2 (the text graph and the JSON "
    "sidecar are written beside it).",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["onnx", "torch-export"]),
    default=None,
    help="Default: from the suffix of OUT (.onnx or .pt2).",
)
@click.option(
    "--opset", type=click.IntRange(min=18), default=18, show_default=True, help="ONNX opset."
)
@click.option(
    "--height",
    type=click.IntRange(9, 4096),
    default=64,
    show_default=True,
    help="Height of the example image (the graph takes any size >= 9).",
)
@click.option(
    "--width",
    type=click.IntRange(9, 4096),
    default=64,
    show_default=True,
    help="Width of the example image.",
)
@click.option(
    "--text-graph/--no-text-graph",
    default=True,
    show_default=True,
    help="Also export the bi-LSTM text encoder (ids, lengths -> features).",
)
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Run the exported graphs at two sizes and two caption lengths and compare "
    "them with PyTorch (max abs diff <= 1e-3) before writing.",
)
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
def export(
    model: str,
    output: Path,
    fmt: str | None,
    opset: int,
    height: int,
    width: int,
    text_graph: bool,
    verify: bool,
    force: bool,
) -> None:
    """Export MODEL (a zoo name or a .safetensors file) for ONNX Runtime or torch.export.

    The generator graph takes the decoded JPEG and the caption's text features: inputs
    image (B,3,H,W) float in [0,1], words (B,D,T), mask (B,T) bool (True = padding),
    sentence (B,D) and, for models that read it, quality (B,) (the JPEG QF); output restored
    (B,3,H,W) in [0,1]. Batch, H, W and T are dynamic. The sidecar OUT.json (e.g.
    model.onnx.json) holds the vocabulary and how to tokenise a caption.

    \b
    Examples:
      jpegtext export tgjar-small-v4 -o tgjar-small-v4.onnx
      jpegtext export my.safetensors --format torch-export -o my.pt2
    """
    if fmt is None:
        fmt = _SUFFIX_FORMAT.get(output.suffix.lower())
        if fmt is None:
            raise click.BadParameter(
                "name the output *.onnx or *.pt2, or give --format", param_hint="'-o' / '--output'"
            )

    from jpegtext.errors import ConfigError
    from jpegtext.restore.runtime.export import (
        artifact_paths,
        check_outputs,
        export_model,
        resolve_model_source,
    )

    try:
        targets = artifact_paths(output, fmt)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="'-o' / '--output'") from None
    # before the model is loaded: fail fast (an existing file without --force, a sidecar path
    # that is a folder ...); the text graph's path too: it is written, or an earlier one removed
    check_outputs(targets, force=force)
    try:
        path, name = resolve_model_source(model)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="'MODEL'") from None
    try:
        result = export_model(
            path,
            output,
            format=fmt,
            opset=opset,
            height=height,
            width=width,
            text_graph=text_graph,
            verify=verify,
            force=force,
            name=name,
        )
    except ConfigError as exc:  # e.g. an opset newer than the installed onnx knows
        raise click.BadParameter(str(exc)) from None

    what = f"ONNX opset {result.opset}" if result.opset is not None else "torch.export"
    click.echo(f"Exported {name} ({what}):")
    rows = [(result.graph, "generator graph")]
    if result.text_graph is not None:
        rows.append((result.text_graph, "text encoder graph"))
    rows.append((result.sidecar, "sidecar: vocabulary, tokenisation, inputs"))
    width_col = max(len(str(p)) for p, _ in rows)
    for p, role in rows:
        click.echo(f"  {str(p):<{width_col}}  {_size(p):>9}  {role}")
    if result.max_abs_diff is not None:
        click.echo(f"Matches PyTorch (max abs diff {result.max_abs_diff:.1e}):")
        for line in result.checks:
            click.echo(f"  {line}")
    else:
        click.echo("Not checked against PyTorch (--no-verify).")
    for note in result.notes:
        click.echo(f"Note: {note}")
