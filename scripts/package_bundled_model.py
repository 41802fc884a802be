"""Copy a trained run's integer model into pqcompile/assets/bundled_model/ with its numbers.

    python scripts/package_bundled_model.py RUN      (after scripts/train_bundled_model.sh RUN)

Reads RUN/config.json, RUN/metrics.json and the RUN.eval-float.json / RUN.eval-int8.json that
`pqcompile evaluate --json` wrote, builds the model for cortex-m7 for its flash/RAM, verifies it on
the whole MTOP-en eval split under QEMU (device == onnxruntime == integer reference), and writes
qmodel.json, qmodel.npz, metrics.json and MODEL.md into the bundled model folder (atomically).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pqcompile.atomic import atomic_dir
from pqcompile.bundled import BUNDLED_MODEL_DIR

REPO = Path(__file__).resolve().parent.parent
PQ = str(REPO / ".venv" / "bin" / "pqcompile")
EVAL = "mtop:../shared/data/mtop/en/eval.txt"


def _metrics(path: Path) -> dict:
    o = json.loads(path.read_text())["overall"]
    return {k: o[k] for k in ("n", "intent_accuracy", "slot_precision", "slot_recall", "slot_f1", "exact_match")}


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def main(run: str) -> None:
    run_dir = Path(run)
    cfg = json.loads((run_dir / "config.json").read_text())
    train_metrics = json.loads((run_dir / "metrics.json").read_text())
    float_m = _metrics(Path(f"{run}.eval-float.json"))
    int8_m = _metrics(Path(f"{run}.eval-int8.json"))
    with tempfile.TemporaryDirectory() as tmp:
        build = json.loads(subprocess.run([PQ, "build", "--target", "cortex-m7", str(run_dir), "-o",
                                           f"{tmp}/m7", "--json"], check=True, capture_output=True,
                                          text=True).stdout)
        verify = json.loads(subprocess.run([PQ, "verify", "--target", "cortex-m7", str(run_dir), "-o", f"{tmp}/m7",
                                            "--data", EVAL, "--json"], capture_output=True, text=True).stdout)
    best = train_metrics["best"]
    best_quantized = next(e["quantized"] for e in train_metrics["epochs"] if e["epoch"] == best["epoch"])
    s = cfg["train"]["settings"]
    metrics = {
        "model": cfg["model"], "parameters": cfg["parameters"], "spec": cfg["spec"],
        "train": cfg["train"], "best_epoch": best["epoch"], "dev_at_best_epoch": best["dev"]["overall"],
        "epochs": [{"epoch": e["epoch"], "quantized": e["quantized"], "loss": e["loss"],
                    "dev": e["dev"]["overall"]} for e in train_metrics["epochs"]],
        "mtop_en_eval": {"data": "mtop:../shared/data/mtop/en/eval.txt", "float": float_m, "int8": int8_m},
        "cortex_m7": {"flash": build["sections"]["flash"], "ram": build["sections"]["ram"],
                      "arena": build["arena_bytes"], "macs": build["macs"],
                      "weights": build["components"]["weights"],
                      "verify_mtop_en_eval": {k: verify[k] for k in ("ok", "utterances", "device_vs_onnxruntime",
                                                                     "reference_vs_onnxruntime", "frames_equal",
                                                                     "mean_instructions")}},
    }
    mc = cfg["model"]["config"]
    equal_note = ("The rows are equal: the best epoch was quantisation-aware, so its PyTorch forward pass already\n"
                  "applies the int8 fake quantisation, and the conversion to the integer model is bit-exact\n"
                  "(tests/test_model.py).") if best_quantized and float_m == int8_m else ""
    rows = "\n".join(f"| {name} | {_pct(m['intent_accuracy'])} | {_pct(m['slot_f1'])} | {_pct(m['exact_match'])} |"
                     for name, m in (("float (PyTorch, best epoch as trained)", float_m),
                                     ("int8 (integer reference = device)", int8_m)))
    model_md = f"""# The bundled model

The default model of every pqcompile command that takes one (evaluate, predict, export, build,
run, verify, demo): a small pQRNN for MTOP-en intents and slots, trained by `pqcompile train`.
This folder holds its int8 form only (qmodel.json + qmodel.npz, docs/integer-semantics.md);
metrics.json has every number below and the per-epoch history.

## Model
pQRNN `{cfg['model']['config_name']}`: projection F={mc['feature_size']} (max {cfg['spec']['max_tokens']} tokens), bottleneck {mc['bottleneck']},
{mc['layers']} bidirectional QRNN layers (hidden {mc['hidden']}, kernel width {mc['kernel_width']}), {cfg['model']['n_intents']} intents,
{cfg['model']['n_slot_tags']} slot tags; {cfg['parameters']:,} parameters.

## How it was made (`bash scripts/train_bundled_model.sh`)
Data: MTOP English (`../shared/data/mtop/en/`). train.json shuffled with seed 0: 1,000 utterances
held out as dev (the best epoch is chosen on them by exact match), the other
{len(json.load(open(cfg['train']['data'][0].split(':', 1)[1]))):,} for training. eval.txt is used only for the numbers
below, never to choose anything.
```
pqcompile train --data mtop:{cfg['train']['data'][0].split(':', 1)[1]} --dev mtop:{cfg['train']['dev'][0].split(':', 1)[1]} \\
    --model pqrnn --config {cfg['model']['config_name']} {' '.join(f'--set {k}={v}' for k, v in cfg['overrides'].items())} \\
    --epochs {s['epochs']} --batch-size {s['batch_size']} --lr {s['lr']} --seed {s['seed']} --out {run}
pqcompile evaluate {run} --data mtop:../shared/data/mtop/en/eval.txt          # float
pqcompile evaluate {run} --int8 --data mtop:../shared/data/mtop/en/eval.txt   # int8
python scripts/package_bundled_model.py {run}                                # this folder
```
{s['epochs']} epochs (float for the first {mc.get('float_epochs', '?')}, then quantisation-aware training), distortion
{s['distortion']}, one torch thread; best epoch {best['epoch']} (held-out dev exact match
{_pct(best['dev']['overall']['exact_match'])}%).

## MTOP-en eval ({int8_m['n']} utterances), measured
| model | intent acc % | slot F1 % | exact match % |
|---|---|---|---|
{rows}

The int8 row is what the device computes: on all {verify['utterances']} eval utterances the cortex-m7 program's int8
logits equal onnxruntime's on {verify['device_vs_onnxruntime']}, the integer reference's on
{verify['reference_vs_onnxruntime']}, and its frames equal the Python decoder's on {verify['frames_equal']}
(`pqcompile verify --target cortex-m7 --data {EVAL}`).
{equal_note}

## On cortex-m7 (`pqcompile build --target cortex-m7`)
flash {build['sections']['flash']:,} B (weights {build['components']['weights']:,} B), RAM {build['sections']['ram']:,} B
(arena {build['arena_bytes']:,} B); {build['macs']:,} MACs for a full {cfg['spec']['max_tokens']}-token utterance. Budget: 2 MiB flash,
512 KiB RAM. `pqcompile demo` prints the instructions each sample utterance takes under QEMU.
"""
    with atomic_dir(BUNDLED_MODEL_DIR) as tmp:
        tmp.chmod(0o755)
        for name in ("qmodel.json", "qmodel.npz"):
            shutil.copyfile(run_dir / "int8" / name, tmp / name)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (tmp / "MODEL.md").write_text(model_md)
    print(f"wrote {BUNDLED_MODEL_DIR}")


if __name__ == "__main__":
    main(sys.argv[1])
