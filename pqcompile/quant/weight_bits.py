"""The weight widths a pQRNN may declare for its encoder (bottleneck and QRNN gates), in one place:
the config (model/pqrnn.py), QAT (quant/qat.py) and the integer model (quant/qmodel.py) check them
against this. 8: int8 in [-127, 127]; 4: integers in [-7, 7], stored two per byte on the device."""
from __future__ import annotations

WEIGHT_BITS = (4, 8)


def is_weight_bits(bits) -> bool:
    """True for 4 or 8 as an int (True, 4.0 or "4" are refused)."""
    return type(bits) is int and bits in WEIGHT_BITS


def weight_limit(bits: int) -> int:
    """The largest weight integer of a symmetric `bits`-bit weight: 127 for 8, 7 for 4."""
    if not is_weight_bits(bits):
        raise ValueError(f"weights are 4 or 8 bits, not {bits!r}")
    return 2 ** (bits - 1) - 1
