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
[SL:CONTACT mom ] ] ]" for "call mom") is not determined by a decoupled parse alone; `extend_edges`
recovers the common cases with a few rules read off the TSV files, which carry both the parse and
the gold spans (on MTOP-en eval.txt they take the parse reader's agreement with the gold spans from
98.48% to the figure in docs/results.md):
  - left, when the slot starts inside a nested IN:CREATE_CALL: the words between the previous
    slot (or the sentence start) and the slot, after the last of "to", "about", "for", "and",
    "that" among them ("remind me to [call] ella", "I need to [video chat] my dad");
  - left, when the slot starts inside any other nested intent: the one word directly before it if
    it is "with" before an SL:ATTENDEE, a possessive pronoun or a possessive "X's" ("[with] Tina",
    "about [my] 1pm hair appointment", "call [Mark's] mom");
  - right, when the slot ends inside a nested IN:GET_LOCATION and the next characters are a
    possessive "'s": that and the words after it up to the next slot ("at Jim['s house]");
  - right, when the slot ends with a nested intent that keeps no word at all (an empty
    "[IN:GET_LOCATION ]"): the words up to the next slot or punctuation ("stop for eggs [on the
    way home]").
Extensions never cross another slot, sentence punctuation or the sentence's ends.
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


@dataclass
class FlatSlot:
    """A top-level slot of a parse: its label, its kept words as runs, the labels met going down
    its first (left) and last (right) children while those are nodes, and whether that last
    node keeps no word at all (an empty "[IN:GET_LOCATION ]")."""

    label: str
    runs: list
    left: tuple = ()
    right: tuple = ()
    right_empty: bool = False


def _edge(node: Node, last: bool) -> tuple[tuple, bool]:
    """Labels going down node's first (or last) child while it is a node, and whether the
    deepest one has no children at all."""
    labels, cur = [], node
    while cur.children and isinstance(cur.children[-1 if last else 0], Node):
        cur = cur.children[-1 if last else 0]
        labels.append(cur.label)
    return tuple(labels), not cur.children


def flat_frame(parse: str) -> tuple[str, list[FlatSlot]]:
    """(top-level intent, [FlatSlot]) of a parse."""
    root = parse_tree(parse)
    slots = []
    for c in root.children:
        if isinstance(c, Node):
            left, _ = _edge(c, last=False)
            right, empty = _edge(c, last=True)
            slots.append(FlatSlot(c.label, _word_runs(c), left, right, empty))
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
    for slot in slots:
        if not slot.runs:
            return f"slot {slot.label} has no words"
        regexes.append(_slot_regex(slot.runs))
    spans = _align(sentence, regexes, ordered=True) or _align(sentence, regexes, ordered=False)
    if spans is None:
        return f"slots {' | '.join(' '.join(' '.join(r) for r in s.runs) for s in slots)!r} " \
               f"not all found in the sentence"
    spans = extend_edges(sentence, slots, spans)
    return [(slot.label, s, e) for slot, (s, e) in zip(slots, spans)]


# -- recovering a nested intent's dropped words at a slot's edges (see the module docstring) ------

_CALL_BOUNDARIES = {"to", "about", "for", "and", "that"}
_POSSESSIVE_PRONOUNS = {"my", "our", "his", "her", "their", "your"}
_NOT_POSSESSIVE = {"it's", "that's", "what's", "who's", "where's", "when's", "how's", "there's", "here's",
                   "he's", "she's", "let's"}
_WORD = re.compile(r"[^\s.,;:!?]+")        # words; sentence punctuation ends an extension
_STOP = re.compile(r"[.,;:!?]")


def _words_between(sentence: str, lo: int, hi: int) -> list[tuple[int, int]] | None:
    """The (start, end) of each word in sentence[lo:hi], or None when punctuation lies between."""
    part = sentence[lo:hi]
    if _STOP.search(part):
        return None
    return [(lo + m.start(), lo + m.end()) for m in _WORD.finditer(part)]


def _extend_left(sentence: str, slot: FlatSlot, start: int, limit: int) -> int:
    words = _words_between(sentence, limit, start)
    if not words:
        return start
    if "IN:CREATE_CALL" in slot.left:
        text = [sentence[s:e].lower() for s, e in words]
        cut = max((i + 1 for i, w in enumerate(text) if w in _CALL_BOUNDARIES), default=0)
        return words[cut][0] if cut < len(words) else start
    s, e = words[-1]
    w = sentence[s:e].lower()
    if (w == "with" and "SL:ATTENDEE" in slot.left) or w in _POSSESSIVE_PRONOUNS or (w.endswith("'s") and len(w) > 2 and w not in _NOT_POSSESSIVE):
        return s
    return start


def _extend_right(sentence: str, slot: FlatSlot, end: int, limit: int) -> int:
    if sentence.startswith("'s", end) and "IN:GET_LOCATION" in slot.right:
        end += 2
    elif not (slot.right_empty and slot.right[-1].startswith("IN:")):
        return end
    words = _words_between(sentence, end, limit)
    if words is None:
        m = _STOP.search(sentence, end, limit)
        words = _words_between(sentence, end, m.start()) if m else []
    return words[-1][1] if words else end


def extend_edges(sentence: str, slots: list[FlatSlot], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans widened over the nested intents' dropped words at their edges, where the rules of
    the module docstring apply; a slot never grows into another slot."""
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    out = list(spans)
    for k, i in enumerate(order):
        slot, (s, e) = slots[i], out[i]
        prev_end = out[order[k - 1]][1] if k > 0 else 0
        next_start = spans[order[k + 1]][0] if k + 1 < len(order) else len(sentence)
        if slot.left and slot.left[0].startswith("IN:"):
            s = _extend_left(sentence, slot, s, prev_end)
        if slot.right and slot.right[0].startswith("IN:"):
            e = _extend_right(sentence, slot, e, next_start)
        out[i] = (s, e)
    return out


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
