"""ProjectionSpec: the single source of truth for how text becomes ternary features.

Training (the Python reference), the ONNX metadata and the C emitter all read this object;
nothing else restates its constants. See docs/projection.md for the full algorithm.
"""
from __future__ import annotations

import dataclasses
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

# Spec format versions: 1 = whole-token hashing only; 2 = with character n-gram features
# (char_ngrams); 3 = with digit folding (fold_digits); 4 = with case columns (case_features). A
# spec's version is the lowest one that describes it, so every spec without n-grams stays version 1
# and serialises, hashes and projects exactly as before version 2 existed, every spec without
# fold_digits as before version 3, and every spec without case_features as before version 4.
SPEC_VERSION = 4
NGRAM_SPEC_VERSION = 2
FOLD_SPEC_VERSION = 3
CASE_SPEC_VERSION = 4
# the option that makes a spec need each version above 1
VERSION_OPTION = {NGRAM_SPEC_VERSION: "char_ngrams", FOLD_SPEC_VERSION: "fold_digits",
                  CASE_SPEC_VERSION: "case_features"}
HASHES = ("murmur64-ternary-v1",)
MAX_FEATURE_SIZE = 4096
# Character n-gram sizes allowed in char_ngrams (code points, the begin/end markers included).
MIN_NGRAM, MAX_NGRAM = 1, 8
# The device sums a token's n-gram features in int16 before clamping to int8 (emit_c.py); a spec
# whose longest possible token could have more n-grams than this is rejected.
MAX_NGRAMS_PER_TOKEN = 32767
# Punctuation split off as tokens of its own by default (so "me?" gives "me", "?" and "Larry's"
# gives "Larry", "'", "s": slot spans in MTOP/MTOD/SNIPS end at these characters).
DEFAULT_SEPARATORS = ".,!?;:\"'()[]{}/…“”‘’¿¡。、，！？；："
MAX_CODEPOINT = 0x10FFFF

# Named sets of inclusive code-point ranges for `char_token_ranges` (scripts written without spaces
# between words). A spec stores the ranges themselves, never the name, so a saved spec projects the
# same even if a preset changes later. None contains whitespace or a default separator.
HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),        # CJK ext. A, unified, compatibility
       (0x20000, 0x2A6DF), (0x2A700, 0x2EBEF), (0x2F800, 0x2FA1F),  # ext. B, C-F, compat. supplement
       (0x30000, 0x3134F))                                           # ext. G
KANA = ((0x3040, 0x309F), (0x30A0, 0x30FF), (0x31F0, 0x31FF),       # hiragana, katakana, phonetic ext.
        (0xFF66, 0xFF9F), (0x1B000, 0x1B16F))                        # half-width katakana, kana suppl./ext.
HANGUL = ((0xAC00, 0xD7AF),)                                         # precomposed syllables (not jamo)
CHAR_TOKEN_PRESETS = {
    "thai": ((0x0E00, 0x0E7F),),
    "han": HAN,
    "kana": KANA,
    "hangul": HANGUL,
    "cjk": HAN + KANA + HANGUL,
}
# Fields that change only the feature columns, never the tokens or their spans (so, e.g., a student
# may use them to differ from the spec its teacher's labels were made with).
FEATURE_ONLY_FIELDS = ("feature_size", "char_ngrams", "ngram_features", "fold_digits", "case_features", "version")
_RANGE_TEXT = re.compile(r"U\+([0-9A-Fa-f]{1,6})(?:-U\+([0-9A-Fa-f]{1,6}))?")


class SpecError(ValueError):
    """A projection spec that cannot be used; the message says which field and why."""


@lru_cache(maxsize=None)
def whitespace_codepoints() -> tuple[int, ...]:
    """Every code point with str.isspace() (29 in Unicode 14): these always end a token."""
    return tuple(cp for cp in range(sys.maxunicode + 1) if chr(cp).isspace())


