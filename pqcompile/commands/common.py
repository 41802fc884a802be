"""Helpers shared by the CLI commands."""
from __future__ import annotations

import json
import sys

import click

from ..errors import PqError
from ..projection import DEFAULT_SPEC, ProjectionSpec, SpecError


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(f)


def spec_option(f):
    return click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
                        help="Projection spec JSON file (default: the built-in default spec).")(f)


def load_spec(spec_path: str | None) -> ProjectionSpec:
    if spec_path is None:
        return DEFAULT_SPEC
    try:
        return ProjectionSpec.load(spec_path)
    except SpecError as e:
        raise PqError(str(e)) from None
    except TypeError as e:  # wrong field types caught by the dataclass constructor
        raise PqError(f"invalid projection spec {spec_path}: {e}") from None


def emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def load_predictor(model: str | None, int8: bool):
    """(Predictor, int8 used, description) for evaluate/predict. MODEL is a run folder (float model,
    or RUN/int8 with int8=True), an integer model folder, or None for the bundled model; integer
    model folders have no float weights, so they always run on the integer reference."""
    from ..bundled import RUN, resolve_model
    from ..train.inference import Predictor
    from ..train.run import RunFolder
    ref = resolve_model(model, allow_onnx=False)
    if ref.kind == RUN:
        run = RunFolder.open(ref.path)
        return Predictor(run, int8=int8), int8, str(run.path)
    return Predictor.from_quantized(ref.load_qmodel()), True, ref.name
