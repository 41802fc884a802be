"""`pqcompile export`: a run folder's quantized model -> the integer ONNX graph."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..bundled import resolve_model
from .common import emit_json, json_option, model_option, pick_model

if TYPE_CHECKING:
    from ..quant.qmodel import QuantizedModel


def load_run(run: str | None) -> QuantizedModel:
    """The QuantizedModel of RUN (a run folder or an integer model folder; None: the bundled model)."""
    return resolve_model(run, allow_onnx=False).load_qmodel()


@click.command("export")
@model_option(onnx=False)
@click.argument("run", metavar="[MODEL]", required=False, type=click.Path())
@click.option("-o", "--output", default="model.onnx", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the ONNX model.")
@json_option
def export_cmd(model_opt, run, output, as_json):
    """Export MODEL's integer network to ONNX (static shapes, integer math, Scan recurrence).

    MODEL (-m MODEL or the argument) is a run folder or an integer model folder (qmodel.json);
    without one, the bundled model."""
    from ..export import export_onnx
    qmodel = load_run(pick_model(model_opt, run))
    model = export_onnx(qmodel, output)
    info = {"onnx": str(output), "nodes": len(model.graph.node), "bytes": Path(output).stat().st_size,
            "max_tokens": qmodel.max_tokens, "feature_size": qmodel.feature_size,
            "intents": len(qmodel.intent_labels), "slot_tags": len(qmodel.slot_labels),
            "weight_bytes": qmodel.n_weight_bytes(), "macs": qmodel.n_macs()}
    if as_json:
        emit_json(info)
    else:
        click.echo(f"wrote {output}: {info['nodes']} nodes, {info['bytes']} bytes, "
                   f"T={info['max_tokens']} F={info['feature_size']}, {info['macs']} MACs per utterance")


COMMANDS = [export_cmd]
