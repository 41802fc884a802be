#!/usr/bin/env bash
# The headline distillation runs on MTOP-en (docs/results.md, "Distillation"): the <= 260 KB student
# (pQRNN small with a 48-wide bottleneck: >= 350x smaller than the fp32 MiniLM teacher) trained
#   gold      on the gold frames only (no teacher), 20 epochs
#   distill   on the teacher's soft targets of the gold texts (alpha 0.5, T 2), 20 epochs
#   aug       on the teacher's soft targets of the gold texts plus every augmented text (6x the texts),
#             4 epochs: about as many updates as the 20 epochs of the other two
# then each evaluated on MTOP-en eval, float and int8, and the batch-1 latency of teacher vs student.
# The dev set is 1,000 utterances of train.json (scripts/split_mtop_dev.py). All three students (and
# the teacher) train on all of train.json, so dev only tracks progress (it is not held out); what
# is reported is MTOP-en eval, which no run trains or selects on.
#
# Needs a teacher and its labels (not remade here: ~10 + ~25 min on a 2-core CPU):
#   OUT=runs/distill-e1 TEACHER_STEPS=490 TRAIN_LAYERS=6 STEP=teacher scripts/distill_mtop.sh   # (+ eval, label)
#   pqcompile teacher label runs/distill-e1/teacher --data mtop:../shared/data/mtop/en/train.json \
#       --out runs/distill-aug/labels --augment chars=1 --augment dropout=1 --augment swap=1 --augment slotsub=2
# Usage: RUNS="gold distill aug" scripts/distill_mtop_headline.sh      (knobs: OUT, TEACHER, LABELS, RUNS)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

D=../shared/data
OUT=${OUT:-runs/d2}
TEACHER=${TEACHER:-runs/distill-e1/teacher}
LABELS=${LABELS:-runs/distill-aug/labels}
RUNS=${RUNS:-gold distill aug}
PQ=(nice .venv/bin/python -m pqcompile.cli)
EVAL="mtop:$D/mtop/en/eval.txt"
SPLIT="$OUT/split/en"
STUDENT=(--model pqrnn --config small --set bottleneck=48 --set float_epochs=2 --batch-size 32 --lr 0.002 --seed 0
         --dev "mtop:$SPLIT/dev.json" --quiet --json)
mkdir -p "$OUT"
[ -f "$SPLIT/dev.json" ] || .venv/bin/python scripts/split_mtop_dev.py "$D/mtop/en/train.json" "$SPLIT" --dev 1000

run() { echo "+ $*" >&2; "$@"; }
for r in $RUNS; do
  case $r in
  gold)    name=gold-b48-e20;    opts=(--data "mtop:$D/mtop/en/train.json" --epochs 20) ;;
  distill) name=distill-b48-e20; opts=(--teacher-labels "$LABELS" --augmented none --alpha 0.5 --temperature 2 --epochs 20) ;;
  aug)     name=aug-b48-e4;      opts=(--teacher-labels "$LABELS" --alpha 0.5 --temperature 2 --epochs 4) ;;
  *) echo "unknown run $r (gold, distill, aug)" >&2; exit 2 ;;
  esac
  grep -qs '"complete": true' "$OUT/$name/metrics.json" || \
    run "${PQ[@]}" train "${opts[@]}" "${STUDENT[@]}" --out "$OUT/$name" > "$OUT/$name.train.json"
  run "${PQ[@]}" evaluate "$OUT/$name" --data "$EVAL" --json > "$OUT/$name.eval.json"
  run "${PQ[@]}" evaluate "$OUT/$name" --data "$EVAL" --int8 --json > "$OUT/$name.eval-int8.json"
  run .venv/bin/python scripts/distill_latency.py "$TEACHER" "$OUT/$name" --data "$EVAL" --n 200 > "$OUT/$name.latency.json"
done
