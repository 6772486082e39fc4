#!/usr/bin/env bash
# (a record: it ran as runs/r55/first_pass.sh) Round 55, held-out first pass (everything but the twin column), as received (auto), one thread.
set -euo pipefail
cd "$(dirname "$0")/../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export JPEGTEXT_MODEL_PATH="$PWD/examples/weights"
RUNS=runs/text_ablation_r55_auto
DATA=../shared/data
TEXT=examples/weights/tgjar-text-r54a-cpu.safetensors
V9=examples/weights/tgjar-text-wordpiece-r35-cpu.safetensors
mkdir -p "$RUNS"
python benchmarks/text_control_flowers.py --split test --consistency luma --model "$TEXT" \
  --out benchmarks/results/text_control_test_r55_r54a.json
python benchmarks/first_captions.py "$DATA/flowers256/captions.jsonl" "$RUNS/flowers_first_caption.jsonl"
ev() { local name="$1" dir="$2"; shift 2
  python -m jpegtext evaluate "$dir" --name "$name" --out "$RUNS/$name" --qualities 1 5 10 \
    --metrics psnr lpips --figure-images 0 --weights-dir ../shared/weights --consistency auto \
    --no-progress "$@" --methods jpeg "$TEXT" "$TEXT:nocap" "$TEXT:wrongcap" "$V9" >/dev/null
  echo "done $name"; }
ev flowers256-test "$DATA/flowers256" --manifest labels.jsonl --split test --captions "$RUNS/flowers_first_caption.jsonl"
ev coco_mini-val "$DATA/coco_mini" --manifest captions.jsonl --split val
ev kodak "$DATA/kodak" --captioner builtin
ev live1 "$DATA/live1_color" --captioner builtin