def range_text(lo: int, hi: int) -> str:
    """The JSON form of an inclusive code-point range: "U+0E00-U+0E7F" (or "U+0E00" alone)."""
    return f"U+{lo:04X}" if lo == hi else f"U+{lo:04X}-U+{hi:04X}"


def _parse_ranges(value) -> tuple[tuple[int, int], ...]:
    """char_token_ranges as given (preset names, "U+XXXX-U+YYYY" strings, [first, last] pairs, in
    any order) -> sorted (first, last) tuples; range checks are left to validate()."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SpecError("char_token_ranges must be a list of preset names, \"U+XXXX-U+YYYY\" strings "
                        f"or [first, last] pairs, got {value!r}")
    out: list[tuple[int, int]] = []
    for item in value:
        if isinstance(item, str) and item in CHAR_TOKEN_PRESETS:
            out.extend(CHAR_TOKEN_PRESETS[item])
        elif isinstance(item, str) and _RANGE_TEXT.fullmatch(item):
            m = _RANGE_TEXT.fullmatch(item)
            out.append((int(m.group(1), 16), int(m.group(2) or m.group(1), 16)))
        elif (isinstance(item, (list, tuple)) and len(item) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
            out.append((item[0], item[1]))
        elif isinstance(item, str):
            raise SpecError(f"char_token_ranges: {item!r} is neither a preset "
                            f"({', '.join(sorted(CHAR_TOKEN_PRESETS))}) nor a range like \"U+0E00-U+0E7F\"")
        else:
            raise SpecError(f"char_token_ranges: {item!r} is not a preset name, a \"U+XXXX-U+YYYY\" string "
                            "or a [first, last] pair of integers")
    return tuple(sorted(out))


def _parse_ngram_sizes(value) -> tuple[int, ...]:
    """char_ngrams as given (a list of sizes, any order) -> a sorted tuple; checks are validate()'s."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise SpecError(f"char_ngrams must be a list of n-gram sizes such as [3] or [2, 3, 4], got {value!r}")
    for n in value:
        if not isinstance(n, int) or isinstance(n, bool):
            raise SpecError(f"char_ngrams: {n!r} is not an integer n-gram size")
    return tuple(sorted(value))


