"""`pqcompile data-report`: what data sources hold and how well their frames fit the projection."""
from __future__ import annotations

import click

from ..datasets.report import data_report
from .common import emit_json, json_option, load_spec, spec_option


@click.command("data-report")
@spec_option
@json_option
@click.argument("sources", nargs=-1, required=True, metavar="FORMAT:PATH[,opt=val]...")
def data_report_cmd(spec_path, as_json, sources):
    """Count examples per source and language, utterances left out (e.g. MTOP parses that cannot
    be aligned), and gold frames that cannot be represented on the projection's tokens.

    Formats and their options: mtop (TSV, parse JSON or a folder; split=, lang=), mtop6
    (langs=en+de), mtod (split=, lang=), matis (lang=), snips (file or folder;
    split=train|validate, lang=, encoding=). Every format also takes limit=N and offset=K to use
    part of a large file: a fixed-seed sample, so limit=5000 and offset=5000,limit=1000 are
    disjoint.
    """
    spec = load_spec(spec_path)
    report = data_report(list(sources), spec)
    if as_json:
        emit_json(report)
        return
    click.echo(f"projection: max_tokens={spec.max_tokens} max_input_bytes={spec.max_input_bytes} "
               f"separators={spec.separators!r}")
    for name, r in report["sources"].items():
        click.echo(f"\n{name}")
        click.echo(f"  examples {r['examples']}, not aligned (left out) {r['not_aligned']}, "
                   f"not representable on projection tokens {r['unrepresentable']} "
                   f"({100 * r['unrepresentable_share']:.2f}%)")
        for lang, c in r["languages"].items():
            click.echo(f"    {lang}: {c['examples']} examples, {c['unrepresentable']} not representable "
                       f"({100 * c['unrepresentable_share']:.2f}%)")
        for cause, k in list(r["unrepresentable_causes"].items())[:5]:
            click.echo(f"    cause: slot boundary {cause}: {k}")
        shown = r["not_aligned_examples"]
        if shown:
            which = "it" if r["not_aligned"] == 1 else \
                f"all {len(shown)}" if len(shown) == r["not_aligned"] else f"the first {len(shown)} of {r['not_aligned']}"
            click.echo(f"    left out ({which}):")
            for line in shown:
                click.echo(f"      {line}")
    t = report["total"]
    click.echo(f"\ntotal: {t['examples']} examples, {t['not_aligned']} not aligned, {t['unrepresentable']} "
               f"not representable ({100 * t['unrepresentable_share']:.2f}%)")
    for h in report["hints"]:
        click.echo(f"hint: {h['lang']}: {100 * h['unrepresentable_share']:.1f}% of the frames are not representable "
                   f"with this spec, {100 * h['unrepresentable_share_with_spec']:.1f}% with --spec {h['spec']} "
                   "(character tokens for Thai and CJK)")


COMMANDS = [data_report_cmd]
