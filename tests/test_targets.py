"""The target registry: every shipped target loads with the promised fields, and bad target
files are rejected with a clear message."""
import json
import shutil

import pytest
from click.testing import CliRunner

from pqcompile.cli import cli
from pqcompile.errors import PqError
from pqcompile.targets import FIRMWARE_DIR, REQUIRED_CFLAGS, TARGETS_DIR, list_targets, load_target

EMULATED = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m55": "mps3-an547"}


def test_all_required_targets_are_registered():
    names = list_targets()
    for name in ["cortex-m4", "cortex-m7", "cortex-m55", "cortex-a53", "cortex-a7", "host",
                 "stm32f746g-disco", "stm32f405"]:
        assert name in names


@pytest.mark.parametrize("name", list_targets())
def test_every_target_is_complete(name):
    t = load_target(name)
    assert t.name == name and t.path == TARGETS_DIR / f"{name}.toml"
    assert all(flag in t.cflags for flag in REQUIRED_CFLAGS)
    assert t.flash_budget > 0 and t.ram_budget > 0
    assert t.compiler_packages and t.size_tool and t.description
    for rel in t.firmware:
        assert (FIRMWARE_DIR / rel).is_file()
    if t.kind == "baremetal":
        assert (FIRMWARE_DIR / t.linker_script).is_file()
    if t.emulator:
        assert t.emulator_packages
    hash(t)  # frozen and hashable: usable as a cache key


@pytest.mark.parametrize("name,machine", sorted(EMULATED.items()))
def test_cortex_m_boards(name, machine):
    t = load_target(name)
    assert (t.kind, t.emulator, t.machine, t.compiler) == ("baremetal", "qemu-system-arm", machine,
                                                           "arm-none-eabi-gcc")
    assert f"-mcpu={name}" in t.cflags and "-mthumb" in t.cflags
    assert t.runnable and t.counts_instructions


def test_cortex_a_and_host():
    a53, a7, host = load_target("cortex-a53"), load_target("cortex-a7"), load_target("host")
    assert (a53.compiler, a53.emulator, a53.emulator_cpu) == ("aarch64-linux-gnu-gcc", "qemu-aarch64",
                                                              "cortex-a53")
    assert "-static" in a53.ldflags and "-static" in a7.ldflags
    assert (a7.compiler, a7.emulator) == ("arm-linux-gnueabihf-gcc", "qemu-arm")
    for flag in ["-mcpu=cortex-a7", "-mfpu=neon-vfpv4", "-mfloat-abi=hard"]:
        assert flag in a7.cflags
    assert host.kind == "host" and host.emulator is None and host.runnable
    assert not (a53.counts_instructions or host.counts_instructions)


def test_real_board_is_hardware_only():
    t = load_target("stm32f746g-disco")
    assert t.kind == "baremetal" and t.emulator is None and not t.runnable
    assert (t.flash_budget, t.ram_budget) == (1024 * 1024, 320 * 1024)
    assert "pyocd" in t.flash_command and "{elf}" in t.flash_command
    assert t.linker_script == "ld/stm32f746g-disco.ld"


def test_fpv5_targets_get_the_fpv5_define(tmp_path):
    """-mfpu=fpv5* gives PQ_FPV5=1 (requant.py's VCVTM path; gcc's macros do not tell FPv5-SP from
    FPv4); other FPUs do not get it, and a target's own defines win."""
    assert dict(load_target("stm32f746g-disco").defines)["PQ_FPV5"] == "1"   # fpv5-sp-d16
    assert dict(load_target("cortex-m7").defines)["PQ_FPV5"] == "1"          # fpv5-d16
    for name in ("cortex-m4", "stm32f405", "cortex-a7", "host"):
        assert "PQ_FPV5" not in dict(load_target(name).defines)
    text = (TARGETS_DIR / "stm32f746g-disco.toml").read_text().replace(
        "[hardware]", 'defines = { PQ_FPV5 = "0" }\n\n[hardware]')
    (tmp_path / "variant.toml").write_text(text)
    assert dict(load_target("variant", directory=tmp_path).defines)["PQ_FPV5"] == "0"


def test_console_is_only_for_emulated_baremetal_boards(tmp_path):
    text = (TARGETS_DIR / "cortex-a53.toml").read_text().replace("[run]\n", '[run]\nconsole = "uart"\n')
    assert 'console = "uart"' in text
    (tmp_path / "variant.toml").write_text(text)
    with pytest.raises(PqError, match="run.console is for baremetal boards"):
        load_target("variant", directory=tmp_path)


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(PqError) as e:
        load_target("cortex-m99")
    msg = str(e.value)
    assert "cortex-m99" in msg and "cortex-m7" in msg and "host" in msg


def _variant(tmp_path, old: str, new: str, source: str = "cortex-m7") -> str:
    """Write a copy of a shipped target with one text replacement; return its name."""
    text = (TARGETS_DIR / f"{source}.toml").read_text()
    assert old in text
    (tmp_path / "variant.toml").write_text(text.replace(old, new, 1))
    return "variant"


@pytest.mark.parametrize("old,new,message", [
    ('kind = "baremetal"', 'kind = "rtos"', "kind must be one of"),
    ('"-ffp-contract=off", ', "", "lacks required flag(s) -ffp-contract=off"),
    ('machine = "mps2-an500"', 'machine = "mps2-an500"\nspeed = 3', "unknown field(s) run.speed"),
    ('ram = 524288', 'ram = -1', "budget.ram must be a positive number of bytes"),
    ('ram = 524288', '', "missing budget.ram"),
    ('"cortex-m/startup.c"', '"cortex-m/nope.c"', "'cortex-m/nope.c' does not exist"),
    ('linker_script = "ld/mps2.ld"\n', '', "needs build.linker_script"),
    ('machine = "mps2-an500"', '', "run.machine is required"),
    ('machine = "mps2-an500"', 'machine = "mps2-an500"\nconsole = "usb"', "run.console must be one of"),
    ('compiler = "arm-none-eabi-gcc"', 'compiler = 7', "build.compiler must be a non-empty string"),
    ('description = "', 'description = "unterminated\n', "invalid TOML"),
])
def test_bad_target_files_are_rejected(tmp_path, old, new, message):
    name = _variant(tmp_path, old, new)
    with pytest.raises(PqError) as e:
        load_target(name, directory=tmp_path)
    assert message in str(e.value)
    assert "variant.toml" in str(e.value)


def test_adding_a_board_is_adding_a_file(tmp_path):
    for name in ["cortex-m7", "host"]:
        shutil.copy(TARGETS_DIR / f"{name}.toml", tmp_path / f"my-{name}.toml")
    assert list_targets(tmp_path) == ["my-cortex-m7", "my-host"]
    assert load_target("my-cortex-m7", tmp_path).machine == "mps2-an500"


def test_cli_lists_targets_with_budgets():
    runner = CliRunner()
    out = runner.invoke(cli, ["targets", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    by_name = {t["name"]: t for t in data["targets"]}
    assert set(by_name) == set(list_targets())
    assert by_name["cortex-m7"]["flash_budget"] == load_target("cortex-m7").flash_budget
    assert by_name["stm32f746g-disco"]["runnable"] is False
    text = runner.invoke(cli, ["targets"])
    assert text.exit_code == 0 and "mps2-an500" in text.output and "hardware only" in text.output
