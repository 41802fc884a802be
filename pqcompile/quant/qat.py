"""Fake-quantisation building blocks for int8 quantisation-aware training (QAT).

The QAT model computes in the *integer domain*: every activation tensor holds the integer the
integer model would hold (as a float tensor), and each layer carries its real scale beside it.
With quantisation on, every step is the float32 twin of a step in docs/integer-semantics.md
(int8 weights, int32 biases, `requant` = floor(acc * s + 0.5) then clamp, table lookups), so an
eval-mode QAT model reproduces `pqcompile.quant.integer_reference.run_integer`; gradients pass
the rounding steps straight through (STE) and the lookups with the float function's derivative.

With quantisation off (float training) the same code runs without any rounding or clamping other
than ReLU: the layer then computes the ordinary float network, written in units of its scales.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from .tables import ATTN_SCORE_SCALE, GATE_PRE_SCALE, Q7, EXP_ONE, exp_q15, sigmoid_q7, tanh_q7
from .weight_bits import weight_limit

INT8_MAX = 127


def ste(x: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    """Forward: `rounded`; backward: identity to x (straight-through estimator)."""
    return x + (rounded - x).detach()


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """floor(x + 0.5) with a straight-through gradient (the semantics' requant rounding)."""
    return ste(x, torch.floor(x + 0.5))


def round_half_even(x: torch.Tensor) -> torch.Tensor:
    """round-half-even with a straight-through gradient (weight and bias quantisation)."""
    return ste(x, torch.round(x))


def weight_scale(weight: torch.Tensor, limit: int = INT8_MAX) -> torch.Tensor:
    """Per-output-channel symmetric scale of a [in, out] weight: max|W[:, c]| / limit (1 for a zero
    column); limit 127 for int8 weights, 7 for 4-bit ones."""
    amax = weight.detach().abs().amax(dim=0)
    return torch.where(amax > 0, amax / limit, torch.ones_like(amax))


def requant_scale(in_scale: torch.Tensor, w_scale: torch.Tensor, out_scale: torch.Tensor) -> torch.Tensor:
    """s = S_in * S_w / S_out, computed in float64 and rounded once to float32 (the value the
    integer model stores; convert.py reads it from here, so both agree exactly)."""
    s = in_scale.detach().double() * w_scale.detach().double() / out_scale.detach().double()
    return s.float()


class _Quantize(torch.autograd.Function):
    """round_half_even(x / d), clamped to [-limit, limit] (limit None: not clamped), for a constant
    d, in fewer passes than the separate ops; backward: 1 / d where the rounded value is within the
    limits, else 0 (what autograd gives the separate ops with the rounding passed straight through)."""

    @staticmethod
    def forward(ctx, x, d, limit):
        q = torch.div(x, d).round_()
        if limit is None:
            ctx.save_for_backward(None, d)
            return q
        ctx.save_for_backward((q >= -limit) & (q <= limit), d)
        return q.clamp_(-limit, limit)

    @staticmethod
    def backward(ctx, grad):
        inside, d = ctx.saved_tensors
        if inside is not None:
            grad = torch.where(inside, grad, 0.0)
        return grad / d, None, None


class _Requant(torch.autograd.Function):
    """clamp(floor(acc * s + 0.5), lo, hi) for a constant s, in fewer passes than the separate ops;
    backward: s where lo <= floor(acc * s + 0.5) <= hi, else 0 (what autograd gives the separate
    ops with the rounding passed straight through, computed the same way)."""

    @staticmethod
    def forward(ctx, acc, scale, lo, hi):
        rounded = torch.mul(acc, scale).add_(0.5).floor_()
        ctx.save_for_backward((rounded >= lo) & (rounded <= hi), scale)
        return rounded.clamp_(lo, hi)

    @staticmethod
    def backward(ctx, grad):
        inside, scale = ctx.saved_tensors
        return torch.where(inside, grad, 0.0) * scale, None, None, None


def requant(acc: torch.Tensor, scale: torch.Tensor, lo: float, hi: float, quantize: bool) -> torch.Tensor:
    """clamp(floor(acc * s + 0.5), lo, hi) in float32; without quantisation only the ReLU (lo = 0) stays."""
    if quantize and not scale.requires_grad:
        return _Requant.apply(acc, scale, lo, hi)
    p = acc * scale
    if quantize:
        return torch.clamp(round_half_up(p), lo, hi)
    return torch.clamp(p, min=0.0) if lo == 0 else p


class EmaRange(nn.Module):
    """Moving-average max of |x| (the learned activation range); scale = range / 127.

    In training each batch updates range <- range + momentum * (max|x| - range) (the first batch
    sets it); in eval the stored range is used unchanged."""

    def __init__(self, momentum: float = 0.01):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("range", torch.zeros(()))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def observe(self, x_real: torch.Tensor) -> None:
        amax = (x_real.detach().abs().max() if x_real.numel() else x_real.new_zeros(())).float()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # Data-parallel training: every process sees part of the global batch; the max over
            # the parts is the max over the whole, so each update equals the single-process one.
            dist.all_reduce(amax, op=dist.ReduceOp.MAX)
        if not bool(self.initialised):
            self.range.copy_(amax)
            self.initialised.fill_(True)
        else:
            self.range.add_(self.momentum * (amax - self.range))

    def scale(self) -> torch.Tensor:
        r = self.range.clamp(min=1e-6)
        return (r / INT8_MAX).float()


class QATLinear(nn.Module):
    """x_int @ W + b, requantised to int8: the fake-quant twin of a `QLinear`.

    weight is [in, out] (x @ W, the integer model's layout); weight_bits 4 keeps its integers in
    [-7, 7] (a 4-bit weight held in int8 by the integer model). The output scale is fixed
    (`out_scale` given) or learned by an EmaRange. `forward(x_int, in_scale)` returns the output
    in the integer domain (real value = out * self.out_scale())."""

    def __init__(self, n_in: int, n_out: int, lo: int, hi: int, out_scale: float | None = None,
                 init_std: float | None = None, weight_bits: int = 8):
        super().__init__()
        self.weight_limit = weight_limit(weight_bits)   # weights are integers in [-limit, limit]
        std = init_std if init_std is not None else (1.0 / n_in) ** 0.5
        self.weight = nn.Parameter(torch.randn(n_in, n_out) * std)
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.lo, self.hi = lo, hi
        self.fixed_scale = out_scale
        self.range = EmaRange() if out_scale is None else None
        self.quantize = False

    def out_scale(self) -> torch.Tensor:
        if self.range is None:
            return torch.tensor(self.fixed_scale, dtype=torch.float32, device=self.weight.device)
        return self.range.scale()

    def int_params(self, in_scale: torch.Tensor):
        """(w_int [in, out], b_int [out], s float32 [out]) as used in forward; with quantisation
        on, w_int and b_int are integer-valued (the exact QuantizedModel tensors)."""
        w, b, s_w = self._int_weights(in_scale)
        return w, b, requant_scale(in_scale, s_w, self.out_scale())

    def _int_weights(self, in_scale: torch.Tensor):
        s_w = weight_scale(self.weight, self.weight_limit)
        if self.quantize:
            w = _Quantize.apply(self.weight, s_w, self.weight_limit)
            b = _Quantize.apply(self.bias, in_scale.detach() * s_w, None)
            return w, b, s_w
        return self.weight / s_w, self.bias / (in_scale.detach() * s_w), s_w

    def forward(self, x_int: torch.Tensor, in_scale: torch.Tensor,
                valid: torch.Tensor | None = None) -> torch.Tensor:
        """`valid` (bool, x_int's shape less its last dim) limits the range observation to the rows
        the integer model keeps (padding rows are zeroed or never read there)."""
        w, b, s_w = self._int_weights(in_scale)
        if self.quantize and not self.training:
            # Exact integer accumulation (float64 is exact here), rounded once to float32 like
            # the integer model's int32 -> float32 conversion.
            acc = (x_int.double() @ w.double() + b.double()).float()
        else:
            acc = x_int @ w + b
        if self.training and self.range is not None:
            # The range tracks the real-valued output before rounding and clamping; it is
            # updated before use, so this batch's output and out_scale() agree.
            real = acc.detach() * (in_scale.detach() * s_w)
            if valid is not None:
                real = real[valid]
            self.range.observe(real.clamp(min=0) if self.lo == 0 else real)
        s = requant_scale(in_scale, s_w, self.out_scale())
        return requant(acc, s, self.lo, self.hi, self.quantize)


# -- lookups: forward = the int8 table value, backward = the float function's derivative ---------

class _Lookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre_int, table, deriv):
        ctx.save_for_backward(deriv)
        return table[(pre_int.long() + 128).clamp(0, 255)]

    @staticmethod
    def backward(ctx, grad):
        (deriv,) = ctx.saved_tensors
        return grad * deriv, None, None


