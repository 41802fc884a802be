"""Compare int8 students on the same data, overall and on the utterances where case can help.

    python scripts/compare_students.py RUN [RUN ...] [--data mtop:../shared/data/mtop/en/eval.txt]
        [--unseen-from mtop:../shared/data/mtop/en/train.json] [--json]

For each run: exact match overall, on the utterances that have a word after the first starting
with a capital letter (the words lower-casing hides from the hash; spec.case_features gives them
back), and on the others; with --unseen-from, also on the utterances with a word (a token with a
letter, lower-cased) that no text of that data has, and on the others; then, for each pair of runs, how many utterances only one of them gets
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
    ap.add_argument("--unseen-from", metavar="FORMAT:PATH",
                    help="Training data: also score the utterances with a word none of its texts has.")
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
    subsets = {"inner_capital": [has_inner_capital(ex.text, spec) for ex in examples]}
    if a.unseen_from:
        from pqcompile.distill.lexicon import text_words
        known = set(text_words((ex.text for ex in load_sources([a.unseen_from])), spec))
        subsets["unseen_word"] = [any(w not in known for w in text_words([ex.text], spec)) for ex in examples]
    report = {"data": a.data, "n": len(examples), "runs": {}, "pairs": [],
              **{f"n_{name}": sum(flags) for name, flags in subsets.items()}}
    for run, ok in right.items():
        m = {"exact_match": sum(ok) / len(ok)}
        for name, flags in subsets.items():
            n_in = sum(flags)
            m[name] = sum(o for o, f in zip(ok, flags) if f) / max(1, n_in)
            m[f"not_{name}"] = sum(o for o, f in zip(ok, flags) if not f) / max(1, len(ok) - n_in)
        report["runs"][run] = m
    names = list(right)
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            only_x = sum(p and not q for p, q in zip(right[x], right[y]))
            only_y = sum(q and not p for p, q in zip(right[x], right[y]))
            report["pairs"].append({"a": x, "b": y, "only_a": only_x, "only_b": only_y})
    if a.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{a.data}: {len(examples)} utterances; " +
          ", ".join(f"{report['n_' + name]} {name.replace('_', ' ')}" for name in subsets))
    cols = [c for name in subsets for c in (name, f"not_{name}")]
    print(f"{'run':40} {'EM':>7} " + " ".join(f"{c:>17}" for c in cols))
    for run, m in report["runs"].items():
        print(f"{run:40} {m['exact_match']:7.4f} " + " ".join(f"{m[c]:17.4f}" for c in cols))
    for p in report["pairs"]:
        print(f"{p['a']} vs {p['b']}: only the first right {p['only_a']}, only the second {p['only_b']}")


if __name__ == "__main__":
    main()
