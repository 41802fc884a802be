"""Bit-exact check of the generated C projection against the Python reference, on any target.

The device program (firmware/apps/verify_projection.c + the emitted projection.c) prints, per
input line, the line length, the token count, every token's byte/char span and tag flag, and a
digest of the whole feature buffer; `expected_output` computes the same line from the Python
reference, so comparing is string equality. The first mismatch is re-run in the program's dump
mode to show exactly which token and which features differ.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PqError
from .emit_c import emit_projection_c, spec_id
from .reference import project
from .spec import ProjectionSpec
from .text import tokenize

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
APP = FIRMWARE / "apps" / "verify_projection.c"

# The digest of verify_projection.c: XOR of splitmix64-finalised (word + (i+1) * DIGEST_GAMMA).
DIGEST_GAMMA = 0x9E3779B97F4A7C15
_U64 = np.uint64


def _mix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
        return x ^ (x >> _U64(31))


def feature_digests(features: np.ndarray) -> np.ndarray:
    """uint64 digest of each utterance's feature buffer [T, F] (as verify_projection.c computes it)."""
    flat = np.ascontiguousarray(features).reshape(features.shape[0], -1).view(np.uint8)
    pad = (-flat.shape[1]) % 8
    if pad:
        flat = np.concatenate([flat, np.zeros((flat.shape[0], pad), dtype=np.uint8)], axis=1)
    words = np.ascontiguousarray(flat).view("<u8")
    with np.errstate(over="ignore"):
        index = np.arange(1, words.shape[1] + 1, dtype=np.uint64) * _U64(DIGEST_GAMMA)
        return np.bitwise_xor.reduce(_mix64(words + index[None, :]), axis=1)


def expected_output(lines: list[bytes], spec: ProjectionSpec, batch: int = 512) -> list[str]:
    """The line verify_projection.c must print for each input line (without the newline)."""
    out: list[str] = []
    for start in range(0, len(lines), batch):
        chunk = lines[start:start + batch]
        p = project(chunk, spec)
        digests = feature_digests(p.features)
        for line, toks, d in zip(chunk, p.tokens, digests):
            spans = "".join(f" {t.byte_start}:{t.byte_end}:{t.char_start}:{t.char_end}:{int(t.is_tag)}"
                            for t in toks)
            out.append(f"{len(line)} {len(toks)}{spans} {int(d):016x}")
    return out


@dataclass
class Mismatch:
    index: int          # line number in the corpus (0-based)
    line: bytes
    expected: str
    got: str
    detail: str = ""

    def to_dict(self) -> dict:
        return {"index": self.index, "line": self.line.decode("utf-8", "backslashreplace"),
                "expected": self.expected, "got": self.got, "detail": self.detail}


@dataclass
class VerifyResult:
    target: str
    spec_id: str
    compared: int
    mismatches: int
    first: Mismatch | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def to_dict(self) -> dict:
        return {"target": self.target, "spec_id": self.spec_id, "compared": self.compared,
                "mismatches": self.mismatches, "ok": self.ok,
                "first_mismatch": self.first.to_dict() if self.first else None, **self.extra}


def check_lines(lines: list[bytes]) -> None:
    bad = [i for i, line in enumerate(lines) if b"\n" in line]
    if bad:
        raise PqError(f"corpus line {bad[0]} contains a newline byte; each string must be one line")


def read_corpus(path) -> list[bytes]:
    """One string per line ('\\n' separated, any other bytes allowed); a final newline ends the last line."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise PqError(f"cannot read corpus {path}: {e.strerror}") from None
    if not data:
        return []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return lines


# -- building and running the device program ---------------------------------------------------

def build_verifier(spec: ProjectionSpec, target, out_dir, *, dump: bool = False, count: bool = False) -> Path:
    """Emit the projection for spec into out_dir and build verify_projection for target."""
    from ..emulator import build_program

    out = Path(out_dir)
    c_path, h_path = emit_projection_c(spec, out)
    defines = {}
    if dump:
        defines["PQ_VERIFY_DUMP"] = "1"
    if count:
        defines["PQ_VERIFY_COUNT"] = "1"
    name = "verify_projection" + ("_dump" if dump else "") + ("_count" if count else "")
    return build_program(target, [APP, c_path], out / name, include_dirs=[out], defines=defines)


def run_verifier(target, exe: Path, lines: list[bytes], timeout: float = 300) -> list[str]:
    from ..emulator import run_program

    check_lines(lines)
    data = b"".join(line + b"\n" for line in lines)
    res = run_program(target, exe, input=data, timeout=timeout)
    text = res.stdout.decode("utf-8", "replace")
    if res.returncode != 0:
        tail = text.strip().splitlines()[-1:] or ["no output"]
        raise PqError(f"verify_projection exited with status {res.returncode} on {_name(target)}: {tail[0][:200]}")
    return text.splitlines()


def _name(target) -> str:
    return getattr(target, "name", str(target))


def explain_dump(spec: ProjectionSpec, line: bytes, dump_line: str) -> str:
    """Human-readable difference between the device's dump and the reference for one line."""
    toks = tokenize(line, spec)
    p = project([line], spec)
    parts = dump_line.split(" F ")
    rows = parts[1:]
    lines = [f"reference tokens: {[t.text for t in toks]!r}"]
    if len(rows) != spec.max_tokens:
        return "\n".join(lines + [f"device dump has {len(rows)} feature rows, expected {spec.max_tokens}"])
    sym = {0: "0", 1: "+", -1: "-"}
    for t in range(spec.max_tokens):
        want = "".join(sym.get(int(v), "?") for v in p.features[0, t])
        got = rows[t].strip()
        if got != want:
            diff = [j for j in range(min(len(got), len(want))) if got[j] != want[j]]
            label = repr(toks[t].text) if t < len(toks) else "(unused row)"
            lines.append(f"token {t} {label}: {len(diff)} feature(s) differ, first at {diff[:8]}; "
                         f"device {got[:48]}..., reference {want[:48]}...")
    if len(lines) == 1:
        lines.append("features agree; the difference is in the spans or token count")
    return "\n".join(lines)


