"""Config validation shared by the model kinds."""
from __future__ import annotations

from ..errors import PqError


def check_positive_ints(kind: str, cfg, names: tuple[str, ...]) -> None:
    """Each named field of cfg must be an int >= 1 (bools refused); PqError naming the field otherwise."""
    for name in names:
        v = getattr(cfg, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise PqError(f"{kind} config: {name} must be a positive integer, got {v!r}")
