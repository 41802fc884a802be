#!/usr/bin/env python3
"""The paper's ablations for distilled pQRNN students (not a test): sweep the student's size, the
augmentation kinds and amounts, and the distillation settings; write a table and a plot of exact
match against int8 model bytes.

    .venv/bin/python scripts/ablate.py --teacher runs/distill/teacher --sweep size,augment,distill \
        [--epochs 4] [--out runs/ablate] [--dry-run]

Each point is a student trained by scripts/distill_train.py from the teacher's soft labels of the
training set (labelled once per augmentation setting, via `pqcompile teacher label`), evaluated on
the eval set as the int8 model (`pqcompile evaluate --int8`). Finished points are reused, so an
interrupted sweep continues where it stopped. Output: OUT/ablation.md, OUT/ablation.json,
OUT/ablation.png. Every command is printed before it runs.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = "../shared/data"
PY = ".venv/bin/python"
PQ = [PY, "-m", "pqcompile.cli"]
TRAIN = f"mtop:{DATA}/mtop/en/train.json"
DEV = f"mtop6:{DATA}/mtop/aligned6/dev.json,langs=en"
EVAL = f"mtop:{DATA}/mtop/en/eval.txt"

BASE = {"config": "small", "sets": {}, "augment": [], "alpha": 0.5, "temperature": 2.0, "scale": 1.0}
SWEEPS = {
    # student size: projection features, bottleneck, state, layers
    "size": [{"config": "tiny"}, {"config": "small"}, {"config": "base"},
             {"sets": {"feature_size": 512}}, {"sets": {"bottleneck": 128}}, {"sets": {"hidden": 128}},
             {"sets": {"layers": 3}}],
    # augmentation kinds and amounts (texts per training example)
    "augment": [{"augment": [k + "=0.5"]} for k in ("chars", "dropout", "swap", "slotsub")]
               + [{"augment": ["slotsub=1"]}, {"augment": ["chars=0.25", "dropout=0.25", "slotsub=0.5"]}],
    # distillation: alpha (1 = gold only), temperature, teacher-logit scaling
    "distill": [{"alpha": 1.0}, {"alpha": 0.0}, {"alpha": 0.25}, {"alpha": 0.75},
                {"temperature": 1.0}, {"temperature": 4.0}, {"scale": 0.5}, {"scale": 2.0}],
}


def point_name(p: dict) -> str:
    parts = [p["config"]] + [f"{k}{v}" for k, v in sorted(p["sets"].items())]
    parts += [a.replace("=", "") for a in p["augment"]] or ["noaug"]
    parts += [f"a{p['alpha']}", f"T{p['temperature']}", f"s{p['scale']}"]
    return "-".join(parts)


def sh(cmd: list[str], dry: bool, stdout: Path | None = None) -> None:
    print("$ " + " ".join(shlex.quote(c) for c in cmd) + (f" > {stdout}" if stdout else ""), flush=True)
    if dry:
        return
    with open(ROOT / stdout, "w") if stdout else open("/dev/null", "w") as f:
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=f if stdout else None)


def labels_for(p: dict, a) -> Path:
    name = "labels-" + ("-".join(x.replace("=", "") for x in p["augment"]) or "noaug")
    out = a.out / name
    if not (ROOT / out / "index.json").is_file():
        cmd = [*PQ, "teacher", "label", str(a.teacher), "--data", a.train, "--out", str(out), "--json"]
        for x in p["augment"]:
            cmd += ["--augment", x]
        sh(cmd, a.dry_run)
    return out


def run_point(p: dict, a) -> dict | None:
    name = point_name(p)
    run = a.out / name
    result = a.out / f"{name}.eval-int8.json"
    if not (ROOT / result).is_file():
        labels = labels_for(p, a)
        if not (ROOT / run / "int8" / "qmodel.json").is_file():
            cmd = [PY, "scripts/distill_train.py", "--labels", str(labels), "--dev", a.dev, "--out", str(run),
                   "--config", p["config"], "--epochs", str(a.epochs), "--lr", "0.002", "--set", "float_epochs=2",
                   "--alpha", str(p["alpha"]), "--temperature", str(p["temperature"]),
                   "--teacher-scale", str(p["scale"])]
            for k, v in p["sets"].items():
                cmd += ["--set", f"{k}={v}"]
            sh(cmd, a.dry_run)
        sh([*PQ, "evaluate", str(run), "--data", a.eval, "--int8", "--json"], a.dry_run, result)
    if a.dry_run:
        return None
    m = json.loads((ROOT / result).read_text())["overall"]
    qm = json.loads((ROOT / run / "config.json").read_text())
    from pqcompile.quant.qmodel import QuantizedModel
    return {"name": name, **p, "parameters": qm["parameters"],
            "int8_bytes": QuantizedModel.load(ROOT / run / "int8").n_weight_bytes(),
            "exact_match": m["exact_match"], "intent_accuracy": m["intent_accuracy"], "slot_f1": m["slot_f1"]}


def write_outputs(rows: list[dict], out: Path) -> None:
    (ROOT / out / "ablation.json").write_text(json.dumps(rows, indent=1))
    lines = ["| sweep | point | params | int8 bytes | exact match | intent acc | slot F1 |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['sweep']} | {r['name']} | {r['parameters']:,} | {r['int8_bytes']:,} | "
                     f"{r['exact_match']:.4f} | {r['intent_accuracy']:.4f} | {r['slot_f1']:.4f} |")
    (ROOT / out / "ablation.md").write_text("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for sweep in dict.fromkeys(r["sweep"] for r in rows):
        pts = [r for r in rows if r["sweep"] == sweep]
        ax.scatter([r["int8_bytes"] for r in pts], [r["exact_match"] for r in pts], label=sweep)
    ax.set_xscale("log")
    ax.set_xlabel("int8 model bytes")
    ax.set_ylabel("exact match (eval)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(ROOT / out / "ablation.png", dpi=120)
    print("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", type=Path, required=True, help="Teacher folder (pqcompile teacher train).")
    ap.add_argument("--sweep", default="size,augment,distill", help=f"Comma-separated: {', '.join(SWEEPS)}.")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--train", default=TRAIN, help="Data the teacher labels (FORMAT:PATH).")
    ap.add_argument("--dev", default=DEV, help="Dev data choosing each student's best epoch.")
    ap.add_argument("--eval", default=EVAL, help="Data every point is evaluated on.")
    ap.add_argument("--out", type=Path, default=Path("runs/ablate"))
    ap.add_argument("--dry-run", action="store_true", help="Only print the commands.")
    a = ap.parse_args()
    (ROOT / a.out).mkdir(parents=True, exist_ok=True)
    rows = []
    for sweep in a.sweep.split(","):
        if sweep not in SWEEPS:
            print(f"error: unknown sweep {sweep!r} (known: {', '.join(SWEEPS)})", file=sys.stderr)
            return 2
        for change in SWEEPS[sweep]:
            row = run_point({**BASE, **change}, a)
            if row:
                rows.append({"sweep": sweep, **row})
    if rows:
        write_outputs(rows, a.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
