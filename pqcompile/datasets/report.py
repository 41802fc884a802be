"""What a set of data sources holds, under a projection spec: examples per source and language,
utterances a reader left out (an MTOP parse it could not align, ...), and how many gold frames
cannot be represented on the projection's tokens, with the causes."""
from __future__ import annotations

from collections import Counter

from ..projection import ProjectionSpec
from .example import frame_problem
from .sources import load_source


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
        "not_aligned_examples": [f"{w}: {r}" for w, r in skipped[:5]],
        "unrepresentable": n_bad,
        "unrepresentable_share": _share(n_bad, len(examples)),
        "unrepresentable_causes": dict(causes.most_common()),
        "languages": {lang: {"examples": c["examples"], "unrepresentable": c["unrepresentable"],
                             "unrepresentable_share": _share(c["unrepresentable"], c["examples"])}
                      for lang, c in sorted(per_lang.items())},
    }


def data_report(sources: list[str], spec: ProjectionSpec) -> dict:
    """Reads every `FORMAT:PATH[,opt=val]` source and reports on each and on all together."""
    per_source = {s: source_report(load_source(s), spec) for s in sources}
    langs: dict[str, Counter] = {}
    for r in per_source.values():
        for lang, c in r["languages"].items():
            langs.setdefault(lang, Counter()).update({"examples": c["examples"],
                                                      "unrepresentable": c["unrepresentable"]})
    n = sum(r["examples"] for r in per_source.values())
    bad = sum(r["unrepresentable"] for r in per_source.values())
    return {
        "spec": spec.to_dict(),
        "sources": per_source,
        "total": {
            "examples": n,
            "not_aligned": sum(r["not_aligned"] for r in per_source.values()),
            "unrepresentable": bad,
            "unrepresentable_share": _share(bad, n),
            "languages": {lang: {**c, "unrepresentable_share": _share(c["unrepresentable"], c["examples"])}
                          for lang, c in sorted(langs.items())},
        },
    }
