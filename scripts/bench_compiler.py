"""The compiler's numbers in docs/compiler.md: a small-pQRNN-shaped random model (F=512, T=32,
bottleneck 64, 2 bidirectional QRNN layers H=64 k=2, 60 intents, 73 slot tags) built for the
given targets; per target flash, RAM, arena and the deterministic instruction counts (QEMU
-icount) of the projection and the network for a 3-, 10- and 30-token utterance, checked bit for
bit against onnxruntime and the integer reference; then host C latency vs onnxruntime, measured
in one run as a ratio.

    .venv/bin/python scripts/bench_compiler.py --out /tmp/bench [--targets cortex-m7,cortex-m4,cortex-m55] [--no-host]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from pqcompile.export import build_onnx
from pqcompile.projection import DEFAULT_SPEC, project
from pqcompile.quant.qmodel import random_quantized_model
from pqcompile.targets import load_target

def small_model():
    spec = DEFAULT_SPEC.replace(feature_size=512, max_tokens=32)
    return random_quantized_model(spec, bottleneck=64, hidden=64, n_layers=2, kernel_width=2, n_intents=60,
                                  n_slot_tags=73, seed=0)


def texts(spec) -> dict[int, bytes]:
    """One utterance per wanted token count (words cut to length)."""
    words = b"remind me to call mom and dad about the party at the lake house tomorrow".split()
    out = {}
    for n in (3, 10, 30):
        line = b" ".join((words * 3)[:n])
        assert int(project([line], spec).lengths[0]) == n, line
        out[n] = line
    return out


def host_latency(qm, model, repeats: int = 5, calls: int = 100) -> dict:
    import onnxruntime as ort
    import pqcompile.compiler as compiler
    from pqcompile.compiler.host import HostModel
    cm = compiler.compile_onnx(model)
    host = HostModel(cm.files, cm.max_tokens, cm.feature_size, cm.n_intents, cm.n_slots)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = {}
    for n, line in texts(qm.spec).items():
        p = project([line], qm.spec)
        x, L = p.features[0], int(p.lengths[0])
        feed = {"features": p.features[:1], "length": p.lengths[:1].astype(np.int32)}
        c_times, o_times = [], []
        for _ in range(repeats):   # interleaved, so both see the same machine load
            t0 = time.perf_counter()
            for _ in range(calls):
                host.run(x, L)
            c_times.append((time.perf_counter() - t0) / calls)
            t0 = time.perf_counter()
            for _ in range(calls):
                sess.run(None, feed)
            o_times.append((time.perf_counter() - t0) / calls)
        c, o = statistics.median(c_times), statistics.median(o_times)
        out[n] = {"host_c_us": round(c * 1e6, 1), "onnxruntime_us": round(o * 1e6, 1), "ratio": round(o / c, 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--targets", default="cortex-m7,cortex-m4")
    ap.add_argument("--no-host", action="store_true")
    args = ap.parse_args()
    from pqcompile.compiler.firmware import build
    from pqcompile.compiler.verify import verify
    qm = small_model()
    model = build_onnx(qm)
    lines = texts(qm.spec)
    results: dict = {"macs": qm.n_macs()}
    for name in args.targets.split(","):
        target = load_target(name)
        report = build(model, target, args.out / name, "small random pQRNN")
        r = verify(model, qm, target, args.out / name, report, list(lines.values()))
        assert r.ok, r.mismatches
        results[name] = {"flash": report["sections"]["flash"], "ram": report["sections"]["ram"],
                         "arena": report["arena_bytes"], "components": report["components"],
                         "network": dict(zip(lines, r.insns_network)),
                         "projection": dict(zip(lines, r.insns_projection))}
        print(name, json.dumps(results[name]), flush=True)
    if not args.no_host:
        results["host"] = host_latency(qm, model)
        print("host", json.dumps(results["host"]), flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
