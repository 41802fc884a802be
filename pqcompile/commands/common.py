"""Helpers shared by the CLI commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path

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
    except UnicodeDecodeError as e:
        raise PqError(f"projection spec {spec_path} is not UTF-8 text ({e.reason} at byte {e.start}); "
                      "save it as UTF-8 JSON") from None
    except TypeError as e:  # wrong field types caught by the dataclass constructor
        raise PqError(f"invalid projection spec {spec_path}: {e}") from None


def emit_json(obj) -> None:
    """One JSON object on stdout, always valid UTF-8: a string that still holds undecodable input
    (lone surrogates from the command line) is written with \\u escapes instead of raw bytes."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, ensure_ascii=True)
    sys.stdout.write(text + "\n")


def input_bytes(text: str) -> bytes:
    """The bytes the user typed for a command-line TEXT (Python decodes argv with surrogateescape):
    what the device program reads for the same text."""
    return text.encode("utf-8", "surrogateescape")


def shown_text(data: bytes) -> str:
    """Input bytes as the projection and the device program decode them (invalid UTF-8 -> U+FFFD)."""
    return data.decode("utf-8", "replace")


def model_option(onnx: bool):
    """-m/--model MODEL: the same option on every command that takes a model."""
    kinds = "a run folder, an integer model folder (qmodel.json)" + (" or an exported .onnx file" if onnx else "")
    return click.option("-m", "--model", "model_opt", metavar="MODEL",
                        help=f"The model: {kinds} (default: the bundled model).")


def pick_model(option: str | None, argument: str | None = None) -> str | None:
    """MODEL from -m/--model or, where a command still accepts it, its MODEL argument (not both)."""
    if option is not None and argument is not None:
        raise PqError(f"two models given ({argument} and -m {option}): name one")
    return option if option is not None else argument


def _names_model(text: str) -> bool:
    """Whether a TEXT argument is the path of an existing model, or of an .onnx file (the old
    `predict MODEL TEXT` form); never an error, whatever the text (long, NUL, ...)."""
    if not text or "\0" in text or len(text) > 4096:
        return False
    try:
        p = Path(text)
        if p.is_dir():
            return (p / "config.json").is_file() or (p / "qmodel.json").is_file()
        return p.suffix == ".onnx" and not any(c.isspace() for c in text)
    except (OSError, ValueError):
        return False


def check_texts(texts, model: str | None) -> None:
    """Positional arguments are TEXTs; without -m, a first one that names a model (how older
    versions took MODEL) is refused rather than predicted as a sentence with the bundled model."""
    if model is None and texts and _names_model(texts[0]):
        raise PqError(f"{texts[0]!r} names a model, but arguments are texts: give the model as "
                      f"-m {texts[0]}")


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
