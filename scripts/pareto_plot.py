#!/usr/bin/env python3
"""Exact match against model bytes: the students, the teacher and the classic baseline on one plot.

Every point comes from a file a measuring command wrote:
  --student LABEL=RUN      RUN/int8 (its int8 weight bytes) and RUN.eval-int8.json
                           (`pqcompile evaluate -m RUN --int8 --json`, Viterbi decoding)
  --teacher LABEL=JSON     `pqcompile teacher evaluate --json` (fp32 bytes, exact match)
  --baseline LABEL=JSON    scripts/bench_crf_baseline.py's result.json (its total bytes, eval exact match)

    .venv/bin/python scripts/pareto_plot.py --student "small b48 distilled=runs/t8/dist-b48-e10" \\
        --teacher "MiniLM-L6 teacher=runs/t8/teacher.eval.json" --baseline "CRF + LR=runs/bench/crf-baseline/result.json" \\
        --out docs/pareto.png --budget 266240 --budget 1048576
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pqcompile.quant.qmodel import QuantizedModel  # noqa: E402


def _pair(item: str) -> tuple[str, Path]:
    label, eq, path = item.rpartition("=")
    if not eq or not label:
        raise SystemExit(f"error: expected LABEL=PATH, got {item!r}")
    return label, Path(path)


def _em(path: Path) -> float:
    d = json.loads(path.read_text())
    return (d["overall"] if "overall" in d else d["eval"]["overall"])["exact_match"]


def points(args) -> list[dict]:
    out = []
    for label, run in map(_pair, args.student):
        n_bytes = QuantizedModel.load(run / "int8").n_weight_bytes()
        out.append({"label": label, "kind": "student", "bytes": n_bytes,
                    "exact_match": _em(Path(f"{run}.eval-int8.json"))})
    for label, path in map(_pair, args.teacher):
        d = json.loads(path.read_text())
        out.append({"label": label, "kind": "teacher", "bytes": d["fp32_bytes"], "exact_match": _em(path)})
    for label, path in map(_pair, args.baseline):
        d = json.loads(path.read_text())
        out.append({"label": label, "kind": "baseline", "bytes": d["sizes"]["total"], "exact_match": _em(path)})
    return out


def plot(pts: list[dict], budgets: list[int], out: Path) -> None:
    style = {"student": ("o", "tab:blue"), "teacher": ("s", "tab:red"), "baseline": ("^", "tab:green")}
    fig, ax = plt.subplots(figsize=(8, 5))
    for p in pts:
        marker, colour = style[p["kind"]]
        ax.scatter(p["bytes"], p["exact_match"], marker=marker, color=colour, s=40, zorder=3)
        ax.annotate(p["label"], (p["bytes"], p["exact_match"]), textcoords="offset points", xytext=(6, -3),
                    fontsize=8)
    for b in budgets:
        ax.axvline(b, color="grey", linestyle=":", linewidth=1)
        ax.text(b, ax.get_ylim()[0], f" {b / 1024:,.0f} KiB", rotation=90, va="bottom", fontsize=7, color="grey")
    ax.set_xscale("log")
    ax.set_xlim(min(p["bytes"] for p in pts) / 1.6, max(p["bytes"] for p in pts) * 4)
    ax.set_xlabel("model bytes (students: int8 weights; teacher: fp32; baseline: its files)")
    ax.set_ylabel("MTOP-en eval exact match")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Exact match against size")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--student", action="append", default=[])
    ap.add_argument("--teacher", action="append", default=[])
    ap.add_argument("--baseline", action="append", default=[])
    ap.add_argument("--budget", action="append", type=int, default=[], help="a byte budget to mark")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    pts = points(args)
    plot(pts, args.budget, args.out)
    print(json.dumps(pts, indent=1))


if __name__ == "__main__":
    main()
