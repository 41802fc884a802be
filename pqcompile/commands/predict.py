"""`pqcompile predict`: a run's intent and slots for some utterances."""
from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import PqError
from .common import emit_json, json_option, load_predictor


@click.command("predict")
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] TEXT...")
@click.option("--int8", "int8", is_flag=True, help="Use the integer model (RUN/int8) instead of the float model "
                                           "(implied for integer model folders and the bundled model).")
@json_option
def predict_cmd(args, int8, as_json):
    """Print the intent and the slots (with their text) that MODEL predicts for each TEXT.

    MODEL (a run folder or an integer model folder) is recognised as the first argument when it is
    a folder, or a path (a '/' and no spaces) followed by TEXT; without one, the bundled model."""
    first = args[0]
    names_model = Path(first).is_dir() or (len(args) > 1 and os.sep in first and not any(c.isspace() for c in first))
    run_path, texts = (first, args[1:]) if names_model else (None, args)
    if not texts:
        raise PqError(f"no TEXT given to predict with {run_path}")
    predictor, int8, name = load_predictor(run_path, int8)
    results = [d.to_dict(t) for t, d in zip(texts, predictor.predict_texts(list(texts)))]
    if as_json:
        emit_json({"run": name, "model": "int8" if int8 else "float", "predictions": results})
        return
    for r in results:
        click.echo(f"{r['text']}\n  intent: {r['intent']}")
        for s in r["slots"]:
            click.echo(f"  {s['label']}: {s['text']!r} [{s['start']}:{s['end']}]")


COMMANDS = [predict_cmd]
