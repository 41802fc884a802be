#!/usr/bin/env python3
"""The classic SLU baseline on MTOP-en (a benchmark, not a test): a CRF slot tagger
(python-crfsuite) + a TF-IDF logistic-regression intent classifier (scikit-learn) on the
projection's own tokens, scored with the students' frame metric (pqcompile/baselines_classic.py).

    .venv/bin/python scripts/bench_crf_baseline.py [--out runs/bench/crf-baseline]
        [--c1 0.05,0.2,0.5] [--c2 0.01,0.1] [--C 10,30] [--char-ngrams 2-5] [--iterations 100,200]
        [--spec SPEC.json]          # default: the bundled model's ProjectionSpec

Data as for the bundled student (scripts/train_bundled_model.sh): mtop/en/train.json shuffled
with seed 0 by scripts/split_mtop_dev.py, 1,000 utterances held out as dev, the rest for training.
The intent classifier's C and char n-grams are chosen by dev intent accuracy, then the CRF's c1/c2
by dev exact match (with that intent classifier; L-BFGS stopped at the first --iterations count),
then the best c1/c2 is also trained for each further count and the best of all on dev is kept;
eval.txt is only scored, never used to choose.
The chosen models are the ones reported (no refit). Trained CRFs are kept in OUT/crf/, so a killed
run continues where it stopped. Writes OUT/result.json and OUT/chosen-slots.crfsuite, and prints
a markdown table next to the bundled student. Needs `pip install 'pqcompile[baselines]'`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")   # one thread: CPU seconds comparable, no spinning on a shared machine

from pqcompile.baselines_classic import (ClassicBaseline, CrfSettings, CrfTagger, IntentSettings,  # noqa: E402
                                         intent_document, prepare, train_crf, train_intent)
from pqcompile.bundled import BUNDLED_MODEL_DIR  # noqa: E402
from pqcompile.datasets import load_source  # noqa: E402
from pqcompile.errors import PqError  # noqa: E402
from pqcompile.projection import ProjectionSpec  # noqa: E402

DATA = "../shared/data/mtop/en"


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def ngram_ranges(text: str) -> list[tuple[int, int] | None]:
    out = []
    for item in text.split(","):
        if item == "none":
            out.append(None)
        else:
            lo, _, hi = item.partition("-")
            out.append((int(lo), int(hi)))
    return out


def split_data(out: Path, dev: int) -> Path:
    """The bundled run's split (seed 0, last `dev` items held out), via scripts/split_mtop_dev.py."""
    split = out / "data" / "en"        # the folder name tells the MTOP reader the language
    if not (split / "dev.json").is_file():
        cmd = [sys.executable, "scripts/split_mtop_dev.py", f"{DATA}/train.json", str(split),
               "--dev", str(dev), "--seed", "0"]
        print("$ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
    return split


def cached_crf(train, settings: CrfSettings, folder: Path) -> CrfTagger:
    """Train a CRF, or load the one a previous run of this script kept in folder."""
    name = f"c1={settings.c1:g}-c2={settings.c2:g}-it={settings.max_iterations}"
    model, meta = folder / f"{name}.crfsuite", folder / f"{name}.json"
    if model.is_file() and meta.is_file():
        m = json.loads(meta.read_text())
        return CrfTagger(model.read_bytes(), settings, m["train_seconds"], m["iterations"], m["cpu_seconds"])
    crf = train_crf(train, settings)
    folder.mkdir(parents=True, exist_ok=True)
    model.write_bytes(crf.model_bytes)
    meta.write_text(json.dumps({"train_seconds": crf.train_seconds, "iterations": crf.iterations,
                                "cpu_seconds": crf.cpu_seconds}))
    return crf


def pct(m: dict, key: str) -> str:
    return f"{100 * m[key]:.2f}"


def table(result: dict) -> str:
    ev, size = result["eval"]["overall"], result["sizes"]
    rows = ["| model | bytes | train CPU seconds | eval intent acc % | eval slot F1 % | eval exact match % |",
            "|---|---|---|---|---|---|",
            f"| CRF (c1 {result['chosen']['crf']['c1']:g}, c2 {result['chosen']['crf']['c2']:g}, "
            f"{result['chosen']['crf']['iterations']} iterations) + TF-IDF LR "
            f"(C {result['chosen']['intent']['C']:g}) | {size['total']:,} | {result['train_cpu_seconds']:.0f} | "
            f"{pct(ev, 'intent_accuracy')} | {pct(ev, 'slot_f1')} | {pct(ev, 'exact_match')} |"]
    bundled = json.loads((BUNDLED_MODEL_DIR / "metrics.json").read_text())
    b = bundled.get("mtop_en_eval", {}).get("int8")
    if b:
        weights = bundled.get("cortex_m7", {}).get("weights")
        rows.append(f"| bundled pQRNN student (int8) | {weights:,} | - | {pct(b, 'intent_accuracy')} | "
                    f"{pct(b, 'slot_f1')} | {pct(b, 'exact_match')} |")
    return "\n".join(rows)


def run(a) -> dict:
    spec = ProjectionSpec.load(a.spec) if a.spec else ProjectionSpec.from_dict(
        json.loads((BUNDLED_MODEL_DIR / "qmodel.json").read_text())["spec"])
    split = split_data(a.out, a.dev)
    start = time.perf_counter()
    train = prepare(load_source(f"mtop:{split}/train.json"), spec, training=True)
    dev = prepare(load_source(f"mtop:{split}/dev.json"), spec)
    evals = prepare(load_source(f"mtop:{a.eval}"), spec)
    prep_seconds = time.perf_counter() - start
    print(f"train {len(train)} (+{train.n_unrepresentable} unrepresentable, left out), dev {len(dev)}, "
          f"eval {len(evals)}; featurised in {prep_seconds:.1f} s", flush=True)

    intents, grid_intent = [], []
    for C in a.C:
        for chars in a.char_ngrams:
            clf = train_intent(train, IntentSettings(C=C, char_ngrams=chars))
            golds = [ex.intent for ex in dev.examples]
            preds = clf.predict([intent_document(toks) for toks in dev.tokens])
            acc = sum(p == g for p, g in zip(preds, golds)) / len(golds)
            grid_intent.append({"C": C, "char_ngrams": chars, "dev_intent_accuracy": acc,
                                "train_seconds": clf.train_seconds, "cpu_seconds": clf.cpu_seconds,
                                "features": clf.n_features})
            print(f"intent C={C:g} char_ngrams={chars}: dev intent acc {acc:.4f}, {clf.n_features:,} features, "
                  f"{clf.cpu_seconds:.0f} s CPU ({clf.train_seconds:.0f} s wall)", flush=True)
            intents.append((acc, -len(intents), clf))
    best_intent = max(intents, key=lambda x: x[:2])[2]

    models, grid_crf = [], []

    def try_crf(settings: CrfSettings) -> None:
        crf = cached_crf(train, settings, a.out / "crf")
        model = ClassicBaseline(spec, crf, best_intent, train.n_unrepresentable)
        dev_m = model.evaluate_prepared(dev)["overall"]
        grid_crf.append({"c1": settings.c1, "c2": settings.c2, "max_iterations": settings.max_iterations,
                         "iterations": crf.iterations, "dev": dev_m, "train_seconds": crf.train_seconds,
                         "cpu_seconds": crf.cpu_seconds, "model_bytes": len(crf.model_bytes)})
        print(f"crf c1={settings.c1:g} c2={settings.c2:g} iterations={crf.iterations}: dev EM "
              f"{dev_m['exact_match']:.4f} slot F1 {dev_m['slot_f1']:.4f}, {len(crf.model_bytes):,} B, "
              f"{crf.cpu_seconds:.0f} s CPU ({crf.train_seconds:.0f} s wall)", flush=True)
        models.append((dev_m["exact_match"], -len(models), model, dev_m))

    for c1 in a.c1:                      # the c1 x c2 grid at the first iteration count
        for c2 in a.c2:
            try_crf(CrfSettings(c1, c2, a.iterations[0]))
    top = max(models, key=lambda x: x[:2])[2].crf.settings
    for iterations in a.iterations[1:]:  # then the best c1/c2 at each further count
        try_crf(CrfSettings(top.c1, top.c2, iterations))
    _, _, best, best_dev = max(models, key=lambda x: x[:2])

    return {
        "benchmark": "MTOP-en, classic CRF + TF-IDF logistic regression (scripts/bench_crf_baseline.py)",
        "data": {"train": f"mtop:{split}/train.json", "dev": f"mtop:{split}/dev.json", "eval": f"mtop:{a.eval}",
                 "train_used": len(train), "train_unrepresentable": train.n_unrepresentable,
                 "dev": len(dev), "eval_n": len(evals)},
        "spec": spec.to_dict(),
        "grid": {"intent": grid_intent, "crf": grid_crf},
        "chosen": {"crf": {"c1": best.crf.settings.c1, "c2": best.crf.settings.c2,
                           "max_iterations": best.crf.settings.max_iterations, "iterations": best.crf.iterations},
                   "intent": {"C": best.intent.settings.C, "char_ngrams": best.intent.settings.char_ngrams}},
        "dev": best_dev,
        "eval": best.evaluate_prepared(evals),
        "sizes": best.sizes(),
        "train_cpu_seconds": best.train_cpu_seconds,
        "train_wall_seconds": best.train_seconds,
        "train_cpu_seconds_parts": {"crf": best.crf.cpu_seconds, "intent": best.intent.cpu_seconds},
        "featurise_seconds_all_splits": prep_seconds,
        "_model": best,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/bench/crf-baseline"))
    ap.add_argument("--eval", default=f"{DATA}/eval.txt")
    ap.add_argument("--dev", type=int, default=1000, help="train utterances held out as dev")
    ap.add_argument("--spec", help="ProjectionSpec JSON (default: the bundled model's)")
    ap.add_argument("--c1", type=floats, default=[0.05, 0.2, 0.5])
    ap.add_argument("--c2", type=floats, default=[0.01, 0.1])
    ap.add_argument("--C", type=floats, default=[10.0, 30.0])
    ap.add_argument("--char-ngrams", type=ngram_ranges, default=[(2, 5)],
                    help="char_wb n-gram ranges to try, e.g. none,2-5 (none: word 1-2 grams only)")
    ap.add_argument("--iterations", type=lambda t: [int(x) for x in t.split(",")], default=[100, 200],
                    help="L-BFGS iterations: the c1 x c2 grid at the first; the best c1/c2 also at the others")
    a = ap.parse_args()
    a.out = ROOT / a.out if not a.out.is_absolute() else a.out
    try:
        result = run(a)
    except PqError as err:
        sys.exit(f"error: {err}")
    best = result.pop("_model")
    (a.out / "chosen-slots.crfsuite").write_bytes(best.crf.model_bytes)
    (a.out / "result.json").write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"sizes: {result['sizes']}")
    print(f"wrote {a.out / 'result.json'}")


if __name__ == "__main__":
    main()
