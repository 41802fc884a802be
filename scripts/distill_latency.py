#!/usr/bin/env python3
"""Batch-1 CPU latency and size of a teacher and a student run (not a test).

    .venv/bin/python scripts/distill_latency.py TEACHER RUN --data FORMAT:PATH [--n 200] [--threads 1]

Times one utterance at a time, end to end from text to logits: the teacher (tokenizer + encoder +
heads, PyTorch fp32) and the student (projection + network) as the PyTorch float model and as the
int8 integer reference. Prints one JSON object: median and p90 milliseconds, parameters, bytes.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from pqcompile.datasets import load_sources  # noqa: E402
from pqcompile.quant.qmodel import QuantizedModel  # noqa: E402
from pqcompile.teacher.model import load_teacher  # noqa: E402
from pqcompile.teacher.predict import teacher_logits  # noqa: E402
from pqcompile.train.inference import Predictor  # noqa: E402
from pqcompile.train.run import RunFolder  # noqa: E402


def timed(fn, texts: list[str]) -> dict:
    for t in texts[:5]:
        fn(t)                      # warm-up
    ms = []
    for t in texts:
        start = time.perf_counter()
        fn(t)
        ms.append((time.perf_counter() - start) * 1e3)
    ms.sort()
    return {"median_ms": statistics.median(ms), "p90_ms": ms[int(0.9 * (len(ms) - 1))], "n": len(ms)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("teacher")
    ap.add_argument("run")
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    texts = [ex.text for ex in load_sources(a.data)][: a.n]
    teacher = load_teacher(a.teacher)
    run = RunFolder.open(a.run)
    student_float, student_int8 = Predictor(run), Predictor(run, int8=True)
    qm = QuantizedModel.load(run.int8)
    out = {
        "threads": a.threads,
        "teacher": {"parameters": teacher.n_parameters(), "fp32_bytes": teacher.fp32_bytes(),
                    **timed(lambda t: teacher_logits(teacher, [t]), texts)},
        "student_float": {"parameters": run.config()["parameters"],
                          **timed(lambda t: student_float.predict_texts([t]), texts)},
        "student_int8": {"int8_weight_bytes": qm.n_weight_bytes(),
                         **timed(lambda t: student_int8.predict_texts([t]), texts)},
    }
    out["bytes_ratio"] = out["teacher"]["fp32_bytes"] / out["student_int8"]["int8_weight_bytes"]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
