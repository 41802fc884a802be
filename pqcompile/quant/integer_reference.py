"""The integer reference executor: runs a QuantizedModel in pure integer math (plus the few
float32 steps the semantics fix), exactly as docs/integer-semantics.md defines. onnxruntime on the
exported graph and the generated C must match its int8 outputs bit for bit."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .qmodel import QLinear, QRNNLayerQ, QuantizedModel
from .tables import EXP_ONE, STATE_OFFSET, exp_q15, sigmoid_q7, tanh_q7

HALF = np.float32(0.5)


def requant(acc: np.ndarray, scale: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """clamp(floor(float32(acc) * scale + 0.5f), lo, hi) as int8, each float32 op rounded once."""
    p = acc.astype(np.float32) * np.asarray(scale, dtype=np.float32)
    return np.clip(np.floor(p + HALF), lo, hi).astype(np.int8)


def int_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """int8 @ int8 -> int32, exact (float64 products and sums of these sizes are exact integers)."""
    acc = x.astype(np.float64) @ w.astype(np.float64)
    return acc.astype(np.int32)


def linear(x: np.ndarray, q: QLinear, lo: int, hi: int) -> np.ndarray:
    return requant(int_matmul(x, q.weight) + q.bias, q.scale, lo, hi)


def window(u: np.ndarray, k: int, backward: bool) -> np.ndarray:
    """[B, T, D] -> [B, T, k*D]: rows u[t], u[t-1].. (fwd) or u[t], u[t+1].. (bwd), zero outside."""
    B, T, D = u.shape
    out = np.zeros((B, T, k * D), dtype=u.dtype)
    for j in range(min(k, T)):
        dst = out[:, :, j * D:(j + 1) * D]
        if backward:
            dst[:, : T - j] = u[:, j:]
        else:
            dst[:, j:] = u[:, : T - j]
    return out


def fo_pool(pre: np.ndarray, mask: np.ndarray, hidden: int, backward: bool) -> np.ndarray:
    """Gate pre-activations int8 [B, T, 3H] -> h int8 [B, T, H] (offset fixed-point fo-pooling)."""
    B, T, _ = pre.shape
    idx = pre.astype(np.int32) + 128
    z = tanh_q7()[idx[..., :hidden]].astype(np.int32)
    f = sigmoid_q7()[idx[..., hidden:2 * hidden]].astype(np.int32)
    o = sigmoid_q7()[idx[..., 2 * hidden:]].astype(np.int32)
    U = np.full((B, hidden), STATE_OFFSET, dtype=np.int32)
    h = np.zeros((B, T, hidden), dtype=np.int8)
    for t in (range(T - 1, -1, -1) if backward else range(T)):
        V = z[:, t] * 256 + STATE_OFFSET
        U_new = (f[:, t] * U + (128 - f[:, t]) * V + 64) >> 7
        U = np.where(mask[:, t, None], U_new, STATE_OFFSET)
        h[:, t] = ((o[:, t] * U + 16384) >> 15) - o[:, t]
    return h


def qrnn_layer(u: np.ndarray, mask: np.ndarray, layer: QRNNLayerQ) -> np.ndarray:
    outs = []
    for q, backward in ((layer.fwd, False), (layer.bwd, True)):
        pre = linear(window(u, layer.kernel_width, backward), q, -128, 127)
        outs.append(fo_pool(pre, mask, layer.hidden, backward))
    return np.concatenate(outs, axis=-1)


def attention_pool(E: np.ndarray, mask: np.ndarray, att: QLinear) -> np.ndarray:
    """E int8 [B, T, C] -> pooled int8 [B, C] (integer softmax over valid positions)."""
    score = linear(E, att, -128, 127)[..., 0].astype(np.int32)
    score = np.where(mask, score, -128)
    m = score.max(axis=1, keepdims=True)
    e = np.where(mask, exp_q15()[score - m + 255], 0).astype(np.int32)
    Z = e.sum(axis=1)
    P = np.einsum("bt,btc->bc", e.astype(np.int64), E.astype(np.int64)).astype(np.int32)
    pooled = np.floor(P.astype(np.float32) / Z[:, None].astype(np.float32) + HALF)
    return np.clip(pooled, -127, 127).astype(np.int8)


@dataclass
class IntegerOutputs:
    intent_logits: np.ndarray   # int8 [B, n_intents]
    slot_logits: np.ndarray     # int8 [B, T, n_slot_tags]
    encoder: np.ndarray         # int8 [B, T, 2H] (last QRNN layer), for debugging
    pooled: np.ndarray          # int8 [B, 2H]


def run_integer(model: QuantizedModel, features: np.ndarray, lengths: np.ndarray) -> IntegerOutputs:
    """features int8 [B, T, F] (T = spec.max_tokens), lengths int [B] in 1..T."""
    features = np.asarray(features, dtype=np.int8)
    B, T, F = features.shape
    if (T, F) != (model.max_tokens, model.feature_size):
        raise ValueError(f"features shape [{T}, {F}] does not match the model's [{model.max_tokens}, {model.feature_size}]")
    lengths = np.asarray(lengths)
    mask = np.arange(T)[None, :] < lengths[:, None]
    y = linear(features, model.bottleneck, 0, 127)
    y[~mask] = 0
    for layer in model.layers:
        y = qrnn_layer(y, mask, layer)
    pooled = attention_pool(y, mask, model.attention)
    return IntegerOutputs(
        intent_logits=linear(pooled, model.intent, -128, 127),
        slot_logits=linear(y, model.slot, -128, 127),
        encoder=y,
        pooled=pooled,
    )


assert EXP_ONE == 32768
