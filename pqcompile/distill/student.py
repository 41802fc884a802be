"""What the students' training needs from a soft-labels folder, in two calls:

    spec = labels_spec(labels, feature_size)            # before the run config is made
    train_set, loss_fn = distill_inputs(labels, config, settings)

The student must cut text into the teacher's tokens (the soft slot targets sit on them), so its
projection spec is the labels' spec with only the feature size its config asks for. The training
set is the labels' rows; loss_fn replaces the loop's cross-entropy and has its signature.
"""
from __future__ import annotations

from ..projection import ProjectionSpec
from ..train.data import EncodedSet
from .loss import DistillSettings
from .soft_labels import SoftLabels
from .targets import TeacherTargets, distill_training_set


def labels_spec(labels: str, feature_size: int) -> ProjectionSpec:
    return ProjectionSpec.from_dict(SoftLabels(labels).index["spec"]).replace(feature_size=feature_size)


def distill_inputs(labels: str, config: dict, settings: DistillSettings) -> tuple[EncodedSet, object]:
    """(training set, loss function) for a run config; records the settings in config["train"]."""
    settings.check()
    soft = SoftLabels(labels)
    spec = ProjectionSpec.from_dict(config["spec"])
    train_set = distill_training_set(soft, spec, config["intent_labels"], config["slot_labels"])
    targets = TeacherTargets(soft, config["intent_labels"], config["slot_labels"], settings)
    config["train"]["distill"] = {"labels": str(labels), "alpha": settings.alpha,
                                  "temperature": settings.temperature, "teacher_scale": settings.teacher_scale}
    return train_set, targets.loss
