"""`pqcompile train`: train a pQRNN (or a baseline) into a run folder; also runs under torchrun."""
from __future__ import annotations

import click

from ..errors import PqError
from .common import emit_json, json_option, load_spec

# The names of model.registry's KINDS and of its named sizes, spelled out so that `train --help`
# does not import torch (tests/test_cli_startup.py checks they match the registry).
MODEL_KINDS = ["pqrnn", "bilstm", "transformer"]
SIZE_NAMES = ["tiny", "small", "base"]


@click.command("train")
@click.option("--data", "data", multiple=True, metavar="FORMAT:PATH",
              help="Training data source (repeatable; formats: mtop, mtop6, mtod, matis, snips).")
@click.option("--teacher-labels", multiple=True, type=click.Path(file_okay=False), metavar="LABELS",
              help="Distil: train on a `pqcompile teacher label` folder's texts and soft targets (instead of --data); "
                   "repeat it to train on several folders as one corpus (same teacher labels and spec; a text "
                   "in more than one is used once).")
@click.option("--alpha", type=float, help="Distillation: weight of the gold cross-entropy (default 0.5; 1 = gold only).")
@click.option("--temperature", type=float, help="Distillation: softmax temperature T of the KL term (default 2).")
@click.option("--teacher-scale", type=float,
              help="Distillation: multiply the teacher's logits by this before the softmax (default 1 = off).")
@click.option("--augmented", multiple=True, metavar="KIND[=N]",
              help="Distillation: train on these augmented kinds of the labels only, at most N texts per "
                   "example (repeatable; 'none' = gold texts only; default: every labelled text).")
@click.option("--dev", "dev", multiple=True, metavar="FORMAT:PATH",
              help="Dev data source (repeatable); the best epoch is chosen by dev exact match.")
@click.option("--model", "kind", default="pqrnn", show_default=True, type=click.Choice(MODEL_KINDS),
              help="Model kind.")
@click.option("--config", "config_name", default="small", show_default=True,
              help=f"Named size ({', '.join(SIZE_NAMES)}).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a model config option, e.g. --set hidden=96 --set zoneout=0 (repeatable).")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
              help="Projection spec JSON (default: the defaults with the config's feature_size).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder to create (runs/NAME).")
@click.option("--epochs", type=int, help="Epochs in total (default 10; with --resume: train up to this many).")
@click.option("--batch-size", type=int, help="Examples per optimisation step, over all processes (default 32).")
@click.option("--lr", type=float, help="Peak learning rate (default 0.001).")
@click.option("--seed", type=int, help="Random seed: same seed, same weights (default 0).")
@click.option("--distortion", type=float, help="Probability that a training word is distorted (default 0.25).")
@click.option("--unseen-words", type=float, metavar="P",
              help="Probability that a training word gets random whole-token features, as a word never seen "
                   "would, keeping its character n-grams and case columns (default 0).")
@click.option("--threads", type=int, help="torch CPU threads per process (default 1).")
@click.option("--schedule", metavar="constant|linear|cosine",
              help="Learning rate over the run after the warm-up: constant, or a linear or cosine decay to 0 "
                   "at the last update (default constant).")
@click.option("--warmup", type=float, help="Fraction of all updates with a linear warm-up of the rate (default 0).")
@click.option("--weight-decay", type=float, help="Decoupled weight decay, AdamW (default 0 = Adam).")
@click.option("--ema", type=float, metavar="DECAY",
              help="Evaluate and keep a moving average of the weights with this decay per update, "
                   "e.g. 0.999 (default 0 = off: the live weights).")
@click.option("--lexicon", type=click.Path(dir_okay=False), metavar="FILE",
              help="pQRNN: also regress the bottleneck's output for single words onto a teacher's vectors for "
                   "them (`pqcompile teacher lexicon`), through a training-only head (default: off).")
@click.option("--lexicon-weight", type=float, help="Weight of the --lexicon loss (default 0.25).")
@click.option("--lexicon-batch", type=int, help="Lexicon words per update (default 128).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@json_option
def train_cmd(data, teacher_labels, alpha, temperature, teacher_scale, augmented, dev, kind, config_name, sets,
              spec_path, out, epochs, batch_size, lr, seed, distortion, unseen_words, threads, schedule, warmup,
              weight_decay, ema, lexicon, lexicon_weight, lexicon_batch, resume, quiet, as_json):
    """Train a model on FORMAT:PATH sources into a run folder.

    The folder gets config.json (projection spec, model config, labels), a checkpoint each epoch,
    the best epoch by dev exact match (best/, and int8/ for pQRNN), metrics.json and
    learning_curve.png. Under `torchrun --nproc_per_node N` the same command trains with DDP (gloo).

    With --teacher-labels the student is distilled: loss = alpha * CE(gold) + (1 - alpha) * T^2 *
    KL(teacher || student) on both heads, over the labels' gold and augmented texts.
    """
    from ..train.runner import DistillRequest, parse_overrides, train_command
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "distortion": distortion,
             "unseen_words": unseen_words, "threads": threads, "schedule": schedule, "warmup": warmup,
             "weight_decay": weight_decay, "ema": ema, "lexicon": lexicon, "lexicon_weight": lexicon_weight,
             "lexicon_batch": lexicon_batch}
    if lexicon is None and (lexicon_weight is not None or lexicon_batch is not None) and not resume:
        raise PqError("--lexicon-weight and --lexicon-batch need --lexicon")
    spec = load_spec(spec_path) if spec_path else None
    distill = None
    if teacher_labels:
        labels = teacher_labels[0] if len(teacher_labels) == 1 else list(teacher_labels)
        distill = DistillRequest(labels, alpha, temperature, teacher_scale, list(augmented) or None)
    elif alpha is not None or temperature is not None or teacher_scale is not None or augmented:
        raise PqError("--alpha, --temperature, --teacher-scale and --augmented need --teacher-labels")
    summary = train_command(out, list(data), list(dev), kind, config_name, parse_overrides(list(sets)), spec,
                            given, resume, show_progress=not quiet, distill=distill)
    if not summary.pop("main_process"):
        return
    if as_json:
        emit_json(summary)
        return
    d = summary["data"]
    if summary.get("distilled"):
        click.echo(f"{summary['model']} {summary['config']}: {summary['parameters']:,} parameters; distilled on "
                   f"{d['train_used']} labelled texts ({d['train']} with a gold frame)")
    else:
        click.echo(f"{summary['model']} {summary['config']}: {summary['parameters']:,} parameters; "
                   f"{d['train_used']} training examples used of {d['train']} "
                   f"({d['not_representable']} not representable on projection tokens, "
                   f"{d['left_out_by_reader']} left out by the readers)")
    best = summary["best"]
    if best and best.get("dev"):
        o = best["dev"]["overall"]
        click.echo(f"best epoch {best['epoch']}: dev intent accuracy {o['intent_accuracy']:.4f}, "
                   f"slot F1 {o['slot_f1']:.4f}, exact match {o['exact_match']:.4f}")
    elif best:
        click.echo(f"best epoch {best['epoch']} (no dev set: lowest training loss)")
    if "int8_bytes" in summary:
        click.echo(f"int8 model: {summary['int8_bytes']:,} bytes in {out}/int8")
    click.echo(f"run folder: {out}")


COMMANDS = [train_cmd]
