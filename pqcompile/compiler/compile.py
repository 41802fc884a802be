"""ONNX -> TVM Relax -> fused, scheduled TIR -> C kernels + static driver (the compiler's entry)."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import onnx
import tvm
from tvm import relax, tirx

from ..errors import PqError
from .dot_intrin import MICRO_KERNEL_C, gemm_params, packed_params, preextend_pairs, preextended_params
from .dot_mve import MVE_KERNEL_C, MVE_PACKED_KERNEL_C
from .dot_s4 import PACKED_KERNEL_C, int4_initializers, int4_params, pack_s4
from .dot_x86 import X86_KERNEL_C, X86_PACKED_KERNEL_C
from .gemm_x86 import gemm_c, gemm_layout
from .requant_x86 import REQUANT_HOST_C, vectorise_requant
from .emit_driver import KERNEL_PRELUDE, model_header, model_source
from .fuse import Fusion, NotFusable, apply_fusion, plan_fusion
from .importer import OUTPUTS, import_onnx
from .lower import Kernel, kernels_to_c, to_pointer_kernel
from .plan import Ref, build_program, live_bytes_by_call
from .requant import REQUANT_C, fuse_floor_clamp, not_finite_constants
from .schedule import schedule_kernel
from .tvm_log import tvm_log_captured

# No FoldConstant after legalisation: it would turn int8 weights into int32/float32 copies.
RELAX_PASSES = tvm.transform.Sequential([
    relax.transform.FuseTransposeMatmul(),   # matmul(x, permute_dims(W^T)) -> one NT kernel
    relax.transform.LegalizeOps(),
    relax.transform.AnnotateTIROpPattern(),
    relax.transform.FuseOps(),
    relax.transform.FuseTIR(),
    relax.transform.DeadCodeElimination(),
])

LAYER = re.compile(r"^(bottleneck|qrnn\d+\.(?:fwd|bwd)|attention|intent|slot)")


def layer_of(initializer: str) -> str:
    """The report's layer for a weight initializer name."""
    m = LAYER.match(initializer)
    if m:
        return m.group(1)
    if initializer.startswith("exp_q15"):
        return "attention"
    return "qrnn (gate tables)" if initializer == "gate_lut" else "other"


@dataclass
class CallInfo:
    """One kernel call of model_run, in order (what `pqcompile bench` times one by one)."""

    kernel: str          # the C symbol
    layer: str           # layer of the weights it multiplies; a call without any: see call_infos
    role: str            # matmul | window | fo-pool | concat | mask | other
    macs: int            # multiply-accumulates with all T rows computed
    per_row: bool        # its token loop runs to `rows` (MACs scale with rows / T)

    def macs_at(self, rows: int, T: int) -> int:
        """MACs of this call when model_run computes `rows` token rows."""
        return self.macs * rows // T if self.per_row else self.macs


@dataclass
class CompiledModel:
    """Generated C sources and the numbers the build report needs."""

    files: dict[str, str]
    max_tokens: int
    feature_size: int
    n_intents: int
    n_slots: int
    arena_bytes: int
    n_kernels: int
    n_calls: int
    row_halo: int = 0
    const_bytes_by_layer: dict[str, int] = field(default_factory=dict)
    macs_by_layer: dict[str, int] = field(default_factory=dict)
    arena_by_layer: dict[str, int] = field(default_factory=dict)   # peak live arena bytes per layer
    calls: list[CallInfo] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    int16_weights: bool = False   # the row kernels' weights pre-extended to int16 (pq_dot2rw_s8)
    int4_weights: list[str] = field(default_factory=list)    # initializers stored packed, 2 per byte
    int4_unpacked: list[str] = field(default_factory=list)   # 4-bit initializers a kernel reads as int8
    gemm_weights: list[str] = field(default_factory=list)    # initializers in the host GEMM layout (gemm_x86.py)
    fusion: Fusion | None = None   # --fuse-projection: the projection fused into the features' reader (fuse.py)

    @property
    def macs(self) -> int:
        return sum(self.macs_by_layer.values())

    @property
    def const_bytes(self) -> int:
        return sum(self.const_bytes_by_layer.values())


