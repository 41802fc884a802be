"""Data sources named on the command line: `FORMAT:PATH[,option=value...]`.

Examples: `mtop:../shared/data/mtop/en/eval.txt`, `mtop6:../shared/data/mtop/aligned6/dev.json,langs=en+de`,
`mtod:../shared/data/mtod/es,split=dev`, `snips:../shared/data/snips,split=validate`.

Every format also takes `limit=N` and `offset=K`, to use part of a large file: the file's examples
are shuffled with a fixed seed (0), positions K .. K+N-1 of that order are kept (offset alone: all
from K on), and the kept examples come back in file order. The same file always shuffles the same
way, so `limit=5000` and `offset=5000,limit=1000` are disjoint samples of it.
"""
from __future__ import annotations

import inspect
import random

from ..errors import PqError
from .common import ExampleList
from .matis import read_matis
from .mtod import read_mtod
from .mtop import read_mtop, read_mtop6
from .snips import read_snips

FORMATS = {
    "mtop": read_mtop,
    "mtop6": read_mtop6,
    "mtod": read_mtod,
    "matis": read_matis,
    "snips": read_snips,
}
SUBSET_OPTIONS = ("limit", "offset")
SUBSET_SEED = 0


def parse_source(source: str) -> tuple[str, str, dict[str, str]]:
    """`FORMAT:PATH[,opt=val...]` -> (format, path, options); checks format and option names."""
    fmt, sep, rest = source.partition(":")
    if not sep or not rest:
        raise PqError(f"data source {source!r} is not FORMAT:PATH (formats: {', '.join(FORMATS)})")
    if fmt not in FORMATS:
        raise PqError(f"unknown data format {fmt!r} in {source!r} (formats: {', '.join(FORMATS)})")
    path, *opt_items = rest.split(",")
    known = [n for n in inspect.signature(FORMATS[fmt]).parameters if n != "path"] + list(SUBSET_OPTIONS)
    opts = {}
    for item in opt_items:
        key, eq, value = item.partition("=")
        if not eq or key not in known:
            raise PqError(f"unknown option {item!r} for {fmt} (options: {', '.join(f'{k}=...' for k in known)})")
        if key in SUBSET_OPTIONS and not (value.isascii() and value.isdigit()):
            raise PqError(f"option {item!r} in {source!r} is not a whole number >= 0")
        opts[key] = value
    return fmt, path, opts


def subset(examples: ExampleList, limit: int | None, offset: int) -> ExampleList:
    """Positions offset .. offset+limit-1 of the examples shuffled with SUBSET_SEED, in file order."""
    order = list(range(len(examples)))
    random.Random(SUBSET_SEED).shuffle(order)
    end = None if limit is None else offset + limit
    keep = sorted(order[offset:end])
    return ExampleList([examples[i] for i in keep], examples.skipped)


def load_source(source: str) -> ExampleList:
    """The Examples of one `FORMAT:PATH[,opt=val]` source (PqError on any problem)."""
    fmt, path, opts = parse_source(source)
    limit, offset = opts.pop("limit", None), opts.pop("offset", None)
    examples = FORMATS[fmt](path, **opts)
    if limit is None and offset is None:
        return examples
    picked = subset(examples, None if limit is None else int(limit), int(offset or 0))
    if not picked:
        raise PqError(f"no examples left in {source!r} ({len(examples)} in the file)")
    return picked


def load_sources(sources) -> ExampleList:
    """All sources' Examples, in order, with their `skipped` lists concatenated."""
    sources = list(sources)
    if not sources:
        raise PqError("no data source given (FORMAT:PATH)")
    out = ExampleList()
    for s in sources:
        out.extend_from(load_source(s))
    return out
