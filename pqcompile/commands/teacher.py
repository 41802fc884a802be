"""`pqcompile teacher train|evaluate|label|combine`: a large encoder teacher and its soft targets.

The teacher is any local Hugging Face encoder folder fine-tuned with joint intent and slot heads
on the projection's own tokens; its soft targets feed `pqcompile train --teacher-labels`.
"""
from __future__ import annotations

from pathlib import Path

import click

from ..datasets import load_sources
from ..errors import PqError
from ..teacher.precision import PRECISIONS
from .common import emit_json, json_option, load_spec, spec_option

precision_option = click.option(
    "--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
    help="The teacher's matrix products: fp32, or bfloat16 (fp32 weights kept; ~2x faster on CPUs "
         "with AVX512-BF16, logits within ~2% of fp32).")

DATA_HELP = "Data source FORMAT:PATH[,opt=val] (repeatable), e.g. mtop:../shared/data/mtop/en/train.json."


def _metrics_line(m: dict) -> str:
    o = m["overall"]
    return (f"exact match {o['exact_match']:.4f}  intent acc {o['intent_accuracy']:.4f}  "
            f"slot F1 {o['slot_f1']:.4f}  (n={o['n']})")


@click.group("teacher")
def teacher_group():
    """Fine-tune a large encoder teacher, evaluate it, and label text with its soft targets."""


@teacher_group.command("train")
@click.option("--model", "model_dir", type=click.Path(),
              help="Local Hugging Face encoder folder (default: the bundled MiniLM-L6 of pqcompile[teacher]).")
@click.option("--data", "data", multiple=True, required=True, help=DATA_HELP)
@click.option("--dev", "dev", multiple=True, help="Dev data (FORMAT:PATH), evaluated at the end.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Teacher folder to write.")
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=1e-4, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--max-steps", default=None, type=click.IntRange(1), help="Stop after this many updates.")
@click.option("--max-length", default=128, show_default=True, type=click.IntRange(8),
              help="Sub-words per utterance the teacher reads.")
@click.option("--pooling", type=click.Choice(["cls", "mean"]), default="cls", show_default=True,
              help="Sentence vector for the intent head.")
@click.option("--freeze-embeddings/--train-embeddings", default=True, show_default=True,
              help="Keep the word-embedding table fixed (much less optimizer work).")
@click.option("--train-layers", type=click.IntRange(0),
              help="Fine-tune only the top N transformer layers (default: all); the rest stay fixed.")
@click.option("--checkpoint-every", default=100, show_default=True, type=click.IntRange(1),
              help="Also checkpoint every N updates (besides each epoch's end).")
@click.option("--group-by-length", is_flag=True,
              help="Batch texts of similar length together (less padding, faster updates).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint an interrupted run left.")
@precision_option
@spec_option
@json_option
def train_cmd(model_dir, data, dev, out, epochs, lr, batch_size, max_steps, max_length, pooling,
              freeze_embeddings, train_layers, checkpoint_every, group_by_length, seed, resume, precision,
              spec_path, as_json):
    """Fine-tune an encoder into a joint intent + slot teacher (checkpoints for --resume)."""
    from ..teacher.encoder import check_model_folder, default_model_folder
    from ..teacher.train import TrainSettings, train_teacher
    base = check_model_folder(model_dir) if model_dir else default_model_folder()
    spec = load_spec(spec_path)
    train = load_sources(data)
    dev_examples = load_sources(dev) if dev else None
    settings = TrainSettings(epochs=epochs, lr=lr, batch_size=batch_size, max_steps=max_steps,
                             max_length=max_length, pooling=pooling, seed=seed,
                             freeze_embeddings=freeze_embeddings, train_layers=train_layers,
                             checkpoint_every=checkpoint_every, precision=precision,
                             group_by_length=group_by_length)
    record = train_teacher(base, train, Path(out), settings, spec, dev_examples, resume, list(data),
                           progress=not as_json)
    if as_json:
        emit_json({"teacher": out, **record})
        return
    click.echo(f"teacher {out}: {record['steps']} steps, {record['epochs']} epoch(s) on {record['examples']} "
               f"examples from {base}; last loss {record['last_loss']:.4f}" if record["last_loss"] is not None
               else f"teacher {out}: no training step run")
    if "dev" in record:
        click.echo("dev: " + _metrics_line(record["dev"]))


