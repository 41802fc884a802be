"""Compare int8 students on the same data, overall and on the utterances where case can help.

    python scripts/compare_students.py RUN [RUN ...] [--data mtop:../shared/data/mtop/en/eval.txt] [--json]

For each run: exact match overall, on the utterances that have a word after the first starting
with a capital letter (the words lower-casing hides from the hash; spec.case_features gives them
back), and on the others; then, for each pair of runs, how many utterances only one of them gets
right (a paired comparison: the noise of a difference is about sqrt(only_a + only_b) utterances).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pqcompile.commands.common import load_predictor  # noqa: E402
from pqcompile.commands.evaluate import _decode_all  # noqa: E402
from pqcompile.datasets import load_sources  # noqa: E402
from pqcompile.projection import tokenize  # noqa: E402
from pqcompile.train.metrics import Frame  # noqa: E402


def has_inner_capital(text: str, spec) -> bool:
    """A word token after the first whose first character is upper case."""
    words = [t for t in tokenize(text, spec) if not t.is_tag]
    return any(t.text[:1].isupper() for t in words[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--data", default="mtop:../shared/data/mtop/en/eval.txt")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    examples = load_sources([a.data])
    right: dict[str, list[bool]] = {}
    spec = None
    for run in a.runs:
        predictor, _, _ = load_predictor(run, True)
        spec = spec or predictor.spec
        decoded = _decode_all(predictor, examples, progress=False)
        right[run] = [d.frame == Frame(ex.intent, tuple(ex.spans)) for ex, d in zip(examples, decoded)]
    capital = [has_inner_capital(ex.text, spec) for ex in examples]
    n_cap = sum(capital)
    report = {"data": a.data, "n": len(examples), "n_inner_capital": n_cap, "runs": {}, "pairs": []}
    for run, ok in right.items():
        cap = sum(o for o, c in zip(ok, capital) if c)
        rest = sum(o for o, c in zip(ok, capital) if not c)
        report["runs"][run] = {"exact_match": sum(ok) / len(ok), "inner_capital": cap / max(1, n_cap),
                               "other": rest / max(1, len(ok) - n_cap)}
    names = list(right)
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            only_x = sum(p and not q for p, q in zip(right[x], right[y]))
            only_y = sum(q and not p for p, q in zip(right[x], right[y]))
            report["pairs"].append({"a": x, "b": y, "only_a": only_x, "only_b": only_y})
    if a.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{a.data}: {len(examples)} utterances, {n_cap} with a capitalised word after the first")
    print(f"{'run':40} {'EM':>7} {'inner cap':>10} {'other':>7}")
    for run, m in report["runs"].items():
        print(f"{run:40} {m['exact_match']:7.4f} {m['inner_capital']:10.4f} {m['other']:7.4f}")
    for p in report["pairs"]:
        print(f"{p['a']} vs {p['b']}: only the first right {p['only_a']}, only the second {p['only_b']}")


if __name__ == "__main__":
    main()