def _tables(device: torch.device):
    return (torch.from_numpy(tanh_q7().astype("float32")).to(device),
            torch.from_numpy(sigmoid_q7().astype("float32")).to(device))


def q_tanh(pre_int: torch.Tensor, quantize: bool) -> torch.Tensor:
    """Gate pre-activation (units of 1/16) -> tanh in Q7 units (TANH_Q7 lookup when quantised)."""
    y = torch.tanh(pre_int * GATE_PRE_SCALE) * Q7
    if not quantize:
        return y
    deriv = (1 - (y / Q7) ** 2) * (Q7 * GATE_PRE_SCALE)
    return _Lookup.apply(pre_int, _tables(pre_int.device)[0], deriv.detach())


def q_sigmoid(pre_int: torch.Tensor, quantize: bool) -> torch.Tensor:
    """Gate pre-activation (units of 1/16) -> sigmoid in Q7 units (SIGMOID_Q7 lookup when quantised)."""
    y = torch.sigmoid(pre_int * GATE_PRE_SCALE) * Q7
    if not quantize:
        return y
    sig = y / Q7
    deriv = sig * (1 - sig) * (Q7 * GATE_PRE_SCALE)
    return _Lookup.apply(pre_int, _tables(pre_int.device)[1], deriv.detach())


def q_exp(diff_int: torch.Tensor, quantize: bool) -> torch.Tensor:
    """Attention score difference (score - max, units of 1/8, <= 0) -> exp in Q15 (EXP_Q15 lookup)."""
    y = torch.exp(diff_int * ATTN_SCORE_SCALE) * EXP_ONE
    if not quantize:
        return y
    table = torch.from_numpy(exp_q15().astype("float64")).to(diff_int.device).float()
    deriv = y * ATTN_SCORE_SCALE
    return _Lookup.apply(diff_int + 127, table, deriv.detach())


def set_quantize(module: nn.Module, on: bool) -> None:
    """Switch fake quantisation on or off in every QAT layer below `module`."""
    for m in module.modules():
        if hasattr(m, "quantize") and not isinstance(m.quantize, torch.Tensor):
            m.quantize = on
