"""The pQRNN text projection: spec, Python reference, and (in emit_c) the C generator."""
from .spec import DEFAULT_SPEC, ProjectionSpec, SpecError
from .text import Token, tokenize, decode_with_offsets
from .reference import Projection, project, project_one
from .hashing import ternary_features, murmur64

__all__ = ["DEFAULT_SPEC", "ProjectionSpec", "SpecError", "Token", "tokenize", "decode_with_offsets",
           "Projection", "project", "project_one", "ternary_features", "murmur64"]
