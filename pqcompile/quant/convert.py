"""Convert a (QAT-trained) PyTorch pQRNN into the integer hand-off format, `QuantizedModel`.

The tensors are read from the layers' own `int_params` (the very values the QAT forward uses
with quantisation on), so an eval-mode QAT model and `run_integer` on the result compute the
same integers; tests/test_qat.py measures that agreement."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import PqError
from ..projection import ProjectionSpec
from .qat import QATLinear, set_quantize
from .qmodel import QLinear, QRNNLayerQ, QuantizedModel, check_intent_slots

INT32_MAX = 2 ** 31 - 1


def _qlinear(layer: QATLinear, in_scale: torch.Tensor, name: str) -> QLinear:
    if layer.range is not None and not bool(layer.range.initialised):
        raise PqError(f"cannot quantize: the activation range of {name} was never measured "
                      "(train or calibrate the model on some data first)")
    w, b, s = layer.int_params(in_scale)
    w = w.detach().cpu().numpy()
    b = b.detach().cpu().double().numpy()
    if np.abs(b).max(initial=0) > INT32_MAX:
        raise PqError(f"cannot quantize {name}: a bias does not fit in int32")
    return QLinear(w.astype(np.int8), b.astype(np.int32), s.detach().cpu().numpy().astype(np.float32))


def to_quantized(model, spec: ProjectionSpec, intent_labels: list[str], slot_labels: list[str],
                 meta: dict | None = None, intent_slots: list[list[str]] | None = None) -> QuantizedModel:
    """The integer model of a pQRNN (quantised as QAT does, whether or not QAT is on).
    intent_slots: the slot labels allowed per intent (QuantizedModel.intent_slots; e.g.
    train.decode.intent_slots_from_examples of the gold training rows), None for no constraint."""
    if getattr(model, "kind", None) != "pqrnn":
        raise PqError(f"only pqrnn models can be quantized, not {getattr(model, 'kind', type(model).__name__)}")
    if spec.feature_size != model.config.feature_size:
        raise PqError(f"spec feature_size {spec.feature_size} does not match the model's {model.config.feature_size}")
    if len(intent_labels) != model.n_intents or len(slot_labels) != model.n_slot_tags:
        raise PqError(f"label counts ({len(intent_labels)} intents, {len(slot_labels)} slot tags) do not match "
                      f"the model ({model.n_intents}, {model.n_slot_tags})")
    was_quantized = model.quantize
    set_quantize(model, True)
    try:
        with torch.no_grad():
            one = torch.ones(())
            q7 = torch.full((), 1.0 / 128)
            bottleneck = _qlinear(model.bottleneck, one, "bottleneck")
            scale = model.bottleneck.out_scale().cpu()
            layers = []
            for i, layer in enumerate(model.layers):
                layers.append(QRNNLayerQ(_qlinear(layer.fwd.gates, scale, f"qrnn{i}.fwd"),
                                         _qlinear(layer.bwd.gates, scale, f"qrnn{i}.bwd"),
                                         layer.fwd.kernel_width, model.config.hidden))
                scale = q7
            qm = QuantizedModel(
                spec=spec, bottleneck=bottleneck, layers=layers,
                attention=_qlinear(model.attention, q7, "attention"),
                intent=_qlinear(model.intent, q7, "intent"),
                slot=_qlinear(model.slot, q7, "slot"),
                intent_labels=list(intent_labels), slot_labels=list(slot_labels),
                meta={"kind": "pqrnn", "config": model.config.to_dict(),
                      "intent_scale": float(model.intent.out_scale()),
                      "slot_scale": float(model.slot.out_scale()), **(meta or {})},
                intent_slots=check_intent_slots(intent_slots, list(intent_labels), list(slot_labels)),
                encoder_weight_bits=int(getattr(model.config, "encoder_weight_bits", 8)))
    finally:
        set_quantize(model, was_quantized)
    return qm
