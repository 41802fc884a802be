#!/usr/bin/env bash
# The commands behind pqcompile/assets/bundled_model (see its MODEL.md): hold out 1,000 MTOP-en
# training utterances as dev (so the best epoch is never chosen on the eval split we report),
# train a small pQRNN with `pqcompile train`, evaluate float and int8 on MTOP-en eval, and copy
# the int8 model, its metrics and the commands into the package.
# Usage: bash scripts/train_bundled_model.sh [RUN_DIR]   (needs ../shared/data/mtop/en)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUN=${1:-runs/bundled-mtop-en}
MTOP=${MTOP:-../shared/data/mtop/en}
SPLIT=${RUN}-data/en            # the folder name tells the reader the language
PQ=".venv/bin/pqcompile"

# Seeded shuffle of train.json; the last 1,000 items become dev.
.venv/bin/python scripts/split_mtop_dev.py "$MTOP/train.json" "$SPLIT" --dev 1000 --seed 0

nice $PQ train --data "mtop:$SPLIT/train.json" --dev "mtop:$SPLIT/dev.json" \
    --model pqrnn --config small --set float_epochs=2 --epochs 20 --batch-size 32 --lr 0.002 --seed 0 \
    --out "$RUN" --quiet --json > "$RUN.train.json"

nice $PQ evaluate "$RUN" --data "mtop:$MTOP/eval.txt" --json > "$RUN.eval-float.json"
nice $PQ evaluate "$RUN" --int8 --data "mtop:$MTOP/eval.txt" --json > "$RUN.eval-int8.json"
.venv/bin/python scripts/package_bundled_model.py "$RUN"
