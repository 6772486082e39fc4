"""The colours people give each colour word: mean CIELAB LCh of the petals that flowers256
*train* human captions call red, orange, yellow, blue, purple, pink or white.

For each training image, the first of its ten captions that names one of these words gives the
word; the petal region is the pixels the built-in colour naming puts in that word's family (the
same mask a colour swap repaints). A region under 3 % of the image is skipped. The table (mean
lightness, mean chroma, circular mean hue, images) is what the ``natural`` colour swap moves
between (:mod:`jpegtext.restore.training.colour_swap`).

    python tools/colour_word_stats.py [--root ../shared/data/flowers256]
        [--out jpegtext/restore/training/colour_words_lch.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from jpegtext.captioner.colour import classify_lab, lab_to_lch, rgb_to_lab
    from jpegtext.restore.training.colour_swap import TARGET_COLOURS, family_mask

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "flowers256")
    ap.add_argument("--out", type=Path,
                    default=REPO / "jpegtext" / "restore" / "training" / "colour_words_lch.json")
    args = ap.parse_args(argv)
    if not (args.root / "captions.jsonl").is_file():
        print(f"no flowers256 captions under {args.root}", file=sys.stderr)
        return 1
    splits = {}
    for line in (args.root / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            splits[row["file"]] = row["split"]
    word_re = re.compile(r"\b(" + "|".join(TARGET_COLOURS) + r")\b")
    sums: dict[str, list[float]] = {w: [0.0, 0.0, 0.0, 0.0, 0.0] for w in TARGET_COLOURS}
    for line in (args.root / "captions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if splits.get(row["file"]) != "train":
            continue
        match = next((m for m in map(word_re.search, (c.lower() for c in row["captions"])) if m),
                     None)
        if match is None:
            continue
        word = match.group(1)
        rgb = np.asarray(Image.open(args.root / row["file"]).convert("RGB"))
        lightness, chroma, hue = lab_to_lch(rgb_to_lab(rgb))
        mask = family_mask(classify_lab(lightness, chroma, hue), word) > 0
        if mask.mean() < 0.03:
            continue
        rad = np.deg2rad(hue[mask])
        acc = sums[word]
        acc[0] += float(lightness[mask].mean())
        acc[1] += float(chroma[mask].mean())
        acc[2] += float(np.cos(rad).mean())
        acc[3] += float(np.sin(rad).mean())
        acc[4] += 1
    table = {}
    for word, (l_sum, c_sum, cos_sum, sin_sum, n) in sums.items():
        if n == 0:
            continue
        hue_deg = float(np.degrees(np.arctan2(sin_sum, cos_sum)) % 360.0)
        table[word] = {"lightness": round(l_sum / n, 2), "chroma": round(c_sum / n, 2),
                       "hue": round(hue_deg, 2), "images": int(n)}
    doc = {"what": "mean CIELAB LCh of the petals flowers256 train human captions call each "
                   "colour (tools/colour_word_stats.py)", "words": table}
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    for word, row in table.items():
        print(f"{word:7s} L {row['lightness']:5.1f}  C {row['chroma']:5.1f}  h {row['hue']:6.1f}"
              f"  ({row['images']} images)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
