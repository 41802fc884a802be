#!/usr/bin/env python3
"""Throughput of the Python reference projection (the training featuriser), one core.

    .venv/bin/python scripts/bench_projection.py [--feature-size 512] [--spec FILE ...] [--batch 256]
                                                 [--repeat 3] [--distortion P] [--json]

Text: MTOP English train utterances from ../shared/data/mtop/en/train.json when present
(benchmark data; tests never read it), otherwise a generated MTOP-like corpus (the built-in
sentences, recombined). Reports utterances per second over the whole set, projected in batches
of --batch the way a training loop calls project(); best of --repeat runs, once with the feature cache
emptied before each run (every distinct token hashed: the first epoch) and once with it warm.
The default spec (at --feature-size) is measured, and each --spec in the same run, in turns, as
a ratio to the default (e.g. `--feature-size 256 --spec specs/subword256.json`: the character
n-grams make hashing a new token dearer; the warm cache makes them free).
--distortion P also times a training epoch's featuriser with character distortion P (train/augment.py:
tokens distorted per example, a new distortion each epoch, so many tokens are new to a warm cache).
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

from pqcompile.projection import DEFAULT_SPEC, ProjectionSpec, project  # noqa: E402
from pqcompile.projection import reference  # noqa: E402
from pqcompile.projection.corpus import sentences  # noqa: E402
from pqcompile.projection.text import tokenize  # noqa: E402
from pqcompile.train.augment import distort_tokens, example_rng  # noqa: E402

MTOP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mtop" / "en" / "train.json"


def corpus() -> tuple[list[str], str]:
    if MTOP.is_file():
        return [d["original_sentence"] for d in json.loads(MTOP.read_text(encoding="utf-8"))], str(MTOP)
    words = [w for _, s in sentences() for w in s.split()]
    rng = random.Random(0)
    return [" ".join(rng.choices(words, k=rng.randint(3, 14))) for _ in range(15000)], "generated MTOP-like"


def _ngram_text(spec: ProjectionSpec) -> str:
    if not spec.char_ngrams:
        return ""
    return f" ({spec.ngram_features} of them char n-grams {list(spec.char_ngrams)})"


def _time_once(texts: list[str], spec: ProjectionSpec, batch: int, cold: bool) -> tuple[float, int]:
    if cold:
        reference._CACHES.clear()
    start = time.perf_counter()
    n_tokens = 0
    for i in range(0, len(texts), batch):
        n_tokens += int(project(texts[i:i + batch], spec).mask.sum())
    return time.perf_counter() - start, n_tokens


def _time_distorted_epoch(tokens: list, spec: ProjectionSpec, batch: int, prob: float, epoch: int) -> float:
    """One epoch of the training featuriser: distort each example's tokens, project them."""
    start = time.perf_counter()
    for i in range(0, len(tokens), batch):
        toks = [distort_tokens(t, prob, example_rng(0, epoch, i + k)) for k, t in enumerate(tokens[i:i + batch])]
        project(None, spec, tokens=toks)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feature-size", type=int, default=512)
    ap.add_argument("--spec", action="append", help="projection spec JSON to compare with the default spec "
                    "(at --feature-size) in the same run; may be repeated")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--distortion", type=float, default=0.0,
                    help="also time training epochs with this character distortion (e.g. 0.25)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    specs = [("default spec", DEFAULT_SPEC.replace(feature_size=args.feature_size))]
    specs += [(path, ProjectionSpec.load(path)) for path in args.spec or []]
    texts, source = corpus()
    for _, spec in specs:
        project(texts[:64], spec)  # build the tokenizer's tables once
    best = {(k, mode): float("inf") for k in range(len(specs)) for mode in ("cold", "warm", "distorted")}
    tokens = {k: [tokenize(t, spec) for t in texts] for k, (_, spec) in enumerate(specs)} if args.distortion else {}
    n_tokens = 0
    for r in range(args.repeat):          # in turns, so a change in the machine's load hits every spec alike
        for mode in ("cold", "warm"):
            for k, (_, spec) in enumerate(specs):
                seconds, n_tokens = _time_once(texts, spec, args.batch, mode == "cold")
                best[k, mode] = min(best[k, mode], seconds)
        for k, (_, spec) in enumerate(specs):
            if args.distortion:       # epoch r + 1: its distortions are new, the cache holds the earlier ones
                seconds = _time_distorted_epoch(tokens[k], spec, args.batch, args.distortion, r + 1)
                best[k, "distorted"] = min(best[k, "distorted"], seconds)
    runs = [{"spec": name, "feature_size": spec.feature_size, "char_ngrams": list(spec.char_ngrams),
             "ngram_features": spec.ngram_features, "utterances_per_s": len(texts) / best[k, "cold"],
             "utterances_per_s_warm_cache": len(texts) / best[k, "warm"],
             "cold_time_vs_first": best[k, "cold"] / best[0, "cold"],
             "warm_time_vs_first": best[k, "warm"] / best[0, "warm"],
             **({"distortion": args.distortion, "utterances_per_s_distorted_epoch": len(texts) / best[k, "distorted"],
                 "distorted_time_vs_first": best[k, "distorted"] / best[0, "distorted"]} if args.distortion else {})}
            for k, (name, spec) in enumerate(specs)]
    report = {"utterances": len(texts), "tokens": n_tokens, "batch": args.batch, "text": source, "runs": runs,
              "load_average": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(report))
        return
    print(f"{len(texts)} utterances ({n_tokens} tokens) from {source}, batch {args.batch}, best of {args.repeat}; "
          f"load average {report['load_average']:.1f} (other work on this machine slows it)")
    for run, (_, spec) in zip(runs, specs):
        print(f"  {run['spec']}: F={spec.feature_size}{_ngram_text(spec)}: {run['utterances_per_s']:,.0f} utterances/s "
              f"with every token hashed ({run['cold_time_vs_first']:.2f}x the first's time), "
              f"{run['utterances_per_s_warm_cache']:,.0f}/s with the token cache warm, as from the 2nd epoch "
              f"({run['warm_time_vs_first']:.2f}x)"
              + (f"; {run['utterances_per_s_distorted_epoch']:,.0f}/s in a training epoch with distortion "
                 f"{args.distortion} ({run['distorted_time_vs_first']:.2f}x)" if args.distortion else ""))


if __name__ == "__main__":
    main()
