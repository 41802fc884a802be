"""`pqcompile train` behind the CLI: check every input, then create (or reopen) the run folder
and train. Works the same in one process and under torchrun (every process reads the data and
checks the inputs; only the first writes to the run folder).

Nothing is written before all inputs are known good: a bad source, config or option leaves no
run folder behind.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import torch.distributed as dist

from ..datasets import load_sources
from ..distill.loss import DistillSettings
from ..distill.soft_labels import open_labels
from ..distill.student import check_spec_matches, distill_inputs, distill_inputs_from_config, labels_spec
from ..distill.targets import gold_examples
from ..errors import PqError
from ..model.registry import config_for, default_spec
from ..projection import ProjectionSpec
from ..quant.qmodel import QuantizedModel
from .data import encode
from .lexicon_loss import LexiconLoss
from .loop import Trainer, TrainSettings, encode_for_training, init_distributed, new_run_config, training_loss
from .run import RUN_FORMAT, RunFolder, read_json, write_json


def parse_overrides(items: list[str]) -> dict:
    """--set key=value ... -> {key: value}; values are read as JSON when they parse (numbers,
    true/false), else kept as strings."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise PqError(f"--set {item!r} is not key=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _resume_config(run: RunFolder, given: dict) -> dict:
    """config.json of the run to continue; given settings other than epochs must match it."""
    if not run.config_path.is_file():
        raise PqError(f"cannot resume: {run.path} is not a run folder (no config.json)")
    config = read_json(run.config_path)
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise PqError(f"cannot resume: {run.config_path} is not a {RUN_FORMAT} file")
    stored = config["train"]["settings"]
    for key, value in given.items():
        if value is None or key in ("epochs", "threads"):
            continue
        if stored.get(key) != value:
            raise PqError(f"cannot resume with {key}={value}: the run was started with {key}={stored.get(key)} "
                          f"(a resumed run keeps its settings; only --epochs and --threads may change)")
    for key in ("epochs", "threads"):
        if given.get(key) is not None:
            stored[key] = given[key]
    return config


def _resume_dev(config: dict, dev: list[str]) -> list[str]:
    """The dev sources of a resumed run: the ones it was started with (the best epoch so far was
    chosen on them); naming other ones is an error."""
    stored = list(config["train"].get("dev", []))
    if dev and list(dev) != stored:
        raise PqError(f"cannot resume with --dev {' '.join(dev)}: the run was started with "
                      f"{' '.join(stored) if stored else 'no dev set'} (its best epoch was chosen on that)")
    return stored


@dataclass
class DistillRequest:
    """`--teacher-labels` and its loss settings (None where not given on the command line)."""

    labels: str | list[str]      # one labels folder, or several read as one
    alpha: float | None = None
    temperature: float | None = None
    teacher_scale: float | None = None
    augmented: list[str] | None = None

    def settings(self) -> DistillSettings:
        d = DistillSettings()
        return DistillSettings(d.alpha if self.alpha is None else self.alpha,
                               d.temperature if self.temperature is None else self.temperature,
                               d.teacher_scale if self.teacher_scale is None else self.teacher_scale)


def _check_distill_resume(config: dict, request: DistillRequest | None) -> None:
    """A resumed run keeps its distillation settings; the command line may only repeat them."""
    stored = config["train"].get("distill")
    if request is None:
        return
    if stored is None:
        raise PqError("cannot resume with --teacher-labels: the run was trained without distillation")
    given = {"labels": request.labels, "alpha": request.alpha, "temperature": request.temperature,
             "teacher_scale": request.teacher_scale, "augmented": request.augmented}
    for key, value in given.items():
        if value is not None and stored.get(key) != value:
            raise PqError(f"cannot resume with {key}={value}: the run was started with {key}={stored.get(key)}")


def _lexicon_loss(settings: TrainSettings, config: dict, spec: ProjectionSpec, world: int) -> LexiconLoss | None:
    """--lexicon: the auxiliary word loss, checked (and its file read) before anything is written."""
    if not settings.lexicon:
        return None
    if config["model"]["kind"] != "pqrnn":
        raise PqError(f"--lexicon trains a pQRNN's bottleneck; the model is {config['model']['kind']}")
    if world > 1:
        raise PqError("--lexicon runs in one process only (not under torchrun)")
    return LexiconLoss(settings.lexicon, spec, config["model"]["config"]["bottleneck"], settings.lexicon_weight,
                       settings.lexicon_batch, settings.seed)