@teacher_group.command("evaluate")
@click.argument("teacher_dirs", nargs=-1, required=True, type=click.Path(), metavar="TEACHER_DIR...")
@click.option("--data", "data", multiple=True, required=True, help=DATA_HELP)
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1))
@precision_option
@json_option
def evaluate_cmd(teacher_dirs, data, batch_size, precision, as_json):
    """Exact match, intent accuracy and slot F1 of the teacher on the data (as for students);
    several TEACHER_DIRs are evaluated as one ensemble (their mean log-probabilities)."""
    from tqdm import tqdm

    from ..teacher.predict import evaluate
    teachers = _load_teachers(teacher_dirs, precision)
    examples = load_sources(data)
    with tqdm(total=len(examples), desc="teacher evaluate", unit="text", disable=as_json, leave=False) as bar:
        metrics = evaluate(teachers, examples, batch_size, bar)
    name = " + ".join(teacher_dirs)
    params = sum(t.n_parameters() for t in teachers)
    fp32 = sum(t.fp32_bytes() for t in teachers)
    result = {"teacher": teacher_dirs[0] if len(teacher_dirs) == 1 else list(teacher_dirs), "data": list(data),
              "parameters": params, "fp32_bytes": fp32, "precision": precision, **metrics}
    if as_json:
        emit_json(result)
        return
    click.echo(f"{name} ({params:,} parameters, {fp32:,} bytes fp32)")
    click.echo("overall: " + _metrics_line(metrics))
    if len(metrics["per_lang"]) > 1:
        for lang, m in metrics["per_lang"].items():
            click.echo(f"  {lang}: " + _metrics_line({"overall": m}))


def _load_teachers(teacher_dirs, precision: str = "fp32") -> list:
    from ..teacher.model import load_teacher
    from ..teacher.predict import check_ensemble
    teachers = [load_teacher(d, precision) for d in teacher_dirs]
    check_ensemble(teachers, list(teacher_dirs))
    return teachers


@teacher_group.command("label")
@click.argument("teacher_dirs", nargs=-1, required=True, type=click.Path(), metavar="TEACHER_DIR...")
@click.option("--data", "data", multiple=True, required=True, help=DATA_HELP)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Soft-labels folder to write.")
@click.option("--augment", "augments", multiple=True, metavar="KIND=N",
              help="Also label N augmented texts per example (kinds: chars, dropout, swap, slotsub, codeswitch, "
                   "xslotsub: slot values from the --transfer corpora, wordsub: words replaced by their "
                   "neighbours in the teacher's embeddings).")
@click.option("--transfer", "transfer", multiple=True, metavar="FORMAT:PATH",
              help="Also label the texts of another corpus (repeatable), e.g. mtod:../shared/data/mtod/en/"
                   "train.conllu: only the text is used (its own frames are another label set), each distinct "
                   "text once, none that repeats a --data text.")
@click.option("--exclude", "exclude", multiple=True, metavar="FORMAT:PATH",
              help="Held-out data (repeatable): no --transfer text that appears in it is labelled.")
