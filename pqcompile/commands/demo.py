"""`pqcompile demo --target T [-m MODEL]`: the main job (ci/main.sh), end to end on an emulated target.

1. the projection: one sample sentence per language of the projection corpus, projected by the generated C on the
   target and by the Python reference, compared bit for bit (pqcompile.projection.verify);
2. the model (default: the bundled one) compiled for the target and run under QEMU on sample
   English utterances: each device frame is printed, and the device's int8 logits must equal
   onnxruntime's and the Python integer reference's (pqcompile.compiler.verify);
3. flash/RAM of the program and the instructions each utterance took (QEMU boards).

Needs no data set: the bundled model and the sentences ship with the package. Exit status 0 only
when everything matched.
"""
from __future__ import annotations

import sys

import click

from ..errors import PqError
from ..projection import tokenize
from ..projection.corpus import sentences
from ..projection.verify import verify_projection
from ..targets import load_target
from .build import build_dir, ensure_built, out_option, resolve_model
from .common import emit_json, json_option, model_option, pick_model

# English requests like MTOP's; the third has exactly 10 tokens (the instruction-count yardstick).
UTTERANCES = [
    "set an alarm for 7 am tomorrow",
    "what's the weather like in paris this weekend",
    "please set an alarm for seven tomorrow morning in berlin",
    "remind me to call mom at 6:30 pm",
    "play some jazz music by miles davis",
    "send a message to angela saying i'll be late",
]


def sample_sentences() -> list[tuple[str, str]]:
    """The first sentence of each language in the projection corpus: (lang, text)."""
    seen: dict[str, str] = {}
    for lang, text in sentences():
        seen.setdefault(lang, text)
    return list(seen.items())


def _progress(msg: str) -> None:
    click.echo(msg, err=True)


def run_demo(target_name: str, model: str | None, out_dir: str | None) -> dict:
    """Everything the demo checks and measures, as one JSON-able dict (key "ok": all matched)."""
    from ..compiler.verify import verify
    target = load_target(target_name)
    if not target.runnable:
        raise PqError(f"target {target.name} is hardware-only; the demo needs an emulated target "
                      f"(build it with `pqcompile build --target {target.name}` and flash it)")
    out = build_dir(out_dir, target)
    _progress("[demo] loading the model (and TVM)")
    onnx_model, qmodel, source = resolve_model(model)
    from ..export import read_metadata
    spec = read_metadata(onnx_model).spec

    _progress(f"[demo] projection: generated C on {target.name} vs Python")
    langs_texts = sample_sentences()
    proj = verify_projection(spec, target, [t.encode("utf-8") for _, t in langs_texts])
    projection = {**proj.to_dict(), "sentences": [
        {"lang": lang, "text": text, "tokens": [t.text for t in tokenize(text, spec)]} for lang, text in langs_texts]}

    from ..compiler.fuse import DEFAULT_OPTION
    report = ensure_built(onnx_model, target, out, source, say=lambda m: _progress(f"[demo] {m}"),
                          fuse_projection=DEFAULT_OPTION)   # the device program `pqcompile build` makes
    _progress(f"[demo] running {len(UTTERANCES)} utterances on {target.name}")
    result = verify(onnx_model, qmodel, target, out, report, [u.encode("utf-8") for u in UTTERANCES])
    utterances = []
    for i, text in enumerate(UTTERANCES):
        u = {"text": text, "tokens": len(tokenize(text, spec)), **result.device_frames[i]}
        if result.insns_network:
            u["instructions"] = {"projection": result.insns_projection[i], "network": result.insns_network[i]}
        utterances.append(u)
    s = report["sections"]
    size = {"flash": s["flash"], "ram": s["ram"], "flash_budget": report["budget"]["flash"],
            "ram_budget": report["budget"]["ram"], "arena": report["arena_bytes"],
            "weights": report["components"]["weights"], "macs": report["macs"]}
    return {"ok": proj.ok and result.ok, "target": target.name, "model": source, "build_dir": str(out),
            "max_tokens": report["max_tokens"],
            "projection": projection, "model_check": {**result.to_dict(), "frames": utterances}, "size": size}


