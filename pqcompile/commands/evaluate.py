"""`pqcompile evaluate`: a run's intent accuracy, slot F1 and exact match on some data."""
from __future__ import annotations

import click

from ..datasets import load_sources
from ..train.decode import DECODERS, DEFAULT_DECODER
from .common import emit_json, json_option, load_predictor, model_option, pick_model

CHUNK = 256   # examples per progress-bar step (as many as train.inference decodes at a time)


def _decode_all(predictor, examples, progress: bool, **options) -> list:
    """predictor.decode over the examples, a chunk at a time, with a progress bar on stderr."""
    from tqdm import tqdm
    decoded = []
    with tqdm(total=len(examples), desc="evaluate", unit="utt", disable=not progress, leave=False,
              mininterval=0) as bar:      # one refresh a chunk
        for start in range(0, len(examples), CHUNK):
            part = examples[start:start + CHUNK]
            decoded += predictor.decode(predictor.encode(part), **options)
            bar.update(len(part))
    return decoded


def _row(name: str, m: dict) -> str:
    return (f"{name:8} {m['n']:7d} {m['intent_accuracy']:8.4f} {m['slot_precision']:8.4f} "
            f"{m['slot_recall']:8.4f} {m['slot_f1']:8.4f} {m['exact_match']:8.4f}")


@click.command("evaluate")
@model_option(onnx=False)
@click.argument("run_path", metavar="[MODEL]", required=False)
@click.option("--data", "data", multiple=True, required=True, metavar="FORMAT:PATH",
              help="Evaluation data source (repeatable).")
@click.option("--int8", "int8", is_flag=True,
              help="Evaluate the integer model (RUN/int8 on the integer reference) instead of the float model "
                   "(implied for integer model folders and the bundled model).")
@click.option("--decode", "decode", type=click.Choice(DECODERS), default=DEFAULT_DECODER, show_default=True,
              help="Slot decoding: BIO-constrained Viterbi over the raw slot logits, or per-token argmax "
                   "with BIO repair (the earlier rule, for comparison).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@json_option
def evaluate_cmd(model_opt, run_path, data, int8, decode, quiet, as_json):
    """Intent accuracy, slot micro-F1 (conlleval) and exact match of MODEL, overall and per language.

    MODEL (-m MODEL or the argument) is a run folder or an integer model folder; without one, the
    bundled model."""
    from ..train.inference import score
    predictor, int8, name = load_predictor(pick_model(model_opt, run_path), int8)
    examples = load_sources(data)
    decoded = _decode_all(predictor, examples, progress=not (as_json or quiet), decode=decode)
    result = score(examples, decoded)
    result.update({"model": name, "precision": "int8" if int8 else "float", "decode": decode, "data": list(data),
                   "left_out_by_reader": len(examples.skipped),
                   "unknown_labels": predictor.unknown_labels(examples)})
    if as_json:
        emit_json(result)
        return
    click.echo(f"{name} ({result['precision']}, {decode} decoding) on {', '.join(data)}")
    click.echo(f"{'':8} {'n':>7} {'intent':>8} {'slot P':>8} {'slot R':>8} {'slot F1':>8} {'exact':>8}")
    for lang, m in result["per_lang"].items():
        click.echo(_row(lang, m))
    click.echo(_row("overall", result["overall"]))
    if result["unknown_labels"]:
        click.echo(f"note: {result['unknown_labels']} example(s) carry a label the model does not know "
                   "(counted as errors)")


COMMANDS = [evaluate_cmd]
