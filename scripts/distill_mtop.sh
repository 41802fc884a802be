#!/usr/bin/env bash
# Distillation benchmark on MTOP-en (not a test): fine-tune the MiniLM teacher, evaluate it, label
# the training set (plus augmented text), train a pQRNN student without and with distillation,
# evaluate everything on MTOP-en eval, and time batch-1 CPU latency. Results land in $OUT; the
# numbers in docs/results.md ("Distillation") come from these commands.
#
#   scripts/distill_mtop.sh                   # everything, defaults below
#   STEP=students scripts/distill_mtop.sh     # from one step on: teacher, eval, label, students, latency
#
# Knobs (environment): OUT, TEACHER_STEPS (updates of batch 32; 490 = one epoch), TRAIN_LAYERS,
# EPOCHS (student epochs), CONFIG (student size), SETS (e.g. "bottleneck=48"), AUGMENT (text the
# teacher labels, e.g. "--augment slotsub=2"), AUGMENTED (what the student trains on, e.g.
# "--augmented slotsub=1"; default every labelled text), ALPHA, TEMP, DEV (FORMAT:PATH choosing the
# students' best epoch; default the aligned English MTOP dev, which is a subset of eval.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

D=../shared/data
OUT=${OUT:-runs/distill}
TEACHER_STEPS=${TEACHER_STEPS:-200}
TRAIN_LAYERS=${TRAIN_LAYERS:-3}
EPOCHS=${EPOCHS:-6}
CONFIG=${CONFIG:-small}
AUGMENT=${AUGMENT:-}
AUGMENTED=${AUGMENTED:-}
SETS=${SETS:-}
ALPHA=${ALPHA:-0.5}
TEMP=${TEMP:-2}
STEP=${STEP:-teacher}
PQ=(.venv/bin/python -m pqcompile.cli)
TRAIN="mtop:$D/mtop/en/train.json"
EVAL="mtop:$D/mtop/en/eval.txt"
DEV=${DEV:-"mtop6:$D/mtop/aligned6/dev.json,langs=en"}
STUDENT_OPTS=(--config "$CONFIG" --set float_epochs=2 --lr 0.002 --batch-size 32 --seed 0 --epochs "$EPOCHS")
for kv in $SETS; do STUDENT_OPTS+=(--set "$kv"); done
mkdir -p "$OUT"

run() { echo "+ $*" >&2; "$@"; }
started=
for s in teacher eval label students latency; do
[ "$s" = "$STEP" ] && started=1
[ -n "$started" ] || continue
case $s in
teacher)   # MiniLM-L6 (pqcompile[teacher]) fine-tuned: top layers only, to fit a 2-core CPU
  run "${PQ[@]}" teacher train --data "$TRAIN" --out "$OUT/teacher" --epochs 1 --lr 3e-4 --batch-size 32 \
      --max-length 64 --train-layers "$TRAIN_LAYERS" --max-steps "$TEACHER_STEPS" --json > "$OUT/teacher.train.json" ;;
eval)
  run "${PQ[@]}" teacher evaluate "$OUT/teacher" --data "$EVAL" --json > "$OUT/teacher.eval.json" ;;
label)
  # shellcheck disable=SC2086
  run "${PQ[@]}" teacher label "$OUT/teacher" --data "$TRAIN" --out "$OUT/labels" $AUGMENT --json > "$OUT/labels.json" ;;
students)
  [ -f "$OUT/student-plain/int8/qmodel.json" ] || \
    run "${PQ[@]}" train --data "$TRAIN" --dev "$DEV" --model pqrnn "${STUDENT_OPTS[@]}" --out "$OUT/student-plain" \
        --quiet --json > "$OUT/student-plain.train.json"
  # shellcheck disable=SC2086
  run "${PQ[@]}" train --teacher-labels "$OUT/labels" $AUGMENTED --alpha "$ALPHA" --temperature "$TEMP" \
      --dev "$DEV" --model pqrnn "${STUDENT_OPTS[@]}" --out "$OUT/student-distill" \
      --quiet --json > "$OUT/student-distill.train.json"
  for r in student-plain student-distill; do
    run "${PQ[@]}" evaluate "$OUT/$r" --data "$EVAL" --json > "$OUT/$r.eval.json"
    run "${PQ[@]}" evaluate "$OUT/$r" --data "$EVAL" --int8 --json > "$OUT/$r.eval-int8.json"
  done ;;
latency)
  run .venv/bin/python scripts/distill_latency.py "$OUT/teacher" "$OUT/student-distill" --data "$EVAL" --n 200 \
      > "$OUT/latency.json" ;;
esac; done
