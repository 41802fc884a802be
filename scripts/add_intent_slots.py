"""Give an integer model folder (qmodel.json + qmodel.npz) the slot labels allowed per intent
(docs/integer-semantics.md, decode rule 2b), from the gold frames of the data it was trained on.

Models trained since the integer model carries intent_slots get them at training time; this
script is for an older folder (e.g. the bundled model was trained before). Only qmodel.json
changes (written atomically); the weights are untouched.

Usage: python scripts/add_intent_slots.py MODEL_DIR --data FORMAT:PATH [--data ...] [--force]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pqcompile.atomic import atomic_file  # noqa: E402
from pqcompile.datasets import load_sources  # noqa: E402
from pqcompile.errors import PqError  # noqa: E402
from pqcompile.quant.qmodel import QuantizedModel  # noqa: E402
from pqcompile.train.decode import intent_slots_from_examples  # noqa: E402


def add_intent_slots(model_dir: Path, examples, force: bool = False) -> list[list[str]]:
    """Write into MODEL_DIR/qmodel.json the slot labels seen with each intent in the examples'
    gold frames (rows without a gold intent add nothing); returns the table."""
    qm = QuantizedModel.load(model_dir)
    if qm.intent_slots is not None and not force:
        raise PqError(f"{model_dir} already has intent_slots (--force replaces them)")
    table = intent_slots_from_examples(examples, qm.intent_labels, qm.slot_labels)
    path = model_dir / "qmodel.json"
    stored = json.loads(path.read_text(encoding="utf-8"))
    stored["intent_slots"] = table
    with atomic_file(path, "w") as f:
        f.write(json.dumps(stored, indent=2, ensure_ascii=False))
    QuantizedModel.load(model_dir)      # still a folder this pqcompile reads
    return table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--data", action="append", required=True, help="gold training data FORMAT:PATH (repeatable)")
    ap.add_argument("--force", action="store_true", help="replace an existing table")
    args = ap.parse_args()
    try:
        table = add_intent_slots(args.model_dir, load_sources(args.data), args.force)
    except PqError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.model_dir}: intent_slots for {len(table)} intents, "
          f"{sum(map(len, table))} (intent, slot label) pairs allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
