#!/usr/bin/env bash
# Multilingual distillation benchmark on MTOD en/es/th (not a test): fine-tune the MiniLM teacher
# (English WordPiece vocabulary: no multilingual encoder is installable offline) on all three
# languages, evaluate it, label the training set, train a pQRNN student without and with
# distillation, evaluate everything per language on MTOD dev. Results land in $OUT; the numbers
# in docs/results.md ("Distillation, multilingual (MTOD en/es/th)") come from these commands.
#
#   scripts/distill_mtod.sh                   # everything, defaults below
#   STEP=students scripts/distill_mtod.sh     # from one step on: data, teacher, eval, label, students,
#                                             # tokens (the teacher vocabulary's [UNK]s per language)
# A training or labelling step whose output is already in $OUT is skipped (remove it to redo it).
#
# Data (subsampled to fit a 2-core CPU; `limit`/`offset` are a fixed-seed sample of the file,
# pqcompile/datasets/sources.py): train = EN_TRAIN English utterances + all of es and th train;
# the students' best epoch is chosen on HELDOUT English train utterances disjoint from those
# (es/th train are used whole, so there is no es/th held-out part); reported on EN_DEV English
# dev utterances + all of es and th dev. Step `data` writes that English sample to
# $OUT/data/en/dev.conllu without the utterances whose intent or slot labels never occur in the
# training data (`pqcompile evaluate` refuses labels a model does not know), so all three models
# are scored on the same utterances; it prints how many it left out.
# Knobs (environment): OUT, EN_TRAIN, HELDOUT, EN_DEV, TEACHER_STEPS (empty = one epoch),
# EPOCHS (student epochs), CONFIG, AUGMENT (e.g. "--augment slotsub=1"), ALPHA, TEMP.
# Every step runs under nice; students at 1 torch thread, the teacher at TEACHER_THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

D=../shared/data/mtod
OUT=${OUT:-runs/distill-mtod}
EN_TRAIN=${EN_TRAIN:-5000}
HELDOUT=${HELDOUT:-1000}
EN_DEV=${EN_DEV:-1000}
TEACHER_STEPS=${TEACHER_STEPS:-}
TEACHER_THREADS=${TEACHER_THREADS:-2}
EPOCHS=${EPOCHS:-8}
CONFIG=${CONFIG:-small}
AUGMENT=${AUGMENT:-}
ALPHA=${ALPHA:-0.5}
TEMP=${TEMP:-2}
STEP=${STEP:-data}
SPEC=specs/multilingual.json
PQ=(nice -n 5 .venv/bin/python -m pqcompile.cli)
TRAIN=(--data "mtod:$D/en/train.conllu,limit=$EN_TRAIN" --data "mtod:$D/es/train.conllu" --data "mtod:$D/th/train.conllu")
DEV=(--dev "mtod:$D/en/train.conllu,offset=$EN_TRAIN,limit=$HELDOUT")
EVAL=(--data "mtod:$OUT/data/en/dev.conllu" --data "mtod:$D/es/dev.conllu" --data "mtod:$D/th/dev.conllu")
STUDENT_OPTS=(--model pqrnn --config "$CONFIG" --set float_epochs=2 --lr 0.002 --batch-size 32 --seed 0
              --epochs "$EPOCHS" --threads 1)
STEPS=()
[ -n "$TEACHER_STEPS" ] && STEPS=(--max-steps "$TEACHER_STEPS")
mkdir -p "$OUT"

run() { echo "+ $*" >&2; "$@"; }
started=
for s in data teacher eval label students tokens; do
[ "$s" = "$STEP" ] && started=1
[ -n "$started" ] || continue
case $s in
data)      # the English dev sample, less utterances with labels the training data lacks
  mkdir -p "$OUT/data/en"
  run nice -n 5 .venv/bin/python - "mtod:$D/en/dev.conllu,limit=$EN_DEV" "$OUT/data/en/dev.conllu" "${TRAIN[@]}" <<'EOF'
import sys
from pqcompile.datasets import load_source, load_sources
source, out, train = sys.argv[1], sys.argv[2], load_sources(sys.argv[4::2])
known = {ex.intent for ex in train} | {label for ex in train for label, _, _ in ex.spans}
examples = load_source(source)
lines = open(examples[0].file, encoding="utf-8").read().split("\n")
blocks, dropped = [], []
for ex in examples:   # an MTOD block runs from its first line to the next blank line
    end = ex.line - 1
    while end < len(lines) and lines[end].strip():
        end += 1
    if ex.intent in known and all(label in known for label, _, _ in ex.spans):
        blocks.append("\n".join(lines[ex.line - 1:end]) + "\n")
    else:
        dropped.append(ex.where)
