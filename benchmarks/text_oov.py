"""Words a model's text encoder cannot read, per caption source (held-out captions only).

For each model, the share of caption words (lower-case ``\\w+`` tokens) its text encoder drops:
out of vocabulary (bi-LSTM) or past its word limit (both). Caption sources: the human captions
of flowers256 *test* (Reed et al., 10 per image), coco_mini *val* and flickr8k_sub *val*, and
the built-in captioner on Kodak.

    python benchmarks/text_oov.py --model tgjar-small-v4 --model path/to/minilm-model.safetensors
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JPEGTEXT_SHARED", REPO.parent / "shared"))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def caption_sources(data: Path) -> dict[str, list[str]]:
    """Held-out captions by source."""
    out: dict[str, list[str]] = {}
    split = {r["file"]: r["split"] for r in _jsonl(data / "flowers256" / "labels.jsonl")}
    out["flowers256 test (human)"] = [c for r in _jsonl(data / "flowers256" / "captions.jsonl")
                                      if split.get(r["file"]) == "test" for c in r["captions"]]
    out["coco_mini val (human)"] = [c for r in _jsonl(data / "coco_mini" / "captions.jsonl")
                                    if r.get("split") == "val" for c in r["captions"]]
    out["flickr8k_sub val (human)"] = [c for r in _jsonl(data / "flickr8k_sub" / "captions.jsonl")
                                       if r.get("split") == "val" for c in r["captions"]]
    from PIL import Image

    from jpegtext.captioner import get_captioner

    cap = get_captioner("builtin")
    kodak = sorted((data / "kodak").glob("*.png"))
    out["kodak (built-in captioner)"] = [cap([Image.open(p).convert("RGB")])[0] for p in kodak]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--data", type=Path, default=SHARED / "data")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/text_oov.json")
    args = ap.parse_args()
    from jpegtext.restore.runtime.zoo import use_checkout_weights

    use_checkout_weights()  # models not in the package, by name from examples/weights/
    from jpegtext.restore.networks.text import tokenize
    from jpegtext.restore.runtime.zoo import load_restorer

    sources = caption_sources(args.data)
    rows = []
    for model in args.model:
        restorer = load_restorer(model, device="cpu")
        for name, caps in sources.items():
            words = sum(len(tokenize(c)) for c in caps)
            lost = [w for c in caps for w in restorer.lost_words(c)]
            rows.append({"model": model, "source": name, "captions": len(caps), "words": words,
                         "lost": len(lost), "lost_share": len(lost) / max(words, 1),
                         "examples": sorted(set(lost))[:12]})
            print(f"{model:40s} {name:28s} {100 * len(lost) / max(words, 1):6.2f} % of "
                  f"{words} words lost")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cmd = "python benchmarks/text_oov.py " + " ".join(f"--model {m}" for m in args.model)
    args.out.write_text(json.dumps({"command": cmd, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