def _new_config(kind: str, config_name: str, overrides: dict, spec: ProjectionSpec | None, given: dict,
                examples, dev_examples, sources: dict, labels: str | None) -> dict:
    config_for(kind, config_name, overrides)   # unknown kind/config/option -> PqError
    settings = TrainSettings(**{k: v for k, v in given.items() if v is not None})
    feature_size = default_spec(kind, config_name, overrides).feature_size
    if labels is not None:       # the student tokenises text as the teacher's labels did
        if spec is not None:
            check_spec_matches(labels, spec)
        else:
            spec = labels_spec(labels, feature_size)
    spec = spec or default_spec(kind, config_name, overrides)
    return new_run_config(examples, dev_examples, spec, kind, config_name, overrides, settings, sources)


def train_command(out: str, data: list[str], dev: list[str], kind: str, config_name: str, overrides: dict,
                  spec: ProjectionSpec | None, given: dict, resume: bool, show_progress: bool = True,
                  distill: DistillRequest | None = None) -> dict:
    """Train into run folder `out`; returns the run summary (what metrics.json holds, plus data counts).
    given: the TrainSettings values named on the command line (None = not given).
    distill: train from a teacher's soft labels (their texts replace `data`)."""
    if distill is not None and data:
        raise PqError("--data and --teacher-labels exclude each other: the labels folder holds the "
                      "training texts (label more text with `pqcompile teacher label`)")
    if distill is None and not data and not resume:
        raise PqError("no training data: give --data FORMAT:PATH (or --teacher-labels labels/NAME)")
    ctx = init_distributed()
    try:
        run = RunFolder(out)
        if resume:
            config = _resume_config(run, given)
            _check_distill_resume(config, distill)
            data = data or config["train"].get("data", [])
            dev = _resume_dev(config, dev)
        elif run.path.exists() and (not run.path.is_dir() or any(run.path.iterdir())):
            raise PqError(f"{run.path} already exists (use --resume to continue it, or choose another --out)")
        dev_examples = load_sources(dev) if dev else []
        labels = distill.labels if distill is not None else None
        if resume and config["train"].get("distill"):
            labels = config["train"]["distill"]["labels"]
        if labels is not None:
            soft = open_labels(labels)
            examples = gold_examples(soft)
            skipped = 0
        else:
            examples = load_sources(data)
            skipped = len(examples.skipped)
        if not resume:
            sources = {"data": list(data), "dev": list(dev)}
            if labels is not None:
                sources = {"data": soft.index.get("data", []), "teacher_labels": labels, "dev": list(dev)}
            config = _new_config(kind, config_name, overrides, spec, given, examples, dev_examples, sources, labels)
        settings = TrainSettings(**config["train"]["settings"])
        settings.check()
        if settings.batch_size % ctx.world:
            raise PqError(f"--batch-size {settings.batch_size} is not divisible by the {ctx.world} processes")
        loss_fn = training_loss
        if labels is None:
            train_set, n_unrepresentable = encode_for_training(examples, config)
        elif resume:
            train_set, loss_fn = distill_inputs_from_config(config)
            n_unrepresentable = 0
        else:
            train_set, loss_fn = distill_inputs(labels, config, distill.settings(), distill.augmented)
            n_unrepresentable = 0
        run_spec = ProjectionSpec.from_dict(config["spec"])
        lexicon = _lexicon_loss(settings, config, run_spec, ctx.world)
        dev_set = encode(dev_examples, run_spec, config["intent_labels"], config["slot_labels"]) if dev else None
        if ctx.world > 1:
            dist.barrier()      # every process has checked its inputs before anything is written
        if ctx.main:
            write_json(run.config_path, config)
        trainer = Trainer(run, config, train_set, dev_set, ctx, show_progress, loss_fn, lexicon)
        if resume:
            trainer.load_checkpoint()
        summary = trainer.fit()
    finally:
        if ctx.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    summary.update({
        "model": config["model"]["kind"], "config": config["model"]["config_name"],
        "world_size": ctx.world, "distilled": config["train"].get("distill") is not None,
        "data": {"train": len(examples), "train_used": len(train_set),
                 "left_out_by_reader": skipped,
                 "not_representable": n_unrepresentable, "dev": len(dev_examples)},
    })
    if ctx.main and (run.int8 / "qmodel.json").is_file():
        summary["int8_bytes"] = QuantizedModel.load(run.int8).n_weight_bytes()
    summary["main_process"] = ctx.main
    return summary

