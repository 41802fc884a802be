#!/usr/bin/env python3
"""Throughput of the Python reference projection (the training featuriser), one core.

    .venv/bin/python scripts/bench_projection.py [--feature-size 512] [--batch 256] [--repeat 3] [--json]

Text: MTOP English train utterances from ../shared/data/mtop/en/train.json when present
(benchmark data; tests never read it), otherwise a generated MTOP-like corpus (the built-in
sentences, recombined). Reports utterances per second over the whole set, projected in batches
of --batch the way a training loop calls project(); best of --repeat runs, once with the feature cache
emptied before each run (every distinct token hashed: the first epoch) and once with it warm.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pqcompile.projection import DEFAULT_SPEC, project  # noqa: E402
from pqcompile.projection import reference  # noqa: E402
from pqcompile.projection.corpus import sentences  # noqa: E402

MTOP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mtop" / "en" / "train.json"


def corpus() -> tuple[list[str], str]:
    if MTOP.is_file():
        return [d["original_sentence"] for d in json.loads(MTOP.read_text(encoding="utf-8"))], str(MTOP)
    words = [w for _, s in sentences() for w in s.split()]
    rng = random.Random(0)
    return [" ".join(rng.choices(words, k=rng.randint(3, 14))) for _ in range(15000)], "generated MTOP-like"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feature-size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    spec = DEFAULT_SPEC.replace(feature_size=args.feature_size)
    texts, source = corpus()
    project(texts[:64], spec)  # build the tokenizer's tables once
    def run(cold: bool) -> tuple[float, int]:
        best, n_tokens = float("inf"), 0
        for _ in range(args.repeat):
            if cold:
                reference._CACHES.clear()
            start = time.perf_counter()
            n_tokens = 0
            for i in range(0, len(texts), args.batch):
                n_tokens += int(project(texts[i:i + args.batch], spec).mask.sum())
            best = min(best, time.perf_counter() - start)
        return best, n_tokens

    cold, n_tokens = run(cold=True)
    warm, _ = run(cold=False)
    report = {"utterances": len(texts), "tokens": n_tokens, "feature_size": spec.feature_size,
              "batch": args.batch, "utterances_per_s": len(texts) / cold,
              "utterances_per_s_warm_cache": len(texts) / warm, "text": source,
              "load_average": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['utterances_per_s']:,.0f} utterances/s with every token hashed "
              f"({report['utterances_per_s_warm_cache']:,.0f}/s with the token cache warm, as from the 2nd epoch); "
              f"F={spec.feature_size}, batch {args.batch}, {len(texts)} utterances ({n_tokens} tokens) from {source}; "
              f"load average {report['load_average']:.1f} (other work on this machine slows it)")


if __name__ == "__main__":
    main()
