#!/usr/bin/env bash
# The selection data of the pre-declared rule in benchmarks/results/selection_text_rule.md:
# flowers256 *val* (a fixed seeded draw of 100 images), QF 1, 5, 10; the text model with the
# first human caption and with an empty caption, and the text model and tgjar-small-v4 with the
# built-in captioner. Writes benchmarks/results/selection_text_val_{human,builtin}.md/.json and
# the human-caption gain per caption colour word, selection_text_val_colours.json.
#
#   TEXT=runs/tgjar_text/model.safetensors benchmarks/select_text_model.sh
#   TEXT=runs/r2/text-chroma.safetensors TAG=_r2 benchmarks/select_text_model.sh   # round 2
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
SHARED="${JPEGTEXT_SHARED:-../shared}"
PYTHON="${PYTHON:-python}"
# registered models that are not in the package (tgjar-small-v4, ...) come from the checkout
export JPEGTEXT_MODEL_PATH="${JPEGTEXT_MODEL_PATH:+$JPEGTEXT_MODEL_PATH:}$REPO/examples/weights"
TEXT="${TEXT:-examples/weights/tgjar-text-cpu.safetensors}"
TAG="${TAG:-}"
RUNS="runs/text_selection$TAG"
mkdir -p "$RUNS"
"$PYTHON" benchmarks/first_captions.py "$SHARED/data/flowers256/captions.jsonl" \
  "$RUNS/flowers_first_caption.jsonl"
run() {  # run NAME [options...]
  local name="$1"
  shift
  "$PYTHON" -m jpegtext evaluate "$SHARED/data/flowers256" --manifest labels.jsonl --split val \
    --limit 100 --qualities 1 5 10 --metrics psnr lpips --weights-dir "$SHARED/weights" \
    --consistency off --name "flowers256-val-$name" --out "$RUNS/$name" "$@" >/dev/null
  cp "$RUNS/$name/table.md" "benchmarks/results/selection_text_val_$name$TAG.md"
  cp "$RUNS/$name/summary.json" "benchmarks/results/selection_text_val_$name$TAG.json"
}
run human --captions "$RUNS/flowers_first_caption.jsonl" --methods jpeg "$TEXT" "$TEXT:nocap"
run builtin --captioner builtin --methods jpeg "$TEXT" tgjar-small-v4
# which caption colours help and which hurt (caption minus empty, per colour word)
"$PYTHON" benchmarks/per_colour.py "$RUNS/human/results.jsonl" \
  --out "benchmarks/results/selection_text_val_colours$TAG.json"
echo "wrote benchmarks/results/selection_text_val_{human,builtin,colours}$TAG.*" >&2
