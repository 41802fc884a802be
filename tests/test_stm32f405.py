"""The stm32f405 board: QEMU's netduinoplus2 (an STM32F405 SoC) runs the very image a user would
flash to a real board: vector table at 0x08000000, the console on USART1 with pqcompile's
framing (pqcompile/uart.py), no semihosting anywhere. The bundled model's verify through it is
bit-exact (device == onnxruntime == integer reference), like on the MPS2 boards; `run` and the
build folder's `make run` answer through the same UART.

The echo self-test (arbitrary bytes, exit status, instruction counter, FPU, faults, stack guard)
covers this board in tests/test_emulator.py, which runs it for every runnable target."""
import json
import re
import struct
import subprocess

import pytest
from cli_runner import run_cli as cli

from pqcompile.emulator import build_program, run_program
from pqcompile.errors import PqError
from pqcompile.targets import FIRMWARE_DIR, load_target
from pqcompile.uart import END_OF_INPUT, Unframer, frame_input

FLASH = (0x08000000, 0x08000000 + 1024 * 1024)
SRAM = (0x20000000, 0x20000000 + 128 * 1024)
ECHO = FIRMWARE_DIR / "apps" / "echo.c"


def test_the_target_is_an_stm32f405_on_netduinoplus2_with_a_uart_console():
    t = load_target("stm32f405")
    assert (t.kind, t.cpu, t.emulator, t.machine, t.console) == (
        "baremetal", "cortex-m4", "qemu-system-arm", "netduinoplus2", "uart")
    assert t.runnable and t.counts_instructions
    assert (t.flash_budget, t.ram_budget) == (1024 * 1024, 128 * 1024)
    assert t.linker_script == "ld/stm32f405.ld" and "boards/stm32f4/usart_console.c" in t.firmware
    assert not any("semihosting" in f for f in t.firmware)
    assert "{elf}" in t.flash_command and "stm32f4x" in t.flash_command
    assert load_target("cortex-m4").console == "semihosting"   # the MPS2 boards keep semihosting


def test_framing_round_trip_at_every_chunk_boundary():
    assert frame_input(b"a\x10b\x10\x04") == b"a\x10\x10b\x10\x10\x04"
    data = bytes(range(256)) + b"\x10\x10\x10" + b"end\n"
    stream = b"\x10\x02" + frame_input(data) + b"\x10\x03\x07" + b"after the exit frame"
    for cut in range(len(stream) + 1):
        u = Unframer()
        got = u.feed(stream[:cut]) + u.feed(stream[cut:])
        assert (got, u.ready, u.status) == (data, True, 7), cut
    u = Unframer()
    got = b"".join(u.feed(bytes([b])) for b in stream)     # one byte at a time
    assert (got, u.status) == (data, 7)
    u = Unframer()
    assert u.feed(b"\x10\x03\x00") == b"" and u.status == 0 and not u.ready   # status 0 is a status


def _disassembly(target, exe) -> str:
    objdump = target.size_tool.replace("size", "objdump")
    return subprocess.run([objdump, "-d", str(exe)], capture_output=True, text=True, check=True).stdout


def _symbols(target, exe) -> dict[str, int]:
    nm = target.size_tool.replace("size", "nm")
    out = subprocess.run([nm, str(exe)], capture_output=True, text=True, check=True).stdout
    return {parts[2]: int(parts[0], 16) for parts in (line.split() for line in out.splitlines()) if len(parts) == 3}


# the semihosting traps as objdump prints them: Thumb BKPT 0xAB and SVC 0xAB, Arm SVC 0x123456
SEMIHOSTING_TRAP = re.compile(r"\bbkpt\s+0x00ab\b|\bsvc\s+171\b|\bsvc\s+0x00123456\b", re.I)


