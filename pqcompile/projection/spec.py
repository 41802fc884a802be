"""ProjectionSpec: the single source of truth for how text becomes ternary features.

Training (the Python reference), the ONNX metadata and the C emitter all read this object;
nothing else restates its constants. See docs/projection.md for the full algorithm.
"""
from __future__ import annotations

import dataclasses
import json
import unicodedata
from dataclasses import dataclass, field

SPEC_VERSION = 1
HASHES = ("murmur64-ternary-v1",)
MAX_FEATURE_SIZE = 4096
# Punctuation split off as tokens of its own by default (so "me?" gives "me", "?" and "Larry's"
# gives "Larry", "'", "s": slot spans in MTOP/MTOD/SNIPS end at these characters).
DEFAULT_SEPARATORS = ".,!?;:\"'()[]{}/…“”‘’¿¡。、，！？；："


class SpecError(ValueError):
    """A projection spec that cannot be used; the message says which field and why."""


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
    bos_token/eos_token  optional tag strings hashed as-is (never lower-cased) before/after the words.
    empty_token      hashed as-is as the single token of an utterance that has no word at all.
    invalid_utf8     "replace": each maximal invalid subsequence becomes U+FFFD, exactly as
                     Python's bytes.decode("utf-8", errors="replace").
    unicode_version  the Unicode database the case and whitespace tables come from.
    """

    feature_size: int = 512
    max_tokens: int = 32
    max_input_bytes: int = 512
    hash: str = "murmur64-ternary-v1"
    lowercase: bool = True
    separators: str = DEFAULT_SEPARATORS
    bos_token: str | None = None
    eos_token: str | None = None
    empty_token: str = "<EMPTY>"
    invalid_utf8: str = "replace"
    unicode_version: str = field(default=unicodedata.unidata_version)
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        self.validate()

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise SpecError(msg)

        need(isinstance(self.version, int) and self.version == SPEC_VERSION,
             f"projection spec version {self.version!r} is not supported (this pqcompile reads {SPEC_VERSION})")
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

    # -- derived quantities -------------------------------------------------------------------
    @property
    def n_tags(self) -> int:
        return int(self.bos_token is not None) + int(self.eos_token is not None)

    @property
    def max_words(self) -> int:
        """Word tokens kept (max_tokens less the BOS/EOS tags)."""
        return self.max_tokens - self.n_tags

    @property
    def hash_words(self) -> int:
        """64-bit hash words per token: 32 ternary features per word."""
        return (self.feature_size + 31) // 32

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

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
        return dataclasses.replace(self, **changes)


DEFAULT_SPEC = ProjectionSpec()
