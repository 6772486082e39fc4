"""Write ``{"file", "caption"}`` rows with the first human caption of every image.

    python benchmarks/first_captions.py ../shared/data/flowers256/captions.jsonl out.jsonl

For ``jpegtext evaluate --captions``: flowers256 keeps its 10 human captions per image (Reed et
al.) in ``captions.jsonl``; the text ablation and the text model's selection use the first.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as src, open(argv[1], "w", encoding="utf-8") as out:
        for line in src:
            if line.strip():
                row = json.loads(line)
                out.write(json.dumps({"file": row["file"], "caption": row["captions"][0]}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
