"""`pqcompile verify-projection`: run the generated C projection on a target and compare it with
the Python reference bit for bit (exit status 0 only when nothing differs)."""
from __future__ import annotations

import sys

import click

from ..errors import PqError
from ..projection.corpus import builtin_corpus
from ..projection.verify import count_instructions, projection_size, read_corpus, verify_projection
from ..targets import load_target
from .build import target_option
from .common import emit_json, json_option, load_spec, spec_option


@click.command("verify-projection")
@target_option
@spec_option
@click.option("--corpus", "corpus_path", type=click.Path(dir_okay=False),
              help="Strings to compare, one per line (raw bytes allowed; default: the built-in "
                   "multilingual and edge-case corpus of 10,000 strings).")
@click.option("--count-instructions", "count", is_flag=True,
              help="Also count pq_project()'s instructions per token (QEMU boards) and report the "
                   "projection's flash/RAM on the target.")
@json_option
def verify_projection_cmd(target_name, spec_path, corpus_path, count, as_json):
    """Build the projection's C for --target, run it under QEMU over a corpus, compare with Python."""
    spec = load_spec(spec_path)
    target = load_target(target_name)
    lines = read_corpus(corpus_path) if corpus_path else builtin_corpus(spec)
    if not lines:
        raise PqError(f"corpus {corpus_path} is empty: no strings to compare")
    result = verify_projection(spec, target, lines)
    report = result.to_dict()
    report["corpus"] = corpus_path or "built-in"
    if count:
        report["size"] = projection_size(spec, target)
        if target.counts_instructions:
            report["instructions"] = count_instructions(spec, target, lines)
    if as_json:
        emit_json(report)
    else:
        click.echo(f"verify-projection on {target.name} (spec {result.spec_id}: feature_size={spec.feature_size}, "
                   f"max_tokens={spec.max_tokens}, max_input_bytes={spec.max_input_bytes})")
        click.echo(f"  compared {result.compared} strings ({report['corpus']}): {result.mismatches} mismatch(es)")
        if result.first is not None:
            m = result.first
            click.echo(f"  first mismatch: line {m.index}: {m.line!r}")
            click.echo(f"    expected: {m.expected[:300]}")
            click.echo(f"    device:   {m.got[:300]}")
            for row in m.detail.splitlines():
                click.echo(f"    {row}")
        if "size" in report:
            s = report["size"]
            click.echo(f"  projection object: flash {s['flash']} B (text {s['text']}, rodata {s['rodata']}, "
                       f"data {s['data']}), RAM {s['ram']} B (static; caller's buffers not included)")
        if "instructions" in report:
            c = report["instructions"]
            click.echo(f"  instructions: {c['instructions_per_token']:.0f} per token, "
                       f"{c['instructions_per_line']:.0f} per string ({c['tokens']} tokens)")
        elif count:
            click.echo(f"  instructions: not countable on {target.name} (no -icount board)")
    if not result.ok:
        sys.exit(1)


COMMANDS = [verify_projection_cmd]
