"""`pqcompile build | run | verify --target T [-m MODEL]`: compile a model into a device program,
run it under QEMU, and check it bit for bit against onnxruntime and the integer reference.

MODEL (-m/--model) is a run folder, an integer model folder (qmodel.json + qmodel.npz) or an
exported .onnx file; without one, the bundled model (pqcompile/bundled.py). build and verify also
take it as their argument; run's arguments are all TEXTs.

The build folder (-o, default build/<target>) is replaced whole by a new build, so it must be new,
empty, or a build folder (one holding report.json): a folder of the user's is refused."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .. import bundled
from ..errors import PqError
from ..targets import load_target
from .common import check_texts, emit_json, input_bytes, json_option, model_option, pick_model


def resolve_model(model: str | None):
    """(onnx.ModelProto, QuantizedModel or None, description) for MODEL (default: the bundled model)."""
    from ..compiler import load_onnx
    from ..export import build_onnx
    ref = bundled.resolve_model(model)
    if ref.kind == bundled.ONNX:
        return load_onnx(ref.path), None, ref.name
    qm = ref.load_qmodel()
    return build_onnx(qm), qm, ref.name


def default_dir(target: str) -> Path:
    return Path("build") / target


def build_dir(out_dir: str | None, target) -> Path:
    """The build folder for -o (default build/<target>); PqError for a folder a build may not replace."""
    from ..atomic import check_replaceable
    from ..compiler.firmware import BUILD_MARKER
    out = Path(out_dir) if out_dir else default_dir(target.name)
    check_replaceable(out, BUILD_MARKER)
    return out


def _say(message: str) -> None:
    click.echo(message, err=True)


def ensure_built(model, target, out_dir: Path, source: str, say=_say, int16_weights: bool = False,
                 fuse_projection: int | str | None = None) -> dict:
    """The build report of out_dir, rebuilding when it was made from another model, target,
    pqcompile version, device program, int16_weights or fuse_projection option; a (re)build is announced through
    say ("building ...", on stderr by default), as it takes a while and replaces what out_dir held."""
    from ..compiler.firmware import BUILD_MARKER, build, build_key
    report_path = out_dir / BUILD_MARKER
    report = None
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text())
        except ValueError:
            report = {}
        key = build_key(model, target, int16_weights, fuse_projection)
        # reports from before the int16_weights / fuse_projection options have no such key: those builds had none
        if all(report.get(k, False if k == "int16_weights" else None) == v for k, v in key.items()):
            return report
    if report is None:
        why = ""
    elif report.get("model") not in (None, source):
        why = f", replacing its build of {report['model']}"
    else:
        why = ", replacing an out-of-date build"
    say(f"building {out_dir}/ for {target.name} from {source}{why} ...")
    return build(model, target, out_dir, source, int16_weights=int16_weights, fuse_projection=fuse_projection)


def target_option(f):
    return click.option("--target", "-t", "target_name", required=True, help="Target name (see `pqcompile targets`).")(f)


def int16_option(f):
    return click.option("--int16-weights", "int16_weights", is_flag=True,
                        help="Store the weights of the matmuls over the token rows with more than one output "
                             "channel (bottleneck, QRNN gates, slot head) pre-extended to int16: fewer instructions "
                             "on cores with the DSP extension (no sign extension of weights), twice the flash for "
                             "those weights. A model's 4-bit encoder weights stay packed two per byte.")(f)


def fuse_option(f):
    return click.option("--fuse-projection", "fuse_projection", metavar="R|auto|off",
                        help="Keep no [tokens x features] matrix: run the layer that reads the features "
                             "(the bottleneck, checked to be row-wise) on blocks of R token rows, each "
                             "projected just before it into an R x features block in the arena; auto "
                             "(the default): the largest R that grows the arena no more than R = 1 does, "
                             "or the plain build where the layer is not row-wise; off: the plain build "
                             "with its feature matrix. Same output, less RAM (docs/compiler.md).")(f)


def out_option(f):
    return click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False),
                        help="Build directory (default: build/<target>).")(f)


@click.command("build")
@target_option
@model_option(onnx=True)
@click.argument("model", required=False)
@out_option
@int16_option
@fuse_option
@json_option
def build_cmd(target_name, model_opt, model, out_dir, int16_weights, fuse_projection, as_json):
    """Compile MODEL (-m MODEL or the argument; default: the bundled model) for --target: generated
    C, the program image, a Makefile and a size report, written atomically into a new or empty
    folder or over an earlier build."""
    from ..compiler.firmware import build, format_report
    from ..compiler.fuse import parse_option
    fuse = parse_option(fuse_projection)
    model = pick_model(model_opt, model)
    target = load_target(target_name)
    out = build_dir(out_dir, target)
    onnx_model, _, source = resolve_model(model)
    report = build(onnx_model, target, out, source, int16_weights=int16_weights, fuse_projection=fuse)
    if as_json:
        emit_json({"build_dir": str(out), **report})
    else:
        click.echo(format_report(report), nl=False)
        click.echo(f"  wrote {out}/")


@click.command("run")
@target_option
@model_option(onnx=True)
@out_option
@int16_option
@fuse_option
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object on stdout (the frames as a list) once all input is answered.")
@click.argument("texts", nargs=-1, metavar="[TEXT]...")
def run_cmd(target_name, model_opt, out_dir, int16_weights, fuse_projection, as_json, texts):
    """Run TEXT... (or the lines on stdin) through the device program under QEMU; one JSON frame per line.

    Lines on stdin are answered as they arrive, so it can be used interactively. Every argument is
    a TEXT; name the model with -m/--model (a run folder, an integer model folder or an .onnx
    file), or leave it out for the bundled model."""
    from ..compiler.firmware import image_name
    from ..emulator import run_program
    from .line_batches import input_batches
    from ..compiler.fuse import parse_option
    fuse = parse_option(fuse_projection)
    model = pick_model(model_opt)
    check_texts(texts, model)
    target = load_target(target_name)
    out = build_dir(out_dir, target)
    onnx_model, _, source = resolve_model(model)
    ensure_built(onnx_model, target, out, source, int16_weights=int16_weights, fuse_projection=fuse)
    exe = out / image_name(target)
    if not texts and sys.stdin.isatty():
        _say("reading lines from the terminal: each is answered when you press Enter; Ctrl-D ends")
    batches = [b"".join(input_bytes(t) + b"\n" for t in texts)] if texts else input_batches(sys.stdin.buffer)
    frames = []
    for batch in batches:
        res = run_program(target, exe, input=batch, timeout=60 + len(batch) / 100)
        if not as_json:
            sys.stdout.buffer.write(res.stdout)
            sys.stdout.flush()
        if res.returncode != 0:
            raise PqError(f"device program exited with status {res.returncode}: "
                          f"{res.stderr.decode('utf-8', 'replace').strip()[:300]}")
        if as_json:
            frames += _frames(res.stdout)
    if as_json:
        emit_json({"target": target.name, "model": source, "build_dir": str(out), "frames": frames})


def _frames(answer: bytes) -> list[dict]:
    try:
        return [json.loads(line) for line in answer.splitlines()]
    except ValueError as e:
        raise PqError(f"the device program printed a line that is not JSON ({e})") from None


def _read_lines(data: str | None, texts: str | None, limit: int | None) -> list[bytes]:
    if (data is None) == (texts is None):
        raise PqError("give exactly one of --data FORMAT:PATH and --texts FILE")
    if data is not None:
        from ..datasets.sources import load_source
        lines = [ex.text.encode("utf-8") for ex in load_source(data)]
    else:
        try:
            raw = Path(texts).read_bytes()
        except OSError as e:
            raise PqError(f"cannot read {texts}: {e.strerror}") from None
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
    lines = [l for l in lines if b"\n" not in l][:limit]
    if not lines:
        raise PqError("no utterances to verify")
    return lines


@click.command("verify")
@target_option
@model_option(onnx=True)
@click.argument("model", required=False)
@click.option("--data", help="Utterances from a data set, FORMAT:PATH (e.g. mtop:path/eval.txt).")
@click.option("--texts", type=click.Path(dir_okay=False), help="Utterances from a file, one per line (any bytes).")
@click.option("--limit", type=click.IntRange(min=1), help="Verify at most N utterances.")
@out_option
@int16_option
@fuse_option
@json_option
def verify_cmd(target_name, model_opt, model, data, texts, limit, out_dir, int16_weights, fuse_projection, as_json):
    """Integer reference vs onnxruntime vs the device under QEMU: bit-exact int8 logits, identical frames.

    MODEL (-m MODEL or the argument) is a run folder or an integer model folder (both also enable
    the Python integer reference) or an .onnx file; without one, the bundled model."""
    from ..compiler.fuse import parse_option
    from ..compiler.verify import verify
    fuse = parse_option(fuse_projection)
    model = pick_model(model_opt, model)
    target = load_target(target_name)
    out = build_dir(out_dir, target)
    lines = _read_lines(data, texts, limit)
    onnx_model, qmodel, source = resolve_model(model)
    report = ensure_built(onnx_model, target, out, source, int16_weights=int16_weights, fuse_projection=fuse)
    result = verify(onnx_model, qmodel, target, out, report, lines)
    if as_json:
        emit_json({"target": target.name, "model": source, **result.to_dict()})
    else:
        n = result.utterances
        ref = "n/a (ONNX model: no integer reference)" if result.reference_vs_onnxruntime is None \
            else f"{result.reference_vs_onnxruntime}/{n}"
        click.echo(f"{target.name}: {n} utterances\n  device == onnxruntime (int8 logits): "
                   f"{result.device_vs_onnxruntime}/{n}\n  integer reference == onnxruntime: {ref}\n"
                   f"  frames identical: {result.frames_equal}/{n}")
        if result.insns_network:
            d = result.to_dict()["mean_instructions"]
            click.echo(f"  mean instructions per utterance: projection {d['projection']:.0f}, network {d['network']:.0f}")
        for m in result.mismatches:
            click.echo(f"  mismatch #{m['index']} {m['text']!r}: {', '.join(m['problems'])}")
        click.echo("OK" if result.ok else "FAILED")
    if not result.ok:
        sys.exit(1)


COMMANDS = [build_cmd, run_cmd, verify_cmd]
