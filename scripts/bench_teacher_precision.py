"""fp32 against bfloat16 (CPU autocast) for a teacher's encoder: seconds per training step and per
inference batch, measured in one run, and how far the bf16 hidden states are from fp32.

    python scripts/bench_teacher_precision.py /work/models/all-mpnet-base-v2 [--threads 1] [--batch 32] [--length 20]

Uses random word-piece ids (the cost does not depend on which); the model folder is any local
Hugging Face encoder. Prints one JSON object. docs/results.md (session 21) quotes it."""
from __future__ import annotations

import argparse
import json
import time

import torch

from pqcompile.teacher.encoder import load_pretrained_encoder
from pqcompile.teacher.precision import compute


def seconds(step, repeat: int) -> float:
    step()   # warm-up (oneDNN picks its kernels on the first call)
    start = time.perf_counter()
    for _ in range(repeat):
        step()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoder = load_pretrained_encoder(args.model)
    ids = torch.randint(1000, 20000, (args.batch, args.length))
    mask = torch.ones_like(ids)

    def forward(precision):
        with compute(precision):
            return encoder(input_ids=ids, attention_mask=mask).last_hidden_state.float()

    result = {"model": args.model, "threads": args.threads, "batch": args.batch, "length": args.length}
    encoder.eval()
    with torch.no_grad():
        ref, low = forward("fp32"), forward("bf16")
        result["bf16_relative_error"] = float((low - ref).norm() / ref.norm())
        for p in ("fp32", "bf16"):
            result[f"inference_s_{p}"] = seconds(lambda: forward(p), args.repeat)
    encoder.train()
    for p in ("fp32", "bf16"):
        result[f"train_step_s_{p}"] = seconds(lambda: forward(p).sum().backward(), max(1, args.repeat - 1))
    result["train_speedup"] = result["train_step_s_fp32"] / result["train_step_s_bf16"]
    result["inference_speedup"] = result["inference_s_fp32"] / result["inference_s_bf16"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
