#!/usr/bin/env python3
"""Student training throughput (utterances per second), old code against this working tree, in one run.

    .venv/bin/python scripts/bench_training_speed.py [--old REV] [--batch-sizes 32,256] [--json]

What is timed is one training step as pqcompile/train/loop.py runs it (make_batch with character
distortion 0.25 -> forward -> training_loss -> backward -> clip 1.0 -> Adam), for the pQRNN `small`
config with QAT on (its default: float_epochs 0; --float: float training), one torch thread, on a fixed subset of MTOP-en
train (../shared/data/mtop/en/train.json, --utterances examples, read once with this tree's
reader and handed to both codes, so both see the same examples).

The old code is `git archive REV pqcompile` in a temporary folder (default REV: the last commit
before pqcompile/model/fo_pool.py existed, i.e. the step-by-step autograd fo-pooling on the
padded grid). Each code runs in its own worker process; the two take turns, chunk by chunk (ABBA
order), so that load from other jobs on a shared machine falls on both alike. Each worker trains
one model per batch size from seed 0 straight through its chunks (an epoch ends -> the next
permutation), so both codes do the same steps on the same batches. Their losses are compared:
the first step's is equal (the forward pass computes the same integers); after that they drift
apart slowly, because the new encoder sums weight gradients over the valid rows only (packed),
in another float order than the padded grid's, and QAT's rounding amplifies such differences; the
mean loss of the last quarter of the steps shows they train alike. Reported: utterances per
second by wall clock and by process CPU time, and the ratios new / old.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MTOP_TRAIN = ROOT.parent / "shared" / "data" / "mtop" / "en" / "train.json"
SEED, DISTORTION, LR, CLIP = 0, 0.25, 1e-3, 1.0


# -- worker: one code version, steps on request -------------------------------------------------

class Worker:
    def __init__(self, data_path: str, config: str, quantize: bool):
        import numpy as np
        import torch

        from pqcompile.datasets.example import Example
        from pqcompile.datasets.labels import LabelSet
        from pqcompile.model.registry import build_model, default_spec
        from pqcompile.train.data import encode

        torch.set_num_threads(1)
        rows = json.loads(Path(data_path).read_text(encoding="utf-8"))
        examples = [Example(r["text"], r["intent"], tuple(tuple(s) for s in r["spans"]), r["lang"]) for r in rows]
        labels = LabelSet.from_examples(examples)
        self.spec = default_spec("pqrnn", config)
        self.data = encode(examples, self.spec, list(labels.intents), list(labels.slot_tags)).representable()
        self.make_model = lambda: build_model("pqrnn", config, {}, len(labels.intents), len(labels.slot_tags), self.spec)
        self.np, self.torch = np, torch
        self.runs: dict[int, dict] = {}
        self.quantize = quantize

    def _run(self, batch_size: int) -> dict:
        run = self.runs.get(batch_size)
        if run is None:
            self.torch.manual_seed(SEED)
            model = self.make_model()
            model.set_quantize(self.quantize)
            model.train()
            run = self.runs[batch_size] = {"model": model, "opt": self.torch.optim.Adam(model.parameters(), lr=LR),
                                           "epoch": -1, "order": [], "pos": 0}
        return run

    def _next_indices(self, run: dict, batch_size: int):
        if run["pos"] >= len(run["order"]):
            run["epoch"] += 1
            self.torch.manual_seed(SEED + run["epoch"])   # zoneout draws
            run["order"] = self.np.random.default_rng((SEED, run["epoch"])).permutation(len(self.data))
            run["pos"] = 0
        idx = run["order"][run["pos"]:run["pos"] + batch_size]
        run["pos"] += batch_size
        return idx, run["epoch"]

    def steps(self, batch_size: int, n: int) -> dict:
        from pqcompile.train.data import make_batch
        from pqcompile.train.loop import training_loss

        torch = self.torch
        run = self._run(batch_size)
        model, opt = run["model"], run["opt"]
        losses, utterances = [], 0
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            idx, epoch = self._next_indices(run, batch_size)
            batch = make_batch(self.data, idx, self.spec, DISTORTION, SEED, epoch)
            intent_logits, slot_logits = model(batch.inputs)
            loss, _ = training_loss(intent_logits, slot_logits, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
            losses.append(loss.item())
            utterances += len(idx)
        return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                "utterances": utterances, "losses": losses}


def worker_main(code: str, data_path: str, config: str, quantize: bool) -> None:
    sys.path.insert(0, code)
    w = Worker(data_path, config, quantize)
    print(json.dumps({"ready": len(w.data)}), flush=True)
    for line in sys.stdin:
        bs, n = map(int, line.split())
        print(json.dumps(w.steps(bs, n)), flush=True)


# -- coordinator ---------------------------------------------------------------------------------

def default_old_rev() -> str:
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", "pqcompile/model/fo_pool.py"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return f"{added[-1]}^" if added else "HEAD"


def write_subset(path: Path, n: int) -> int:
    sys.path.insert(0, str(ROOT))
    from pqcompile.datasets import load_sources

    examples = load_sources([f"mtop:{MTOP_TRAIN},limit={n}"])
    rows = [{"text": e.text, "intent": e.intent, "spans": [list(s) for s in e.spans], "lang": e.lang} for e in examples]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return len(rows)


class Proc:
    def __init__(self, name: str, code: Path, data: Path, config: str, quantize: bool):
        self.name = name
        self.p = subprocess.Popen([sys.executable, __file__, "--worker", str(code), "--data", str(data),
                                   "--config", config, *([] if quantize else ["--float"])],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = json.loads(self.p.stdout.readline())["ready"]

    def steps(self, bs: int, n: int) -> dict:
        self.p.stdin.write(f"{bs} {n}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.name} worker died")
        return json.loads(line)

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait()


def measure(procs: list[Proc], bs: int, warmup: int, chunk: int, rounds: int) -> dict:
    totals = {p.name: {"wall": 0.0, "cpu": 0.0, "utterances": 0, "losses": []} for p in procs}
    for p in procs:
        totals[p.name]["losses"] += p.steps(bs, warmup)["losses"]
    for r in range(rounds):
        for p in (procs if r % 2 == 0 else procs[::-1]):      # ABBA: neither always goes first
            out = p.steps(bs, chunk)
            t = totals[p.name]
            t["wall"] += out["wall"]
            t["cpu"] += out["cpu"]
            t["utterances"] += out["utterances"]
            t["losses"] += out["losses"]
    res = {}
    for name, t in totals.items():
        res[name] = {"utt_per_s_wall": t["utterances"] / t["wall"], "utt_per_s_cpu": t["utterances"] / t["cpu"],
                     "utterances": t["utterances"], "steps": len(t["losses"])}
    old, new = totals["old"]["losses"], totals["new"]["losses"]
    res["ratio_wall"] = res["new"]["utt_per_s_wall"] / res["old"]["utt_per_s_wall"]
    res["ratio_cpu"] = res["new"]["utt_per_s_cpu"] / res["old"]["utt_per_s_cpu"]
    res["first_loss_equal"] = old[0] == new[0]
    res["identical_losses"] = old == new
    res["max_loss_difference"] = max(abs(a - b) for a, b in zip(old, new))
    last = max(1, len(old) // 4)
    res["mean_loss_last_quarter"] = {"old": sum(old[-last:]) / last, "new": sum(new[-last:]) / last}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", help="git revision of the old code (default: the commit before model/fo_pool.py)")
    ap.add_argument("--config", default="small")
    ap.add_argument("--utterances", type=int, default=2000)
    ap.add_argument("--batch-sizes", default="32,256")
    ap.add_argument("--steps", type=int, default=300, help="timed steps per code at batch size 32 (scaled by 32/bs)")
    ap.add_argument("--rounds", type=int, default=6, help="turns per code (the steps are split into these)")
    ap.add_argument("--float", action="store_true", help="float training (the float warm-up epochs) instead of QAT")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker_main(args.worker, args.data, args.config, not args.float)
    if not MTOP_TRAIN.is_file():
        raise SystemExit(f"benchmark data not found: {MTOP_TRAIN}")
    old_rev = args.old or default_old_rev()
    old_commit = subprocess.run(["git", "rev-parse", "--short", old_rev], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    results = {"old": old_commit, "new": "working tree", "config": args.config, "threads": 1,
               "mode": "float" if args.float else "QAT", "by_batch_size": {}}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tmp = Path(tmp)
        archive = subprocess.run(["git", "archive", old_rev, "pqcompile"], cwd=ROOT, capture_output=True, check=True)
        (tmp / "old").mkdir()
        subprocess.run(["tar", "-x", "-C", str(tmp / "old")], input=archive.stdout, check=True)
        results["utterances"] = write_subset(tmp / "data.json", args.utterances)
        procs = [Proc(name, code, tmp / "data.json", args.config, not args.float)
                 for name, code in (("old", tmp / "old"), ("new", ROOT))]
        try:
            for bs in (int(b) for b in args.batch_sizes.split(",")):
                steps = max(args.rounds, args.steps * 32 // bs)
                chunk = max(1, steps // args.rounds)
                res = measure(procs, bs, warmup=max(2, chunk // 4), chunk=chunk, rounds=args.rounds)
                results["by_batch_size"][bs] = res
                if not args.json:
                    m = res["mean_loss_last_quarter"]
                    print(f"batch {bs}: old {res['old']['utt_per_s_wall']:.0f} utt/s, new {res['new']['utt_per_s_wall']:.0f} "
                          f"utt/s (wall; ratio {res['ratio_wall']:.2f}x) | CPU time: old {res['old']['utt_per_s_cpu']:.0f}, "
                          f"new {res['new']['utt_per_s_cpu']:.0f} (ratio {res['ratio_cpu']:.2f}x) | {res['new']['steps']} "
                          f"steps each; first-step loss equal: {res['first_loss_equal']}, all identical: "
                          f"{res['identical_losses']} (max difference {res['max_loss_difference']:.3g}); mean loss "
                          f"of the last quarter: old {m['old']:.4f}, new {m['new']:.4f}", flush=True)
        finally:
            for p in procs:
                p.close()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"old = {old_commit}, new = working tree; pqrnn {args.config}, {results['mode']}, distortion {DISTORTION}, "
              f"{results['utterances']} MTOP-en utterances, 1 thread, old and new alternating (ABBA)")


if __name__ == "__main__":
    main()
