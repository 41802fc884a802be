"""The pQRNN student: projection features -> bottleneck dense + ReLU -> N bidirectional QRNN
layers -> attention-pooled intent head and per-token slot head.

Every layer is the QAT twin of a step of docs/integer-semantics.md (see quant/qat.py): tensors
between layers hold the integer model's values, so with quantisation on and in eval mode the
outputs equal `run_integer` on the converted model. With quantisation off the same graph is the
ordinary float pQRNN (used for the float warm-up epochs, if any).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PqError
from ..quant.qat import QATLinear, q_exp, round_half_up, set_quantize
from ..quant.tables import ATTN_SCORE_SCALE, GATE_PRE_SCALE, Q7
from ..quant.weight_bits import is_weight_bits
from .batch import Batch
from .checks import check_positive_ints
from .fo_pool import qrnn_pool
from .packing import Packing


@dataclass
class PQRNNConfig:
    """Sizes of a pQRNN. hidden is the state size per direction (a layer outputs 2*hidden).
    feature_size is the projection's (the spec owns it; it is recorded here for the record).
    float_epochs: epochs trained in float before QAT starts (0 = QAT throughout).
    dropout: in training only, the probability of zeroing each value entering a QRNN layer and
    the heads (inverted dropout; a regulariser with no trace in the integer model).
    encoder_weight_bits: 8, or 4 for 4-bit weights in the bottleneck and the QRNN gate layers (the
    heads stay int8): integers in [-7, 7], half the bytes (QuantizedModel.encoder_weight_bits)."""

    feature_size: int = 512
    bottleneck: int = 128
    hidden: int = 128
    layers: int = 3
    kernel_width: int = 3
    zoneout: float = 0.01
    float_epochs: int = 0
    layer_kernel_widths: list[int] | None = None   # one width per layer, in place of kernel_width
    dropout: float = 0.0
    encoder_weight_bits: int = 8

    def __post_init__(self) -> None:
        check_positive_ints("pqrnn", self, ("feature_size", "bottleneck", "hidden", "layers", "kernel_width"))
        w = self.layer_kernel_widths
        if w is not None:
            if (not isinstance(w, (list, tuple)) or len(w) != self.layers
                    or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in w)):
                raise PqError(f"pqrnn config: layer_kernel_widths must list {self.layers} whole numbers >= 1 "
                              f"(one per layer), got {w!r}")
            self.layer_kernel_widths = [int(k) for k in w]
        if not 0.0 <= float(self.zoneout) < 1.0:
            raise PqError(f"pqrnn config: zoneout must be in [0, 1), got {self.zoneout!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise PqError(f"pqrnn config: dropout must be in [0, 1), got {self.dropout!r}")
        if not is_weight_bits(self.encoder_weight_bits):
            raise PqError(f"pqrnn config: encoder_weight_bits must be 4 or 8, got {self.encoder_weight_bits!r}")
        if not isinstance(self.float_epochs, int) or self.float_epochs < 0:
            raise PqError(f"pqrnn config: float_epochs must be an integer >= 0, got {self.float_epochs!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def width(self, layer: int) -> int:
        """The kernel width of QRNN layer `layer` (0-based)."""
        return self.kernel_width if self.layer_kernel_widths is None else self.layer_kernel_widths[layer]


def windows(u: torch.Tensor, k: int, packing: Packing) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed rows [N, D] -> the forward and backward direction's windows [N, k*D]: [u[t], u[t-1], ...]
    and [u[t], u[t+1], ...] within each utterance, zeros outside."""
    padded = F.pad(u, (0, 0, 0, 1))                # row N: the zeros outside an utterance
    fwd, bwd = packing.window_rows(k)
    return (padded.index_select(0, fwd.reshape(-1)).view(-1, k * u.shape[1]),
            padded.index_select(0, bwd.reshape(-1)).view(-1, k * u.shape[1]))


class QRNNDirection(nn.Module):
    """One direction of a QRNN layer: its gate layer (the width-k window -> z | f | o pre-activations)."""

    def __init__(self, d_in: int, hidden: int, kernel_width: int, backward: bool, zoneout: float,
                 weight_bits: int = 8):
        super().__init__()
        self.hidden, self.kernel_width, self.backward, self.zoneout = hidden, kernel_width, backward, zoneout
        self.gates = QATLinear(kernel_width * d_in, 3 * hidden, -128, 127, out_scale=GATE_PRE_SCALE,
                               weight_bits=weight_bits)


class QRNNLayer(nn.Module):
    """Both directions' gates from their windows, then fo-pooling of both in one pass (fo_pool.py)."""

    def __init__(self, d_in: int, hidden: int, kernel_width: int, zoneout: float, weight_bits: int = 8):
        super().__init__()
        self.fwd = QRNNDirection(d_in, hidden, kernel_width, False, zoneout, weight_bits)
        self.bwd = QRNNDirection(d_in, hidden, kernel_width, True, zoneout, weight_bits)
        self.zoneout = zoneout

    def forward(self, u: torch.Tensor, in_scale: torch.Tensor, packing: Packing) -> torch.Tensor:
        """Packed rows [N, d_in] -> [N, 2 * hidden]."""
        x_f, x_b = windows(u, self.fwd.kernel_width, packing)
        pre_f, pre_b = self.fwd.gates(x_f, in_scale), self.bwd.gates(x_b, in_scale)
        return qrnn_pool(pre_f, pre_b, packing, self.fwd.gates.quantize, self.zoneout if self.training else 0.0)


