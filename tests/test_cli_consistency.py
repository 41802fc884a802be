"""The same option means the same thing on every command: -t for --target, --json on every
command that reports, the reader options in data-report's help, one meaning per JSON key."""
import inspect
import json

import click
from cli_runner import run_cli

from pqcompile.cli import cli
from pqcompile.datasets.sources import FORMATS, SUBSET_OPTIONS


def all_commands(group=cli, prefix=""):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_every_target_option_takes_t():
    with_target = {name: p.opts for name, cmd in all_commands() for p in cmd.params if p.name == "target_name"}
    assert {"build", "run", "verify", "verify-projection", "demo"} <= set(with_target)
    assert all("-t" in opts and "--target" in opts for opts in with_target.values()), with_target


def test_t_works_on_verify_projection():
    r = run_cli("verify-projection", "-t", "cortex-m99", ok=False)
    assert r.returncode != 0 and "unknown target 'cortex-m99'" in r.stderr


def test_every_command_has_json():
    missing = [name for name, cmd in all_commands() if not any(p.name == "as_json" for p in cmd.params)]
    assert missing == []


def test_data_report_help_names_every_reader_option():
    text = " ".join(run_cli("data-report", "--help").stdout.split())
    for fmt, reader in FORMATS.items():
        assert f"{fmt} (" in text
        for option in inspect.signature(reader).parameters:
            if option != "path":
                assert f"{option}=" in text, (fmt, option)
    for option in SUBSET_OPTIONS:
        assert f"{option}=" in text


def test_model_names_the_model_and_precision_says_int8_or_float(tmp_path):
    """`model` is the model's description in every command's JSON; int8/float is `precision`."""
    from pqcompile.projection import DEFAULT_SPEC
    from pqcompile.quant.qmodel import random_quantized_model
    random_quantized_model(DEFAULT_SPEC.replace(feature_size=64, max_tokens=8), seed=4).save(tmp_path / "m")
    p = json.loads(run_cli("predict", "-m", tmp_path / "m", "--json", "set an alarm").stdout)
    assert p["model"] == str(tmp_path / "m") and p["precision"] == "int8" and "run" not in p
    (tmp_path / "d.tsv").write_text("0\tIN:0\t5:9:SL:0\tcall anna now\tcalling\ten_XX\t[IN:0 ]\t{}\n")
    e = json.loads(run_cli("evaluate", "-m", tmp_path / "m", "--data", f"mtop:{tmp_path / 'd.tsv'}", "--json").stdout)
    assert e["model"] == str(tmp_path / "m") and e["precision"] == "int8" and "run" not in e


def test_evaluate_shows_progress_unless_json_or_quiet(tmp_path):
    from pqcompile.projection import DEFAULT_SPEC
    from pqcompile.quant.qmodel import random_quantized_model
    random_quantized_model(DEFAULT_SPEC.replace(feature_size=64, max_tokens=8), seed=4).save(tmp_path / "m")
    (tmp_path / "d.tsv").write_text("0\tIN:0\t5:9:SL:0\tcall anna now\tcalling\ten_XX\t[IN:0 ]\t{}\n" * 600)
    args = ["evaluate", "-m", tmp_path / "m", "--data", f"mtop:{tmp_path / 'd.tsv'}"]
    shown = run_cli(*args)
    assert "evaluate:" in shown.stderr and "256/600" in shown.stderr and "overall" in shown.stdout
    assert run_cli(*args, "--quiet").stderr == ""
    assert run_cli(*args, "--json").stderr == ""
