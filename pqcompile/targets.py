"""The target registry: one TOML file per target in targets/, loaded into a frozen `Target`.

Targets are data: adding a board means adding `targets/<name>.toml` (and, for a new kind of
board, its linker script and I/O back end in firmware/), never code here. A file looks like::

    description = "..."            # one line for `pqcompile targets`
    kind = "baremetal"             # baremetal | linux-user | host
    cpu = "cortex-m7"

    [build]
    compiler = "arm-none-eabi-gcc"
    packages = ["gcc-arm-none-eabi", "libnewlib-arm-none-eabi"]   # Debian packages, for errors
    size_tool = "arm-none-eabi-size"
    cflags = ["-O2", "-ffp-contract=off", "-std=c99", "-Wall", "-Wextra", "-Werror", ...]
    ldflags = ["-nostartfiles", "--specs=nano.specs"]
    linker_script = "ld/mps2.ld"   # relative to firmware/; baremetal only
    firmware = ["common/platform.c", ...]   # the platform layer, relative to firmware/
    defines = { NAME = "value" }   # optional, passed as -DNAME=value

    [run]                          # absent: hardware only (baremetal) or native (host)
    emulator = "qemu-system-arm"
    packages = ["qemu-system-arm"]
    machine = "mps2-an500"         # qemu-system-* boards
    console = "semihosting"        # qemu-system-* boards: semihosting (default) or uart (the
                                   # board's serial0, framed: pqcompile/uart.py)
    cpu = "cortex-a53"             # qemu-* user mode

    [hardware]                     # baremetal boards without an emulator
    flash_command = "pyocd flash --target stm32f746xg {elf}"

    [budget]                       # bytes, for flash/RAM reports
    flash = 2097152
    ram = 524288
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from .errors import PqError

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGETS_DIR = REPO_ROOT / "targets"
FIRMWARE_DIR = REPO_ROOT / "firmware"

KINDS = ("baremetal", "linux-user", "host")
CONSOLES = ("semihosting", "uart")

# Every target compiles with these: optimised, no fused multiply-add (bit-exact floats across
# machines), strict C99, and warnings are errors.
REQUIRED_CFLAGS = ("-O2", "-ffp-contract=off", "-std=c99", "-Wall", "-Wextra", "-Werror")

# A target compiled for an FPv5 FPU (-mfpu=fpv5-d16, fpv5-sp-d16) gets the define PQ_FPV5=1:
# gcc's predefined macros do not tell FPv5-SP (Cortex-M7 with the single-precision FPU, e.g.
# stm32f746g-disco) from FPv4, and requant.py's pq_floor_clamp takes FPv5's VCVTM where it is
# defined. A target's own build.defines may set it otherwise.
FPV5_DEFINE = "PQ_FPV5"


def derived_defines(cflags: tuple[str, ...]) -> dict[str, str]:
    """Defines a target gets from its cflags (see FPV5_DEFINE)."""
    fpus = [f.split("=", 1)[1] for f in cflags if f.startswith("-mfpu=")]
    return {FPV5_DEFINE: "1"} if fpus and fpus[-1].startswith("fpv5") else {}

_SCHEMA = {
    "": {"description", "kind", "cpu", "build", "run", "hardware", "budget"},
    "build": {"compiler", "packages", "size_tool", "cflags", "ldflags", "linker_script",
              "firmware", "defines"},
    "run": {"emulator", "packages", "machine", "cpu", "console"},
    "hardware": {"flash_command"},
    "budget": {"flash", "ram"},
}


@dataclass(frozen=True)
class Target:
    """One build-and-run target, as described by its targets/<name>.toml file."""

    name: str
    description: str
    kind: str                         # "baremetal" | "linux-user" | "host"
    cpu: str
    compiler: str
    compiler_packages: tuple[str, ...]
    size_tool: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    firmware: tuple[str, ...]         # platform sources, relative to FIRMWARE_DIR
    flash_budget: int
    ram_budget: int
    linker_script: str | None = None  # relative to FIRMWARE_DIR
    defines: tuple[tuple[str, str], ...] = ()  # (NAME, value) pairs for -DNAME=value
    emulator: str | None = None
    emulator_packages: tuple[str, ...] = ()
    machine: str | None = None        # qemu-system-* -M
    emulator_cpu: str | None = None   # qemu-* user mode -cpu
    console: str | None = None        # qemu-system-* boards: "semihosting" or "uart"
    flash_command: str | None = None  # hardware-only boards
    path: Path | None = None

    @property
    def runnable(self) -> bool:
        """True when pqcompile can run programs for it (under QEMU or natively)."""
        return self.kind == "host" or self.emulator is not None

    @property
    def counts_instructions(self) -> bool:
        """True when its programs see pq_counter_available() == 1 (QEMU boards under -icount)."""
        return self.kind == "baremetal" and self.emulator is not None

    def to_dict(self) -> dict:
        return {
            "name": self.name, "description": self.description, "kind": self.kind, "cpu": self.cpu,
            "compiler": self.compiler, "compiler_packages": list(self.compiler_packages),
            "size_tool": self.size_tool, "cflags": list(self.cflags), "ldflags": list(self.ldflags),
            "linker_script": self.linker_script, "firmware": list(self.firmware),
            "defines": dict(self.defines), "emulator": self.emulator,
            "emulator_packages": list(self.emulator_packages), "machine": self.machine,
            "emulator_cpu": self.emulator_cpu, "console": self.console, "flash_command": self.flash_command,
            "flash_budget": self.flash_budget, "ram_budget": self.ram_budget,
            "runnable": self.runnable, "counts_instructions": self.counts_instructions,
        }


def list_targets(directory: str | Path | None = None) -> list[str]:
    """Names of the targets defined in `directory` (default: the project's targets/), sorted."""
    d = Path(directory) if directory is not None else TARGETS_DIR
    return sorted(p.stem for p in d.glob("*.toml"))


def load_target(name: str, directory: str | Path | None = None) -> Target:
    """Load and validate targets/<name>.toml; unknown names and bad files raise PqError."""
    d = Path(directory) if directory is not None else TARGETS_DIR
    known = list_targets(d)
    if name not in known:
        raise PqError(f"unknown target {name!r}; known targets: {', '.join(known) or '(none)'}")
    path = d / f"{name}.toml"
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise PqError(f"{path}: invalid TOML: {e}") from None
    return _parse(name, raw, path)


def _parse(name: str, raw: dict, path: Path) -> Target:
    where = str(path)

    def fail(msg: str):
        raise PqError(f"{where}: {msg}")

    for section, allowed in _SCHEMA.items():
        table = raw if section == "" else raw.get(section, {})
        if not isinstance(table, dict):
            fail(f"[{section}] must be a table")
        unknown = sorted(set(table) - allowed)
        if unknown:
            prefix = f"{section}." if section else ""
            fail(f"unknown field(s) {', '.join(prefix + k for k in unknown)}; "
                 f"allowed: {', '.join(sorted(allowed))}")

    build, run, hw, budget = (raw.get(s, {}) for s in ("build", "run", "hardware", "budget"))

    def text(table: dict, key: str, section: str, required: bool = True) -> str | None:
        v = table.get(key)
        if v is None:
            if required:
                fail(f"missing {section + '.' if section else ''}{key}")
            return None
        if not isinstance(v, str) or not v.strip():
            fail(f"{section + '.' if section else ''}{key} must be a non-empty string")
        return v

    def strings(table: dict, key: str, section: str, required: bool = True) -> tuple[str, ...]:
        v = table.get(key)
        if v is None:
            if required:
                fail(f"missing {section}.{key}")
            return ()
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            fail(f"{section}.{key} must be a list of non-empty strings")
        return tuple(v)

    def size(key: str) -> int:
        v = budget.get(key)
        if v is None:
            fail(f"missing budget.{key} (bytes)")
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            fail(f"budget.{key} must be a positive number of bytes, got {v!r}")
        return v

    kind = text(raw, "kind", "")
    if kind not in KINDS:
        fail(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")

    cflags = strings(build, "cflags", "build")
    missing = [f for f in REQUIRED_CFLAGS if f not in cflags]
    if missing:
        fail(f"build.cflags lacks required flag(s) {' '.join(missing)} "
             f"(every target compiles with {' '.join(REQUIRED_CFLAGS)})")

    firmware = strings(build, "firmware", "build")
    linker_script = text(build, "linker_script", "build", required=False)
    for rel in firmware + ((linker_script,) if linker_script else ()):
        if not (FIRMWARE_DIR / rel).is_file():
            fail(f"firmware file {rel!r} does not exist under {FIRMWARE_DIR}")

    defines = build.get("defines", {})
    if not isinstance(defines, dict) or not all(
            isinstance(k, str) and k.isidentifier() and isinstance(v, str) for k, v in defines.items()):
        fail("build.defines must map C identifiers to strings")
    defines = {**derived_defines(cflags), **defines}

    emulator = text(run, "emulator", "run", required=False)
    machine = text(run, "machine", "run", required=False)
    emulator_cpu = text(run, "cpu", "run", required=False)
    flash_command = text(hw, "flash_command", "hardware", required=False)
    console = text(run, "console", "run", required=False)

    if kind == "baremetal":
        if linker_script is None:
            fail("a baremetal target needs build.linker_script")
        if emulator is None and flash_command is None:
            fail("a baremetal target needs [run] (an emulator) or hardware.flash_command")
        if emulator is not None and machine is None:
            fail("run.machine is required with a qemu-system emulator")
        if emulator is not None:
            console = console or "semihosting"
            if console not in CONSOLES:
                fail(f"run.console must be one of {', '.join(CONSOLES)}, got {console!r}")
    elif kind == "linux-user":
        if emulator is None:
            fail("a linux-user target needs run.emulator")
    elif raw.get("run"):
        fail("a host target runs natively: remove [run]")
    if console is not None and (kind != "baremetal" or emulator is None):
        fail("run.console is for baremetal boards run under qemu-system-*")

    return Target(
        name=name,
        description=text(raw, "description", ""),
        kind=kind,
        cpu=text(raw, "cpu", ""),
        compiler=text(build, "compiler", "build"),
        compiler_packages=strings(build, "packages", "build"),
        size_tool=text(build, "size_tool", "build"),
        cflags=cflags,
        ldflags=strings(build, "ldflags", "build"),
        firmware=firmware,
        flash_budget=size("flash"),
        ram_budget=size("ram"),
        linker_script=linker_script,
        defines=tuple(sorted(defines.items())),
        emulator=emulator,
        emulator_packages=strings(run, "packages", "run", required=emulator is not None),
        machine=machine,
        emulator_cpu=emulator_cpu,
        console=console,
        flash_command=flash_command,
        path=path,
    )
