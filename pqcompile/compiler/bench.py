"""`pqcompile bench`: where every instruction of the device program goes, counted exactly.

For a target whose programs run under QEMU with `-icount shift=0` (one instruction per virtual
nanosecond; Cortex-M boards with a CMSDK timer or SysTick), three programs are built from the
same generated C (pq_kernels.c compiled identically in all three):

- the device program (firmware/apps/pqrnn_main.c, as `pqcompile build` makes it): flash and RAM;
- the plain bench program (firmware/apps/pqrnn_bench.c + the plain driver pq_model.c): the
  instructions of the projection and of the network per utterance;
- the profiling bench program: the same, with the driver compiled with -DPQ_PROFILE: its marks
  (a compiler barrier before every kernel call and after the last, emit_driver.py) then also
  store the counter, in 8 instructions each (firmware/apps/pq_profile.h): the instructions of
  every call.

The timer ticks once per 40 instructions (CMSDK, 25 MHz) or 31.25 (SysTick, 32 MHz); the
bench program runs each measurement once per phase of the tick (pqrnn_bench.c), which makes every
difference of two readings exact to the instruction. The checks (ok only when all hold):
every count is a whole number (a SysTick count one tick off a whole one, which QEMU gives now
and then for a 31.25 ns tick, is rounded and counted in misread_ticks:
counting.Counter.whole_insns); the kernels' machine code is the same in all three programs (the
disassembly of every pq_k* / pq_dot* function, addresses aside), and so is the driver's
(model_run) in the device and the plain bench program; and per utterance, the
profiling program's total minus its marks (8 instructions each) equals the plain program's total,
i.e. the per-call counts plus the driver's own instructions (call, clamp, prologue, return) add
up to the plain network's count exactly.

On the Linux user-mode targets (cortex-a53 under qemu-aarch64, cortex-a7 under qemu-arm) there is
no -icount and no timer: the plain and the profiling bench program are built with
-DPQ_BENCH_PLUGIN, where every reading and every mark is one nop at a local label
(pq_point_*, pq_mark_*; firmware/apps/pq_profile.h), and run under pqcompile's TCG plugin
(pqcompile/qemu_plugin.py), which counts every executed instruction and logs the count at each
label's address (taken from the program's symbol table). One phase; a mark is 1 instruction; the
same checks.

Instructions are a proxy, not cycles (QEMU is not cycle-accurate).
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import onnx

from ..counting import MARK_INSNS, MAX_PHASES, Counter, counter_of  # noqa: F401  (re-exported)
from ..emulator import build_program, require_tool, run_program, section_sizes
from ..errors import PqError
from ..export import read_metadata
from ..projection import project
from ..qemu_plugin import run_counted, symbol_addresses
from ..targets import FIRMWARE_DIR, Target
from .compile import CompiledModel, compile_onnx
from .dot_mve import has_mve
from .firmware import _symbol_sizes, image_name, libm, write_sources

BENCH_APP = FIRMWARE_DIR / "apps" / "pqrnn_bench.c"
TOKEN_COUNTS = (3, 10)  # and the model's maximum
WORDS = (b"remind me to call mom and dad about the party at the lake house tomorrow after work "
         b"then set an alarm for seven and play some jazz music in the kitchen please").split()
KERNELS = {True: "micro-kernels (pq_dot*_s8)", False: "plain TVM kernels (matmul reductions unrolled by 4)"}
INT16_LABEL = ", weights pre-extended to int16"
MVE_LABEL = ", Helium (MVE) versions"


def utterances(spec) -> dict[int, bytes]:
    """One text per token count (3, 10 and the maximum, at most the maximum), words cut to length."""
    out = {}
    for n in sorted({min(n, spec.max_tokens) for n in (*TOKEN_COUNTS, spec.max_tokens)}):
        line = b" ".join((WORDS * (n // len(WORDS) + 1))[:n])
        got = int(project([line], spec).lengths[0])
        if got != n:
            raise PqError(f"internal: the bench text for {n} tokens projects to {got} tokens")
        out[n] = line
    return out


def _objdump_functions(target: Target, exe: Path, pattern: str) -> dict[str, list[str]]:
    """Disassembly of the functions whose names match `pattern`, addresses removed (branch
    targets by name, literal-pool words left out: they hold addresses; so is the zero padding
    after a function, which depends on where the next one lands)."""
    tool = require_tool(re.sub(r"size$", "objdump", target.size_tool), target.compiler_packages, target)
    proc = subprocess.run([tool, "-d", "--no-show-raw-insn", str(exe)], capture_output=True, text=True,
                          errors="replace")
    if proc.returncode != 0:
        raise PqError(f"{tool} failed on {exe}: {proc.stderr.strip()[:300]}")
    funcs: dict[str, list[str]] = {}
    current = None
    for line in proc.stdout.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            current = m.group(1) if re.fullmatch(pattern, m.group(1)) else None
            if current:
                funcs[current] = []
            continue
        if current and line.strip() and ".word" not in line:
            body = line.split(":", 1)[1] if ":" in line else line
            funcs[current].append(re.sub(r"\b[0-9a-f]+ <", "<", body).strip())
    for lines in funcs.values():   # zero bytes after a function, up to the next one's alignment (layout)
        while lines and lines[-1] in ("...", "movs\tr0, r0"):
            lines.pop()
    if "aarch64" in tool:
        funcs = {name: _page_offsets_removed(lines) for name, lines in funcs.items()}
    return funcs


def _page_offsets_removed(lines: list[str]) -> list[str]:
    """AArch64 disassembly with the link-time parts of its addressing removed: `adrp xN, page`
    loads a 4 KiB page of the data's address (its target is already `<symbol>` without the
    number), and the low 12 bits are the immediate of a later `add` or load/store based on xN,
    which differs between two programs whose data lie elsewhere. The immediate of an instruction
    whose base register was last set by an adrp becomes `#lo12` (a register leaves that set when
    an instruction writes it, or at a call)."""
    pages: set[str] = set()
    out = []
    for line in lines:
        op, _, args = line.partition("\t") if "\t" in line else line.partition(" ")
        regs = re.findall(r"\b[xw](\d+)\b", args)
        if op == "adrp":
            pages.add(regs[0])
            out.append(f"adrp\tx{regs[0]}, <page>")
            continue
        base = re.search(r"\[x(\d+), #", args)
        if op == "add" and len(regs) == 2 and regs[1] in pages and "#" in args:
            line = re.sub(r"#0x[0-9a-f]+|#\d+", "#lo12", line)
        elif base and base.group(1) in pages:
            line = re.sub(r"(\[x\d+, )#(0x[0-9a-f]+|\d+)", r"\1#lo12", line)
        out.append(line)
        if op in ("bl", "blr"):
            pages -= {str(r) for r in range(19)}
        elif not (op.startswith(("st", "cmp", "cmn", "tst", "prfm"))
                  or re.fullmatch(r"b(\.\w+)?|br|ret|cbn?z|tbn?z", op)):
            written = re.findall(r"\b[xw](\d+)\b", args.split("[")[0])    # registers before any address
            pages -= set(written[:2] if op.startswith("ldp") else written[:1])
    return out


def _same_code(target: Target, device: Path, plain: Path, profile: Path, driver: str = "model_run") -> dict:
    kernels = [_objdump_functions(target, e, r"pq_k\d+_\w+|pq_dot\w*") for e in (device, plain, profile)]
    drivers = [_objdump_functions(target, e, driver) for e in (device, plain)]
    same = kernels[0] == kernels[1] == kernels[2] and bool(kernels[0])
    same_driver = drivers[0] == drivers[1] and bool(drivers[0])
    return {"functions": len(kernels[0]), "instructions": sum(len(v) for v in kernels[0].values()),
            "identical": same, "driver_identical": same_driver,
            "programs": [e.name for e in (device, plain, profile)]}


def _run_bench(target: Target, exe: Path, lines: list[bytes], phases: int) -> list[dict]:
    res = run_program(target, exe, input=b"".join(l + b"\n" for l in lines), timeout=120 + 20 * phases)
    if res.returncode != 0:
        raise PqError(f"{exe.name} exited with status {res.returncode}: "
                      f"{res.stderr.decode('utf-8', 'replace').strip()[:300]}")
    out = res.stdout.decode("utf-8", "replace").splitlines()
    if len(out) != len(lines):
        raise PqError(f"{exe.name} printed {len(out)} lines for {len(lines)} utterances")
    return [json.loads(o) for o in out]


def _run_bench_plugin(target: Target, exe: Path, lines: list[bytes], n_marks: int) -> list[dict]:
    """_run_bench for a program built with -DPQ_BENCH_PLUGIN: the counts come from the plugin's
    log of its labelled points, in the format the timer programs print (one phase)."""
    points = symbol_addresses(target, exe, r"pq_(point|mark)_\w+")
    want = {f"pq_point_{p}" for p in ("line", "proj_start", "proj_end", "net_start", "net_end")}
    want |= {f"pq_mark_{i}" for i in range(n_marks)}
    if set(points) != want:
        raise PqError(f"internal: {exe.name} defines the points {sorted(points)}, expected {sorted(want)}")
    counted = run_counted(target, exe, points, input=b"".join(l + b"\n" for l in lines), timeout=300)
    res = counted.result
    if res.returncode != 0:
        raise PqError(f"{exe.name} exited with status {res.returncode}: "
                      f"{res.stderr.decode('utf-8', 'replace').strip()[:300]}")
    out = [json.loads(o) for o in res.stdout.decode("utf-8", "replace").splitlines()]
    if len(out) != len(lines):
        raise PqError(f"{exe.name} printed {len(out)} lines for {len(lines)} utterances")
    per_line: list[list[tuple[str, int]]] = []
    for name, count in counted.hits:
        if name == "pq_point_line":
            per_line.append([])
        elif not per_line:
            raise PqError(f"internal: {exe.name} reached {name} before its first line")
        else:
            per_line[-1].append((name, count))
    if len(per_line) != len(lines):
        raise PqError(f"internal: {exe.name} reached its line point {len(per_line)} times for {len(lines)} lines")
    marks = [f"pq_mark_{i}" for i in range(n_marks)]
    # each line: the projection twice (warm-up, timed), then the network twice, marks inside
    one_network = ["pq_point_net_start", *marks, "pq_point_net_end"]
    expected = ["pq_point_proj_start", "pq_point_proj_end"] * 2 + one_network * 2
    for o, hits in zip(out, per_line):
        if [h[0] for h in hits] != expected:
            raise PqError(f"internal: {exe.name} reached its points in an unexpected order for the "
                          f"{o.get('n')}-token utterance")
        c = [h[1] for h in hits]
        net = c[4 + len(one_network):]        # the timed network run
        o.update({"projection": c[3] - c[2], "network": net[-1] - net[0],
                  "marks": [m - net[0] for m in net[1:-1]]})
    return out


def _number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def _per_mac(insns, macs) -> float | None:
    return round(float(insns) / macs, 4) if macs else None


def _group_name(layer: str, role: str) -> str:
    return f"{re.sub(r'[.](fwd|bwd)$', '', layer)} {role}"


def measure(cm: CompiledModel, model: onnx.ModelProto, target: Target, work: Path, lines: dict[int, bytes],
            counter: Counter) -> dict:
    """Build the three programs in `work` and measure `lines` (token count -> text)."""
    gen = work / "gen"
    app, proj_c, model_c, kernels_c = write_sources(cm, model, gen)
    extra = libm(target)
    includes = [gen, FIRMWARE_DIR / "apps"]
    n_marks = len(cm.calls) + 1
    device = build_program(target, [app, proj_c, model_c, kernels_c, *extra], work / image_name(target),
                           include_dirs=[gen])
    plain = build_program(target, [BENCH_APP, proj_c, model_c, kernels_c, *extra], work / "bench_plain.elf",
                          include_dirs=includes, defines=counter.defines)
    prof = build_program(target, [BENCH_APP, proj_c, model_c, kernels_c, *extra], work / "bench_profile.elf",
                         include_dirs=includes,
                         defines={**counter.defines, "PQ_PROFILE": None, "PQ_PROFILE_MARKS": n_marks})
    code = _same_code(target, device, plain, prof, "model_run_rows" if cm.fusion else "model_run")
    texts = list(lines.values())
    if counter.plugin:
        got_plain = _run_bench_plugin(target, plain, texts, 0)
        got_prof = _run_bench_plugin(target, prof, texts, n_marks)
    else:
        got_plain = _run_bench(target, plain, texts, counter.phases)
        got_prof = _run_bench(target, prof, texts, counter.phases)
    mark_insns = counter.mark_insns
    T = cm.max_tokens
    halo = cm.row_halo
    results = []
    for (n, text), pl, pr in zip(lines.items(), got_plain, got_prof):
        if pl["n"] != n or pr["n"] != n or len(pr.get("marks", [])) != n_marks:
            raise PqError(f"internal: bench program output for the {n}-token utterance does not match")
        rows = T if n > T - halo else n + halo
        readings = [counter.whole_insns(t) for t in [pl["network"], pl["projection"], pr["network"], *pr["marks"]]]
        net, proj, total_prof, *marks = [x for x, _ in readings]
        misread = sum(m for _, m in readings)
        calls = []
        for i, c in enumerate(cm.calls):
            insns = marks[i + 1] - marks[i] - mark_insns
            macs = c.macs_at(rows, T)
            calls.append({"index": i, "kernel": c.kernel, "layer": c.layer, "role": c.role, "insns": _number(insns),
                          "macs": macs, "insns_per_mac": _per_mac(insns, macs)})
        driver = marks[0] + (total_prof - marks[-1]) - mark_insns
        kernel_sum = sum(Fraction(c["insns"]) for c in calls)
        whole = all(x.denominator == 1 for x in [net, proj, total_prof, *marks])
        check = {"plain_total": _number(net), "profiled_total": _number(total_prof), "marks": n_marks,
                 "mark_insns": mark_insns, "kernels": _number(kernel_sum), "driver": _number(driver),
                 "kernels_plus_driver": _number(kernel_sum + driver), "whole_numbers": whole,
                 "misread_ticks": misread,
                 "ok": whole and kernel_sum + driver == net and total_prof - mark_insns * n_marks == net}
        macs = sum(c["macs"] for c in calls)
        for c in calls:
            c["share"] = round(float(Fraction(c["insns"]) / net), 4)
        groups: dict[str, dict] = {}
        for c in calls:
            g = groups.setdefault(_group_name(c["layer"], c["role"]), {"calls": 0, "insns": 0, "macs": 0, "kernels": []})
            g["calls"] += 1
            g["insns"] += Fraction(c["insns"])
            g["macs"] += c["macs"]
            if c["kernel"] not in g["kernels"]:
                g["kernels"].append(c["kernel"])
        groups["driver (call, clamp, return)"] = {"calls": 1, "insns": driver, "macs": 0, "kernels": ["model_run"]}
        group_list = [{"name": k, "calls": g["calls"], "insns": _number(g["insns"]), "macs": g["macs"],
                       "insns_per_mac": _per_mac(g["insns"], g["macs"]), "share": round(float(g["insns"] / net), 4),
                       "kernels": g["kernels"]} for k, g in groups.items()]
        results.append({"tokens": n, "rows": rows, "text": text.decode("utf-8"), "network_insns": _number(net),
                        "macs": macs, "insns_per_mac": _per_mac(net, macs), "projection_insns": _number(proj),
                        "projection_insns_per_token": round(float(proj / n), 1), "driver_insns": _number(driver),
                        "groups": group_list, "calls": calls, "check": check})
    sections = section_sizes(target, device)
    fused = ({"rows": cm.fusion.rows, "block_bytes": cm.fusion.rows * cm.feature_size,
              "plain_arena_bytes": cm.fusion.plain_arena_bytes} if cm.fusion else None)
    return {"utterances": results, "kernel_code": code, "flash": sections["flash"], "ram": sections["ram"],
            "fused": fused,
            "sections": sections, "components": _symbol_sizes(target, device), "arena_bytes": cm.arena_bytes,
            "ok": code["identical"] and code["driver_identical"] and all(u["check"]["ok"] for u in results)}


def bench(model: onnx.ModelProto, target: Target, source: str = "", compare: bool = False,
          work_dir: str | Path | None = None, say=lambda message: None, int16_weights: bool = False,
          fuse_projection: int | str | None = None) -> dict:
    """Measure `model` on `target` (see the module docstring); with compare, also the earlier
    plain TVM kernels of the same model, with the ratios. int16_weights: the micro-kernel build
    with compile_onnx's int16_weights option; fuse_projection: its --fuse-projection option (both
    variants), where "projection" counts pq_tokenize and "network" model_run_rows, feature rows
    included. Returns the JSON report."""
    counter = counter_of(target)
    meta = read_metadata(model)
    lines = utterances(meta.spec)
    with tempfile.TemporaryDirectory(prefix="pq-bench-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        variants = [True, False] if compare else [True]
        measured = {}
        mve = has_mve(target.cflags)
        for micro in variants:
            label = (KERNELS[micro] + (MVE_LABEL if micro and mve else "")
                     + (INT16_LABEL if micro and int16_weights else ""))
            say(f"compiling and measuring the {label} ...")
            cm = compile_onnx(model, micro_kernels=micro, int16_weights=micro and int16_weights, mve=mve,
                              fuse_projection=fuse_projection, x86=target.kind == "host",
                              host_gemm=target.kind == "host")
            measured[micro] = measure(cm, model, target, work / ("current" if micro else "previous"), lines, counter)
            measured[micro]["kernels"] = label
    report = {"target": target.name, "model": source, "max_tokens": meta.spec.max_tokens,
              "feature_size": meta.spec.feature_size, "int16_weights": int16_weights,
              "fuse_projection": fuse_projection,
              "counting": (f"{counter.name}, -cpu {target.emulator_cpu}; instructions, not cycles" if counter.plugin
                           else f"QEMU -icount shift=0 ({target.machine}), {counter.name}; instructions, not cycles"),
              "current": measured[True], "previous": measured.get(False), "ratios": None}
    if compare:
        cur, prev = measured[True], measured[False]
        report["ratios"] = {
            "previous_over_current": [
                {"tokens": c["tokens"], "network_insns": round(p["network_insns"] / c["network_insns"], 3),
                 "insns_per_mac": round(p["insns_per_mac"] / c["insns_per_mac"], 3),
                 "groups": {g["name"]: round(pg["insns"] / g["insns"], 3) for g, pg in zip(c["groups"], p["groups"])
                            if g["name"] == pg["name"] and g["insns"]}}
                for c, p in zip(cur["utterances"], prev["utterances"])],
            "flash": round(prev["flash"] / cur["flash"], 4)}
    report["ok"] = all(m["ok"] for m in measured.values())
    return report


def format_report(r: dict) -> str:
    """The readable report: per utterance totals, the per-kernel table of the 10-token utterance
    (else the longest), sizes, the checks, and the comparison."""
    cur = r["current"]
    out = [f"pqcompile bench on {r['target']}: {r['model']}",
           f"  counting: {r['counting']}",
           f"  kernels: {cur['kernels']}",
           *([f"  projection fused into the network: blocks of {cur['fused']['rows']} token rows "
              f"({cur['fused']['block_bytes']:,} B in the arena); 'projection' = tokenizing, 'network' includes "
              f"the feature rows"] if cur.get("fused") else []), "",
           f"  {'tokens':>6} {'rows':>5} {'network insns':>14} {'MACs':>11} {'insns/MAC':>10} "
           f"{'projection':>11} {'per token':>10}"]
    for u in cur["utterances"]:
        out.append(f"  {u['tokens']:>6} {u['rows']:>5} {u['network_insns']:>14,} {u['macs']:>11,} "
                   f"{u['insns_per_mac']:>10.3f} {u['projection_insns']:>11,} {u['projection_insns_per_token']:>10.1f}")
    shown = next((u for u in cur["utterances"] if u["tokens"] == 10), cur["utterances"][-1])
    out += ["", f"  per kernel, {shown['tokens']} tokens ({shown['rows']} rows computed):",
            f"  {'kernel':<34} {'calls':>5} {'insns':>11} {'MACs':>11} {'insns/MAC':>10} {'share':>7}"]
    for g in sorted(shown["groups"], key=lambda g: -g["insns"]):
        pm = f"{g['insns_per_mac']:.3f}" if g["insns_per_mac"] is not None else "-"
        out.append(f"  {g['name']:<34} {g['calls']:>5} {g['insns']:>11,} {g['macs']:>11,} {pm:>10} {100 * g['share']:>6.1f}%")
    out.append(f"  {'total':<34} {'':>5} {shown['network_insns']:>11,} {shown['macs']:>11,} "
               f"{shown['insns_per_mac']:>10.3f} {100.0:>6.1f}%")
    code = cur["kernel_code"]
    out += ["", f"  network + projection: " + ", ".join(
        f"{u['tokens']} tokens {u['network_insns'] + u['projection_insns']:,}" for u in cur["utterances"]),
            "", f"  flash {cur['flash']:,} B, RAM {cur['ram']:,} B (arena {cur['arena_bytes']:,} B), "
                f"device program {', '.join(f'{k} {v:,}' for k, v in cur['components'].items())}", "",
            "  checks:",
            f"    kernel machine code identical in the device, plain and profiling programs "
            f"({code['functions']} functions, {code['instructions']:,} instructions): {'yes' if code['identical'] else 'NO'}",
            f"    driver (model_run) machine code identical in the device and the plain program: "
            f"{'yes' if code['driver_identical'] else 'NO'}"]
    for u in cur["utterances"]:
        c = u["check"]
        out.append(f"    {u['tokens']} tokens: kernels {c['kernels']:,} + driver {c['driver']:,} = "
                   f"{c['kernels_plus_driver']:,} vs plain {c['plain_total']:,}; profiled {c['profiled_total']:,} "
                   f"- {c['marks']} marks x {c['mark_insns']}: {'ok' if c['ok'] else 'MISMATCH'}")
    if r.get("ratios"):
        prev = r["previous"]
        out += ["", f"  compared with the {prev['kernels']} (previous / current):"]
        for u, p, q in zip(cur["utterances"], prev["utterances"], r["ratios"]["previous_over_current"]):
            out.append(f"    {u['tokens']:>3} tokens: {p['network_insns']:,} vs {u['network_insns']:,} insns "
                       f"({q['network_insns']:.2f}x), {p['insns_per_mac']:.3f} vs {u['insns_per_mac']:.3f} per MAC")
        q = next(q for q in r["ratios"]["previous_over_current"] if q["tokens"] == shown["tokens"])
        out.append(f"    per kernel, {shown['tokens']} tokens: " +
                   ", ".join(f"{k} {v:.2f}x" for k, v in q["groups"].items()))
        out.append(f"    flash {prev['flash']:,} vs {cur['flash']:,} B; checks of the previous build: "
                   f"{'ok' if prev['ok'] else 'FAILED'}")
    out.append("")
    return "\n".join(out)
