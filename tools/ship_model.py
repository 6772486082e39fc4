"""Copy a trained model into the repository with its training facts in the header; print its hash.

    python tools/ship_model.py runs/tgjar_small_cpu/best.safetensors tgjar-small \
        --card docs/models/tgjar-small.md

The tensors are copied unchanged; the ``info`` metadata is rewritten from the run folder
(config, data sources, steps, validation metrics of the chosen checkpoint). Put the printed
filename and sha256 in a ``ModelEntry`` of ``jpegtext/restore/runtime/zoo.py`` (REGISTERED_MODELS,
with its ``repo_path``). The file goes to ``examples/weights/`` (found by name once installed
into ``$JPEGTEXT_HOME``); ``--package`` puts it in the package instead, for a new default only
(the wheel ships the default model alone).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jpegtext.restore.runtime.modelfile import file_sha256, load_model_file, save_model_file

REPO = Path(__file__).resolve().parents[1]
PACKAGE_WEIGHTS = REPO / "jpegtext" / "restore" / "weights"
REPO_WEIGHTS = REPO / "examples" / "weights"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="a run's model.safetensors or best.safetensors")
    ap.add_argument("name", help="zoo name, e.g. tgjar-small")
    ap.add_argument("--card", default="", help="model card path (relative to the repo)")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--package", action="store_true", help="ship it in the package (a new default)")
    args = ap.parse_args()
    run = args.model.resolve().parent
    loaded = load_model_file(args.model)
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    vals = [r for r in log if r.get("val")]
    step = int(loaded.info.get("steps", 0))
    chosen = next((r for r in vals if r["step"] == step), None)
    info = {
        "name": args.name,
        "steps": step,
        "init_from": Path(cfg["init_from"]).name if cfg.get("init_from") else None,
        "batch_size": cfg["batch_size"],
        "crop": cfg["data"]["crop"],
        "qualities": cfg["data"]["qualities"],
        "data": cfg["data"]["sources"],
        "captions": "built-in captioner on each clean training crop; coco_mini train: a human "
                    "caption with p=0.5 when the crop covers >= 80% of the image; empty with "
                    f"p={cfg['data'].get('caption_dropout', 0)}",
        "loss": cfg["loss"],
        "checkpoint_selection": "lowest LPIPS on flowers256 val (first "
                                f"{cfg['data'].get('val_limit')} images, QF 1-10)",
        "validation_at_selection": chosen,
        "card": args.card,
    }
    folder = PACKAGE_WEIGHTS if args.package else REPO_WEIGHTS
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{args.name}.safetensors"
    save_model_file(dest, loaded.generator, loaded.text_encoder, loaded.config, loaded.vocab,
                    info, force=args.force)
    digest = file_sha256(dest)
    print(json.dumps({"filename": dest.name, "sha256": digest, "bytes": dest.stat().st_size,
                      "steps": step, "validation": chosen}, indent=2))


if __name__ == "__main__":
    main()
