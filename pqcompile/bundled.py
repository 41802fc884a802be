"""The MODEL argument every command shares, and the bundled default model.

A model can be named three ways, and every command that takes one (evaluate, predict, export,
build, run, verify, demo; always as -m/--model MODEL) resolves it here, so they all accept the
same things:

- a training run folder (`pqcompile train --out RUN`): config.json + best/ weights, and for
  pQRNN runs the integer model in RUN/int8/;
- an integer model folder: qmodel.json + qmodel.npz (e.g. RUN/int8, or the bundled model);
- an exported .onnx file (the compiler's commands only).

Naming none means the bundled model, pqcompile/assets/bundled_model/: a small pQRNN trained on
MTOP-en by `pqcompile train`, shipped with the package (its MODEL.md has the command, the data
and the measured metrics), so the main job runs on a fresh machine without any data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import PqError

BUNDLED_MODEL_DIR = Path(__file__).resolve().parent / "assets" / "bundled_model"

RUN = "run"          # a training run folder
QMODEL = "qmodel"    # qmodel.json + qmodel.npz
ONNX = "onnx"        # an exported .onnx file


@dataclass(frozen=True)
class ModelRef:
    """A resolved MODEL argument: where it is, what kind, and whether it is the bundled default."""

    path: Path
    kind: str
    bundled: bool = False

    @property
    def name(self) -> str:
        return f"bundled model ({self.path})" if self.bundled else str(self.path)

    @property
    def qmodel_dir(self) -> Path:
        """The folder holding qmodel.json + qmodel.npz (PqError for an ONNX file or a float-only run)."""
        if self.kind == ONNX:
            raise PqError(f"{self.path} is an ONNX file; this needs a run folder or an integer model folder")
        d = self.path / "int8" if self.kind == RUN else self.path
        if not (d / "qmodel.json").is_file():
            raise PqError(f"{self.path} has no integer model ({d}/qmodel.json missing; only pQRNN runs have one)")
        return d

    def load_qmodel(self):
        """The QuantizedModel (integer weights, spec and labels)."""
        from .quant.qmodel import QuantizedModel
        return QuantizedModel.load(self.qmodel_dir)


def resolve_model(model: str | Path | None, allow_onnx: bool = True) -> ModelRef:
    """The ModelRef for a MODEL argument; None means the bundled model. One-line PqError when the
    path does not exist or is none of the accepted kinds."""
    if model is None:
        if not (BUNDLED_MODEL_DIR / "qmodel.json").is_file():
            raise PqError(f"no model given and the bundled model is missing ({BUNDLED_MODEL_DIR}); "
                          "name a run folder, an integer model folder or an .onnx file")
        return ModelRef(BUNDLED_MODEL_DIR, QMODEL, bundled=True)
    if str(model) == "":
        raise PqError("empty model path: name a run folder, an integer model folder or an .onnx file")
    path = Path(model)
    try:
        return ModelRef(path, _kind(path, allow_onnx))
    except (OSError, ValueError) as e:   # a name too long, a NUL byte, no permission
        raise PqError(f"model {str(model)[:200]!r}: cannot use this path ({getattr(e, 'strerror', None) or e})") \
            from None


def _kind(path: Path, allow_onnx: bool) -> str:
    accepted = "a run folder, an integer model folder (qmodel.json)" + (" or an .onnx file" if allow_onnx else "")
    if not path.exists():
        raise PqError(f"model {path} not found: the path does not exist (expected {accepted})")
    if path.is_dir():
        if (path / "config.json").is_file():
            return RUN
        if (path / "qmodel.json").is_file():
            return QMODEL
        raise PqError(f"{path} is not a run folder (no config.json) nor an integer model folder "
                      "(no qmodel.json)")
    if allow_onnx and path.suffix == ".onnx":
        return ONNX
    raise PqError(f"model {path} is not {accepted}")

