"""Three executors on the same utterances, compared bit for bit: the Python integer reference
(when the model's QuantizedModel is at hand), onnxruntime on the exported graph, and the device
program under QEMU (its verify image). Frames (intent + slot spans) are compared with the
Python decoder's (pqcompile.train.decode) on the reference logits. Slot logits are compared on
the valid rows t < L: the device computes and reports only those (rows t >= L are padding that
no decoder reads); the reference and onnxruntime are compared on all T rows."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from ..emulator import run_program
from ..errors import PqError
from ..export import read_metadata
from ..projection import project
from ..quant.integer_reference import run_integer
from ..quant.qmodel import QuantizedModel
from ..targets import Target
from ..train.decode import decode_one, intent_tag_mask


@dataclass
class VerifyResult:
    utterances: int = 0
    device_vs_onnxruntime: int = 0      # utterances whose int8 logits agree
    reference_vs_onnxruntime: int | None = None
    frames_equal: int = 0
    mismatches: list[dict] = field(default_factory=list)
    insns_projection: list[int] = field(default_factory=list)
    insns_network: list[int] = field(default_factory=list)
    device_frames: list[dict] = field(default_factory=list)   # the device's frame per utterance, in order

    @property
    def ok(self) -> bool:
        n = self.utterances
        return (self.device_vs_onnxruntime == n and self.frames_equal == n
                and self.reference_vs_onnxruntime in (None, n))

    def to_dict(self) -> dict:
        d = {"ok": self.ok, "utterances": self.utterances, "device_vs_onnxruntime": self.device_vs_onnxruntime,
             "reference_vs_onnxruntime": self.reference_vs_onnxruntime, "frames_equal": self.frames_equal,
             "first_mismatches": self.mismatches}
        if self.insns_network:
            d["mean_instructions"] = {"projection": float(np.mean(self.insns_projection)),
                                      "network": float(np.mean(self.insns_network))}
        return d


def onnxruntime_logits(model: onnx.ModelProto, features: np.ndarray, lengths: np.ndarray):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    outs = [sess.run(None, {"features": features[i:i + 1], "length": lengths[i:i + 1]}) for i in range(len(lengths))]
    return np.stack([o[0][0] for o in outs]), np.stack([o[1][0] for o in outs])


def run_device(target: Target, build_dir: Path, report: dict, lines: list[bytes]) -> list[dict]:
    """The verify image's JSON objects, one per input line."""
    res = run_program(target, build_dir / report["verify_image"], input=b"".join(l + b"\n" for l in lines),
                      timeout=60 + 0.5 * len(lines))
    if res.returncode != 0:
        raise PqError(f"device program exited with status {res.returncode}: "
                      f"{res.stderr.decode('utf-8', 'replace').strip()[:300]}")
    out = res.stdout.decode("utf-8").splitlines()
    if len(out) != len(lines):
        raise PqError(f"device program printed {len(out)} lines for {len(lines)} utterances")
    return [json.loads(line) for line in out]


def verify(model: onnx.ModelProto, qmodel: QuantizedModel | None, target: Target, build_dir: Path,
           report: dict, lines: list[bytes], max_mismatches: int = 5) -> VerifyResult:
    meta = read_metadata(model)
    spec = meta.spec
    tag_mask = intent_tag_mask(meta.intent_slots, meta.intent_labels, meta.slot_labels)
    p = project(lines, spec)
    lengths = p.lengths.astype(np.int32)
    o_intent, o_slots = onnxruntime_logits(model, p.features, lengths)
    ref = run_integer(qmodel, p.features, lengths) if qmodel is not None else None
    device = run_device(target, build_dir, report, lines)
    r = VerifyResult(utterances=len(lines), reference_vs_onnxruntime=0 if ref is not None else None)
    for i, (line, dev) in enumerate(zip(lines, device)):
        problems = []
        d_intent = np.array(dev["intent_logits"], np.int8)
        d_slots = np.array(dev["slot_logits"], np.int8).reshape(-1, o_slots.shape[2])
        n = int(lengths[i])   # the device reports the valid rows only (model_run stops at the length)
        if dev["n"] == n and np.array_equal(d_intent, o_intent[i]) and np.array_equal(d_slots, o_slots[i, :n]):
            r.device_vs_onnxruntime += 1
        else:
            problems.append("device logits != onnxruntime")
        if ref is not None:
            if np.array_equal(ref.intent_logits[i], o_intent[i]) and np.array_equal(ref.slot_logits[i], o_slots[i]):
                r.reference_vs_onnxruntime += 1
            else:
                problems.append("integer reference != onnxruntime")
        text = line[:spec.max_input_bytes].decode("utf-8", "replace")
        src_i, src_s = (ref.intent_logits[i], ref.slot_logits[i]) if ref is not None else (o_intent[i], o_slots[i])
        py = decode_one(text, p.tokens[i], src_i, src_s, meta.intent_labels, meta.slot_labels,
                        tag_mask=tag_mask).to_dict(text)
        frame = {"intent": py["intent"], "slots": py["slots"]}
        r.device_frames.append({"intent": dev["intent"], "slots": dev["slots"]})
        if frame == r.device_frames[-1]:
            r.frames_equal += 1
        else:
            problems.append("frames differ")
        if "insns" in dev:
            r.insns_projection.append(dev["insns"]["projection"])
            r.insns_network.append(dev["insns"]["network"])
        if problems and len(r.mismatches) < max_mismatches:
            r.mismatches.append({"index": i, "text": text, "problems": problems, "python_frame": frame,
                                 "device_frame": {"intent": dev["intent"], "slots": dev["slots"]}})
    return r