def arena_by_layer(prog) -> dict[str, int]:
    """Peak live arena bytes while each layer's kernels run. A call belongs to the layer of the first
    weight it reads; calls that read none (window copies, pooling) belong to the layer before them,
    or, before the first weight, to the first layer."""
    out: dict[str, int] = {}
    layer, pending = None, []
    for call, live in zip(prog.calls, live_bytes_by_call(prog)):
        srcs = [prog.const_sources[a.key] for a in call.args if a.kind == "const" and prog.const_sources[a.key]]
        weights = [s for s in srcs if layer_of(s) not in ("other", "qrnn (gate tables)")]
        if weights:
            layer = layer_of(weights[0])
        if layer is None:
            pending.append(live)
            continue
        out[layer] = max([out.get(layer, 0), live, *pending])
        pending = []
    return out


def _role(symbol: str, has_macs: bool) -> str:
    if has_macs:
        return "matmul"
    if "fo_pool" in symbol:
        return "fo-pool"
    if "strided_slice" in symbol:
        return "window"
    if "concatenate" in symbol:
        return "concat"
    if re.search(r"_less\d*$", symbol):
        return "mask"
    return "other"


def call_infos(prog, kernels: dict[str, Kernel], macs: dict[str, int]) -> list[CallInfo]:
    """Per call: kernel, layer, role and MACs. A call that multiplies no weights belongs to the
    layer of the matmul it feeds when it builds a window (window copies), else to the layer
    before it (pooling, concatenation), or "input" before the first layer (masks)."""
    found = []
    for call in prog.calls:
        srcs = [prog.const_sources[a.key] for a in call.args if a.kind == "const"]
        weights = [s for s in srcs if s in macs]
        k = kernels[call.kernel]
        found.append((k.symbol, layer_of(weights[0]) if weights else None, sum(macs[w] for w in weights), k.rows))
    out: list[CallInfo] = []
    for i, (symbol, layer, n, rows) in enumerate(found):
        role = _role(symbol, n > 0)
        if layer is None:
            after = [f[1] for f in found[i + 1:] if f[1] is not None]
            before = [c.layer for c in out if c.macs > 0]
            layer = (after[0] if role == "window" and after else before[-1] if before else "input")
        out.append(CallInfo(symbol, layer, role, n, rows))
    return out


def compile_onnx(model: onnx.ModelProto, micro_kernels: bool = True, int16_weights: bool = False,
                 mve: bool = False, fuse_projection: int | str | None = None, x86: bool = True,
                 host_gemm: bool = False) -> CompiledModel:
    """Compile an exported pqcompile graph; files: pq_kernels.c, pq_model.c, pq_model.h.
    TVM's own log lines are held back (tvm_log.py). micro_kernels=False: the earlier plain TVM
    matmul kernels (schedule.py), for comparisons; the micro-kernel build pads an odd channel count
    (> 1) of a matmul over the token rows with a zero channel (importer.py: pad_channels), so it
    takes the 2-channel row kernels. int16_weights: the weights of the matmuls over the token rows
    with more than one output channel (bottleneck, QRNN gates, slot head) are stored pre-extended
    to int16, two per int32 word (dot_intrin.py: pq_dot2rw_s8): fewer instructions on cores with
    the DSP extension, twice the flash for those weights. A model whose ONNX metadata names 4-bit
    weights (`pqcompile.int4_weights`: the encoder's, when encoder_weight_bits is 4) has them stored
    packed two per byte and read by the pq_dot*_s4 kernels (dot_s4.py; the micro-kernel build only).
    mve: the target has Helium (dot_mve.has_mve of its cflags): the micro-kernels' MVE versions are
    added to pq_kernels.c (dot_mve.py); without it the C is what it always was.
    x86: the micro-kernels' x86-64 versions (SSE2, and AVX2 row kernels chosen at run time) are
    added to pq_kernels.c (dot_x86.py; guarded by __SSE2__ and __x86_64__, so inert elsewhere): the
    default, as for the host (HostModel); the builds for a target that is not the host pass False
    and get the C they always got.
    fuse_projection: None (the plain driver, model_run), R >= 1 or "auto": the driver is
    model_run_rows, which runs the kernel reading the features on blocks of R token rows and asks
    its caller for each block's feature rows (fuse.py); PqError when that kernel is not row-wise
    (R given) or the plain driver ("auto": fused where it can be).
    host_gemm: the build for the host target (firmware.py, bench.py): each matmul over the token
    rows with at least gemm_x86.MIN_CHANNELS output channels is one pq_gemm_host call over all its
    rows and channels (AVX-512 VNNI / AVX2 / SSE2 / C, chosen at run time), its weights stored in
    that kernel's layout (one byte per weight, 4-bit ones too; gemm_weights lists them)."""
    with tvm_log_captured():
        return _compile(model, micro_kernels, int16_weights and micro_kernels, mve and micro_kernels,
                        fuse_projection, x86 and micro_kernels, host_gemm and micro_kernels)


