"""What the students' training needs from a soft-labels folder (`pqcompile train --teacher-labels`):

    spec = labels_spec(labels, feature_size)            # before the run config is made
    train_set, loss_fn = distill_inputs(labels, config, settings, augmented)
    train_set, loss_fn = distill_inputs_from_config(config)     # a resumed run

LABELS is one `pqcompile teacher label` folder or a list of several (read as one:
soft_labels.SoftLabelsUnion). The student must cut text into the teacher's tokens (the soft slot
targets sit on them), so its projection spec is the labels' spec with only the feature size its
config asks for. The training set is the labels' rows (gold, plus the augmented kinds asked
for); loss_fn replaces the loop's cross-entropy and has its signature. The settings are recorded in config["train"]["distill"].
"""
from __future__ import annotations

from pathlib import Path

from ..errors import PqError
from ..projection import ProjectionSpec
from ..projection.spec import FEATURE_ONLY_FIELDS
from ..train.data import EncodedSet
from .loss import DistillSettings
from .soft_labels import open_labels
from .targets import TeacherTargets, distill_training_set, select_rows

# projection settings that leave the tokens alone (feature size, character n-grams, digit folding)
_FEATURE_ONLY = FEATURE_ONLY_FIELDS


def labels_spec(labels: str | list[str], feature_size: int) -> ProjectionSpec:
    return ProjectionSpec.from_dict(open_labels(labels).index["spec"]).replace(feature_size=feature_size)


def check_spec_matches(labels: str | list[str], spec: ProjectionSpec) -> None:
    """A student spec given with --spec must cut text into the labels' tokens."""
    theirs = dict(open_labels(labels).index["spec"])
    ours = spec.to_dict()
    differ = sorted(k for k in set(theirs) | set(ours)
                    if k not in _FEATURE_ONLY and theirs.get(k) != ours.get(k))
    if differ:
        raise PqError(f"--spec differs from the teacher labels' projection in {', '.join(differ)}: the student "
                      "must tokenise text as the teacher's labels did (only feature_size, the n-gram "
                      "options and fold_digits may change)")


def distill_inputs(labels: str | list[str], config: dict, settings: DistillSettings,
                   augmented: list[str] | None = None) -> tuple[EncodedSet, object]:
    """(training set, loss function) for a run config; records the settings in config["train"]."""
    settings.check()
    soft = open_labels(labels)
    spec = ProjectionSpec.from_dict(config["spec"])
    rows = select_rows(soft, augmented)
    train_set = distill_training_set(soft, spec, config["intent_labels"], config["slot_labels"], rows)
    targets = TeacherTargets(soft, config["intent_labels"], config["slot_labels"], settings, rows)
    named = str(labels) if isinstance(labels, (str, Path)) else [str(x) for x in labels]
    config["train"]["distill"] = {"labels": named, "alpha": settings.alpha,
                                  "temperature": settings.temperature, "teacher_scale": settings.teacher_scale,
                                  "augmented": augmented}
    return train_set, targets.loss


def settings_from_config(config: dict) -> DistillSettings | None:
    d = config["train"].get("distill")
    return None if d is None else DistillSettings(d["alpha"], d["temperature"], d["teacher_scale"])


def distill_inputs_from_config(config: dict) -> tuple[EncodedSet, object]:
    """The same inputs again for a run whose config.json records distillation (--resume)."""
    d = config["train"]["distill"]
    return distill_inputs(d["labels"], config, settings_from_config(config), d.get("augmented"))
