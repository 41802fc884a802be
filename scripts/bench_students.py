#!/usr/bin/env python3
"""Benchmarks of the students on ../shared/data (not tests): train, evaluate, and print a markdown
table with the numbers docs/results.md reports. Every step is a plain `pqcompile` command, printed
before it runs, so each number can be reproduced by hand.

    .venv/bin/python scripts/bench_students.py --list
    .venv/bin/python scripts/bench_students.py mtop-en-pqrnn-small mtop6-dev --epochs 8
    .venv/bin/python scripts/bench_students.py --table          # only print the table of finished runs

Benchmarks:
  mtop-en-<model>   train on mtop/en/train.json (best epoch by the English part of the aligned
                    MTOP dev set), evaluate on mtop/en/eval.txt (float, and --int8 for pqrnn)
  mtod              one pqrnn small on MTOD en+es+th train, evaluated on each language's dev
  mtod-multilingual-spec  the same with specs/multilingual.json (Thai/CJK character tokens,
                    512 features, max_tokens 64): Thai is written without spaces
  mtop6-dev         the MTOP-en pqrnn small run evaluated on the aligned 6-language MTOP dev set
                    (trained on English only: the other five languages are zero-shot)
Run folders go to runs/bench/<name>, evaluation JSON to runs/bench/<name>/eval-*.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = "../shared/data"
PQ = [".venv/bin/python", "-m", "pqcompile.cli"]
OUT = Path("runs/bench")

MTOP_TRAIN = f"mtop:{DATA}/mtop/en/train.json"
MTOP_DEV_EN = f"mtop6:{DATA}/mtop/aligned6/dev.json,langs=en"
MTOP_EVAL = f"mtop:{DATA}/mtop/en/eval.txt"
MTOP6_DEV = f"mtop6:{DATA}/mtop/aligned6/dev.json,langs=en+de+es+fr+hi+th"

# name -> (model, config, extra train options)
MTOP_MODELS = {
    "mtop-en-pqrnn-tiny": ("pqrnn", "tiny", ["--set", "float_epochs=2", "--lr", "0.002"]),
    "mtop-en-pqrnn-small": ("pqrnn", "small", ["--set", "float_epochs=2", "--lr", "0.002"]),
    "mtop-en-pqrnn-base": ("pqrnn", "base", ["--set", "float_epochs=2", "--lr", "0.002"]),
    "mtop-en-bilstm": ("bilstm", "small", ["--lr", "0.002"]),
    "mtop-en-transformer": ("transformer", "small", ["--lr", "0.0005"]),
}
BENCHES = [*MTOP_MODELS, "mtod", "mtod-multilingual-spec", "mtop6-dev"]


def sh(cmd: list[str], stdout_path: Path | None = None) -> None:
    print("$ " + " ".join(shlex.quote(c) for c in cmd) + (f" > {stdout_path}" if stdout_path else ""), flush=True)
    if stdout_path is None:
        subprocess.run(cmd, cwd=ROOT, check=True)
        return
    final = ROOT / stdout_path
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".partial")
    with open(partial, "w") as f:
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=f)
    os.replace(partial, final)     # a table printed meanwhile never reads half a file


def train(name: str, model: str, config: str, data: list[str], dev: list[str], extra: list[str], epochs: int) -> Path:
    run = OUT / name
    cmd = [*PQ, "train", "--model", model, "--config", config, "--epochs", str(epochs), "--batch-size", "32",
           "--seed", "0", "--out", str(run), "--json", *extra]
    for d in data:
        cmd += ["--data", d]
    for d in dev:
        cmd += ["--dev", d]
    if (ROOT / run / "config.json").is_file():
        cmd.append("--resume")
    sh(cmd, run.with_name(name + ".train.json"))
    return run


def evaluate(run: Path, data: list[str], tag: str, int8: bool = False) -> None:
    cmd = [*PQ, "evaluate", str(run), "--json", *(["--int8"] if int8 else [])]
    for d in data:
        cmd += ["--data", d]
    sh(cmd, run / f"eval-{tag}{'-int8' if int8 else ''}.json")


def bench(name: str, epochs: int) -> None:
    if name in MTOP_MODELS:
        model, config, extra = MTOP_MODELS[name]
        run = train(name, model, config, [MTOP_TRAIN], [MTOP_DEV_EN], extra, epochs)
        evaluate(run, [MTOP_EVAL], "mtop-en-eval")
        if model == "pqrnn":
            evaluate(run, [MTOP_EVAL], "mtop-en-eval", int8=True)
    elif name in ("mtod", "mtod-multilingual-spec"):
        langs = ("en", "es", "th")
        spec = ["--spec", "specs/multilingual.json"] if name == "mtod-multilingual-spec" else []
        run = train(name, "pqrnn", "small", [f"mtod:{DATA}/mtod/{l}/train.conllu" for l in langs],
                    [f"mtod:{DATA}/mtod/{l}/dev.conllu" for l in langs],
                    ["--set", "float_epochs=2", "--lr", "0.002", *spec], epochs)
        evaluate(run, [f"mtod:{DATA}/mtod/{l}/dev.conllu" for l in langs], "mtod-dev")
        evaluate(run, [f"mtod:{DATA}/mtod/{l}/dev.conllu" for l in langs], "mtod-dev", int8=True)
    elif name == "mtop6-dev":
        run = OUT / "mtop-en-pqrnn-small"
        if not (ROOT / run / "config.json").is_file():
            bench("mtop-en-pqrnn-small", epochs)
        evaluate(run, [MTOP6_DEV], "mtop6-dev")
        evaluate(run, [MTOP6_DEV], "mtop6-dev", int8=True)
    else:
        sys.exit(f"unknown benchmark {name!r} (known: {', '.join(BENCHES)})")


def _load(path: Path):
    p = ROOT / path
    return json.loads(p.read_text()) if p.is_file() else None


def table() -> str:
    """Markdown tables of whatever finished."""
    rows = ["| benchmark | model | params | int8 bytes | epochs | min/epoch | data | intent acc | slot F1 | exact match |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name in [*MTOP_MODELS, "mtod", "mtod-multilingual-spec"]:
        run = OUT / name
        metrics, cfg = _load(run / "metrics.json"), _load(run / "config.json")
        if not metrics or not cfg:
            continue
        q = _load(run / "int8" / "qmodel.json")
        int8_bytes = "-"
        if q:
            import numpy as np
            int8_bytes = f"{sum(a.nbytes for a in np.load(ROOT / run / 'int8' / 'qmodel.npz').values()):,}"
        mins = [r["minutes"] for r in metrics["epochs"]]
        label = f"{cfg['model']['kind']} {cfg['model']['config_name']}"
        for tag in ("mtop-en-eval", "mtod-dev", "mtop6-dev"):
            for suffix, kind in (("", "float"), ("-int8", "int8")):
                ev = _load(run / f"eval-{tag}{suffix}.json")
                if not ev:
                    continue
                parts = [("all", ev["overall"])] + ([(k, v) for k, v in ev["per_lang"].items()]
                                                    if len(ev["per_lang"]) > 1 else [])
                for lang, m in parts:
                    rows.append(f"| {name} | {label} ({kind}) | {metrics['parameters']:,} | {int8_bytes} | "
                                f"{len(mins)} | {sum(mins) / len(mins):.2f} | {tag} {lang} (n={m['n']}) | "
                                f"{m['intent_accuracy']:.4f} | {m['slot_f1']:.4f} | {m['exact_match']:.4f} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("benchmarks", nargs="*", help=f"which to run ({', '.join(BENCHES)}; default: all)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--table", action="store_true", help="only print the table of finished runs")
    a = ap.parse_args()
    if a.list:
        print("\n".join(BENCHES))
        return
    if not a.table:
        for name in a.benchmarks or BENCHES:
            bench(name, a.epochs)
    print(table())


if __name__ == "__main__":
    main()
