"""QuantizedModel: a trained pQRNN in integer form, the hand-off between training and deployment.

Produced by quantising a QAT-trained PyTorch model; consumed by the integer reference, the ONNX
exporter and the compiler. Weights are int8 [in, out] (x @ W; 4-bit integers in [-7, 7] in the
encoder when encoder_weight_bits is 4), biases int32, requantisation scales float32 per output
channel; docs/integer-semantics.md defines what they mean.
"""
from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.example import OUTSIDE, slot_type
from ..errors import PqError
from ..projection import ProjectionSpec, SpecError
from .weight_bits import is_weight_bits, weight_limit

SEMANTICS_VERSION = 1


@dataclass
class QLinear:
    """acc = x @ weight + bias (int32); out = requant(acc, scale, lo, hi)."""

    weight: np.ndarray   # int8 [in, out]
    bias: np.ndarray     # int32 [out]
    scale: np.ndarray    # float32 [out]

    def __post_init__(self) -> None:
        self.weight = np.ascontiguousarray(self.weight, dtype=np.int8)
        self.bias = np.ascontiguousarray(self.bias, dtype=np.int32)
        self.scale = np.ascontiguousarray(self.scale, dtype=np.float32)
        n_out = self.weight.shape[1] if self.weight.ndim == 2 else -1
        if n_out < 0 or self.bias.shape != (n_out,) or self.scale.shape != (n_out,):
            raise PqError(f"inconsistent quantized layer shapes: weight {self.weight.shape}, "
                          f"bias {self.bias.shape}, scale {self.scale.shape}")

    @property
    def n_in(self) -> int:
        return self.weight.shape[0]

    @property
    def n_out(self) -> int:
        return self.weight.shape[1]


@dataclass
class QRNNLayerQ:
    """One bidirectional QRNN layer: per direction a QLinear over the [k*D] window -> [3H] (z, f, o)."""

    fwd: QLinear
    bwd: QLinear
    kernel_width: int
    hidden: int