@dataclass(frozen=True)
class ProjectionSpec:
    """How text becomes an int8 ternary feature matrix [max_tokens, feature_size].

    feature_size     ternary features per token (1..4096); 2 hash bits give one feature.
    max_tokens       tokens kept per utterance, tags included; later tokens are dropped.
    max_input_bytes  bytes of an utterance read (the device's line buffer); the rest is ignored
                     before decoding, so a cut multi-byte character becomes U+FFFD.
    hash             the token hash; only "murmur64-ternary-v1".
    lowercase        per-code-point full Unicode lower-casing (str.lower() of each character alone:
                     no context rules, so Greek capital sigma always becomes U+03C3).
    separators       characters that end a token and form a one-character token of their own.
                     Unicode whitespace (str.isspace()) always ends a token and is dropped.
    char_token_ranges  inclusive code-point ranges (first, last) whose characters are each a token
                     of their own, for scripts written without spaces (Thai, Chinese, Japanese):
                     like separators, but a combining mark (category M*) inside the ranges joins
                     the character token before it (Thai vowel and tone marks). Given as preset
                     names (CHAR_TOKEN_PRESETS: thai, han, kana, hangul, cjk), "U+0E00-U+0E7F"
                     strings or [first, last] pairs; stored sorted, as ranges. Empty by default.
    bos_token/eos_token  optional tag strings hashed as-is (never lower-cased) before/after the words.
    empty_token      hashed as-is as the single token of an utterance that has no word at all.
    char_ngrams      sub-word features: character n-gram sizes (each 1..8, e.g. (3,) or (2, 3, 4));
                     empty (the default) = off. When on, the last `ngram_features` columns of a word
                     token's row are the sum, clamped to [-127, 127], of the ternary hash vectors of
                     the n-grams of its hashed (lower-cased) code points between a begin and an end
                     marker ("^ca", "cat", "at$" for "cat"); the first feature_size - ngram_features
                     columns are the whole-token hash as without n-grams. Tags get no n-grams.
    ngram_features   how many of the feature_size columns hold the n-gram sums: 0 when char_ngrams is
                     empty, else 1..feature_size - 1.
    fold_digits      hash every ASCII digit 1-9 of a word as 0 (after lower-casing), so "7:45",
                     "8:30" and every other time, number or phone number of the same shape share
                     their features: the value of a number rarely matters to intents and slots, its
                     shape does. Tokens and spans do not change, only the hashed bytes. Off by default.
    case_features    columns holding a word's case class (case.py: none, initial capital, all
                     capitals, mixed), which lower-casing hides from the hash: the last
                     case_features columns of a word's row are the ternary vector of its class
                     (zeros for a word without capitals, and for tags). 0 (the default) = off;
                     needs lowercase. The n-gram columns sit just before them.
    invalid_utf8     "replace": each maximal invalid subsequence becomes U+FFFD, exactly as
                     Python's bytes.decode("utf-8", errors="replace").
    unicode_version  the Unicode database the case and whitespace tables come from.
    version          the spec format: 4 with case_features, else 3 with fold_digits, else 2 with
                     char_ngrams, else 1; derived
                     when not given (None), and a given version must be that one.
    """

    feature_size: int = 512
    max_tokens: int = 32
    max_input_bytes: int = 512
    hash: str = "murmur64-ternary-v1"
    lowercase: bool = True
    separators: str = DEFAULT_SEPARATORS
    char_token_ranges: tuple[tuple[int, int], ...] = ()
    bos_token: str | None = None
    eos_token: str | None = None
    empty_token: str = "<EMPTY>"
    char_ngrams: tuple[int, ...] = ()
    ngram_features: int = 0
    fold_digits: bool = False
    case_features: int = 0
    invalid_utf8: str = "replace"
    unicode_version: str = field(default=unicodedata.unidata_version)
    version: int | None = None

    def __post_init__(self) -> None:
        # Normalise the accepted spellings (presets, strings, lists from JSON) to sorted int tuples,
        # so equal specs compare and serialise equal.
        object.__setattr__(self, "char_token_ranges", _parse_ranges(self.char_token_ranges))
        object.__setattr__(self, "char_ngrams", _parse_ngram_sizes(self.char_ngrams))
        if self.version is None:
            object.__setattr__(self, "version", self.required_version)
        self.validate()

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise SpecError(msg)

        need(isinstance(self.version, int) and not isinstance(self.version, bool) and 1 <= self.version <= SPEC_VERSION,
             f"projection spec version {self.version!r} is not supported (this pqcompile reads 1..{SPEC_VERSION})")
        need(isinstance(self.feature_size, int) and not isinstance(self.feature_size, bool)
             and 1 <= self.feature_size <= MAX_FEATURE_SIZE,
             f"feature_size must be an integer in 1..{MAX_FEATURE_SIZE}, got {self.feature_size!r}")
        need(isinstance(self.max_tokens, int) and not isinstance(self.max_tokens, bool) and self.max_tokens >= 1,
             f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        need(isinstance(self.max_input_bytes, int) and not isinstance(self.max_input_bytes, bool)
             and 1 <= self.max_input_bytes <= 65535,
             f"max_input_bytes must be an integer in 1..65535, got {self.max_input_bytes!r}")
        need(self.hash in HASHES, f"unknown hash {self.hash!r} (known: {', '.join(HASHES)})")
        need(isinstance(self.lowercase, bool), f"lowercase must be true or false, got {self.lowercase!r}")
        need(isinstance(self.separators, str), "separators must be a string of characters")
        for ch in self.separators:
            need(not ch.isspace(), f"separator {ch!r} is whitespace, which always splits already")
            need(not 0xD800 <= ord(ch) <= 0xDFFF, f"separator U+{ord(ch):04X} is a surrogate")
        need(len(set(self.separators)) == len(self.separators), "separators contain a character twice")
        self._validate_char_token_ranges()
        self._validate_char_ngrams()
        need(isinstance(self.fold_digits, bool), f"fold_digits must be true or false, got {self.fold_digits!r}")
        self._validate_case_features()
        if self.version < self.required_version:
            raise SpecError(f"{VERSION_OPTION[self.required_version]} needs projection spec version "
                            f"{self.required_version}, the spec says {self.version}")
        need(self.version == self.required_version,
             f"projection spec version {self.version} is for specs with {VERSION_OPTION.get(self.version)}; "
             f"this one has none, so it is version {self.required_version}")
        for name in ("bos_token", "eos_token"):
            v = getattr(self, name)
            need(v is None or (isinstance(v, str) and v != ""), f"{name} must be a non-empty string or null")
        need(isinstance(self.empty_token, str) and self.empty_token != "", "empty_token must be a non-empty string")
        for name in ("bos_token", "eos_token", "empty_token"):
            v = getattr(self, name)
            # Tags are hashed as their UTF-8 bytes, which a lone surrogate does not have.
            need(v is None or not any(0xD800 <= ord(c) <= 0xDFFF for c in v),
                 f"{name} contains a surrogate code point, which has no UTF-8 form")
        need(self.invalid_utf8 == "replace", f"unknown invalid_utf8 rule {self.invalid_utf8!r} (known: replace)")
        need(self.unicode_version == unicodedata.unidata_version,
             f"spec needs Unicode {self.unicode_version} tables but this Python has {unicodedata.unidata_version}")
        need(self.n_tags < self.max_tokens, "max_tokens must leave room for at least one word after the tags")

    def _validate_char_token_ranges(self) -> None:
        ranges = self.char_token_ranges
        for lo, hi in ranges:
            if not (0 <= lo <= MAX_CODEPOINT and 0 <= hi <= MAX_CODEPOINT):
                raise SpecError(f"char_token_ranges: range [{lo}, {hi}] is outside U+0000..U+10FFFF")
            name = range_text(lo, hi)
            if lo > hi:
                raise SpecError(f"char_token_ranges: range {name} is reversed (first > last)")
            if lo <= 0xDFFF and hi >= 0xD800:
                raise SpecError(f"char_token_ranges: range {name} contains surrogate code points")
            space = [cp for cp in whitespace_codepoints() if lo <= cp <= hi]
            if space:
                raise SpecError(f"char_token_ranges: range {name} contains whitespace U+{space[0]:04X} "
                                "(whitespace always splits and is dropped)")
        for (lo1, hi1), (lo2, hi2) in zip(ranges, ranges[1:]):
            if lo2 <= hi1:
                raise SpecError(f"char_token_ranges: ranges {range_text(lo1, hi1)} and "
                                f"{range_text(lo2, hi2)} overlap")
        for ch in self.separators:
            if self.is_char_token(ord(ch)):
                raise SpecError(f"separator {ch!r} (U+{ord(ch):04X}) lies in char_token_ranges; a character "
                                "is either a separator or a character token")

    def _validate_char_ngrams(self) -> None:
        sizes, cols = self.char_ngrams, self.ngram_features
        if not isinstance(cols, int) or isinstance(cols, bool):
            raise SpecError(f"ngram_features must be an integer, got {cols!r}")
        for n in sizes:
            if not MIN_NGRAM <= n <= MAX_NGRAM:
                raise SpecError(f"char_ngrams: size {n} is outside {MIN_NGRAM}..{MAX_NGRAM}")
        if len(set(sizes)) != len(sizes):
            raise SpecError("char_ngrams: a size is listed twice")
        if not sizes:
            if cols != 0:
                raise SpecError(f"ngram_features is {cols} but char_ngrams is empty (n-gram features are off)")
            return
        if not 1 <= cols < self.feature_size:
            raise SpecError(f"ngram_features must be in 1..feature_size - 1 = {self.feature_size - 1} when "
                            f"char_ngrams is set (the rest are the whole-token features), got {cols}")
        # A token has at most max_input_bytes code points (lower-casing never yields more code points
        # than the UTF-8 bytes it read), hence at most that + 3 - n n-grams of size n.
        most = sum(self.max_input_bytes + 3 - n for n in sizes)
        if most > MAX_NGRAMS_PER_TOKEN:
            raise SpecError(f"char_ngrams: a token of max_input_bytes={self.max_input_bytes} bytes can have {most} "
                            f"n-grams, more than the device's int16 sums allow ({MAX_NGRAMS_PER_TOKEN}); "
                            "lower max_input_bytes or use fewer sizes")

    def _validate_case_features(self) -> None:
        k = self.case_features
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise SpecError(f"case_features must be an integer >= 0 (0 = off), got {k!r}")
        if not k:
            return
        if not self.lowercase:
            raise SpecError("case_features needs lowercase: true (the case columns give back what "
                            "lower-casing takes from the hash)")
        if k + self.ngram_features >= self.feature_size:
            raise SpecError(f"case_features ({k}) + ngram_features ({self.ngram_features}) must leave at least "
                            f"one whole-token column of feature_size={self.feature_size}")

    def is_char_token(self, cp: int) -> bool:
        """True when code point cp lies in one of char_token_ranges."""
        return any(lo <= cp <= hi for lo, hi in self.char_token_ranges)

    # -- derived quantities -------------------------------------------------------------------
    @property
    def n_tags(self) -> int:
        return int(self.bos_token is not None) + int(self.eos_token is not None)

    @property
    def max_words(self) -> int:
        """Word tokens kept (max_tokens less the BOS/EOS tags)."""
        return self.max_tokens - self.n_tags

    @property
    def required_version(self) -> int:
        """The spec format this spec needs: 4 with case_features, else 3 with fold_digits, else 2
        with char_ngrams, else 1."""
        if self.case_features:
            return CASE_SPEC_VERSION
        if self.fold_digits:
            return FOLD_SPEC_VERSION
        return NGRAM_SPEC_VERSION if self.char_ngrams else 1

    @property
    def token_features(self) -> int:
        """Columns holding the whole-token hash (all of them without n-grams and case columns)."""
        return self.feature_size - self.ngram_features - self.case_features

    @property
    def case_start(self) -> int:
        """First of the case columns (the last case_features of a row; == feature_size when off)."""
        return self.feature_size - self.case_features

    @property
    def hash_words(self) -> int:
        """64-bit hash words of the whole-token features: 32 ternary features per word."""
        return (self.token_features + 31) // 32

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-ready fields. char_token_ranges is written as "U+XXXX-U+YYYY" strings; it and the
        n-gram, digit-folding and case fields are left out when off, so a spec without character tokens or n-grams
        serialises (and hashes: the C spec id, run fingerprints) exactly as before those options existed."""
        d = dataclasses.asdict(self)
        if self.char_token_ranges:
            d["char_token_ranges"] = [range_text(lo, hi) for lo, hi in self.char_token_ranges]
        else:
            del d["char_token_ranges"]
        if self.char_ngrams:
            d["char_ngrams"] = list(self.char_ngrams)
        else:
            del d["char_ngrams"], d["ngram_features"]
        if not self.fold_digits:
            del d["fold_digits"]
        if not self.case_features:
            del d["case_features"]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict) -> "ProjectionSpec":
        if not isinstance(d, dict):
            raise SpecError("a projection spec must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SpecError(f"unknown projection spec option(s): {', '.join(unknown)}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "ProjectionSpec":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise SpecError(f"projection spec is not valid JSON: {e}") from None
        return cls.from_dict(d)

    @classmethod
    def load(cls, path) -> "ProjectionSpec":
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise SpecError(f"cannot read projection spec {path}: {e.strerror}") from None
        return cls.from_json(text)

    def replace(self, **changes) -> "ProjectionSpec":
        """A copy with some fields changed; the version is derived again unless given."""
        changes.setdefault("version", None)
        return dataclasses.replace(self, **changes)


DEFAULT_SPEC = ProjectionSpec()
