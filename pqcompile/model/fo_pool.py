"""fo-pooling (the QRNN recurrence) with hand-written backward passes, both directions of a layer in
one loop over time.

Recorded step by step, the recurrence costs autograd ~10 nodes per time step and direction. Here
a layer's two directions are laid out time-major as [T, B, 2, H] with the backward direction's
time axis flipped (so both run from step 0), the loop does two in-place ops per step forward and
two backward, and everything that does not depend on the previous step is done for all steps at
once. The values are exactly those of the step-by-step definition (docs/integer-semantics.md):

    C_t = R((f_t * C_{t-1} + (128 - f_t) * 256 * z_t) / 128)   for t < L, else 0
    h_t = R(o_t * C_t / 2^15)

with R(x) = floor(x + 0.5) when quantised and the identity in float mode, and the gradients are
those autograd gives that definition with R passed straight through (STE), computed with the same
float operations in the same order, so they agree bit for bit (tests/test_fo_pool.py compares
both with the step-by-step autograd version).

Why the quantised forward may fold terms: z, f, o are then integers (z in [-127, 127], f, o in
[0, 128]) and |C| <= 2^15, so f * C and (128 - f) * 256 * z are integers below 2^23 and every
intermediate below is an exact float32 value; floor(x / 128 + 0.5) = floor((x + 64) / 128) then
holds exactly, whatever the order or fusion of the ops.

The entry point is `qrnn_pool`: a layer's gate pre-activations of both directions on the batch's
packed rows (valid positions only, model/packing.py) -> the layer's output rows.
Quantised (training and eval), `QRNNPoolQuantized` does the table lookups of quant/qat.py's
q_tanh / q_sigmoid, zoneout and the pooling in one Function (the lookups' derivatives read from a
table of q_tanh / q_sigmoid's own derivatives at the 256 integer inputs); on CPU its work is done
by a small C kernel (qrnn_kernel.py) on the packed rows where one can be built, else by the torch
code below on the padded grid. In float mode the gates come from autograd-recorded q_tanh /
q_sigmoid and `FoPool` pools them on the padded grid.
"""
from __future__ import annotations

import torch

from ..quant.qat import _tables, q_sigmoid, q_tanh
from ..quant.tables import Q7, STATE_OFFSET
from . import qrnn_kernel
from .packing import Packing

Q15 = STATE_OFFSET        # the state C is held in units of 2^-15
Z_SCALE = Q15 // Q7       # z (Q7) -> the state's units


# -- layouts --------------------------------------------------------------------------------------

def time_major_mask(mask: torch.Tensor, directions: int) -> torch.Tensor:
    """bool [B, T] -> float 0/1 [T, B, directions, 1] (the backward direction's time flipped)."""
    m = mask.t().float()
    if directions == 1:
        return m[:, :, None, None]
    return torch.stack([m, m.flip(0)], dim=2)[..., None]


