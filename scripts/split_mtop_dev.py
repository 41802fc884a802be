#!/usr/bin/env python3
"""Hold out part of an MTOP JSON training file as dev (seeded shuffle; the last N items are dev),
so a run's best epoch is never chosen on the eval split that gets reported.

    .venv/bin/python scripts/split_mtop_dev.py ../shared/data/mtop/en/train.json OUT_DIR [--dev 1000] [--seed 0]

Writes OUT_DIR/train.json and OUT_DIR/dev.json (same format as the input).
"""
import argparse
import json
import random
from pathlib import Path

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("train")
ap.add_argument("out", type=Path)
ap.add_argument("--dev", type=int, default=1000)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
items = json.load(open(a.train, encoding="utf-8"))
random.Random(a.seed).shuffle(items)
a.out.mkdir(parents=True, exist_ok=True)
for name, part in (("train.json", items[:-a.dev]), ("dev.json", items[-a.dev:])):
    with open(a.out / name, "w", encoding="utf-8") as f:
        json.dump(part, f, ensure_ascii=False, indent=0)
