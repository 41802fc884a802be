"""Compact Unicode tables for the generated C projection, built from this Python's Unicode database.

The device needs three facts about a code point: is it whitespace (`str.isspace()`), is it in the
spec's `char_token_ranges` and if so a combining mark (`char_token_runs`), and what is its
per-code-point lower-case form (`chr(c).lower()`, possibly several code points, e.g. U+0130 ->
U+0069 U+0307). Both come from Python itself, so the C code and the Python reference agree by
construction; `unicode_version` records which database they came from (the spec insists it matches).

Compression of the case mapping: code points that map to exactly one code point are grouped into
runs `CaseRange(first, count, stride, delta)`: `first + i*stride` maps to `first + i*stride + delta`
for i < count (stride 1 covers blocks like A-Z, stride 2 the alternating upper/lower pairs of
Latin Extended, Greek, Cyrillic...). The few multi-code-point mappings are listed as expansions.
No case table is built when the spec does not lower-case.
"""
from __future__ import annotations

import bisect
import sys
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache

from .spec import ProjectionSpec

# Limits of the C encoding of a CaseRange (see emit_c): first in 21 bits, count-1 in 10 bits, stride-1 in 1 bit.
MAX_RUN = 1024
STRIDES = (1, 2)


@dataclass(frozen=True)
class CaseRange:
    """first + i*stride (0 <= i < count) lower-cases to itself + delta."""

    first: int
    count: int
    stride: int
    delta: int

    @property
    def last(self) -> int:
        return self.first + (self.count - 1) * self.stride


@dataclass(frozen=True)
class UnicodeTables:
    unicode_version: str
    whitespace: tuple[tuple[int, int], ...]            # inclusive ranges of str.isspace() code points
    lower_ranges: tuple[CaseRange, ...]                 # sorted by first, non-overlapping
    lower_expansions: tuple[tuple[int, tuple[int, ...]], ...]  # cp -> several code points, sorted
    lowercase: bool
    char_runs: tuple[tuple[int, int, bool], ...] = ()  # char_token_runs(spec.char_token_ranges)

    @property
    def max_lower_len(self) -> int:
        """Most code points one code point lower-cases to (1 without expansions)."""
        return max([1] + [len(out) for _, out in self.lower_expansions])

    def lower(self, cp: int) -> tuple[int, ...]:
        """The lower-case code points of cp as the tables say (the C code does the same lookup)."""
        if not self.lowercase:
            return (cp,)
        for src, out in self.lower_expansions:
            if src == cp:
                return out
        k = bisect.bisect_right(self._firsts, cp) - 1
        if k >= 0:
            r = self.lower_ranges[k]
            if cp <= r.last and (cp - r.first) % r.stride == 0:
                return (cp + r.delta,)
        return (cp,)

    @cached_property
    def _firsts(self) -> list[int]:
        return [r.first for r in self.lower_ranges]

    def is_space(self, cp: int) -> bool:
        return any(lo <= cp <= hi for lo, hi in self.whitespace)


def _is_surrogate(cp: int) -> bool:
    return 0xD800 <= cp <= 0xDFFF


def _ranges(cps: list[int]) -> tuple[tuple[int, int], ...]:
    """Sorted code points -> inclusive ranges of consecutive values."""
    out: list[list[int]] = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return tuple((lo, hi) for lo, hi in out)


MARK_CATEGORIES = ("Mn", "Mc", "Me")


@lru_cache(maxsize=64)
def char_token_runs(ranges: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int, bool], ...]:
    """spec.char_token_ranges cut into sorted runs (first, last, is_mark): is_mark runs hold the
    combining marks (general category Mn, Mc, Me) inside the ranges, which extend the character
    token before them; the other runs hold characters that start a character token."""
    runs: list[list] = []
    for lo, hi in ranges:
        for cp in range(lo, hi + 1):
            mark = unicodedata.category(chr(cp)) in MARK_CATEGORIES
            if runs and runs[-1][1] == cp - 1 and runs[-1][2] == mark:
                runs[-1][1] = cp
            else:
                runs.append([cp, cp, mark])
    return tuple((lo, hi, mark) for lo, hi, mark in runs)


@lru_cache(maxsize=None)
def whitespace_ranges() -> tuple[tuple[int, int], ...]:
    return _ranges([cp for cp in range(sys.maxunicode + 1) if chr(cp).isspace()])


def _compress(single: list[tuple[int, int]]) -> tuple[CaseRange, ...]:
    """Greedy: from each mapping, take the longest run with one delta and one stride."""
    runs: list[CaseRange] = []
    i = 0
    while i < len(single):
        cp, delta = single[i]
        best = CaseRange(cp, 1, 1, delta)
        for stride in STRIDES:
            j = i + 1
            while (j < len(single) and j - i < MAX_RUN and single[j][1] == delta
                   and single[j][0] == cp + (j - i) * stride):
                j += 1
            if j - i > best.count:
                best = CaseRange(cp, j - i, stride, delta)
        runs.append(best)
        i += best.count
    return tuple(runs)


@lru_cache(maxsize=None)
def _case_tables() -> tuple[tuple[CaseRange, ...], tuple[tuple[int, tuple[int, ...]], ...]]:
    single: list[tuple[int, int]] = []
    multi: list[tuple[int, tuple[int, ...]]] = []
    for cp in range(sys.maxunicode + 1):
        if _is_surrogate(cp):
            continue
        low = chr(cp).lower()
        if low == chr(cp):
            continue
        if len(low) == 1:
            single.append((cp, ord(low) - cp))
        else:
            multi.append((cp, tuple(ord(c) for c in low)))
    return _compress(single), tuple(multi)


def build_tables(spec: ProjectionSpec) -> UnicodeTables:
    """The tables spec needs: whitespace always, the case mapping only when spec.lowercase, the
    character-token runs only when spec.char_token_ranges."""
    ranges, expansions = _case_tables() if spec.lowercase else ((), ())
    return UnicodeTables(unicodedata.unidata_version, whitespace_ranges(), ranges, expansions, spec.lowercase,
                         char_token_runs(spec.char_token_ranges))