class PQRNN(nn.Module):
    kind = "pqrnn"

    def __init__(self, config: PQRNNConfig, n_intents: int, n_slot_tags: int):
        super().__init__()
        self.config, self.n_intents, self.n_slot_tags = config, n_intents, n_slot_tags
        c = config
        bits = c.encoder_weight_bits
        self.bottleneck = QATLinear(c.feature_size, c.bottleneck, 0, 127, init_std=(2.0 / c.feature_size) ** 0.5,
                                    weight_bits=bits)
        d_in, layers = c.bottleneck, []
        for i in range(c.layers):
            # Zoneout decays with depth, as in the paper's public implementation.
            layers.append(QRNNLayer(d_in, c.hidden, c.width(i), c.zoneout ** (i + 1), bits))
            d_in = 2 * c.hidden
        self.layers = nn.ModuleList(layers)
        self.attention = QATLinear(d_in, 1, -128, 127, out_scale=ATTN_SCORE_SCALE)
        self.intent = QATLinear(d_in, n_intents, -128, 127)
        self.slot = QATLinear(d_in, n_slot_tags, -128, 127)
        self.quantize = False

    def set_quantize(self, on: bool) -> None:
        """Fake quantisation on (QAT) or off (float training)."""
        set_quantize(self, on)

    def forward_int(self, features: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Integer-domain outputs (real value = value * scale): intent [B, n], slot [B, T, S],
        encoder [B, T, 2H] (Q7), pooled [B, 2H] (Q7)."""
        q = self.quantize
        if features.shape[-1] != self.config.feature_size:
            raise PqError(f"features have {features.shape[-1]} columns, the model expects {self.config.feature_size}")
        mask = mask.bool()
        T = mask.shape[1]
        # The encoder runs on the valid positions only (t < L, as packed rows: model/packing.py),
        # which is about half of a batch's grid; its output rows t >= L are exactly zero, as the
        # integer model's (the state is reset there), so unpacking with zeros changes nothing.
        Tv = max(int(mask.sum(dim=1).max()), 1) if mask.numel() else T
        packing = Packing.of(mask[:, :Tv])
        x = packing.pack(features[:, :Tv]).float()
        one = torch.ones((), device=x.device)
        q7 = torch.full((), 1.0 / Q7, device=x.device)   # the fixed scale of QRNN outputs
        y = self.bottleneck(x, one)
        scale = self.bottleneck.out_scale()
        for layer in self.layers:
            y = layer(self._dropout(y), scale, packing)
            scale = q7
        y = self._dropout(y)
        E = F.pad(packing.unpack(y), (0, 0, 0, T - Tv))
        # The attention scores and the slot head also run on the valid rows only: scores at t >= L
        # are masked out below, and the slot logits there are the head's output for a zero row.
        score = F.pad(packing.unpack(self.attention(y, q7)[:, 0]), (0, T - Tv))
        m = torch.where(mask, score, torch.full_like(score, -128.0)).amax(dim=1, keepdim=True).detach()
        e = torch.where(mask, q_exp(score - m, q), torch.zeros_like(score))
        Z = e.sum(dim=1, keepdim=True)
        # P is summed exactly (float64), then rounded once to float32, as the semantics do.
        P = torch.einsum("bt,btc->bc", e.double(), E.double()).float()
        pooled = P / Z
        if q:
            pooled = torch.clamp(round_half_up(pooled), -127, 127)
        return {"intent": self.intent(pooled, q7), "slot": self._slot_logits(y, packing, T, q7), "encoder": E,
                "pooled": pooled}

    def _dropout(self, y: torch.Tensor) -> torch.Tensor:
        p = float(self.config.dropout)
        return F.dropout(y, p, training=True) if self.training and p > 0 else y

    def _slot_logits(self, y: torch.Tensor, packing: Packing, T: int, q7: torch.Tensor) -> torch.Tensor:
        """The slot head on the valid rows and one zero row (the output at every t >= L) -> [B, T, S].
        Only the valid rows update the head's activation range, as on the padded grid."""
        rows = F.pad(y, (0, 0, 0, 1))
        valid = torch.ones(rows.shape[0], dtype=torch.bool, device=y.device)
        valid[-1] = False
        out = self.slot(rows, q7, valid)
        slot = packing.unpack(out[:-1], fill=out[-1])
        return torch.cat([slot, out[-1].expand(packing.batch, T - packing.steps, -1)], dim=1) if T > packing.steps else slot

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(intent logits [B, n_intents], slot logits [B, T, n_slot_tags]), real-valued."""
        out = self.forward_int(batch.features, batch.mask)
        return out["intent"] * self.intent.out_scale(), out["slot"] * self.slot.out_scale()