def compare_outputs(got: list[str], want: list[str]) -> tuple[int, int | None]:
    """(number of differing lines, index of the first) between device and reference outputs;
    missing or extra lines count as differing."""
    differing = [k for k, (a, b) in enumerate(zip(got, want)) if a != b]
    extra = abs(len(got) - len(want))
    first = differing[0] if differing else (min(len(got), len(want)) if extra else None)
    return len(differing) + extra, first


def explain_mismatch(spec: ProjectionSpec, target, out_dir, lines: list[bytes], index: int,
                     got: list[str], want: list[str], timeout: float = 300) -> Mismatch:
    """The first mismatch in detail: the device's dump of that line against the reference."""
    line = lines[index] if index < len(lines) else b""
    m = Mismatch(index, line, want[index] if index < len(want) else "(no line)",
                 got[index] if index < len(got) else "(no output line)")
    if index < len(lines):
        dump_exe = build_verifier(spec, target, out_dir, dump=True)
        dump = run_verifier(target, dump_exe, [line], timeout)
        m.detail = explain_dump(spec, line, dump[0] if dump else "")
    return m


def verify_projection(spec: ProjectionSpec, target, lines: list[bytes], work_dir=None,
                      timeout: float = 300) -> VerifyResult:
    """Build, run on target, compare every line; the first mismatch gets a detailed explanation."""
    check_lines(lines)
    with tempfile.TemporaryDirectory(prefix="pq-verify-") as tmp:
        out = Path(work_dir) if work_dir is not None else Path(tmp)
        exe = build_verifier(spec, target, out)
        got = run_verifier(target, exe, lines, timeout)
        want = expected_output(lines, spec)
        mismatches, first = compare_outputs(got, want)
        detail = None if first is None else explain_mismatch(spec, target, out, lines, first, got, want, timeout)
        return VerifyResult(_name(target), spec_id(spec), len(lines), mismatches, detail)


# -- cost on the device ---------------------------------------------------------------------------

_COUNT_RE = re.compile(r"^# instructions (\d+) tokens (\d+) lines (\d+) available (\d+)$")


def count_instructions(spec: ProjectionSpec, target, lines: list[bytes], timeout: float = 300) -> dict:
    """Instructions executed by pq_project() over lines (QEMU -icount; resolution one timer tick
    per call): total, per token and per line."""
    with tempfile.TemporaryDirectory(prefix="pq-count-") as tmp:
        exe = build_verifier(spec, target, tmp, count=True)
        out = run_verifier(target, exe, lines, timeout)
    m = _COUNT_RE.match(out[-1]) if out else None
    if not m:
        raise PqError(f"verify_projection printed no instruction count on {_name(target)}")
    insns, toks, n, avail = (int(g) for g in m.groups())
    if not avail:
        raise PqError(f"target {_name(target)} cannot count instructions")
    return {"instructions": insns, "tokens": toks, "lines": n,
            "instructions_per_token": insns / max(toks, 1), "instructions_per_line": insns / max(n, 1)}


def projection_size(spec: ProjectionSpec, target) -> dict:
    """Flash (text + rodata + data) and RAM (data + bss) of the projection object alone, compiled
    with the target's flags; the caller's feature and token buffers are not included."""
    from ..emulator import require_tool

    cc = require_tool(target.compiler, target.compiler_packages, target)
    size = require_tool(target.size_tool, target.compiler_packages, target)
    with tempfile.TemporaryDirectory(prefix="pq-size-") as tmp:
        c_path, _ = emit_projection_c(spec, tmp)
        obj = Path(tmp) / "projection.o"
        proc = subprocess.run([cc, *target.cflags, "-c", str(c_path), "-o", str(obj)],
                              capture_output=True, text=True, errors="replace")
        if proc.returncode != 0:
            raise PqError(f"compiling projection.c for {target.name} failed: {proc.stderr.strip()[:500]}")
        res = subprocess.run([size, "-A", str(obj)], capture_output=True, text=True, errors="replace")
        if res.returncode != 0:
            raise PqError(f"{target.size_tool} failed: {res.stderr.strip()}")
    sections: dict[str, int] = {}
    for row in res.stdout.splitlines():
        parts = row.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])

    def total(prefix: str) -> int:
        return sum(v for k, v in sections.items() if k == prefix or k.startswith(prefix + "."))

    text, rodata, data, bss = total(".text"), total(".rodata"), total(".data"), total(".bss")
    return {"text": text, "rodata": rodata, "data": data, "bss": bss,
            "flash": text + rodata + data, "ram": data + bss}
