"""MTOP's bracketed parses, reduced to the flat frame the student predicts, and aligned to text.

A parse looks like `[IN:CREATE_REMINDER [SL:PERSON_REMINDED me ] [SL:TODO [IN:CREATE_CALL
[SL:CONTACT mom ] ] ] ]`. MTOP is compositional; the student predicts only the flat frame: the
top-level intent and the top-level slots, where a slot with a nested [IN:...] inside is one span
covering everything inside it.

In MTOP's *decoupled* form the words that sit directly under an intent are dropped, so the
parse alone does not say where a slot lies in the sentence. `align_slots` finds each top-level
slot's words in the sentence, left to right, at word boundaries, tolerating different spacing
("M ." vs "M."); inside a nested intent, dropped words may sit between the slot's words. A slot
that starts or ends with a nested intent's dropped words ("call" in "[SL:TODO [IN:CREATE_CALL
[SL:CONTACT mom ] ] ]" for "call mom") cannot be recovered from a decoupled parse: its span
covers only the words the parse keeps.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


class ParseError(ValueError):
    """A bracketed parse that is not well formed."""


@dataclass
class Node:
    label: str                                   # "IN:..." or "SL:..."
    children: list = field(default_factory=list)  # Node or str (a word)


def parse_tree(parse: str) -> Node:
    """The tree of a bracketed parse; raises ParseError."""
    stack: list[Node] = []
    root = None
    for tok in parse.split():
        if tok.startswith("[") and len(tok) > 1:
            label = tok[1:]
            if not (label.startswith("IN:") or label.startswith("SL:")):
                raise ParseError(f"unknown node {tok!r}")
            node = Node(label)
            if stack:
                stack[-1].children.append(node)
            elif root is not None:
                raise ParseError("text after the top-level node")
            else:
                root = node
            stack.append(node)
        elif tok == "]":
            if not stack:
                raise ParseError("unbalanced ']'")
            stack.pop()
        else:
            if not stack:
                raise ParseError(f"word {tok!r} outside any node")
            stack[-1].children.append(tok)
    if root is None:
        raise ParseError("empty parse")
    if stack:
        raise ParseError("unclosed '['")
    if not root.label.startswith("IN:"):
        raise ParseError(f"top-level node is {root.label}, not an intent")
    return root


_GAP = None


def _items(node: Node) -> list:
    """The words under node in order, with _GAP wherever a decoupled parse may have dropped
    words: around and between the children of an intent."""
    out: list = []
    is_intent = node.label.startswith("IN:")
    for child in node.children:
        if is_intent:
            out.append(_GAP)
        out.extend(_items(child) if isinstance(child, Node) else [child])
    if is_intent:
        out.append(_GAP)
    return out


def _word_runs(slot: Node) -> list[list[str]]:
    """A slot's words as runs: words in a run are adjacent in the sentence; dropped words may
    sit between runs. An empty list when the slot has no word at all."""
    runs: list[list[str]] = [[]]
    for item in _items(slot):
        if item is _GAP:
            runs.append([])
        else:
            runs[-1].append(item)
    return [r for r in runs if r]


def flat_frame(parse: str) -> tuple[str, list[tuple[str, list[list[str]]]]]:
    """(top-level intent, [(slot label, word runs)]) of a parse."""
    root = parse_tree(parse)
    slots = [(c.label, _word_runs(c)) for c in root.children if isinstance(c, Node)]
    return root.label, slots


def _run_pattern(words: list[str]) -> str:
    return r"\s*".join(re.escape(w) for w in words)


def _slot_regex(runs: list[list[str]]) -> re.Pattern:
    first, last = runs[0][0], runs[-1][-1]
    body = ".*?".join(_run_pattern(r) for r in runs)
    pre = r"(?<!\w)" if re.match(r"\w", first) else ""
    post = r"(?!\w)" if re.search(r"\w$", last) else ""
    return re.compile(pre + body + post, re.DOTALL)


def align_slots(sentence: str, slots) -> list[tuple[str, int, int]] | str:
    """Character spans of the top-level slots in the sentence, or a reason why not.

    Slots are matched left to right in parse order, each at its first occurrence after the
    previous one. Parse order is not always sentence order (translations, "remove 10 minutes
    from the timer" parsed timer-first), so when that fails each slot takes its first
    occurrence that overlaps no slot placed before it."""
    regexes = []
    for label, runs in slots:
        if not runs:
            return f"slot {label} has no words"
        regexes.append(_slot_regex(runs))
    spans = _align(sentence, regexes, ordered=True) or _align(sentence, regexes, ordered=False)
    if spans is None:
        return f"slots {' | '.join(' '.join(' '.join(r) for r in runs) for _, runs in slots)!r} " \
               f"not all found in the sentence"
    return [(label, s, e) for (label, _), (s, e) in zip(slots, spans)]


def _tightest(rx: re.Pattern, sentence: str, m: re.Match) -> tuple[int, int]:
    """The shortest match of rx ending where m ends: with gaps in a slot ("my ... auntie Damon")
    the leftmost match may start at an earlier, unrelated occurrence of the first word."""
    if ".*?" not in rx.pattern:
        return m.span()
    start = m.start()
    for s in range(m.start() + 1, m.end()):
        m2 = rx.match(sentence, s)
        if m2 and m2.end() == m.end():
            start = s
    return start, m.end()


def _align(sentence: str, regexes: list[re.Pattern], ordered: bool) -> list[tuple[int, int]] | None:
    taken: list[tuple[int, int]] = []
    pos = 0
    for rx in regexes:
        found = None
        for flags in (0, re.IGNORECASE):
            r = rx if not flags else re.compile(rx.pattern, rx.flags | flags)
            for m in r.finditer(sentence, pos):
                span = _tightest(r, sentence, m)
                if all(span[1] <= s or span[0] >= e for s, e in taken):
                    found = span
                    break
            if found:
                break
        if found is None:
            return None
        taken.append(found)
        if ordered:
            pos = found[1]
    return taken
