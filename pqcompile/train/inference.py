"""A trained run's predictions: the float model (PyTorch) or the integer model (run_integer on
RUN/int8), decoded with the shared rule in decode.py, and scored with metrics.py.

A quantised (QAT) float model is decoded on its integer-domain logits (forward_int), the very
integers the int8 model computes: its real logits are those times a float32 scale, rounded, and
sums of rounded products could break a Viterbi tie differently from the integers."""
from __future__ import annotations

import numpy as np
import torch

from ..datasets import Example
from ..errors import PqError
from ..model.registry import model_from_config
from ..projection import ProjectionSpec, project, tokenize
from ..quant.integer_reference import run_integer
from ..quant.qmodel import QuantizedModel
from .data import EncodedSet, encode, make_batch
from .decode import DEFAULT_DECODER, Decoded, decode_one, intent_tag_mask
from .metrics import Frame, frame_metrics
from .run import RunFolder


def decode_set(logits_fn, data: EncodedSet, intent_labels, slot_labels, batch_size: int = 256,
               decode: str = DEFAULT_DECODER, tag_mask: np.ndarray | None = None) -> list[Decoded]:
    """Decode every example of data; logits_fn(data, indices) -> (intent [B, I], slot [B, T, S]);
    decode: the slot decoder (decode.DECODERS); tag_mask: decode.intent_tag_mask of the model's
    intent_slots (None: no per-intent constraint)."""
    out = []
    for start in range(0, len(data), batch_size):
        idx = np.arange(start, min(start + batch_size, len(data)))
        il, sl = logits_fn(data, idx)
        out += [decode_one(data.examples[i].text, data.tokens[i], il[r], sl[r], intent_labels, slot_labels, decode,
                           tag_mask) for r, i in enumerate(idx)]
    return out


def float_logits(model: torch.nn.Module, spec: ProjectionSpec):
    """logits_fn of a PyTorch model (call model.eval() first); a quantised model gives its
    integer-domain logits (module docstring)."""
    @torch.no_grad()
    def fn(data: EncodedSet, idx: np.ndarray):
        batch = make_batch(data, idx, spec).inputs
        if getattr(model, "quantize", False) and hasattr(model, "forward_int"):
            out = model.forward_int(batch.features, batch.mask)
            intent, slot = out["intent"], out["slot"]
        else:
            intent, slot = model(batch)
        return intent.float().numpy(), slot.float().numpy()
    return fn


def integer_logits(qmodel: QuantizedModel):
    """logits_fn of the integer reference executor (int8 logits)."""
    def fn(data: EncodedSet, idx: np.ndarray):
        p = project(None, qmodel.spec, tokens=[data.tokens[i] for i in idx])
        out = run_integer(qmodel, p.features, p.lengths)
        return out.intent_logits, out.slot_logits
    return fn


def score(examples: list[Example], decoded: list[Decoded]) -> dict:
    """Metrics of decoded predictions against the examples' gold frames, overall and per language."""
    golds = [Frame(ex.intent, tuple(ex.spans)) for ex in examples]
    return frame_metrics(golds, [d.frame for d in decoded], [ex.lang for ex in examples])


def evaluate_model(model: torch.nn.Module, data: EncodedSet, spec: ProjectionSpec, intent_labels: list[str],
                   slot_labels: list[str], tag_mask: np.ndarray | None = None) -> dict:
    """Metrics of an in-memory float model (the training loop's dev evaluation); tag_mask as in
    decode_set (a pQRNN run decodes with its intent_slots, as its int8 model will)."""
    was_training = model.training
    model.eval()
    try:
        return score(data.examples, decode_set(float_logits(model, spec), data, intent_labels, slot_labels,
                                               tag_mask=tag_mask))
    finally:
        model.train(was_training)


class Predictor:
    """A run's float model (best epoch), or its integer model with int8=True, ready to decode.
    The integer model's intent_slots constrain its slot decoding (decode.py rule 2b); the float
    model of a run decodes with the same table (read from the run's int8/ model, which the best
    epoch wrote), so a quantisation-aware run's float and int8 frames stay equal."""

    tag_mask: np.ndarray | None = None

    def __init__(self, run: RunFolder, int8: bool = False):
        cfg = run.config()
        self.spec: ProjectionSpec = run.spec()
        if int8:
            if not (run.int8 / "qmodel.json").is_file():
                raise PqError(f"{run.path} has no integer model (int8/); only pqrnn runs have one")
            self._use_quantized(QuantizedModel.load(run.int8))
            return
        model = model_from_config(cfg["model"])
        try:
            model.load_state_dict(run.load_weights("best"))
        except RuntimeError as e:
            raise PqError(f"{run.path}: weights do not fit the model in config.json: "
                          f"{str(e).splitlines()[0]}") from None
        if hasattr(model, "set_quantize"):
            model.set_quantize(bool(run.best_state().get("quantized", False)))
        model.eval()
        self.intent_labels, self.slot_labels = list(cfg["intent_labels"]), list(cfg["slot_labels"])
        self.logits_fn = float_logits(model, self.spec)
        if (run.int8 / "qmodel.json").is_file():
            q = QuantizedModel.load(run.int8)
            if list(q.intent_labels) == self.intent_labels and list(q.slot_labels) == self.slot_labels:
                self.tag_mask = intent_tag_mask(q.intent_slots, self.intent_labels, self.slot_labels)

    @classmethod
    def from_quantized(cls, qmodel: QuantizedModel) -> "Predictor":
        """An integer model without its run folder (e.g. the bundled model), on the integer reference."""
        self = cls.__new__(cls)
        self.spec = qmodel.spec
        self._use_quantized(qmodel)
        return self

    def _use_quantized(self, qmodel: QuantizedModel) -> None:
        self.intent_labels, self.slot_labels = list(qmodel.intent_labels), list(qmodel.slot_labels)
        self.tag_mask = intent_tag_mask(qmodel.intent_slots, self.intent_labels, self.slot_labels)
        self.logits_fn = integer_logits(qmodel)

    def encode(self, examples: list[Example]) -> EncodedSet:
        """Examples -> model inputs. An example whose gold frame has a label the model does not know
        stays in (it is scored, and can only be wrong): see unknown_labels()."""
        return encode(examples, self.spec, self.intent_labels, self.slot_labels, strict=False)

    def unknown_labels(self, examples: list[Example]) -> int:
        """How many examples carry an intent or slot label the model does not know."""
        intents, tags = set(self.intent_labels), set(self.slot_labels)
        return sum(ex.intent not in intents or any(f"B-{l}" not in tags for l, _, _ in ex.spans)
                   for ex in examples)

    def decode(self, data: EncodedSet, decode: str = DEFAULT_DECODER) -> list[Decoded]:
        return decode_set(self.logits_fn, data, self.intent_labels, self.slot_labels, decode=decode,
                          tag_mask=self.tag_mask)

    def predict_texts(self, texts: list[str]) -> list[Decoded]:
        data = EncodedSet([Example(t, "", (), "und") for t in texts], [tokenize(t, self.spec) for t in texts],
                          np.zeros(len(texts), dtype=np.int64), [None] * len(texts))
        return self.decode(data)
