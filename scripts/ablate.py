#!/usr/bin/env python3
"""The paper's ablations for distilled pQRNN students (not a test): sweep the student's size, the
augmentation kinds and amounts, and the distillation settings; write a table and a plot of exact
match against int8 model bytes.

    .venv/bin/python scripts/ablate.py --labels LABELS [--sweep size,augment,distill] [--epochs 2]
        [--lane 0/2] [--out runs/ablate] [--dry-run]
    .venv/bin/python scripts/ablate.py --labels LABELS --report      # only (re)write the table

LABELS is one `pqcompile teacher label ... --augment KIND=N ...` folder holding every augmented
kind the sweep uses; each point trains on a subset of its rows (`pqcompile train --teacher-labels
LABELS --augmented KIND[=N]`), so the teacher labels once for the whole sweep. Every point is
evaluated on the eval set as the int8 model (`pqcompile evaluate --int8`). Finished points are
reused, so an interrupted sweep continues where it stopped; `--lane K/N` runs every N-th point
(start N processes, one per core). Output: OUT/ablation.md, OUT/ablation.json, OUT/ablation.png.
Every command is printed before it runs.
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
PQ = [".venv/bin/python", "-m", "pqcompile.cli"]
EVAL = f"mtop:{DATA}/mtop/en/eval.txt"

# the reference point: the <= 260 KB student (small with a 48-wide bottleneck), gold texts only
BASE = {"config": "small", "sets": {"bottleneck": 48}, "augmented": ["none"], "alpha": 0.5,
        "temperature": 2.0, "scale": 1.0}
SWEEPS = {
    # student size: projection features, bottleneck, state, layers
    "size": [{"config": "tiny", "sets": {}}, {"sets": {}}, {"config": "base", "sets": {}},
             {"sets": {"bottleneck": 48, "feature_size": 512}}, {"sets": {"bottleneck": 48, "feature_size": 128}},
             {"sets": {"bottleneck": 32}}, {"sets": {"bottleneck": 48, "hidden": 96}},
             {"sets": {"bottleneck": 48, "layers": 3}}],
    # augmentation kinds and amounts (texts per training example) from the labels folder
    "augment": [{}, {"augmented": ["chars=1"]}, {"augmented": ["dropout=1"]}, {"augmented": ["swap=1"]},
                {"augmented": ["slotsub=1"]}, {"augmented": ["slotsub=2"]},
                {"augmented": ["chars=1", "dropout=1", "swap=1", "slotsub=2"]}],
    # distillation: alpha (1 = gold only), temperature, teacher-logit scaling
    "distill": [{"alpha": 1.0}, {}, {"alpha": 0.0}, {"alpha": 0.25}, {"alpha": 0.75},
                {"temperature": 1.0}, {"temperature": 4.0}, {"scale": 0.5}, {"scale": 2.0}],
}


def point_name(p: dict) -> str:
    parts = [p["config"]] + [f"{k}{v}" for k, v in sorted(p["sets"].items())]
    parts += ["+".join(a.replace("=", "") for a in p["augmented"])]
    parts += [f"a{p['alpha']}", f"T{p['temperature']}", f"s{p['scale']}"]
    return "-".join(parts)


def sh(cmd: list[str], dry: bool, stdout: Path | None = None) -> None:
    print("$ " + " ".join(shlex.quote(str(c)) for c in cmd) + (f" > {stdout}" if stdout else ""), flush=True)
    if dry:
        return
    with open(ROOT / stdout, "w") if stdout else open("/dev/null", "w") as f:
        subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, stdout=f if stdout else None)


def run_point(p: dict, a) -> None:
    name = point_name(p)
    run = a.out / name
    result = a.out / f"{name}.eval-int8.json"
    if (ROOT / result).is_file():
        return
    if not (ROOT / run / "metrics.json").is_file() or \
            not json.loads((ROOT / run / "metrics.json").read_text()).get("complete"):
        cmd = [*PQ, "train", "--teacher-labels", a.labels, *(["--dev", a.dev] if a.dev else []), "--out", run,
               "--config", p["config"], "--epochs", a.epochs, "--lr", "0.002", "--set", "float_epochs=1",
               "--alpha", p["alpha"], "--temperature", p["temperature"], "--teacher-scale", p["scale"],
               "--quiet", "--json"]
        if (ROOT / run / "config.json").is_file():
            cmd.append("--resume")
        for x in p["augmented"]:
            cmd += ["--augmented", x]
        for k, v in p["sets"].items():
            cmd += ["--set", f"{k}={v}"]
        sh(cmd, a.dry_run, a.out / f"{name}.train.json")
    sh([*PQ, "evaluate", run, "--data", a.eval, "--int8", "--json"], a.dry_run, result)


def collect(points: list[tuple[str, dict]], out: Path) -> list[dict]:
    from pqcompile.quant.qmodel import QuantizedModel
    rows = []
    for sweep, p in points:
        name = point_name(p)
        result = ROOT / out / f"{name}.eval-int8.json"
        if not result.is_file():
            continue
        m = json.loads(result.read_text())["overall"]
        run = ROOT / out / name
        config = json.loads((run / "config.json").read_text())
        train = json.loads((ROOT / out / f"{name}.train.json").read_text())
        rows.append({"sweep": sweep, "name": name, **p, "parameters": config["parameters"],
                     "int8_bytes": QuantizedModel.load(run / "int8").n_weight_bytes(),
                     "training_texts": train["data"]["train_used"],
                     "exact_match": m["exact_match"], "intent_accuracy": m["intent_accuracy"],
                     "slot_f1": m["slot_f1"]})
    return rows


def write_outputs(rows: list[dict], out: Path) -> None:
    (ROOT / out / "ablation.json").write_text(json.dumps(rows, indent=1))
    lines = ["| sweep | point | params | int8 bytes | training texts | exact match | intent acc | slot F1 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['sweep']} | {r['name']} | {r['parameters']:,} | {r['int8_bytes']:,} | "
                     f"{r['training_texts']:,} | {r['exact_match']:.4f} | {r['intent_accuracy']:.4f} | "
                     f"{r['slot_f1']:.4f} |")
    (ROOT / out / "ablation.md").write_text("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for sweep in dict.fromkeys(r["sweep"] for r in rows):
        pts = [r for r in rows if r["sweep"] == sweep]
        ax.scatter([r["int8_bytes"] for r in pts], [r["exact_match"] for r in pts], label=sweep, alpha=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("int8 model bytes")
    ax.set_ylabel("exact match (MTOP-en eval)")
    ax.set_title("distilled pQRNN students")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(ROOT / out / "ablation.png", dpi=120)
    print("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", type=Path, required=True, help="Soft-labels folder (pqcompile teacher label).")
    ap.add_argument("--sweep", default="size,augment,distill", help=f"Comma-separated: {', '.join(SWEEPS)}.")
    ap.add_argument("--epochs", type=int, default=2,
                    help="Epochs per point (2: one float, one QAT; a quick relative comparison, not converged).")
    ap.add_argument("--dev", help="Dev data choosing each student's best epoch (default: none, so the epoch "
                    "with the lowest training loss; never a subset of the eval data).")
    ap.add_argument("--eval", default=EVAL, help="Data every point is evaluated on.")
    ap.add_argument("--out", type=Path, default=Path("runs/ablate"))
    ap.add_argument("--lane", default="0/1", help="K/N: run only every N-th point, starting at K.")
    ap.add_argument("--report", action="store_true", help="Train nothing; write the table of finished points.")
    ap.add_argument("--dry-run", action="store_true", help="Only print the commands.")
    a = ap.parse_args()
    unknown = [s for s in a.sweep.split(",") if s not in SWEEPS]
    if unknown:
        print(f"error: unknown sweep {unknown[0]!r} (known: {', '.join(SWEEPS)})", file=sys.stderr)
        return 2
    k, _, n = a.lane.partition("/")
    (ROOT / a.out).mkdir(parents=True, exist_ok=True)
    points, seen = [], set()
    for sweep in a.sweep.split(","):
        for change in SWEEPS[sweep]:
            p = {**BASE, **change}
            points.append((sweep, p))
    todo = [p for _, p in points if not (point_name(p) in seen or seen.add(point_name(p)))]
    if not a.report:
        for i, p in enumerate(todo):
            if i % int(n) == int(k):
                run_point(p, a)
    rows = collect(points, a.out) if not a.dry_run else []
    if rows:
        write_outputs(rows, a.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
