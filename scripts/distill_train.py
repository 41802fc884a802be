#!/usr/bin/env python3
"""Train a student from a teacher's soft labels with the students' own training loop.

    .venv/bin/python scripts/distill_train.py --labels labels/NAME --dev FORMAT:PATH --out runs/NAME \
        [--config small] [--set k=v ...] [--alpha 0.5 --temperature 2 --teacher-scale 1] [--epochs ..]

The run folder is the same as `pqcompile train` makes (config.json, best/, int8/, metrics.json),
with config.json["train"]["distill"] recording the labels and the loss settings, so `pqcompile
evaluate` and the rest of the flow read it unchanged. The training set is the labels folder's
rows (gold texts with their gold frame, augmented texts with none); the loss is
TeacherTargets.loss (from pqcompile.distill.student.distill_inputs) in place of the loop's
cross-entropy.

Stopgap until `pqcompile train --teacher-labels` exists: the loop (pqcompile/train/loop.py,
another engineer's) has no loss hook yet, so this script swaps the loop's module-level
`training_loss` for the distillation loss for the duration of the run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pqcompile.datasets import load_sources  # noqa: E402
from pqcompile.distill.loss import DistillSettings  # noqa: E402
from pqcompile.distill.soft_labels import SoftLabels  # noqa: E402
from pqcompile.distill.student import distill_inputs, labels_spec  # noqa: E402
from pqcompile.distill.targets import gold_examples  # noqa: E402
from pqcompile.errors import PqError  # noqa: E402
from pqcompile.model.registry import default_spec  # noqa: E402
from pqcompile.quant.qmodel import QuantizedModel  # noqa: E402
from pqcompile.train import loop  # noqa: E402
from pqcompile.train.data import encode  # noqa: E402
from pqcompile.train.run import RunFolder, write_json  # noqa: E402
from pqcompile.train.runner import parse_overrides  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", required=True)
    ap.add_argument("--dev", action="append", default=[])
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="small")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--teacher-scale", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--distortion", type=float, default=0.25)
    a = ap.parse_args()
    try:
        overrides = parse_overrides(a.sets)
        soft = SoftLabels(a.labels)
        dev = load_sources(a.dev) if a.dev else []
        run = RunFolder(a.out)
        if run.path.exists() and any(run.path.iterdir()):
            raise PqError(f"{run.path} already exists")
        settings = loop.TrainSettings(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                                      distortion=a.distortion)
        settings.check()
        distill = DistillSettings(a.alpha, a.temperature, a.teacher_scale)
        spec = labels_spec(a.labels, default_spec("pqrnn", a.config, overrides).feature_size)
        config = loop.new_run_config(gold_examples(soft), dev, spec, "pqrnn", a.config, overrides, settings,
                                     {"data": soft.index.get("data", []), "dev": a.dev})
        train_set, loss_fn = distill_inputs(a.labels, config, distill)
        dev_set = encode(dev, spec, config["intent_labels"], config["slot_labels"]) if dev else None
        write_json(run.config_path, config)
        loop.training_loss = loss_fn     # the stopgap described above
        summary = loop.Trainer(run, config, train_set, dev_set, loop.Dist()).fit()
    except PqError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    best = summary["best"]
    line = f"{a.out}: {summary['parameters']:,} parameters, {len(train_set)} training rows"
    if best and best.get("dev"):
        line += f"; best epoch {best['epoch']} dev exact match {best['dev']['overall']['exact_match']:.4f}"
    if (run.int8 / "qmodel.json").is_file():
        line += f"; int8 {QuantizedModel.load(run.int8).n_weight_bytes():,} bytes"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
