#!/usr/bin/env bash
# The commands behind pqcompile/assets/bundled_model (see its MODEL.md), end to end and resumable:
#   1. fine-tune the MiniLM-L6 teacher on all of MTOP-en train.json, 8 epochs (lr 1e-4, warm-up +
#      linear decay, batch 32, 48 word-pieces); no dev set: nothing is chosen by a score (the eval
#      split is never used to choose anything);
#   2. the teacher labels the training texts plus ~9x augmented ones (slot substitution, character
#      noise, word dropout, word swaps) and ~36k texts of two other English corpora (MTOD, SNIPS:
#      text only, none that repeats a training or eval text): ~192k texts with soft targets;
#   3. the teacher labels ~177k more texts (another seed of slot substitution, slot values from the
#      other corpora, dropout, character noise, the same other-corpus texts) and ~94k more: the
#      training texts with content words replaced by their nearest whole words in the teacher's own
#      input embeddings (--augment wordsub);
#   4. the teacher's lexicon: its hidden state of each word read alone (its whole-word vocabulary and
#      the training words, `pqcompile teacher lexicon`);
#   5. distil the <= 260 KiB student (pQRNN small with 1024 projection features incl. character
#      trigrams and digits folded to 0, bottleneck and kernel widths as below, 4-bit bottleneck and
#      QRNN weights, no character distortion) on the three label sets, cosine schedule, a moving
#      average of the weights (--ema), and the lexicon loss on the bottleneck (--lexicon); the last
#      epoch is kept;
#   6. evaluate teacher and student on MTOP-en eval, package the student (verified bit-exact on
#      cortex-m7 under QEMU over the whole eval split).
# Each step skips what is done and resumes what a kill interrupted; logs land beside the outputs.
# Takes ~16 (teacher) + ~10 (labels) + ~2 (lexicon) + ~35 (student) minutes on 2 cores.
# Usage: bash scripts/train_bundled_model.sh [OUT]       (needs ../shared/data/mtop/en)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT=${1:-runs/bundled}
MTOP=${MTOP:-../shared/data/mtop/en}
DATA=$(dirname "$MTOP")/..           # ../shared/data: MTOD and SNIPS beside MTOP
EPOCHS=${EPOCHS:-10}
PQ=".venv/bin/pqcompile"
TRAIN="mtop:$MTOP/train.json"
EVAL="mtop:$MTOP/eval.txt"
STUDENT=$OUT/student
mkdir -p "$OUT"

if [ ! -d "$OUT/teacher" ]; then
  resume=(); [ -d "$OUT/.teacher.ckpt" ] && resume=(--resume)
  $PQ teacher train --data "$TRAIN" --out "$OUT/teacher" \
      --epochs 8 --lr 1e-4 --batch-size 32 --max-length 48 --checkpoint-every 100 --seed 0 "${resume[@]}" \
      2> "$OUT/teacher.log"
fi
[ -f "$OUT/teacher.eval.json" ] || $PQ teacher evaluate "$OUT/teacher" --data "$EVAL" --json > "$OUT/teacher.eval.json"

# Re-running the same command resumes an interrupted labelling (finished shards are kept).
[ -d "$OUT/labels" ] || $PQ teacher label "$OUT/teacher" --data "$TRAIN" --out "$OUT/labels" \
    --augment slotsub=5 --augment chars=2 --augment dropout=1 --augment swap=1 \
    --transfer "mtod:$DATA/mtod/en/train.conllu" --transfer "mtod:$DATA/mtod/en/dev.conllu" --transfer "snips:$DATA/snips" \
    --exclude "$EVAL" --json > "$OUT/labels.json" \
    2> "$OUT/labels.log"

[ -d "$OUT/labels2" ] || $PQ teacher label "$OUT/teacher" --data "$TRAIN" --out "$OUT/labels2" \
    --augment slotsub=3 --augment xslotsub=3 --augment dropout=1 --augment chars=1 --seed 1 \
    --transfer "mtod:$DATA/mtod/en/train.conllu" --transfer "mtod:$DATA/mtod/en/dev.conllu" --transfer "snips:$DATA/snips" \
    --exclude "$EVAL" --json > "$OUT/labels2.json" \
    2> "$OUT/labels2.log"

[ -d "$OUT/labels3" ] || $PQ teacher label "$OUT/teacher" --data "$TRAIN" --out "$OUT/labels3" \
    --augment wordsub=5 --seed 2 --json > "$OUT/labels3.json" 2> "$OUT/labels3.log"

[ -f "$OUT/lexicon.npz" ] || $PQ teacher lexicon "$OUT/teacher" --data "$TRAIN" --out "$OUT/lexicon.npz" --json \
    > "$OUT/lexicon.json" 2> "$OUT/lexicon.log"

if ! grep -qs '"complete": true' "$STUDENT/metrics.json"; then
  resume=(); [ -f "$STUDENT/config.json" ] && resume=(--resume)
  nice $PQ train --teacher-labels "$OUT/labels" --teacher-labels "$OUT/labels2" --teacher-labels "$OUT/labels3" \
      --alpha 0.5 --temperature 2 --lexicon "$OUT/lexicon.npz" --lexicon-weight 0.25 \
      --model pqrnn --config small --set bottleneck=112 --set hidden=92 --set 'layer_kernel_widths=[3,1]' \
      --set encoder_weight_bits=4 --set float_epochs=1 --spec specs/subword1024-digits.json --distortion 0 \
      --epochs "$EPOCHS" --batch-size 64 --lr 0.001 --schedule cosine --warmup 0.02 --ema 0.9995 --seed 0 \
      --out "$STUDENT" "${resume[@]}" \
      --quiet --json > "$STUDENT.train.json"
fi
nice $PQ evaluate -m "$STUDENT" --data "$EVAL" --json > "$STUDENT.eval-float.json"
nice $PQ evaluate -m "$STUDENT" --int8 --data "$EVAL" --json > "$STUDENT.eval-int8.json"
nice $PQ evaluate -m "$STUDENT" --int8 --decode argmax --data "$EVAL" --json > "$STUDENT.eval-int8-argmax.json"
.venv/bin/python scripts/package_bundled_model.py "$STUDENT"