def preextend_weights(prog, wide: dict[str, list[int]], symbols: dict[str, str]) -> None:
    """Replace every constant that a call passes where its kernel reads pre-extended weights
    (wide: kernel -> those parameters' indices) by preextend_pairs of it; a constant that some
    call also passes as int8 gets a pre-extended copy instead."""
    convert_weights(prog, wide, symbols, lambda arr: preextend_pairs(arr.reshape(arr.shape[0], -1)),
                    "pre-extended")


def gemm_weights(prog, uses: dict[str, dict[int, int]], symbols: dict[str, str]) -> None:
    """The same for the weights pq_gemm_host reads (uses: kernel -> {parameter index: offset}):
    gemm_layout of them with the call's offset."""
    for offset in sorted({o for per in uses.values() for o in per.values()}):
        at = {k: [i for i, o in per.items() if o == offset] for k, per in uses.items()}
        convert_weights(prog, at, symbols, lambda arr, o=offset: gemm_layout(arr.reshape(arr.shape[0], -1), o),
                        "host GEMM layout")


def pack_weights(prog, packed: dict[str, list[int]], symbols: dict[str, str]) -> None:
    """The same for the 4-bit weights the pq_dot*_s4 kernels read (packed: kernel -> those
    parameters' indices): pack_s4 of them, two per byte."""
    convert_weights(prog, packed, symbols, lambda arr: pack_s4(arr.reshape(arr.shape[0], -1)), "packed 4-bit")


def convert_weights(prog, uses: dict[str, list[int]], symbols: dict[str, str], convert, what: str) -> None:
    """Replace every constant that a call passes at the parameters `uses` names (kernel -> indices)
    by convert(constant); a constant that some call also passes elsewhere gets a converted copy."""
    int8_uses = {r.key for call in prog.calls for i, r in enumerate(call.args)
                 if r.kind == "const" and i not in uses.get(call.kernel, ())}
    done: dict[int, int] = {}
    for call in prog.calls:
        for i in uses.get(call.kernel, ()):
            ref = call.args[i]
            if ref.kind != "const":
                raise PqError(f"internal: {symbols[call.kernel]} reads {what} weights from a tensor "
                              f"that is not a constant")
            if ref.key not in done:
                name, arr = prog.consts[ref.key]
                words = convert(arr)
                if ref.key in int8_uses:
                    prog.consts.append((f"pq_const_{len(prog.consts)}", words))
                    prog.const_sources.append(prog.const_sources[ref.key])
                    done[ref.key] = len(prog.consts) - 1
                else:
                    prog.consts[ref.key] = (name, words)
                    done[ref.key] = ref.key
            call.args[i] = Ref("const", done[ref.key])


