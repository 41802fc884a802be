#!/usr/bin/env python3
"""How per-character tokens (ProjectionSpec.char_token_ranges) change a data set's fit to the projection.

    .venv/bin/python scripts/char_tokens_report.py [--spec FILE]... [--json] FORMAT:PATH...

For each source and each spec (the default spec, then every --spec; without --spec also the default
spec with char_token_ranges=["thai", "cjk"]): the share of gold slot frames that cannot be represented
on the projection's tokens (as `pqcompile data-report` counts them), and the distribution of word
tokens per utterance with max_tokens unlimited (p50/p90/p99/max), with the share of utterances that
would lose words at max_tokens 32, 48, 64 and 96. Benchmark data only; tests never run this.

Example (the numbers in docs/projection.md):
    .venv/bin/python scripts/char_tokens_report.py --spec specs/multilingual.json \\
        mtod:../shared/data/mtod/th,split=train mtod:../shared/data/mtod/th,split=dev
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pqcompile.datasets import load_source  # noqa: E402
from pqcompile.datasets.example import frame_problem  # noqa: E402
from pqcompile.projection import DEFAULT_SPEC, ProjectionSpec, tokenize  # noqa: E402

LIMITS = (32, 48, 64, 96)


def measure(examples, spec: ProjectionSpec) -> dict:
    unlimited = spec.replace(max_tokens=100_000)
    counts = np.array([sum(not t.is_tag for t in tokenize(ex.text, unlimited)) for ex in examples])
    bad = sum(frame_problem(ex, spec) is not None for ex in examples)
    pct = np.percentile(counts, [50, 90, 99]) if counts.size else [0, 0, 0]
    return {"examples": len(examples), "unrepresentable": bad, "unrepresentable_share": round(bad / max(len(examples), 1), 4),
            "tokens_p50": float(pct[0]), "tokens_p90": float(pct[1]), "tokens_p99": float(pct[2]),
            "tokens_max": int(counts.max()) if counts.size else 0,
            "share_over": {str(k): round(float((counts > k - spec.n_tags).mean()), 4) for k in LIMITS}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", action="append", default=[], help="a projection spec JSON file (repeatable)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("sources", nargs="+")
    args = ap.parse_args()
    specs = {"default": DEFAULT_SPEC}
    for path in args.spec:
        specs[path] = ProjectionSpec.load(path)
    if not args.spec:
        specs["default+thai+cjk"] = DEFAULT_SPEC.replace(char_token_ranges=("thai", "cjk"))
    report = {}
    for source in args.sources:
        examples = load_source(source)
        report[source] = {name: measure(examples, spec) for name, spec in specs.items()}
    if args.json:
        print(json.dumps(report))
        return
    for source, rows in report.items():
        print(source)
        for name, r in rows.items():
            over = ", ".join(f">{k}: {100 * v:.1f}%" for k, v in r["share_over"].items())
            print(f"  {name}: {r['examples']} examples, not representable {r['unrepresentable']} "
                  f"({100 * r['unrepresentable_share']:.2f}%); word tokens p50 {r['tokens_p50']:.0f} "
                  f"p90 {r['tokens_p90']:.0f} p99 {r['tokens_p99']:.0f} max {r['tokens_max']}; "
                  f"utterances losing words at max_tokens {over}")


if __name__ == "__main__":
    main()