def _frame_lines(u: dict) -> list[str]:
    lines = [f"  {u['text']!r}", f"      intent  {u['intent']}"]
    lines += [f"      slot    {s['label']:<18} {s['text']!r} [{s['start']}:{s['end']}]" for s in u["slots"]]
    if "instructions" in u:
        c = u["instructions"]
        lines.append(f"      {u['tokens']} tokens; instructions: projection {c['projection']:,}, "
                     f"network {c['network']:,}")
    return lines


def format_demo(d: dict) -> str:
    ok = lambda b: "OK" if b else "MISMATCH"   # noqa: E731
    p, m, s = d["projection"], d["model_check"], d["size"]
    n = m["utterances"]
    lines = [f"pqcompile demo on {d['target']}, model: {d['model']}", "",
             f"1. Projection: generated C on {d['target']} vs the Python reference"]
    lines += [f"  {x['lang']}  {x['text']}  ({len(x['tokens'])} token{'' if len(x['tokens']) == 1 else 's'})" for x in p["sentences"]]
    lines += [f"  {p['compared'] - p['mismatches']}/{p['compared']} bit-identical (tokens, spans, features)  "
              f"{ok(p['ok'])}"]
    if p["first_mismatch"]:
        lines.append(f"  first mismatch: {p['first_mismatch']}")
    lines += ["", f"2. The model on {d['target']}: device frames"]
    for u in m["frames"]:
        lines += _frame_lines(u)
    ref = "n/a" if m["reference_vs_onnxruntime"] is None else f"{m['reference_vs_onnxruntime']}/{n}"
    lines += [f"  int8 logits: device == onnxruntime {m['device_vs_onnxruntime']}/{n}, "
              f"integer reference == onnxruntime {ref}; frames == Python decoder {m['frames_equal']}/{n}  "
              f"{ok(m['ok'])}"]
    lines += [f"  mismatch #{x['index']} {x['text']!r}: {', '.join(x['problems'])}" for x in m["first_mismatches"]]
    lines += ["", f"3. Size and cost on {d['target']}",
              f"  flash {s['flash']:,} B of {s['flash_budget']:,} ({100 * s['flash'] / s['flash_budget']:.1f}%), "
              f"weights {s['weights']:,} B",
              f"  RAM   {s['ram']:,} B of {s['ram_budget']:,} ({100 * s['ram'] / s['ram_budget']:.1f}%), "
              f"arena {s['arena']:,} B",
              f"  {s['macs']:,} MACs for a full {d['max_tokens']}-token utterance (the network runs only the rows "
              "an utterance needs)"]
    if "mean_instructions" in m:
        mi = m["mean_instructions"]
        lines.append(f"  instructions per utterance (mean of {m['utterances']}): projection {mi['projection']:,.0f}, "
                     f"network {mi['network']:,.0f} (QEMU -icount: a proxy for cycles)")
    else:
        lines.append(f"  instructions: not counted on {d['target']} (QEMU Cortex-M boards only)")
    lines += ["", "ALL MATCHED" if d["ok"] else "FAILED: see the mismatches above", ""]
    return "\n".join(lines)


@click.command("demo")
@click.option("--target", "-t", "target_name", default="cortex-m7", show_default=True,
              help="An emulated target (see `pqcompile targets`).")
@model_option(onnx=True)
@click.argument("model", required=False)
@out_option
@json_option
def demo_cmd(target_name, model_opt, model, out_dir, as_json):
    """The main job: projection C vs Python, then MODEL (default: the bundled model) built for
    --target and run under QEMU on sample utterances, bit-exact with onnxruntime and the integer
    reference; sizes and instruction counts. Exit 0 only when everything matched."""
    d = run_demo(target_name, pick_model(model_opt, model), out_dir)
    if as_json:
        emit_json(d)
    else:
        click.echo(format_demo(d), nl=False)
    if not d["ok"]:
        sys.exit(1)


COMMANDS = [demo_cmd]
