#!/usr/bin/env python3
"""How often the parse-only MTOP reader agrees with the gold spans of an MTOP TSV file.

MTOP's TSV rows carry both the gold slot spans and the decoupled parse; train.json has only the
parse. This reads each TSV row twice, once from its spans and once from its parse (as the JSON
reader would), and counts the frames (intent + slot spans) that agree.

    .venv/bin/python scripts/mtop_parse_agreement.py ../shared/data/mtop/en/eval.txt [--show 20]
"""
import argparse
import json
from pathlib import Path

from pqcompile.datasets.mtop import parsed_example, read_mtop

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("tsv", type=Path)
ap.add_argument("--show", type=int, default=20, help="print this many disagreements")
a = ap.parse_args()

gold = read_mtop(a.tsv)
rows = [line.split("\t") for line in a.tsv.read_text(encoding="utf-8").split("\n") if line.strip()]
agree, unaligned, shown = 0, 0, 0
for ex, cols in zip(gold, rows):
    parsed = parsed_example(cols[3], cols[6], ex.lang, a.tsv, ex.line)
    if isinstance(parsed, str):
        unaligned += 1
        continue
    if parsed.intent == ex.intent and parsed.span_texts() == ex.span_texts():
        agree += 1
    elif shown < a.show:
        shown += 1
        print(f"{ex.text}\n  gold:  {ex.span_texts()}\n  parse: {parsed.span_texts()}")
print(json.dumps({"file": str(a.tsv), "rows": len(gold), "agree": agree, "unaligned": unaligned,
                  "agreement": round(agree / len(gold), 4)}))
