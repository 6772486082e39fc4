"""``jpegtext train damsm|tgjar CONFIG.yaml``: the two training stages (also under torchrun)."""

from __future__ import annotations

from pathlib import Path

import click

from jpegtext.cli._limits import FiniteFloatRange

__all__ = ["train"]


@click.command()
@click.argument("stage", type=click.Choice(["damsm", "tgjar"]))
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder: config copy, log.jsonl, checkpoints, validation images, export.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Stop after this many steps in all (>= 1; overrides the config's max_steps).")
@click.option("--max-minutes", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="Stop after this much wall time in this process (> 0), with a checkpoint "
                   "(resume later; overrides the config's max_minutes).")
@click.option("--threads", type=click.IntRange(min=0), default=None,
              help="torch CPU threads (overrides the config; 0 = torch's default).")
@click.option("--no-resume", is_flag=True,
              help="Start over even if the run folder has a checkpoint; the previous run's "
                   "log.jsonl, config.yaml and checkpoints/last.pt are kept as log.N.jsonl, "
                   "config.N.yaml and checkpoints/last.N.pt.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(stage: str, config: Path, run_dir: Path, device: str | None, max_steps: int | None,
          max_minutes: float | None, threads: int | None, no_resume: bool, quiet: bool) -> None:
    """Train stage 1 (DAMSM text/image encoders) or stage 2 (TGJAR generator + discriminator).

    CONFIG is a YAML file (see examples/configs/). Runs resume from RUN_DIR/checkpoints/last.pt
    unless --no-resume, bit for bit; a config that differs from the run's config.yaml in what
    the checkpoint holds (stage, model, image_encoder, discriminator) is refused. log.jsonl
    keeps one record per step: a resumed run drops those past its checkpoint. Ctrl-C (one
    process) finishes the current step and writes a checkpoint first; press it twice to stop
    at once. For several processes or GPUs:

        torchrun --nproc_per_node N -m jpegtext train tgjar CONFIG --run-dir DIR
    """
    from jpegtext.restore.training.config import load_yaml_config
    from jpegtext.restore.training.train import run_training

    cfg = load_yaml_config(config)
    changes: dict[str, object] = {"stage": stage}
    if max_steps is not None:
        changes["max_steps"] = max_steps
    if max_minutes is not None:
        changes["max_minutes"] = max_minutes
    if threads is not None:
        changes["threads"] = threads
    cfg = cfg.replace(**changes)
    metrics = run_training(cfg, run_dir, resume=not no_resume, device=device, progress=not quiet)
    if metrics:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()
                          if isinstance(v, float) and k.startswith("val_"))
        click.echo(f"{stage}: finished at step {metrics.get('step')}: {shown}", err=True)
    click.echo(f"run folder: {run_dir}", err=True)
