#!/usr/bin/env python3
"""Cost of the generated projection on an emulated board: instructions per token (QEMU -icount,
deterministic; instructions are a proxy, not cycles) and flash/RAM of the projection object.

    .venv/bin/python scripts/bench_projection_device.py [--target cortex-m7] [--lines 2000] [--json]

Text: MTOP English utterances from ../shared/data/mtop/en/train.json when present (benchmark data,
never used by tests), otherwise the built-in corpus's sentences. The spec is the default one
(feature size 512) unless --spec is given.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pqcompile.projection import DEFAULT_SPEC, ProjectionSpec  # noqa: E402
from pqcompile.projection.corpus import sentences  # noqa: E402
from pqcompile.projection.verify import count_instructions, projection_size  # noqa: E402
from pqcompile.targets import load_target  # noqa: E402

MTOP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mtop" / "en" / "train.json"


def mtop_like(n: int) -> tuple[list[bytes], str]:
    if MTOP.is_file():
        data = json.loads(MTOP.read_text(encoding="utf-8"))
        return [d["original_sentence"].encode("utf-8") for d in data[:n]], str(MTOP)
    texts = [s.encode("utf-8") for lang, s in sentences() if lang == "en"]
    return [texts[i % len(texts)] for i in range(n)], "built-in English sentences"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="cortex-m7")
    ap.add_argument("--spec", help="projection spec JSON (default: the default spec, F=512)")
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    spec = ProjectionSpec.load(args.spec) if args.spec else DEFAULT_SPEC
    target = load_target(args.target)
    lines, source = mtop_like(args.lines)
    report = {"target": target.name, "feature_size": spec.feature_size, "text": source,
              **count_instructions(spec, target, lines), "size": projection_size(spec, target)}
    if args.json:
        print(json.dumps(report))
        return
    s = report["size"]
    print(f"{target.name}, F={spec.feature_size}, {report['lines']} utterances from {source}")
    print(f"  {report['instructions_per_token']:.0f} instructions per token "
          f"({report['instructions_per_line']:.0f} per utterance, {report['tokens'] / report['lines']:.2f} tokens each)")
    print(f"  projection object: flash {s['flash']} B (text {s['text']} + rodata {s['rodata']} + data {s['data']}), "
          f"static RAM {s['ram']} B")


if __name__ == "__main__":
    main()
