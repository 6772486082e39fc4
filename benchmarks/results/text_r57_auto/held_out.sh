#!/usr/bin/env bash
# (a record: it ran as runs/r57/held_out.sh, 2026-12-05, ~25 min on 2 cores) Round 57, held-out check as received.
# v9 as received is the same file and settings as round 55's, so its numbers come from text_r55_auto/v9_auto.
set -euo pipefail
cd "$(dirname "$0")/../../.."
. .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export JPEGTEXT_MODEL_PATH="$PWD/examples/weights"
python benchmarks/text_control_flowers.py --split test --consistency luma \
  --model examples/weights/tgjar-text-r57-cpu.safetensors \
  --out benchmarks/results/text_r57_auto/text_control_flowers_test.json > runs/r57/tc_test.log 2>&1 &
CONSISTENCY=auto TEXT=examples/weights/tgjar-text-r57-cpu.safetensors \
  TWIN=examples/weights/tgjar-text-twin-r57-cpu.safetensors \
  RESULTS_DIR=benchmarks/results/text_r57_auto RUNS_DIR=runs/text_ablation_r57_auto \
  bash benchmarks/run_text_ablation.sh > runs/r57/ablation.log 2>&1
wait
echo ALL DONE
# then: python benchmarks/held_out_check.py benchmarks/results/text_r57_auto --tag _r57 --default v14-auto --v9-from benchmarks/results/text_r55_auto/v9_auto
# twin text control: python benchmarks/text_control_flowers.py --model examples/weights/tgjar-text-twin-r57-cpu.safetensors --model examples/weights/tgjar-text-r57-cpu.safetensors --consistency luma --out benchmarks/results/text_r57_auto/text_control_flowers_test_r57_twin.json
# own output: the same with --model examples/weights/tgjar-text-r57-cpu.safetensors --consistency off --out .../text_control_flowers_test_r57_off.json
