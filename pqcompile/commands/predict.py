"""`pqcompile predict [-m MODEL] TEXT...`: a model's intent and slots for some utterances.

Each TEXT is taken as the bytes the user gave (as the device program reads them): the tokens come
from those bytes, and texts and slots are shown decoded as the device decodes them (invalid UTF-8
-> U+FFFD), so slot spans and texts equal the device's frame for the same input."""
from __future__ import annotations

import click

from .common import check_texts, emit_json, input_bytes, json_option, load_predictor, model_option, pick_model, \
    shown_text

BATCH = 256   # utterances per integer-reference call


def load_model(model: str | None, int8: bool):
    """(model, int8 used, description): a QuantizedModel for the bundled model, an integer model
    folder or RUN/int8 (run on the integer reference, no torch needed), else the run's float
    Predictor (which imports torch)."""
    from ..bundled import RUN, resolve_model
    ref = resolve_model(model, allow_onnx=False)
    if ref.kind == RUN and not int8:
        return load_predictor(model, int8=False)
    return ref.load_qmodel(), True, ref.name


def _integer_decoded(qmodel, seen: list[str], tokens: list) -> list:
    from ..projection import project
    from ..quant.integer_reference import run_integer
    from ..train.decode import decode_one, intent_tag_mask
    mask = intent_tag_mask(qmodel.intent_slots, qmodel.intent_labels, qmodel.slot_labels)
    out = []
    for start in range(0, len(tokens), BATCH):
        toks = tokens[start:start + BATCH]
        p = project(None, qmodel.spec, tokens=toks)
        logits = run_integer(qmodel, p.features, p.lengths)
        out += [decode_one(seen[start + i], t, logits.intent_logits[i], logits.slot_logits[i],
                           list(qmodel.intent_labels), list(qmodel.slot_labels), tag_mask=mask)
                for i, t in enumerate(toks)]
    return out


def _float_decoded(predictor, seen: list[str], tokens: list) -> list:
    import numpy as np

    from ..datasets import Example
    from ..train.data import EncodedSet
    data = EncodedSet([Example(t, "", (), "und") for t in seen], tokens, np.zeros(len(seen), dtype=np.int64),
                      [None] * len(seen))
    return predictor.decode(data)


def predict_lines(model, lines: list[bytes]) -> list[dict]:
    """The decoded frame of each input line, as the device program would print it; model is a
    QuantizedModel or a float Predictor (load_model)."""
    from ..projection import tokenize
    from ..quant.qmodel import QuantizedModel
    spec = model.spec
    seen = [shown_text(line[: spec.max_input_bytes]) for line in lines]   # what the spans index
    tokens = [tokenize(line, spec) for line in lines]
    decode = _integer_decoded if isinstance(model, QuantizedModel) else _float_decoded
    return [{**d.to_dict(t), "text": shown_text(line)} for t, d, line in zip(seen, decode(model, seen, tokens), lines)]


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
    loaded, int8, name = load_model(model, int8)
    results = predict_lines(loaded, [input_bytes(t) for t in texts])
    if as_json:
        emit_json({"model": name, "precision": "int8" if int8 else "float", "predictions": results})
        return
    for r in results:
        click.echo(f"{r['text']}\n  intent: {r['intent']}")
        for s in r["slots"]:
            click.echo(f"  {s['label']}: {s['text']!r} [{s['start']}:{s['end']}]")


COMMANDS = [predict_cmd]
