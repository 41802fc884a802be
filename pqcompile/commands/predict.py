"""`pqcompile predict [-m MODEL] TEXT...`: a model's intent and slots for some utterances.

Each TEXT is taken as the bytes the user gave (as the device program reads them): the tokens come
from those bytes, and texts and slots are shown decoded as the device decodes them (invalid UTF-8
-> U+FFFD), so slot spans and texts equal the device's frame for the same input."""
from __future__ import annotations

import click
import numpy as np

from .common import check_texts, emit_json, input_bytes, json_option, load_predictor, model_option, pick_model, \
    shown_text


def predict_lines(predictor, lines: list[bytes]) -> list[dict]:
    """The decoded frame of each input line, as the device program would print it."""
    from ..datasets import Example
    from ..projection import tokenize
    from ..train.data import EncodedSet
    spec = predictor.spec
    seen = [shown_text(line[: spec.max_input_bytes]) for line in lines]   # what the spans index
    data = EncodedSet([Example(t, "", (), "und") for t in seen], [tokenize(line, spec) for line in lines],
                      np.zeros(len(lines), dtype=np.int64), [None] * len(lines))
    return [{**d.to_dict(t), "text": shown_text(line)} for t, d, line in zip(seen, predictor.decode(data), lines)]


@click.command("predict")
@model_option(onnx=False)
@click.argument("texts", nargs=-1, required=True, metavar="TEXT...")
@click.option("--int8", "int8", is_flag=True, help="Use the integer model (RUN/int8) instead of the float model "
                                           "(implied for integer model folders and the bundled model).")
@json_option
def predict_cmd(model_opt, texts, int8, as_json):
    """Print the intent and the slots (with their text) that MODEL predicts for each TEXT.

    Every argument is a TEXT; name the model with -m/--model (a run folder or an integer model
    folder), or leave it out for the bundled model."""
    model = pick_model(model_opt)
    check_texts(texts, model)
    predictor, int8, name = load_predictor(model, int8)
    results = predict_lines(predictor, [input_bytes(t) for t in texts])
    if as_json:
        emit_json({"run": name, "model": "int8" if int8 else "float", "predictions": results})
        return
    for r in results:
        click.echo(f"{r['text']}\n  intent: {r['intent']}")
        for s in r["slots"]:
            click.echo(f"  {s['label']}: {s['text']!r} [{s['start']}:{s['end']}]")


COMMANDS = [predict_cmd]
