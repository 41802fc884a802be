"""`pqcompile bench --target T [-m MODEL] [--compare] [--json]`: exact instruction counts of the
device program under QEMU -icount (Cortex-M boards) or QEMU user mode with pqcompile's TCG plugin
(cortex-a53, cortex-a7), per utterance, per MAC and per kernel (pqcompile/compiler/bench.py)."""
from __future__ import annotations

import click

from ..errors import PqError
from ..targets import load_target
from .build import fuse_option, int16_option, resolve_model, target_option
from .common import emit_json, json_option, model_option


@click.command("bench")
@target_option
@model_option(onnx=True)
@click.option("--compare", is_flag=True,
              help="Also build the same model with the earlier plain TVM kernels (matmul reductions unrolled "
                   "by 4, no pq_dot*_s8 micro-kernels) in the same run, and print previous/current ratios.")
@click.option("--keep", "keep_dir", type=click.Path(file_okay=False),
              help="Keep the generated C and the three programs in this new or empty folder.")
@int16_option
@fuse_option
@json_option
def bench_cmd(target_name, model_opt, compare, keep_dir, int16_weights, fuse_projection, as_json):
    """Where every instruction goes: instructions per utterance (3, 10 and the maximum tokens) and per
    MAC, a per-kernel table, the projection's instructions per token, flash and RAM, for a target that
    counts instructions (QEMU Cortex-M boards: cortex-m7, cortex-m4, ...; Linux user mode: cortex-a53,
    cortex-a7). Counted exactly under QEMU -icount, or by pqcompile's TCG plugin in qemu-aarch64/qemu-arm
    (instructions, not cycles); per-kernel counts come from a profiling build whose kernels
    are checked to be the same machine code, and must add up to the plain build's total."""
    from pathlib import Path

    from ..compiler.fuse import parse_option
    from ..counting import counter_of
    fuse = parse_option(fuse_projection)
    target = load_target(target_name)
    counter_of(target)   # a target that cannot count fails at once, before TVM is imported
    if keep_dir is not None and Path(keep_dir).exists() and any(Path(keep_dir).iterdir()):
        raise PqError(f"--keep {keep_dir}: the folder is not empty")
    from ..compiler.bench import bench, format_report
    onnx_model, _, source = resolve_model(model_opt)
    say = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
    report = bench(onnx_model, target, source, compare=compare, work_dir=keep_dir, say=say,
                   int16_weights=int16_weights, fuse_projection=fuse)
    if as_json:
        emit_json(report)
    else:
        click.echo(format_report(report), nl=False)
    if not report["ok"]:
        raise PqError("bench checks failed: the per-kernel counts do not add up to the plain build's total, "
                      "or the kernels' code differs between the programs (see the checks above)")


COMMANDS = [bench_cmd]
