"""Data sources named on the command line: `FORMAT:PATH[,option=value...]`.

Examples: `mtop:../shared/data/mtop/en/eval.txt`, `mtop6:../shared/data/mtop/aligned6/dev.json,langs=en+de`,
`mtod:../shared/data/mtod/es,split=dev`, `snips:../shared/data/snips,split=validate`.
"""
from __future__ import annotations

import inspect

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


def parse_source(source: str) -> tuple[str, str, dict[str, str]]:
    """`FORMAT:PATH[,opt=val...]` -> (format, path, options); checks format and option names."""
    fmt, sep, rest = source.partition(":")
    if not sep or not rest:
        raise PqError(f"data source {source!r} is not FORMAT:PATH (formats: {', '.join(FORMATS)})")
    if fmt not in FORMATS:
        raise PqError(f"unknown data format {fmt!r} in {source!r} (formats: {', '.join(FORMATS)})")
    path, *opt_items = rest.split(",")
    known = [n for n in inspect.signature(FORMATS[fmt]).parameters if n != "path"]
    opts = {}
    for item in opt_items:
        key, eq, value = item.partition("=")
        if not eq or key not in known:
            raise PqError(f"unknown option {item!r} for {fmt} (options: {', '.join(f'{k}=...' for k in known)})")
        opts[key] = value
    return fmt, path, opts


def load_source(source: str) -> ExampleList:
    """The Examples of one `FORMAT:PATH[,opt=val]` source (PqError on any problem)."""
    fmt, path, opts = parse_source(source)
    return FORMATS[fmt](path, **opts)


def load_sources(sources) -> ExampleList:
    """All sources' Examples, in order, with their `skipped` lists concatenated."""
    sources = list(sources)
    if not sources:
        raise PqError("no data source given (FORMAT:PATH)")
    out = ExampleList()
    for s in sources:
        out.extend_from(load_source(s))
    return out
