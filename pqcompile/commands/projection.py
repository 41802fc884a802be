"""`pqcompile project`: show the projection's tokens and ternary features for some text."""
from __future__ import annotations

import click
import numpy as np

from ..projection import project
from .common import emit_json, input_bytes, json_option, load_spec, shown_text, spec_option


@click.command("project")
@spec_option
@json_option
@click.option("--features", "n_show", default=16, show_default=True,
              help="How many leading features per token to print (text mode).")
@click.argument("texts", nargs=-1, required=True)
def project_cmd(spec_path, as_json, n_show, texts):
    """Project TEXT... and print each token with its ternary features.

    Each TEXT is projected as the bytes given (invalid UTF-8 included, as the device reads it) and
    shown decoded as the projection decodes it (U+FFFD for invalid bytes)."""
    spec = load_spec(spec_path)
    lines = [input_bytes(t) for t in texts]
    p = project(lines, spec)
    texts = [shown_text(line) for line in lines]
    if as_json:
        emit_json({
            "spec": spec.to_dict(),
            "utterances": [
                {"text": text, "tokens": [
                    {"text": tok.text, "hashed": tok.hashed.decode("utf-8", "replace"), "is_tag": tok.is_tag,
                     "char_span": [tok.char_start, tok.char_end], "byte_span": [tok.byte_start, tok.byte_end],
                     "features": p.features[i, j].tolist()}
                    for j, tok in enumerate(toks)]}
                for i, (text, toks) in enumerate(zip(texts, p.tokens))],
        })
        return
    F = spec.feature_size
    click.echo(f"spec: feature_size={F} max_tokens={spec.max_tokens} hash={spec.hash}")
    for i, (text, toks) in enumerate(zip(texts, p.tokens)):
        click.echo(f"\n{text!r}: {len(toks)} token(s)")
        for j, tok in enumerate(toks):
            row = p.features[i, j]
            shown = "".join({0: ".", 1: "+", -1: "-"}[int(v)] for v in row[:n_show])
            nz = int(np.count_nonzero(row))
            click.echo(f"  {j:3d} {tok.text!r:24} bytes[{tok.byte_start}:{tok.byte_end}] "
                       f"{shown}{'…' if F > n_show else ''} ({nz}/{F} non-zero)")


COMMANDS = [project_cmd]
