"""`pqcompile targets`: list the build targets (targets/*.toml) with their budgets and tools."""
from __future__ import annotations

import shutil

import click

from ..targets import list_targets, load_target
from .common import emit_json, json_option


def _tools_installed(t) -> bool:
    tools = [t.compiler, t.size_tool] + ([t.emulator] if t.emulator else [])
    return all(shutil.which(tool) for tool in tools)


def _runs_on(t) -> str:
    if t.kind == "host":
        return "native"
    if t.emulator is None:
        return "hardware only"
    return f"{t.emulator} {t.machine or t.emulator_cpu or ''}".strip()


@click.command("targets")
@json_option
def targets_cmd(as_json):
    """List the targets: kind, how programs run, flash and RAM budgets, tools installed."""
    targets = [load_target(name) for name in list_targets()]
    if as_json:
        emit_json({"targets": [dict(t.to_dict(), tools_installed=_tools_installed(t)) for t in targets]})
        return
    click.echo(f"{'target':18} {'kind':10} {'runs on':28} {'flash':>10} {'RAM':>10}  tools")
    for t in targets:
        click.echo(f"{t.name:18} {t.kind:10} {_runs_on(t):28} {t.flash_budget // 1024:>7} KiB "
                   f"{t.ram_budget // 1024:>6} KiB  {'ok' if _tools_installed(t) else 'MISSING'}")


COMMANDS = [targets_cmd]