def to_time_major(fwd: torch.Tensor, bwd: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Two [B, T, H] -> [T, B, 2, H], the second with its time axis flipped (no autograd)."""
    B, T, H = fwd.shape
    out = fwd.new_empty(T, B, 2, H) if out is None else out
    out[:, :, 0].copy_(fwd.transpose(0, 1))
    out[:, :, 1].copy_(bwd.flip(1).transpose(0, 1))
    return out


def from_time_major(x: torch.Tensor) -> torch.Tensor:
    """[T, B, 2, H] -> [B, T, 2H]: the forward direction, then the backward one in time order."""
    T, B, _, H = x.shape
    out = x.new_empty(B, T, 2 * H)
    out[..., :H] = x[:, :, 0].transpose(0, 1)
    out[..., H:] = x[:, :, 1].flip(0).transpose(0, 1)
    return out


# -- the recurrence on time-major tensors [T, B, D, H] ---------------------------------------------

def _pool_forward(Z, F, O, M, quantize: bool):
    """h [T, B, D, H] and what the backward pass needs. M: float 0/1 [T, B, D, 1]."""
    Zs = Z * Z_SCALE
    QmF = Q7 - F
    A = QmF * Zs                                  # the step's input term, all steps at once
    S = torch.empty_like(Z)                       # the state after each step
    state = Z.new_zeros(Z.shape[1:])
    if quantize:
        # Masked steps get f = 0 and an input term of 0: floor(0 / 128) resets the state to 0.
        Mq = M / Q7
        Fq, Aq = F * Mq, A.add_(Q7 // 2).mul_(Mq)
        for f_t, a_t, s_t in zip(Fq.unbind(0), Aq.unbind(0), S.unbind(0)):
            state = torch.addcmul(a_t, f_t, state, out=s_t).floor_()
        H = torch.mul(O, S).div_(Q15).add_(0.5).floor_()
    else:
        Fm, Am = F * M, A.mul_(M)
        for f_t, a_t, s_t in zip(Fm.unbind(0), Am.unbind(0), S.unbind(0)):
            state = torch.mul(f_t, state, out=s_t).add_(a_t).div_(Q7)
        H = O * S / Q15
    return H, (F, O, M, S, Zs, QmF)


def _pool_backward(dH, saved, dZ=None, dF=None, dO=None):
    """Gradients of z, f, o [T, B, D, H] (written into dZ, dF, dO when given)."""
    F, O, M, S, Zs, QmF = saved
    T = F.shape[0]
    dHs = dH / Q15
    dO = torch.mul(dHs, S, out=dO) if dO is not None else dHs * S
    # G_t: the gradient reaching f_t * C_{t-1} + (128 - f_t) * 256 * z_t. The state C_t gets
    # o_t * dh_t / 2^15 from h_t and G_{t+1} * f_{t+1} from the next step; the mask and the
    # division by 128 (exact scalings) are folded into both terms.
    Mq = M / Q7
    C = dHs.mul_(O).mul_(Mq)
    Fn = torch.zeros_like(F)
    torch.mul(F[1:], Mq[:-1], out=Fn[:-1])
    G = torch.empty_like(F)
    Gs, Cs, Fns = G.unbind(0), C.unbind(0), Fn.unbind(0)
    Gs[T - 1].copy_(Cs[T - 1])
    for t in range(T - 2, -1, -1):
        torch.mul(Gs[t + 1], Fns[t], out=Gs[t]).add_(Cs[t])
    # df = G * C_{t-1} - G * 256 z, dz = G * (128 - f) * 256 (in autograd's order of operations)
    dF = torch.mul(G, Zs, out=dF) if dF is not None else G * Zs
    dF.neg_()
    dF[1:] += G[1:] * S[:-1]
    dZ = torch.mul(G, QmF, out=dZ) if dZ is not None else G * QmF
    dZ.mul_(Z_SCALE)
    return dZ, dF, dO


class FoPool(torch.autograd.Function):
    """z, f, o [T, B, D, H] (time-major, D directions already in processing order; zoneout already
    applied to f), M float 0/1 [T, B, D, 1] -> h [T, B, D, H]."""

    @staticmethod
    def forward(ctx, Z, F, O, M, quantize: bool):
        H, saved = _pool_forward(Z, F, O, M, quantize)
        ctx.save_for_backward(*saved)
        return H

    @staticmethod
    def backward(ctx, dH):
        dZ, dF, dO = _pool_backward(dH.contiguous(), ctx.saved_tensors)
        return dZ, dF, dO, None, None


# -- quantised: gate lookups, zoneout and pooling of both directions in one Function ---------------

_LOOKUPS: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


def _lookup_tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, derivatives) float32 [512]: q_tanh at pre = -128..127, then q_sigmoid; the
    derivatives are what those functions' backward passes give there (from their own definitions)."""
    if device not in _LOOKUPS:
        pre = torch.arange(-128, 128, dtype=torch.float32, device=device)
        values, derivs = [], []
        for fn in (q_tanh, q_sigmoid):
            x = pre.clone().requires_grad_(True)
            with torch.enable_grad():      # (called inside a Function's forward)
                y = fn(x, True)
                y.backward(torch.ones_like(y))
            values.append(y.detach())
            derivs.append(x.grad)
        assert torch.equal(torch.cat(values), torch.cat(_tables(device)))
        _LOOKUPS[device] = torch.cat(values), torch.cat(derivs)
    return _LOOKUPS[device]


def _quantized_padded_forward(pre_f, pre_b, keep_f, keep_b, mask):
    """The torch code of QRNNPoolQuantized on the padded grid: [B, T, 3H] each -> ([B, T, 2H], saved)."""
    values, _ = _lookup_tables(pre_f.device)
    B, T, H3 = pre_f.shape
    H = H3 // 3
    # Table index: z columns read the tanh half, f and o the sigmoid half (as _Lookup: truncate, clamp).
    idx = to_time_major(pre_f, pre_b, out=torch.empty(T, B, 2, H3, dtype=torch.int32, device=pre_f.device))
    idx.clamp_(-128, 127)
    idx[..., :H] += 128
    idx[..., H:] += 256 + 128
    V = values.index_select(0, idx.view(-1)).view(T, B, 2, H3)
    Z, F, O = V[..., :H], V[..., H:2 * H], V[..., 2 * H:]
    keep = None
    if keep_f is not None:
        keep = to_time_major(keep_f, keep_b)
        F.masked_fill_(keep, Q7)
    h, saved = _pool_forward(Z, F, O, time_major_mask(mask, 2), quantize=True)
    return from_time_major(h), (idx, keep, *saved)


def _quantized_padded_backward(grad_out, saved):
    """-> gradients of pre_f, pre_b [B, T, 3H]."""
    _, derivs = _lookup_tables(grad_out.device)
    idx, keep, *pool_saved = saved
    T, B, _, H3 = idx.shape
    H = H3 // 3
    dH = to_time_major(grad_out[..., :H], grad_out[..., H:])
    dV = torch.empty(T, B, 2, H3, dtype=grad_out.dtype, device=grad_out.device)
    _, dF, _ = _pool_backward(dH, pool_saved, dZ=dV[..., :H], dF=dV[..., H:2 * H], dO=dV[..., 2 * H:])
    if keep is not None:
        dF.masked_fill_(keep, 0.0)                     # zoneout's f = 128 is a constant
    dV.mul_(derivs.index_select(0, idx.view(-1)).view(T, B, 2, H3))
    return dV[:, :, 0].transpose(0, 1), dV[:, :, 1].flip(0).transpose(0, 1)


class QRNNPoolQuantized(torch.autograd.Function):
    """Gate pre-activations of both directions on packed rows (integers in [-128, 127], [N, 3H] =
    z | f | o columns), zoneout keep masks (bool [N, H] each, or None), the Packing -> the layer's
    output [N, 2H] in Q7 (forward direction's h, then the backward direction's).
    On CPU the C kernel (qrnn_kernel.py) does the work where it could be built; otherwise the torch
    code above, on the padded grid."""

    @staticmethod
    def forward(ctx, pre_f, pre_b, keep_f, keep_b, packing):
        lib = qrnn_kernel.load() if pre_f.device.type == "cpu" and pre_f.dtype == torch.float32 else None
        ctx.lib, ctx.packing = lib, packing
        if lib is not None:
            values, _ = _lookup_tables(pre_f.device)
            pre_f, pre_b = pre_f.contiguous(), pre_b.contiguous()
            keeps = [None if x is None else x.contiguous().view(torch.uint8) for x in (keep_f, keep_b)]
            out, states = qrnn_kernel.forward(lib, pre_f, pre_b, *keeps, packing.offsets, values)
            ctx.save_for_backward(pre_f, pre_b, *keeps, states)
            return out
        keeps = [None if x is None else packing.unpack(x) for x in (keep_f, keep_b)]
        out, saved = _quantized_padded_forward(packing.unpack(pre_f), packing.unpack(pre_b), *keeps,
                                               packing.mask())
        ctx.save_for_backward(*saved)
        return packing.pack(out)

    @staticmethod
    def backward(ctx, grad_out):
        packing = ctx.packing
        if ctx.lib is not None:
            values, derivs = _lookup_tables(grad_out.device)
            pre_f, pre_b, keep_f, keep_b, states = ctx.saved_tensors
            g_f, g_b = qrnn_kernel.backward(ctx.lib, grad_out.contiguous(), pre_f, pre_b, keep_f, keep_b,
                                            packing.offsets, values, derivs, states)
            return g_f, g_b, None, None, None
        g_f, g_b = _quantized_padded_backward(packing.unpack(grad_out), ctx.saved_tensors)
        return packing.pack(g_f), packing.pack(g_b), None, None, None


# -- entry points ----------------------------------------------------------------------------------

def zoneout_keep(shape, p: float, device: torch.device) -> torch.Tensor | None:
    """Zoneout (training): where True, f is set to 128 (the state is kept). None when p = 0."""
    return torch.rand(shape, device=device) < p if p > 0 else None


def gates_float(pre: torch.Tensor, keep: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """Float mode: [B, T, 3H] pre-activations -> z, f, o [B, T, H] (autograd-recorded)."""
    H = pre.shape[-1] // 3
    z, f, o = q_tanh(pre[..., :H], False), q_sigmoid(pre[..., H:2 * H], False), q_sigmoid(pre[..., 2 * H:], False)
    if keep is not None:
        f = torch.where(keep, torch.full_like(f, Q7), f)
    return z, f, o


def qrnn_pool(pre_f: torch.Tensor, pre_b: torch.Tensor, packing: Packing, quantize: bool,
              zoneout: float) -> torch.Tensor:
    """A QRNN layer's pooling: gate pre-activations of the forward and backward direction on packed
    rows ([N, 3H] each, z | f | o) -> the layer output [N, 2H] (Q7). zoneout: probability (0 in
    eval); the keep masks are drawn for the packed rows, the forward direction's first."""
    shape = (pre_f.shape[0], pre_f.shape[-1] // 3)
    keep_f = zoneout_keep(shape, zoneout, pre_f.device)
    keep_b = zoneout_keep(shape, zoneout, pre_f.device)
    if quantize:
        return QRNNPoolQuantized.apply(pre_f, pre_b, keep_f, keep_b, packing)
    keeps = [None if k is None else packing.unpack(k) for k in (keep_f, keep_b)]
    zf, ff, of = gates_float(packing.unpack(pre_f), keeps[0])
    zb, fb, ob = gates_float(packing.unpack(pre_b), keeps[1])

    def stack(a, b):
        return torch.stack([a.transpose(0, 1), b.flip(1).transpose(0, 1)], dim=2)

    h = FoPool.apply(stack(zf, zb), stack(ff, fb), stack(of, ob), time_major_mask(packing.mask(), 2), False)
    return packing.pack(torch.cat([h[:, :, 0].transpose(0, 1), h[:, :, 1].flip(0).transpose(0, 1)], dim=-1))