@click.option("--seed", default=0, show_default=True, type=int, help="Augmentation seed.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1))
@click.option("--shard-size", default=1024, show_default=True, type=click.IntRange(1), help="Texts per shard.")
@precision_option
@json_option
def label_cmd(teacher_dirs, data, out, augments, transfer, exclude, seed, batch_size, shard_size, precision,
              as_json):
    """Write the teacher's soft targets (intent and per-token slot logits) for the data; several
    TEACHER_DIRs label as one ensemble (their mean log-probabilities: better calibrated targets).

    Rows: the --data examples with their gold frame, their --augment texts, then the --transfer
    texts (distillation on unlabelled text; compared after lowercasing, on words only).
    Shards are written one by one; after an interruption, the same command resumes."""
    from collections import Counter

    from ..distill.augment import parse_request
    from ..distill.label import label_corpus, transfer_texts
    requests = [parse_request(a) for a in augments]
    if exclude and not transfer:
        raise PqError("--exclude only filters --transfer texts: give --transfer too")
    teachers = _load_teachers(teacher_dirs, precision)
    examples = load_sources(data)
    extra = []
    if transfer:
        held_out = load_sources(exclude) if exclude else []
        extra = transfer_texts(load_sources(transfer), examples, held_out)
    index = label_corpus(teachers, [Path(d) for d in teacher_dirs], examples, Path(out), requests, seed, shard_size,
                         batch_size, list(data), progress=not as_json, transfer=extra,
                         transfer_sources=list(transfer), exclude_sources=list(exclude))
    origins = dict(Counter(r["origin"] for r in index["rows"]))
    if as_json:
        emit_json({"labels": out, "rows": len(index["rows"]), "shards": len(index["shards"]), "origins": origins})
        return
    click.echo(f"{out}: {len(index['rows'])} texts in {len(index['shards'])} shard(s) "
               f"({', '.join(f'{k} {v}' for k, v in origins.items())})")


@teacher_group.command("combine")
@click.argument("labels_dirs", nargs=-1, required=True, type=click.Path(), metavar="LABELS_DIR...")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Soft-labels folder to write.")
@json_option
def combine_cmd(labels_dirs, out, as_json):
    """Write the ensemble of teachers that each labelled the same texts already (their mean
    log-probabilities, as `teacher label` with several TEACHER_DIRs) without running them again.

    The rows are the first folder's; each of its texts must be in every other folder (label them
    with the same --data, --augment, --transfer and --seed)."""
    from ..distill.combine import combine_labels
    index = combine_labels(list(labels_dirs), out, progress=not as_json)
    if as_json:
        emit_json({"labels": out, "rows": len(index["rows"]), "shards": len(index["shards"]),
                   "ensemble": index["ensemble"]})
        return
    click.echo(f"{out}: {len(index['rows'])} texts in {len(index['shards'])} shard(s), "
               f"the ensemble of {', '.join(index['ensemble'])}")


@teacher_group.command("lexicon")
@click.argument("teacher_dir", type=click.Path(), metavar="TEACHER_DIR")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Lexicon file to write (.npz).")
@click.option("--data", "data", multiple=True, help="Also the words of these texts (repeatable; " + DATA_HELP + ")")
@click.option("--vocabulary/--no-vocabulary", default=True, show_default=True,
              help="The teacher's whole-word vocabulary entries (alphabetic, 2+ characters).")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(1))
@json_option
def lexicon_cmd(teacher_dir, out, data, vocabulary, batch_size, as_json):
    """Write the teacher's vector for each word read alone (its last hidden state, averaged over the
    word's sub-words), for `pqcompile train --lexicon`: words that the projection reads as one token,
    from the teacher's vocabulary and the --data texts (words with a letter)."""
    from tqdm import tqdm

    from ..distill.lexicon import (check_lexicon_path, save_lexicon, single_token_words, teacher_word_vectors,
                                   text_words, vocabulary_words)
    from ..teacher.model import load_teacher
    check_lexicon_path(out)            # before the teacher is loaded
    teacher = load_teacher(teacher_dir)
    words = vocabulary_words(teacher.tokenizer.get_vocab()) if vocabulary else []
    if data:
        words += text_words((ex.text for ex in load_sources(data)), teacher.spec)
    words = single_token_words(words, teacher.spec)
    if not words:
        raise PqError("no words: give --data or keep --vocabulary")
    with tqdm(total=len(words), desc="teacher lexicon", unit="word", disable=as_json, leave=False) as bar:
        vectors = teacher_word_vectors(teacher, words, batch_size, bar)
    save_lexicon(out, words, vectors, {"teacher": str(teacher_dir), "data": list(data), "vocabulary": vocabulary})
    if as_json:
        emit_json({"lexicon": out, "words": len(words), "dimensions": int(vectors.shape[1])})
        return
    click.echo(f"{out}: {len(words):,} words x {vectors.shape[1]} dimensions")


COMMANDS = [teacher_group]
