"""`pqcompile predict`: a run's intent and slots for some utterances."""
from __future__ import annotations

import click

from ..train.inference import Predictor
from ..train.run import RunFolder
from .common import emit_json, json_option


@click.command("predict")
@click.argument("run_path", metavar="RUN")
@click.argument("texts", nargs=-1, required=True)
@click.option("--int8", "int8", is_flag=True, help="Use the integer model (RUN/int8) instead of the float model.")
@json_option
def predict_cmd(run_path, texts, int8, as_json):
    """Print the intent and the slots (with their text) that RUN predicts for each TEXT."""
    run = RunFolder.open(run_path)
    predictor = Predictor(run, int8=int8)
    results = [d.to_dict(t) for t, d in zip(texts, predictor.predict_texts(list(texts)))]
    if as_json:
        emit_json({"run": str(run.path), "model": "int8" if int8 else "float", "predictions": results})
        return
    for r in results:
        click.echo(f"{r['text']}\n  intent: {r['intent']}")
        for s in r["slots"]:
            click.echo(f"  {s['label']}: {s['text']!r} [{s['start']}:{s['end']}]")


COMMANDS = [predict_cmd]