def _compile(model: onnx.ModelProto, micro_kernels: bool = True, int16_weights: bool = False,
             mve: bool = False, fuse_projection: int | str | None = None, x86: bool = False,
             host_gemm: bool = False) -> CompiledModel:
    t0 = time.perf_counter()
    int4 = int4_initializers(model) if micro_kernels else set()
    imported = import_onnx(model, pad_channels=micro_kernels)
    t1 = time.perf_counter()
    mod = RELAX_PASSES(imported.mod)
    t2 = time.perf_counter()
    kernels: dict[str, Kernel] = {}
    wide: dict[str, list[int]] = {}   # kernel -> indices of its parameters holding pre-extended weights
    packed: dict[str, list[int]] = {}   # kernel -> those holding 4-bit weights packed two per byte
    gemm: dict[str, dict[int, int]] = {}   # kernel -> {index: offset} of those in the host GEMM layout
    host_epilogues = 0   # requantisations in pq_requant_host calls (requant_x86.py)
    want4 = int4_params(mod, imported.const_names, int4) if int4 else {}
    prims = sorted(((gv.name_hint, f) for gv, f in mod.functions.items() if isinstance(f, tirx.PrimFunc)))
    T, F = imported.input_shapes["features"][1:]
    for i, (name, func) in enumerate(prims):
        short = "_".join(p for p in name.split("_") if p not in ("fused", "tir"))[:32].rstrip("_")
        func = schedule_kernel(imported.row_kernels.get(name, func), micro_kernels, int16_weights,
                               want4.get(name, frozenset()), gemm=host_gemm)
        if micro_kernels:   # the requantisations' floor, clamp and conversion: pq_floor_clamp (requant.py)
            func = fuse_floor_clamp(func)[0]
        if host_gemm:   # the host: the requantisation after pq_gemm_host in one vectorised call
            func, n_requant = vectorise_requant(func)
            host_epilogues += n_requant
        names, names4, names_gemm = preextended_params(func), packed_params(func), gemm_params(func)
        kernels[name] = to_pointer_kernel(func, f"pq_k{i}_{short}", max_tokens=T)
        if names_gemm:
            gemm[name] = {j: names_gemm[p.name] for j, p in enumerate(kernels[name].args) if p.name in names_gemm}
        if names:
            wide[name] = [j for j, p in enumerate(kernels[name].args) if p.name in names]
        if names4:
            packed[name] = [j for j, p in enumerate(kernels[name].args) if p.name in names4]
    t3 = time.perf_counter()
    helium = (MVE_KERNEL_C + (MVE_PACKED_KERNEL_C if packed else "")) if mve else ""
    sse2 = (X86_KERNEL_C + (X86_PACKED_KERNEL_C if packed else "")) if x86 else ""
    kernel_c = (KERNEL_PRELUDE.format(tvm=tvm.__version__) + MICRO_KERNEL_C + (PACKED_KERNEL_C if packed else "")
                + helium + sse2 + REQUANT_C + (gemm_c() + REQUANT_HOST_C if gemm or host_epilogues else "")
                + kernels_to_c(list(kernels.values())))
    t4 = time.perf_counter()
    prog = build_program(mod["main"], {n: k.scratch for n, k in kernels.items()}, imported.const_names, list(OUTPUTS))
    preextend_weights(prog, wide, {n: k.symbol for n, k in kernels.items()})
    pack_weights(prog, packed, {n: k.symbol for n, k in kernels.items()})
    gemm_weights(prog, gemm, {n: k.symbol for n, k in kernels.items()})
    fusion = None
    if fuse_projection is not None:
        try:
            plan = plan_fusion(prog, dict(prims), kernels, T, F)
        except NotFusable:
            if fuse_projection != "auto":   # auto: fused where the features' reader allows it
                raise
            plan = None
        if plan is not None:
            fusion = apply_fusion(prog, plan, fuse_projection, T, F)
    packed_sources = sorted({prog.const_sources[call.args[j].key] for call in prog.calls
                             for j in packed.get(call.kernel, ())})
    gemm_sources = sorted({prog.const_sources[call.args[j].key] for call in prog.calls
                           for j in gemm.get(call.kernel, {})})
    bad = not_finite_constants(prog.consts, prog.const_sources)
    if bad:
        raise PqError(f"{bad[0]}: a float constant (a requantisation scale) that is not finite")
    n_intents = imported.output_shapes["intent_logits"][1]
    n_slots = imported.output_shapes["slot_logits"][2]
    by_layer: dict[str, int] = {}
    for (_, arr), src in zip(prog.consts, prog.const_sources):
        by_layer[layer_of(src)] = by_layer.get(layer_of(src), 0) + arr.nbytes
    arena = arena_by_layer(prog)
    macs = {}
    for w, n in imported.macs.items():
        macs[layer_of(w)] = macs.get(layer_of(w), 0) + n
    return CompiledModel(
        files={"pq_kernels.c": kernel_c, "pq_model.c": model_source(prog, kernels, T, imported.row_halo, fusion),
               "pq_model.h": model_header(T, F, n_intents, n_slots, prog.arena_bytes,
                                          fusion.rows if fusion else None)},
        max_tokens=T, feature_size=F, n_intents=n_intents, n_slots=n_slots, arena_bytes=prog.arena_bytes,
        n_kernels=len(kernels), n_calls=len(prog.calls), row_halo=imported.row_halo, const_bytes_by_layer=by_layer, macs_by_layer=macs,
        arena_by_layer=arena, calls=call_infos(prog, kernels, imported.macs), int16_weights=int16_weights,
        int4_weights=packed_sources, int4_unpacked=sorted(int4 - set(packed_sources) - set(gemm_sources)),
        gemm_weights=gemm_sources, fusion=fusion,
        seconds={"import": t1 - t0, "relax": t2 - t1, "schedule": t3 - t2, "codegen": t4 - t3,
                 "total": time.perf_counter() - t0})