def assert_flash_image_without_semihosting(target, exe) -> None:
    """The vector table is the first thing in flash at 0x08000000, its initial stack pointer is
    in SRAM and its reset vector a Thumb address in flash; every loaded section lies in the
    chip's flash or SRAM; no semihosting trap or library is linked."""
    sections = {}
    size_a = subprocess.run([target.size_tool, "-A", str(exe)], capture_output=True, text=True, check=True).stdout
    for line in size_a.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[2].isdigit():
            sections[parts[0]] = (int(parts[1]), int(parts[2]))
    assert sections[".isr_vector"][1] == 0x08000000
    for name in (".text", ".stack", ".data", ".bss"):
        size, addr = sections[name]
        lo, hi = FLASH if name == ".text" else SRAM
        assert lo <= addr and addr + size <= hi, (name, hex(addr), size)
    elf = exe.read_bytes()
    vectors = _vector_words(elf)
    symbols = _symbols(target, exe)
    assert SRAM[0] < vectors[0] <= SRAM[1] and vectors[0] == symbols["__pq_handler_stack_top"]
    assert vectors[1] == symbols["pq_reset_handler"] | 1 and FLASH[0] <= vectors[1] < FLASH[1]
    assert not SEMIHOSTING_TRAP.search(_disassembly(target, exe))
    assert not [s for s in symbols if "semihost" in s or "rdimon" in s or s.startswith("initialise_monitor")]


