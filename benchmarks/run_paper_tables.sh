#!/usr/bin/env bash
# The commands that produce benchmarks/results/eval_*.md + .json (the paper's tables, our data).
#
#   benchmarks/run_paper_tables.sh [--limit N] [--device DEV] [--shared DIR] [--runs DIR]
#                                  [--results DIR] [--only kodak|live1|flowers|coco]...
#
# - Kodak and LIVE1 at QF 1, 5, 10 with jpeg, arcnn, dncnn3 and every zoo model with and without
#   its caption (the default method list of `jpegtext evaluate`), plus the default model with
#   geometric self-ensemble (`<default>+x8`, decode --ensemble 8), captions from the built-in
#   captioner run on the clean images (Kodak/LIVE1 have none), as the paper's Table 1/2 and 4.
#   Their figures show AR-CNN, DnCNN-3 and the default model with/without caption and with x8.
# - The text ablation (paper's Table 3, issue 7): flowers256 split test (QF 1, 5, 10) and
#   coco_mini split val (QF 1), jpeg + every zoo model with its true caption, an empty one and
#   another image's.
#   coco captions are the first human caption of the manifest; flowers have none: they come from
#   $FLOWERS_CAPTIONS (default "--captioner builtin"; set it to the training caption source,
#   e.g. FLOWERS_CAPTIONS="--caption-template 'a photo of a {class_name}'").
#
# CONSISTENCY=auto|full|luma|off: how the models' restorations are bounded by the file
# (`jpegtext evaluate --consistency`). Default off: the committed tables (paper_tables_v11/,
# _v13/) are the models' own output and their work folders resume only with the same setting;
# auto is what `jpegtext decode` gives since 2026-12-05 (use a new --runs folder for it).
# Runs resume: each dataset's work folder is $RUNS/<name>; rerunning skips finished results.
# The full run takes about an hour on a 2-core CPU without zoo models (DnCNN-3 alone takes
# 12-18 s per Kodak image on one core), more with them: use --device cuda when a GPU is lent.
# With --limit N (a smoke test) the tables go to $RUNS/results unless --results is given, so
# that partial numbers never replace real ones.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"  # relative paths below, so the recorded commands read the same on every machine
# the registered models that are not in the package (tgjar-small, -v2, -v3, the text models), by
# name from the checkout's examples/weights/ (nothing copied into $JPEGTEXT_HOME)
export JPEGTEXT_MODEL_PATH="${JPEGTEXT_MODEL_PATH:+$JPEGTEXT_MODEL_PATH:}$REPO/examples/weights"
SHARED="${JPEGTEXT_SHARED:-../shared}"
PYTHON="${PYTHON:-python}"
RUNS="runs/paper_tables"
RESULTS=""
LIMIT=()
DEVICE=()
ONLY=()
FLOWERS_CAPTIONS="${FLOWERS_CAPTIONS:---captioner builtin}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --limit) LIMIT=(--limit "$2"); shift 2 ;;
    --device) DEVICE=(--device "$2"); shift 2 ;;
    --shared) SHARED="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --results) RESULTS="$2"; shift 2 ;;
    --only) ONLY+=("$2"); shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$RESULTS" ]]; then
  if [[ ${#LIMIT[@]} -gt 0 ]]; then RESULTS="$RUNS/results"; else RESULTS="benchmarks/results"; fi
fi
DATA="$SHARED/data"
WEIGHTS="$SHARED/weights"
for p in "$DATA" "$WEIGHTS"; do
  [[ -d "$p" ]] || { echo "not found: $p (pass --shared DIR)" >&2; exit 1; }
done
mkdir -p "$RUNS" "$RESULTS"

wanted() { [[ ${#ONLY[@]} -eq 0 ]] || [[ " ${ONLY[*]} " == *" $1 "* ]]; }

evaluate() {  # evaluate NAME DATASET_DIR [options...]
  local name="$1" dir="$2"
  shift 2
  echo "== $name" >&2
  "$PYTHON" -m jpegtext evaluate "$dir" --name "$name" --out "$RUNS/$name" \
    --weights-dir "$WEIGHTS" "${LIMIT[@]}" "${DEVICE[@]}" --figure-images 2 \
    --consistency "${CONSISTENCY:-off}" "$@" >/dev/null
  cp "$RUNS/$name/table.md" "$RESULTS/eval_$name.md"
  cp "$RUNS/$name/summary.json" "$RESULTS/eval_$name.json"
}

# shellcheck disable=SC2207  # method names hold no spaces
PEERS=(--methods $("$PYTHON" -c 'from jpegtext.evaluation.methods import default_method_names
from jpegtext.restore.runtime.zoo import DEFAULT_MODEL
print(*default_method_names(), DEFAULT_MODEL + "+x8")'))
# The figures show the peers and the default model (with, without caption, self-ensemble) only:
# with every zoo model they grow too wide to read.
# shellcheck disable=SC2207
SHOWN=(--figure-methods $("$PYTHON" -c 'from jpegtext.restore.runtime.zoo import DEFAULT_MODEL as m
print("arcnn dncnn3", m, m + ":nocap", m + "+x8")'))
if wanted kodak; then
  evaluate kodak "$DATA/kodak" --qualities 1 5 10 --captioner builtin "${PEERS[@]}" "${SHOWN[@]}"
  cp "$RUNS/kodak/figure_q1.png" "$RESULTS/eval_kodak_q1.png"
fi
if wanted live1; then
  evaluate live1 "$DATA/live1_color" --qualities 1 5 10 --captioner builtin "${PEERS[@]}" \
    "${SHOWN[@]}"
fi
if wanted flowers; then
  # shellcheck disable=SC2086  # FLOWERS_CAPTIONS holds several words on purpose
  eval "evaluate flowers256 \"\$DATA/flowers256\" --manifest labels.jsonl --split test \
    --qualities 1 5 10 --methods jpeg zoo zoo:nocap zoo:wrongcap $FLOWERS_CAPTIONS"
fi
if wanted coco; then
  evaluate coco_mini "$DATA/coco_mini" --manifest captions.jsonl --split val \
    --qualities 1 --methods jpeg zoo zoo:nocap zoo:wrongcap
fi

# paper_tables.md combines every dataset with results in $RESULTS, also those of earlier runs
# (--only runs one dataset without dropping the others from the combined table).
SUMMARIES=()
for name in kodak live1 flowers256 coco_mini; do
  [[ -f "$RESULTS/eval_$name.json" ]] && SUMMARIES+=("$RESULTS/eval_$name.json")
done
"$PYTHON" -m jpegtext.evaluation "${SUMMARIES[@]}" -o "$RESULTS/paper_tables.md"
echo "wrote $RESULTS/paper_tables.md and eval_*.md/.json" >&2
