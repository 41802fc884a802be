"""The run folder `pqcompile train` writes and evaluate / predict / export read.

    RUN/config.json           projection spec, model kind + config, label inventories, training settings
    RUN/checkpoint/           the latest epoch: model.safetensors, optimizer.pt, state.json (for --resume),
                              ema.safetensors with --ema
    RUN/best/                 the best epoch by dev exact match: model.safetensors, state.json
    RUN/int8/                 pQRNN only: the best epoch as a QuantizedModel (qmodel.json + qmodel.npz)
    RUN/metrics.json          per epoch: loss, dev metrics, minutes; the best epoch
    RUN/learning_curve.png

Every file and folder is written to a temporary sibling and renamed into place, so a crash mid-run
leaves the previous checkpoint, never a half-written one.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..atomic import atomic_dir, atomic_file
from ..errors import PqError
from ..projection import ProjectionSpec, SpecError

RUN_FORMAT = "pqcompile-run"
RUN_VERSION = 1
WEIGHTS = "model.safetensors"


def write_json(path: Path, obj) -> None:
    with atomic_file(path, "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PqError(f"{path} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PqError(f"{path} is not valid JSON: {e}") from None


def state_dict_for_save(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}


def save_weights_dir(path: Path, model: torch.nn.Module, state: dict, optimizer=None,
                     extra: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
    """Write a checkpoint folder (weights, state.json, optionally optimizer.pt and further
    safetensors files, {file name: tensors}) atomically."""
    with atomic_dir(path) as tmp:
        save_file(state_dict_for_save(model), str(tmp / WEIGHTS))
        write_json(tmp / "state.json", state)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        for name, tensors in (extra or {}).items():
            save_file(tensors, str(tmp / name))


class RunFolder:
    """A run folder on disk; `open` checks it is one."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint"

    @property
    def best(self) -> Path:
        return self.path / "best"

    @property
    def int8(self) -> Path:
        return self.path / "int8"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def curve_path(self) -> Path:
        return self.path / "learning_curve.png"

    @classmethod
    def open(cls, path: str | Path) -> "RunFolder":
        run = cls(path)
        if not run.path.is_dir():
            raise PqError(f"run folder {run.path} does not exist")
        if not run.config_path.is_file():
            raise PqError(f"{run.path} is not a run folder (no config.json)")
        cfg = read_json(run.config_path)
        if not isinstance(cfg, dict) or cfg.get("format") != RUN_FORMAT:
            raise PqError(f"{run.path} is not a run folder (config.json is not a {RUN_FORMAT} file)")
        if cfg.get("version") != RUN_VERSION:
            raise PqError(f"{run.path}: run folder version {cfg.get('version')} is not supported "
                          f"(this pqcompile reads {RUN_VERSION})")
        if not (run.best / WEIGHTS).is_file():
            raise PqError(f"{run.path} has no trained weights yet (best/{WEIGHTS} missing)")
        return run

    def config(self) -> dict:
        return read_json(self.config_path)

    def spec(self) -> ProjectionSpec:
        try:
            return ProjectionSpec.from_dict(self.config()["spec"])
        except (SpecError, KeyError, TypeError) as e:
            raise PqError(f"{self.config_path}: bad projection spec: {e}") from None

    def best_state(self) -> dict:
        """best/state.json: the best epoch, its dev metrics, whether it was fake-quantised."""
        return read_json(self.best / "state.json")

    def load_weights(self, which: str = "best") -> dict[str, torch.Tensor]:
        return self.load_weights_file(which, WEIGHTS)

    def load_weights_file(self, which: str, name: str) -> dict[str, torch.Tensor]:
        """A safetensors file of RUN/which/ by name."""
        path = self.path / which / name
        try:
            return load_file(str(path))
        except FileNotFoundError:
            raise PqError(f"{path} not found") from None
        except Exception as e:   # safetensors raises its own error types for corrupt files
            raise PqError(f"cannot read {path}: {e}") from None
