"""What a set of data sources holds, under a projection spec: examples per source and language,
utterances a reader left out (an MTOP parse it could not align, ...), and how many gold frames
cannot be represented on the projection's tokens, with the causes; and, where a language fares
much better with the shipped multilingual spec (character tokens for Thai and CJK), a hint."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..projection import ProjectionSpec, SpecError
from .example import frame_problem
from .sources import load_source

SHOWN_LEFT_OUT = 5
# A language with more of its frames unrepresentable than this gets checked against the
# multilingual spec; the hint is given when that spec at least halves the share.
HINT_ABOVE = 0.10
MULTILINGUAL_SPEC = Path(__file__).resolve().parents[2] / "specs" / "multilingual.json"


def _share(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def source_report(examples, spec: ProjectionSpec) -> dict:
    """Counts for one source's ExampleList."""
    per_lang: dict[str, Counter] = {}
    causes: Counter = Counter()
    for ex in examples:
        c = per_lang.setdefault(ex.lang, Counter())
        c["examples"] += 1
        problem = frame_problem(ex, spec)
        if problem is not None:
            c["unrepresentable"] += 1
            causes[problem] += 1
    skipped = getattr(examples, "skipped", [])
    n_bad = sum(causes.values())
    return {
        "examples": len(examples),
        "not_aligned": len(skipped),
        "not_aligned_examples": [f"{w}: {r}" for w, r in skipped[:SHOWN_LEFT_OUT]],
        "unrepresentable": n_bad,
        "unrepresentable_share": _share(n_bad, len(examples)),
        "unrepresentable_causes": dict(causes.most_common()),
        "languages": {lang: {"examples": c["examples"], "unrepresentable": c["unrepresentable"],
                             "unrepresentable_share": _share(c["unrepresentable"], c["examples"])}
                      for lang, c in sorted(per_lang.items())},
    }


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def spec_hints(examples: list, spec: ProjectionSpec, languages: dict) -> list[dict]:
    """For each language whose unrepresentable share is over HINT_ABOVE, its share under the
    shipped multilingual spec, when that is at most half (and the spec is not already that one)."""
    try:
        other = ProjectionSpec.load(MULTILINGUAL_SPEC)
    except (OSError, SpecError):          # an installed copy without the repository's specs/
        return []
    if other.char_token_ranges == spec.char_token_ranges:
        return []
    hints = []
    for lang, c in languages.items():
        if c["unrepresentable_share"] <= HINT_ABOVE:
            continue
        mine = [ex for ex in examples if ex.lang == lang]
        share = _share(sum(frame_problem(ex, other) is not None for ex in mine), len(mine))
        if share <= c["unrepresentable_share"] / 2:
            hints.append({"lang": lang, "unrepresentable_share": c["unrepresentable_share"],
                          "spec": _shown_path(MULTILINGUAL_SPEC), "unrepresentable_share_with_spec": share})
    return hints


def data_report(sources: list[str], spec: ProjectionSpec) -> dict:
    """Reads every `FORMAT:PATH[,opt=val]` source and reports on each and on all together."""
    loaded = {s: load_source(s) for s in sources}
    per_source = {s: source_report(examples, spec) for s, examples in loaded.items()}
    langs: dict[str, Counter] = {}
    for r in per_source.values():
        for lang, c in r["languages"].items():
            langs.setdefault(lang, Counter()).update({"examples": c["examples"],
                                                      "unrepresentable": c["unrepresentable"]})
    n = sum(r["examples"] for r in per_source.values())
    bad = sum(r["unrepresentable"] for r in per_source.values())
    languages = {lang: {**c, "unrepresentable_share": _share(c["unrepresentable"], c["examples"])}
                 for lang, c in sorted(langs.items())}
    return {
        "spec": spec.to_dict(),
        "sources": per_source,
        "total": {
            "examples": n,
            "not_aligned": sum(r["not_aligned"] for r in per_source.values()),
            "unrepresentable": bad,
            "unrepresentable_share": _share(bad, n),
            "languages": languages,
        },
        "hints": spec_hints([ex for examples in loaded.values() for ex in examples], spec, languages),
    }
