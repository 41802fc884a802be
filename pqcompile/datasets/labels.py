"""Label inventories: the intents and BIO slot tags a model predicts, in a fixed order.

The order is deterministic (sorted intents; "O" first, then B-/I- of each sorted slot label),
so the same examples always give the same ids; the inventory travels with the model as JSON
and is never inferred again downstream.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..errors import PqError
from .example import OUTSIDE


@dataclass(frozen=True)
class LabelSet:
    intents: tuple[str, ...]
    slot_tags: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.slot_tags or self.slot_tags[0] != OUTSIDE:
            raise PqError("a label set's slot tags must start with 'O'")
        for what, labels in (("intents", self.intents), ("slot tags", self.slot_tags)):
            if len(set(labels)) != len(labels):
                raise PqError(f"a label set's {what} contain a label twice")

    @classmethod
    def from_examples(cls, examples) -> "LabelSet":
        intents = sorted({ex.intent for ex in examples})
        names = sorted({label for ex in examples for label, _, _ in ex.spans})
        return cls(tuple(intents), (OUTSIDE,) + tuple(f"{p}-{n}" for n in names for p in "BI"))

    @property
    def slot_labels(self) -> tuple[str, ...]:
        """Slot names without the B-/I- prefix, in inventory order."""
        return tuple(t[2:] for t in self.slot_tags[1::2])

    def intent_id(self, intent: str) -> int:
        try:
            return self._intent_index[intent]
        except KeyError:
            raise PqError(f"intent {intent!r} is not in the model's labels "
                          f"({len(self.intents)} intents)") from None

    def tag_id(self, tag: str) -> int:
        try:
            return self._tag_index[tag]
        except KeyError:
            raise PqError(f"slot tag {tag!r} is not in the model's labels "
                          f"({len(self.slot_tags)} slot tags)") from None

    def check(self, examples) -> None:
        """Every intent and slot label of examples is known; PqError naming the first that is not."""
        for ex in examples:
            try:
                self.intent_id(ex.intent)
                for label, _, _ in ex.spans:
                    self.tag_id("B-" + label)
            except PqError as e:
                raise PqError(f"{ex.where}: {e}") from None

    @cached_property
    def _intent_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.intents)}

    @cached_property
    def _tag_index(self) -> dict[str, int]:
        return {tag: i for i, tag in enumerate(self.slot_tags)}

    def to_dict(self) -> dict:
        return {"intents": list(self.intents), "slot_tags": list(self.slot_tags)}

    @classmethod
    def from_dict(cls, d) -> "LabelSet":
        if not isinstance(d, dict) or not all(isinstance(d.get(k), list) and all(isinstance(x, str) for x in d[k])
                                              for k in ("intents", "slot_tags")):
            raise PqError("labels must be a JSON object with string lists 'intents' and 'slot_tags'")
        return cls(tuple(d["intents"]), tuple(d["slot_tags"]))