def _vector_words(elf: bytes) -> tuple[int, int]:
    """The first two words loaded at 0x08000000 (from the ELF's program headers)."""
    assert elf[:4] == b"\x7fELF" and elf[4] == 1 and elf[5] == 1          # 32-bit little-endian
    phoff, = struct.unpack_from("<I", elf, 28)
    phentsize, phnum = struct.unpack_from("<HH", elf, 42)
    for i in range(phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack_from("<IIIII", elf, phoff + i * phentsize)
        if p_type == 1 and p_paddr == 0x08000000 and p_filesz >= 8:
            return struct.unpack_from("<II", elf, p_offset)
    raise AssertionError("no segment loaded at 0x08000000")


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    target = load_target("stm32f405")
    return target, build_program(target, [ECHO], tmp_path_factory.mktemp("f405") / "echo.elf")


def test_echo_image_is_a_flash_image_without_semihosting(echo, tmp_path):
    assert_flash_image_without_semihosting(*echo)
    # the check can fail: the MPS2 build of the same program traps into semihosting
    m4 = load_target("cortex-m4")
    assert SEMIHOSTING_TRAP.search(_disassembly(m4, build_program(m4, [ECHO], tmp_path / "m4.elf")))


@pytest.mark.qemu
def test_end_of_input_and_dle_bytes_travel_as_data(echo):
    target, exe = echo
    lines = [b"a\x10b", b"\x10\x04 is data, not the end", b"\x10\x10\x10\x03\x00", END_OF_INPUT, b"\x10\x02"]
    r = run_program(target, exe, input=b"".join(line + b"\n" for line in lines))
    assert r.returncode == 0, r.stderr
    echoed = b"".join(b"%d 0:" % len(line) + line + b"\n" for line in lines)
    assert r.stdout.startswith(echoed + b"eof 5 insns ")


@pytest.mark.qemu
def test_a_program_that_never_talks_is_an_error_not_a_hang(tmp_path):
    target = load_target("stm32f405")
    src = tmp_path / "reset.c"
    src.write_text("#include \"pq_platform.h\"\nint main(void)\n{\n"
                   "    *(volatile uint32_t *)0xE000ED0Cu = 0x05FA0004u; /* reset at once */\n"
                   "    for (;;) {\n    }\n}\n")
    exe = build_program(target, [src], tmp_path / "reset.elf")
    with pytest.raises(PqError, match="without ever saying it was ready"):
        run_program(target, exe, input=b"x\n", timeout=60)


@pytest.mark.qemu
def test_timeout_and_no_arguments(echo):
    target, exe = echo
    with pytest.raises(PqError, match="echo.elf on stm32f405 did not finish within 1 s"):
        run_program(target, exe, input=b"!work 999999999\n", timeout=1)
    with pytest.raises(PqError, match="take no arguments"):
        run_program(target, exe, args=["x"])


# A few dozen requests like MTOP's, plus bytes a serial line must carry: DLE (the framing's
# escape), DLE EOT (its end-of-input mark) inside a line, NUL, CR, malformed UTF-8, a long line.
UTTERANCES = [
    "set an alarm for 7 am", "what's the weather like in paris this weekend",
    "please set an alarm for seven tomorrow morning in berlin", "remind me to call mom at 6:30 pm",
    "play some jazz music by miles davis", "send a message to angela saying i'll be late",
    "wake me up at 5", "cancel my alarm for tomorrow", "how long is my commute to work",
    "turn the volume down", "call david on whatsapp", "what time is it in tokyo",
    "add milk to my shopping list", "remind me to water the plants every sunday",
    "how hot will it be on friday", "skip this song", "who is the president of france",
    "text john that the meeting moved to 3", "set a timer for twenty minutes", "pause the music",
    "any news about the election", "what's on my calendar today", "delete all reminders",
    "is it going to rain in london", "play the latest album by adele", "¿qué tiempo hace en Zürich?",
    "réveille-moi à 7 heures", "Straße 5 😀", "",
]
RAW_LINES = [b"play \xff\xfe jazz", b"dle \x10 inside", b"dle eot \x10\x04 inside", b"nul\x00byte\r",
             b"caf\xc3", ("call mom " * 60).encode()]


@pytest.fixture(scope="module")
def bundled_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundled") / "b"
    _, stdout, _ = cli("build", "--target", "stm32f405", "-o", out, "--json")
    return out, json.loads(stdout)


@pytest.mark.slow
def test_bundled_model_build_is_a_flashable_image(bundled_build):
    out, report = bundled_build
    target = load_target("stm32f405")
    s = report["sections"]
    assert report["target"] == "stm32f405" and "bundled" in report["model"]
    assert 0 < s["flash"] <= target.flash_budget and 0 < s["ram"] <= target.ram_budget
    for image in (report["image"], report["verify_image"]):
        assert_flash_image_without_semihosting(target, out / image)
    # pqrnn.bin: what st-flash writes at 0x08000000 is the ELF's flash contents, vectors first
    assert report["flash_binary"] == {"file": "pqrnn.bin", "address": "0x08000000"}
    binary = (out / "pqrnn.bin").read_bytes()
    assert len(binary) == s["flash"]
    assert struct.unpack_from("<II", binary) == _vector_words((out / "pqrnn.elf").read_bytes())
    assert "st-flash write pqrnn.bin 0x08000000" in (out / "README.md").read_text()
    proc = subprocess.run(["make", "-n", "flash"], cwd=out, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == target.flash_command.format(elf="pqrnn.elf")


@pytest.mark.qemu
@pytest.mark.slow
def test_bundled_model_runs_and_verifies_bit_exact_over_the_uart(bundled_build, tmp_path):
    out, _ = bundled_build
    texts = UTTERANCES[:6]
    _, stdout, _ = cli("run", "--target", "stm32f405", "-o", out, *texts)
    device = [json.loads(line) for line in stdout.splitlines()]
    _, stdout, _ = cli("predict", *texts, "--json")
    assert device == [{"intent": p["intent"], "slots": p["slots"]} for p in json.loads(stdout)["predictions"]]
    assert device[0]["intent"] == "IN:CREATE_ALARM"
    # the build folder's `make run` talks to the same UART
    proc = subprocess.run(["make", "-s", "run"], cwd=out, input="\n".join(texts) + "\n", capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line) for line in proc.stdout.splitlines()] == device

    lines = [u.encode("utf-8") for u in UTTERANCES] + RAW_LINES
    (tmp_path / "texts.txt").write_bytes(b"".join(line + b"\n" for line in lines))
    _, stdout, _ = cli("verify", "--target", "stm32f405", "-o", out, "--texts", tmp_path / "texts.txt", "--json")
    v = json.loads(stdout)
    n = len(lines)
    assert v["ok"] and v["utterances"] == n and v["first_mismatches"] == []
    assert v["device_vs_onnxruntime"] == v["reference_vs_onnxruntime"] == v["frames_equal"] == n
    mean = v["mean_instructions"]     # TIM2 under -icount: instructions, as on the MPS2 boards
    assert mean["network"] > 10 * mean["projection"] > 0
