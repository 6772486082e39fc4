#!/usr/bin/env bash
# The paper's Table 3 for the MiniLM text model: its no-text twin (empty caption: the text path
# never carried information) / the text model with the true caption, an empty caption and
# another image's caption, x QF 1, 5, 10 x flowers256 test, coco_mini val (human captions: the
# first of each image's list), Kodak and LIVE1 (the built-in captioner on the clean image).
# tgjar-small-v4 (bi-LSTM, the default it is compared with) runs on flowers256 test with the
# same human captions; its Kodak/LIVE1/coco numbers are in eval_{kodak,live1,coco_mini}.json.
#
#   benchmarks/run_text_ablation.sh [--limit N] [--only flowers|coco|kodak|live1]...
#       TEXT=path/to/tgjar-text.safetensors TWIN=path/to/tgjar-text-twin.safetensors
#
# Results: benchmarks/results/ablation_<dataset>.md/.json and ablation_table3.md (combined).
# Runs resume: work folders are runs/text_ablation/<dataset>. With --limit N (a smoke test) the
# tables go to runs/text_ablation/results so that partial numbers never replace real ones.
# FLOWERS_LIMIT=N / COCO_LIMIT=N evaluate a fixed seeded draw of N images of those two (large)
# splits for a CPU budget; the tables say n, and summary.json records the exact command.
# RESULTS_DIR / RUNS_DIR put another model pair's tables and work folders elsewhere (round 2:
#   TEXT=... TWIN=... RESULTS_DIR=benchmarks/results/text_r2 RUNS_DIR=runs/text_ablation_r2).
# CONSISTENCY=off|luma|full: how the restorations are bounded by the file (`jpegtext evaluate
# --consistency`). Default off, the models' own output, so that a round compares with every
# committed round (all unbounded); luma is what `jpegtext decode` gives users.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
SHARED="${JPEGTEXT_SHARED:-../shared}"
PYTHON="${PYTHON:-python}"
# registered models that are not in the package (tgjar-small-v4, ...) come from the checkout
export JPEGTEXT_MODEL_PATH="${JPEGTEXT_MODEL_PATH:+$JPEGTEXT_MODEL_PATH:}$REPO/examples/weights"
TEXT="${TEXT:-examples/weights/tgjar-text-cpu.safetensors}"
TWIN="${TWIN:-examples/weights/tgjar-text-twin-cpu.safetensors}"
RUNS="${RUNS_DIR:-runs/text_ablation}"
LIMIT=()
ONLY=()
QUALITIES=(1 5 10)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --limit) LIMIT=(--limit "$2"); shift 2 ;;
    --only) ONLY+=("$2"); shift 2 ;;
    --qualities) IFS=' ' read -r -a QUALITIES <<< "$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
RESULTS="${RESULTS_DIR:-benchmarks/results}"
[[ ${#LIMIT[@]} -gt 0 ]] && RESULTS="$RUNS/results"
DATA="$SHARED/data"
for f in "$TEXT" "$TWIN"; do [[ -f "$f" ]] || { echo "model not found: $f" >&2; exit 1; }; done
mkdir -p "$RUNS" "$RESULTS"
wanted() { [[ ${#ONLY[@]} -eq 0 ]] || [[ " ${ONLY[*]} " == *" $1 "* ]]; }
T="$(basename "$TEXT" .safetensors)"
METHODS=(--methods jpeg "$TWIN:nocap" "$TEXT" "$TEXT:nocap" "$TEXT:wrongcap")
evaluate() {  # evaluate NAME DATASET_DIR [options...]
  local name="$1" dir="$2"
  shift 2
  echo "== $name" >&2
  "$PYTHON" -m jpegtext evaluate "$dir" --name "$name" --out "$RUNS/$name" "${LIMIT[@]}" \
    --qualities "${QUALITIES[@]}" --metrics psnr lpips --figure-images 2 --weights-dir "$SHARED/weights" \
    --consistency "${CONSISTENCY:-off}" \
    --figure-methods "$(basename "$TWIN" .safetensors):nocap" "$T" "$T:nocap" "$@" >/dev/null
  cp "$RUNS/$name/table.md" "$RESULTS/ablation_$name.md"
  cp "$RUNS/$name/summary.json" "$RESULTS/ablation_$name.json"
}
FL=(); CL=()
[[ -n "${FLOWERS_LIMIT:-}" ]] && FL=(--limit "$FLOWERS_LIMIT")
[[ -n "${COCO_LIMIT:-}" ]] && CL=(--limit "$COCO_LIMIT")
if wanted flowers; then
  # the first of the 10 human captions (Reed et al.) of every test image
  "$PYTHON" benchmarks/first_captions.py "$DATA/flowers256/captions.jsonl" \
    "$RUNS/flowers_first_caption.jsonl"
  evaluate flowers256-test "$DATA/flowers256" --manifest labels.jsonl --split test \
    --captions "$RUNS/flowers_first_caption.jsonl" "${FL[@]}" "${METHODS[@]}" tgjar-small-v4
fi
if wanted coco; then
  evaluate coco_mini-val "$DATA/coco_mini" --manifest captions.jsonl --split val "${CL[@]}" \
    "${METHODS[@]}"
fi
if wanted kodak; then
  evaluate kodak "$DATA/kodak" --captioner builtin "${METHODS[@]}"
fi
if wanted live1; then
  evaluate live1 "$DATA/live1_color" --captioner builtin "${METHODS[@]}"
fi
SUMMARIES=()
for name in flowers256-test coco_mini-val kodak live1; do
  [[ -f "$RESULTS/ablation_$name.json" ]] && SUMMARIES+=("$RESULTS/ablation_$name.json")
done
"$PYTHON" -m jpegtext.evaluation "${SUMMARIES[@]}" -o "$RESULTS/ablation_table3.md"
[[ "$RESULTS" == benchmarks/results ]] && "$PYTHON" benchmarks/ablation_table.py \
  --text "$T" --twin "$(basename "$TWIN" .safetensors)" >/dev/null
echo "wrote $RESULTS/ablation_table3.md (+ _compact.md) and ablation_*.md/.json" >&2
