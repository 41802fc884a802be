"""The arithmetic a teacher computes in: fp32, or bfloat16 matrix products (torch autocast).

bf16 keeps the fp32 weights (and, when training, fp32 optimizer state and master weights) and runs
the encoder's matrix products in bfloat16. On a CPU with AVX512-BF16 (e.g. AMD Zen 4) that measured
~2.1x faster training and inference of MPNet-base on one thread (docs/results.md); the hidden states
differ from fp32 by ~2% (relative norm), well inside what soft labels tolerate. Losses and the logits
handed to callers are fp32 either way."""
from __future__ import annotations

import contextlib

from ..errors import PqError

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise PqError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def compute(precision: str):
    """The context the teacher's forward pass runs in."""
    if check_precision(precision) == "bf16":
        import torch   # here, not at import: the CLI reads PRECISIONS without loading torch
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