@dataclass
class QuantizedModel:
    spec: ProjectionSpec
    bottleneck: QLinear
    layers: list[QRNNLayerQ]
    attention: QLinear          # [2H, 1], output scale 1/8
    intent: QLinear             # [2H, n_intents]
    slot: QLinear               # [2H, n_slot_tags]
    intent_labels: list[str]
    slot_labels: list[str]
    meta: dict = field(default_factory=dict)   # config name, metrics, provenance
    # for each intent (intent_labels order) the slot labels X ("SL:DATE_TIME") whose tags B-X/I-X
    # the decoder may choose with it (train/decode.py rule 2b); None: every tag with every intent
    intent_slots: list[list[str]] | None = None
    # 4: the bottleneck's and the QRNN gate layers' weights are 4-bit integers in [-7, 7] (held in
    # int8 arrays; the same integer semantics), counted as half a byte each; 8: int8 throughout
    encoder_weight_bits: int = 8

    def encoder_weight_names(self) -> list[str]:
        """The weight tensors that encoder_weight_bits applies to (the heads are always int8)."""
        return ["bottleneck.weight"] + [f"qrnn{i}.{d}.weight" for i in range(len(self.layers)) for d in ("fwd", "bwd")]

    def check_encoder_weight_bits(self) -> None:
        """PqError unless encoder_weight_bits is 4 or 8 and the encoder's weights fit in it."""
        if not is_weight_bits(self.encoder_weight_bits):
            raise PqError(f"qmodel.json: encoder_weight_bits must be 4 or 8, got {self.encoder_weight_bits!r}")
        if self.encoder_weight_bits == 4:
            t = self.tensors()
            for name in self.encoder_weight_names():
                if t[name].size and int(np.abs(t[name].astype(np.int16)).max()) > weight_limit(4):
                    raise PqError(f"qmodel.npz: tensor {name} has weights outside [-7, 7], but the model "
                                  "declares 4-bit encoder weights")

    @property
    def max_tokens(self) -> int:
        return self.spec.max_tokens

    @property
    def feature_size(self) -> int:
        return self.spec.feature_size

    def tensors(self) -> dict[str, np.ndarray]:
        """Flat name -> array (the names the exporter and the C weights use)."""
        out: dict[str, np.ndarray] = {}

        def put(prefix: str, q: QLinear) -> None:
            out[f"{prefix}.weight"], out[f"{prefix}.bias"], out[f"{prefix}.scale"] = q.weight, q.bias, q.scale

        put("bottleneck", self.bottleneck)
        for i, layer in enumerate(self.layers):
            put(f"qrnn{i}.fwd", layer.fwd)
            put(f"qrnn{i}.bwd", layer.bwd)
        put("attention", self.attention)
        put("intent", self.intent)
        put("slot", self.slot)
        return out

    def n_weight_bytes(self) -> int:
        """Bytes of every tensor, 4-bit encoder weights counted as two per byte (per tensor, rounded up)."""
        t = self.tensors()
        packed = set(self.encoder_weight_names()) if self.encoder_weight_bits == 4 else set()
        return int(sum((a.size + 1) // 2 if name in packed else a.nbytes for name, a in t.items()))

    def n_macs(self) -> int:
        """Multiply-accumulates of the weight matrices per utterance at max_tokens: what the
        build report counts (the attention pooling's T x C products and the gates' are not a matmul)."""
        T = self.max_tokens
        macs = T * self.bottleneck.weight.size
        for layer in self.layers:
            macs += T * (layer.fwd.weight.size + layer.bwd.weight.size)
        macs += T * (self.attention.weight.size + self.slot.weight.size)
        macs += self.intent.weight.size
        return int(macs)

    def config(self) -> dict:
        return {
            "semantics_version": SEMANTICS_VERSION,
            "spec": self.spec.to_dict(),
            "layers": [{"kernel_width": l.kernel_width, "hidden": l.hidden} for l in self.layers],
            "intent_labels": self.intent_labels,
            "slot_labels": self.slot_labels,
            "meta": self.meta,
            **({"intent_slots": self.intent_slots} if self.intent_slots is not None else {}),
            **({"encoder_weight_bits": self.encoder_weight_bits} if self.encoder_weight_bits != 8 else {}),
        }

    # -- persistence: <dir>/qmodel.json + <dir>/qmodel.npz -------------------------------------
    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        np.savez(d / "qmodel.npz", **self.tensors())
        (d / "qmodel.json").write_text(json.dumps(self.config(), indent=2, ensure_ascii=False))

    @classmethod
    def load(cls, directory: str | Path) -> "QuantizedModel":
        """The model in directory; a one-line PqError naming the file when either file is
        missing, unreadable, truncated or does not describe a consistent model."""
        d = Path(directory)
        cfg_path, npz_path = d / "qmodel.json", d / "qmodel.npz"
        for f in (cfg_path, npz_path):
            if not f.is_file():
                raise PqError(f"no quantized model in {d} ({f.name} missing)")
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as e:   # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise PqError(f"{cfg_path}: not a readable quantized model config ({e})") from None
        if not isinstance(cfg, dict):
            raise PqError(f"{cfg_path}: expected a JSON object")
        arrays = _read_tensors(npz_path)
        try:
            check_tensor_dtypes(arrays)
            return cls.from_parts(cfg, arrays)
        except PqError as e:   # its message starts with the file's name
            raise PqError(f"{d / str(e)}") from None

    @classmethod
    def from_parts(cls, cfg: dict, arrays: dict[str, np.ndarray]) -> "QuantizedModel":
        """A model from qmodel.json's content and the named tensors; PqError when they do not make
        a consistent model (missing fields or tensors, shapes that do not chain)."""
        if cfg.get("semantics_version") != SEMANTICS_VERSION:
            raise PqError(f"qmodel.json: the model uses integer semantics v{cfg.get('semantics_version')}, "
                          f"this pqcompile implements v{SEMANTICS_VERSION}")

        def get(prefix: str) -> QLinear:
            try:
                return QLinear(arrays[f"{prefix}.weight"], arrays[f"{prefix}.bias"], arrays[f"{prefix}.scale"])
            except KeyError as e:
                raise PqError(f"qmodel.npz: the model lacks tensor {e.args[0]}") from None
            except PqError as e:
                raise PqError(f"qmodel.npz: {prefix}: {e}") from None

        try:
            spec = ProjectionSpec.from_dict(cfg["spec"])
            layer_cfg = [(int(l["kernel_width"]), int(l["hidden"])) for l in cfg["layers"]]
            labels = list(cfg["intent_labels"]), list(cfg["slot_labels"])
            meta = dict(cfg.get("meta", {}))
        except KeyError as e:
            raise PqError(f"qmodel.json: no {e.args[0]!r}") from None
        except (SpecError, TypeError, ValueError) as e:
            raise PqError(f"qmodel.json: malformed ({e})") from None
        if not all(isinstance(x, str) for x in labels[0] + labels[1]):
            raise PqError("qmodel.json: labels must be strings")
        try:
            intent_slots = check_intent_slots(cfg.get("intent_slots"), *labels)
        except PqError as e:
            raise PqError(f"qmodel.json: {e}") from None
        layers = [QRNNLayerQ(get(f"qrnn{i}.fwd"), get(f"qrnn{i}.bwd"), k, h) for i, (k, h) in enumerate(layer_cfg)]
        model = cls(spec, get("bottleneck"), layers, get("attention"), get("intent"), get("slot"), *labels, meta,
                    intent_slots, cfg.get("encoder_weight_bits", 8))
        model.check_shapes()
        model.check_encoder_weight_bits()
        return model

    def check_shapes(self) -> None:
        """PqError unless every layer's input width is the previous output's (the network chains)."""
        want = [("bottleneck", self.bottleneck, self.feature_size, None)]
        width = self.bottleneck.n_out
        for i, layer in enumerate(self.layers):
            if layer.kernel_width < 1 or layer.hidden < 1:
                raise PqError(f"qmodel.json: layer {i}: kernel_width and hidden must be >= 1")
            for side, q in (("fwd", layer.fwd), ("bwd", layer.bwd)):
                want.append((f"qrnn{i}.{side}", q, layer.kernel_width * width, 3 * layer.hidden))
            width = 2 * layer.hidden
        want += [("attention", self.attention, width, 1), ("intent", self.intent, width, len(self.intent_labels)),
                 ("slot", self.slot, width, len(self.slot_labels))]
        for name, q, n_in, n_out in want:
            expected = (n_in, q.n_out if n_out is None else n_out)
            if q.weight.shape != expected:
                raise PqError(f"qmodel.npz: tensor {name}.weight has shape {tuple(q.weight.shape)}, "
                              f"the model needs {expected}")


def check_intent_slots(intent_slots, intent_labels: list[str], slot_labels: list[str]) -> list[list[str]] | None:
    """intent_slots as stored (JSON), checked: None, or one list per intent of slot labels X that
    the model has tags of (B-X or I-X), and an O tag (the one every intent allows). PqError otherwise."""
    if intent_slots is None:
        return None
    if not isinstance(intent_slots, list):
        raise PqError(f"intent_slots must be a list of one list per intent ({len(intent_labels)})")
    if len(intent_slots) != len(intent_labels):
        raise PqError(f"intent_slots has {len(intent_slots)} rows for {len(intent_labels)} intents "
                      "(one list per intent)")
    if OUTSIDE not in slot_labels:
        raise PqError("intent_slots needs an O slot tag (the tag every intent allows)")
    known = {slot_type(t) for t in slot_labels} - {None}
    out = []
    for intent, row in zip(intent_labels, intent_slots):
        if not isinstance(row, list) or not all(isinstance(x, str) for x in row):
            raise PqError(f"intent_slots of {intent}: expected a list of slot labels")
        unknown = [x for x in row if x not in known]
        if unknown:
            raise PqError(f"intent_slots of {intent}: {unknown[0]!r} is no slot label of the model")
        out.append(list(row))
    return out


TENSOR_DTYPES = {"weight": np.int8, "bias": np.int32, "scale": np.float32}


def check_tensor_dtypes(arrays: dict[str, np.ndarray]) -> None:
    """PqError for a stored tensor of another type than QLinear's (a cast would silently wrap)."""
    for name, a in arrays.items():
        want = TENSOR_DTYPES.get(name.rsplit(".", 1)[-1])
        if want is not None and a.dtype != want:
            raise PqError(f"qmodel.npz: tensor {name} is {a.dtype}, expected {np.dtype(want)}")


def _read_tensors(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a .npz file; PqError naming it when it is truncated, empty or not an archive."""
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise PqError(f"{path}: not a .npz archive of tensors")
        with z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise PqError(f"{path}: cannot read the tensors ({type(e).__name__}: {e}); the file is truncated "
                      "or corrupt") from None


def random_quantized_model(spec: ProjectionSpec, bottleneck: int = 16, hidden: int = 8, n_layers: int = 2,
                           kernel_width: int | list[int] = 2, n_intents: int = 5, n_slot_tags: int = 7,
                           seed: int = 0) -> QuantizedModel:
    """A model with random weights and plausible scales, for tests of the integer executors.
    kernel_width: one width for every layer, or a list with one per layer."""
    rng = np.random.default_rng(seed)

    def lin(n_in: int, n_out: int, scale_lo: float, scale_hi: float) -> QLinear:
        return QLinear(rng.integers(-127, 128, (n_in, n_out)), rng.integers(-2000, 2000, n_out),
                       rng.uniform(scale_lo, scale_hi, n_out).astype(np.float32))

    F = spec.feature_size
    layers = []
    d_in = bottleneck
    widths = list(kernel_width) if isinstance(kernel_width, (list, tuple)) else [kernel_width] * n_layers
    for i in range(n_layers):
        k_in = widths[i] * d_in
        s = 8.0 / (127 * np.sqrt(k_in))
        layers.append(QRNNLayerQ(lin(k_in, 3 * hidden, s / 2, s * 2), lin(k_in, 3 * hidden, s / 2, s * 2),
                                 widths[i], hidden))
        d_in = 2 * hidden
    s_b = 1.0 / (127 * np.sqrt(F) / 8)
    return QuantizedModel(
        spec=spec,
        bottleneck=lin(F, bottleneck, s_b / 2, s_b * 2),
        layers=layers,
        attention=lin(d_in, 1, 1e-3, 1e-2),
        intent=lin(d_in, n_intents, 1e-3, 1e-2),
        slot=lin(d_in, n_slot_tags, 1e-3, 1e-2),
        intent_labels=[f"IN:{i}" for i in range(n_intents)],
        slot_labels=["O"] + [f"{p}-SL:{i}" for i in range(n_slot_tags // 2) for p in "BI"][: n_slot_tags - 1],
        meta={"kind": "random"},
    )
