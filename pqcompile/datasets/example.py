"""One utterance with its gold flat frame, and the frame as BIO tags on the projection's tokens.

An Example stores gold slots as character spans into its text, never tokens: the tokens that
matter are the projection's own (the device knows no others), and they depend on the
ProjectionSpec. `slot_tags` maps the spans onto a spec's tokens; `spans_from_tags` goes back.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ..errors import PqError
from ..projection import ProjectionSpec, Token, tokenize

OUTSIDE = "O"


def slot_type(tag: str) -> str | None:
    """X of a BIO tag B-X or I-X; None for O (and anything else)."""
    return tag[2:] if tag[:2] in ("B-", "I-") and len(tag) > 2 else None

Span = tuple[str, int, int]   # (slot label, char_start, char_end), end exclusive


@dataclass(frozen=True)
class Example:
    """text: the utterance; intent: the top-level intent label; spans: gold flat slot spans
    (label, char_start, char_end), sorted, non-overlapping, never starting or ending on
    whitespace; lang: ISO 639-1 code (or "und"); file/line: where it was read, for messages
    (line is the 1-based line where the example starts)."""

    text: str
    intent: str
    spans: tuple[Span, ...]
    lang: str
    file: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def span_texts(self) -> list[tuple[str, str]]:
        """(label, surface text) for each gold slot."""
        return [(label, self.text[s:e]) for label, s, e in self.spans]


def normalize_spans(text: str, spans, where: str) -> tuple[Span, ...]:
    """Trim whitespace at span edges, sort, and check that spans lie in the text without overlapping.
    A span that is only whitespace, out of range, or overlapping another is a malformed input."""
    out = []
    for label, s, e in spans:
        if not isinstance(label, str) or not label:
            raise PqError(f"{where}: empty slot label")
        if not (0 <= s < e <= len(text)):
            raise PqError(f"{where}: slot {label} span {s}:{e} lies outside the text ({len(text)} characters)")
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s == e:
            raise PqError(f"{where}: slot {label} covers only whitespace")
        out.append((label, s, e))
    out.sort(key=lambda x: (x[1], x[2]))
    for (l1, s1, e1), (l2, s2, e2) in zip(out, out[1:]):
        if s2 < e1:
            raise PqError(f"{where}: slots {l1} {s1}:{e1} and {l2} {s2}:{e2} overlap")
    return tuple(out)


def _chars_read(text: str, spec: ProjectionSpec) -> int:
    """How many leading characters of text fit whole into spec.max_input_bytes bytes."""
    budget = spec.max_input_bytes
    if len(text) * 4 <= budget:
        return len(text)
    used = 0
    for i, ch in enumerate(text):
        used += len(ch.encode("utf-8", "surrogatepass"))
        if used > budget:
            return i
    return len(text)


def slot_tags(example: Example, spec: ProjectionSpec, tokens: list[Token] | None = None) -> list[str] | None:
    """BIO tags, one per projection token of example.text under spec ("O" on BOS/EOS/empty tags),
    or None when the gold frame cannot be represented on those tokens: a span boundary falls
    inside a token, or part of a slot lies beyond what the projection keeps (max_tokens words,
    max_input_bytes bytes). Pass `tokens` if you already have tokenize(example.text, spec)."""
    tags = _map_spans(example, spec, tokens)
    return tags if isinstance(tags, list) else None


def frame_problem(example: Example, spec: ProjectionSpec, tokens: list[Token] | None = None) -> str | None:
    """Why slot_tags gives None, as a short cause for reports, or None when it does not:
    "beyond max tokens/bytes", "inside a token at 'X'" (X: the non-alphanumeric character that
    glues the slot to its neighbour, e.g. the apostrophe of "Larry's"), or "inside a token
    between letters" (a language written without spaces, or a gold span that cuts a word)."""
    tags = _map_spans(example, spec, tokens)
    return None if isinstance(tags, list) else tags


def _map_spans(example: Example, spec: ProjectionSpec, tokens: list[Token] | None) -> list[str] | str:
    if tokens is None:
        tokens = tokenize(example.text, spec)
    tags = [OUTSIDE] * len(tokens)
    if not example.spans:
        return tags
    text = example.text
    words = [(i, t) for i, t in enumerate(tokens) if not t.is_tag]
    kept_end = min(words[-1][1].char_end if words else 0, _chars_read(text, spec))
    for label, s, e in example.spans:
        if e > kept_end:
            return "beyond max tokens/bytes"
        inside = []
        for i, t in words:
            if t.char_end <= s or t.char_start >= e:
                continue
            if t.char_start < s or t.char_end > e:
                cut = s if t.char_start < s else e
                glue = [c for c in text[cut - 1: cut + 1] if not (c.isalnum() or unicodedata.category(c)[0] == "M")]
                return f"inside a token at {glue[0]!r}" if glue else "inside a token between letters"
            inside.append(i)
        if not inside:
            return "covers no token"
        tags[inside[0]] = "B-" + label
        for i in inside[1:]:
            tags[i] = "I-" + label
    return tags


def spans_from_tags(tokens: list[Token], tags: list[str]) -> list[Span]:
    """Slot spans (label, char_start, char_end) from BIO tags on tokens, conlleval-style: an I-X
    after O or after another label starts a new span; tags on BOS/EOS/empty tokens are ignored."""
    if len(tokens) != len(tags):
        raise PqError(f"{len(tags)} tags for {len(tokens)} tokens")
    return bio_spans([(t.char_start, t.char_end) for t in tokens],
                     [OUTSIDE if t.is_tag else tag for t, tag in zip(tokens, tags)])


def bio_spans(bounds: list[tuple[int, int]], tags: list[str], where: str = "") -> list[Span]:
    """Spans from BIO tags on units with character bounds (start, end), with the repair of
    spans_from_tags; a tag that is not O, B-X or I-X is an error."""
    spans: list[list] = []
    prev = OUTSIDE
    for (start, end), tag in zip(bounds, tags):
        if tag == OUTSIDE:
            prev = OUTSIDE
            continue
        kind, _, label = tag.partition("-")
        if kind not in ("B", "I") or not label:
            raise PqError(f"{where}{': ' if where else ''}not a BIO tag: {tag!r}")
        if kind == "I" and prev == label:
            spans[-1][2] = end
        else:
            spans.append([label, start, end])
        prev = label
    return [tuple(x) for x in spans]