with open(out, "w", encoding="utf-8") as f:
    f.write("\n".join(blocks))
print(f"{out}: {len(blocks)} of {len(examples)} utterances; left out (labels not in train): {dropped}",
      file=sys.stderr)
EOF
  ;;
teacher)   # MiniLM-L6 (pqcompile[teacher]), all layers, one epoch; tokens are the multilingual spec's
  [ -s "$OUT/teacher.train.json" ] || \
  OMP_NUM_THREADS=$TEACHER_THREADS run "${PQ[@]}" teacher train "${TRAIN[@]}" --spec "$SPEC" --out "$OUT/teacher" \
      --epochs 1 --lr 3e-4 --batch-size 32 --max-length 64 "${STEPS[@]}" --json > "$OUT/teacher.train.json" ;;
eval)
  OMP_NUM_THREADS=$TEACHER_THREADS run "${PQ[@]}" teacher evaluate "$OUT/teacher" "${EVAL[@]}" --json \
      > "$OUT/teacher.eval.json" ;;
label)
  # shellcheck disable=SC2086
  [ -s "$OUT/labels.json" ] || \
  OMP_NUM_THREADS=$TEACHER_THREADS run "${PQ[@]}" teacher label "$OUT/teacher" "${TRAIN[@]}" --out "$OUT/labels" \
      $AUGMENT --json > "$OUT/labels.json" ;;
students)
  export OMP_NUM_THREADS=1
  [ -f "$OUT/student-plain/int8/qmodel.json" ] || \
    run "${PQ[@]}" train "${TRAIN[@]}" --spec "$SPEC" "${DEV[@]}" "${STUDENT_OPTS[@]}" --out "$OUT/student-plain" \
        --quiet --json > "$OUT/student-plain.train.json"
  [ -f "$OUT/student-distill/int8/qmodel.json" ] || \
    run "${PQ[@]}" train --teacher-labels "$OUT/labels" --alpha "$ALPHA" --temperature "$TEMP" "${DEV[@]}" \
        "${STUDENT_OPTS[@]}" --out "$OUT/student-distill" --quiet --json > "$OUT/student-distill.train.json"
  for r in student-plain student-distill; do
    run "${PQ[@]}" evaluate "$OUT/$r" "${EVAL[@]}" --int8 --json > "$OUT/$r.eval-int8.json"
  done ;;
tokens)    # how the teacher's (English) WordPiece vocabulary covers each language's training text
  run nice -n 5 .venv/bin/python - "$SPEC" "${TRAIN[@]}" > "$OUT/teacher-tokens.json" <<'EOF'
import json
import sys
from pqcompile.datasets import load_sources
from pqcompile.projection import ProjectionSpec, tokenize
from pqcompile.teacher.align import first_subwords
from pqcompile.teacher.encoder import default_model_folder, load_tokenizer
tok = load_tokenizer(default_model_folder())
spec = ProjectionSpec.from_dict(json.load(open(sys.argv[1], encoding="utf-8")))
out = {}
for ex in load_sources(sys.argv[3::2]):
    s = out.setdefault(ex.lang, dict.fromkeys(["utterances", "subwords", "unk", "utterances_with_unk",
                                               "projection_tokens", "tokens_sharing_previous_subword"], 0))
    enc = tok(ex.text, add_special_tokens=False, return_offsets_mapping=True)
    unk = enc["input_ids"].count(tok.unk_token_id)
    toks = [t for t in tokenize(ex.text, spec) if not t.is_tag]
    first = first_subwords(toks, enc["offset_mapping"], [0] * len(enc["input_ids"]))
    s["utterances"] += 1
    s["subwords"] += len(enc["input_ids"])
    s["unk"] += unk
    s["utterances_with_unk"] += unk > 0
    s["projection_tokens"] += len(toks)
    s["tokens_sharing_previous_subword"] += sum(a == b for a, b in zip(first, first[1:]))
print(json.dumps(out, indent=1))
EOF
  ;;
esac; done
