"""A small CPU schedule for the fused kernels, written with TVM's schedule primitives.

For a microcontroller the win is memory traffic, not parallelism: every elementwise step is
inlined into its consumer, and each reduction (the int8 matmuls, the attention sums) gets its
epilogue (bias, requantisation, masking) computed right after its reduction loop, so the int32
accumulator shrinks to one element (a register) instead of a whole intermediate tensor, and the
accumulator is zeroed once before the loop instead of tested on every step. A matmul over the
token rows ([1, T, K] x [N, K]) takes its output channels in groups of 2 (1 when N = 1: the
importer pads any other odd N) outside and all its token rows inside one call of a row kernel
(dot_intrin.py: register-blocked, 2 rows x 2 channels), its epilogue after the call for the
group's rows (int32 accumulators [T, G]). A matmul of one row (the intent head's pooled row) takes
all its output channels in one call (pq_dotn_s8); any other (the token rows' fallback) splits its
output channels in groups of 4 or 2 (the first that divides their count; a count that
4 does not divide takes a whole row of channels at once) and its reduction is blockized, to become one call of a
dot-product micro-kernel (SMLAD on cores with the DSP extension); a reduction the micro-kernel
cannot take is unrolled by 4 instead (the loop test and branch then cost a quarter per
multiply-accumulate).

The host build (gemm=True, compile.py's host_gemm) takes a matmul over the token rows with at
least gemm_x86.MIN_CHANNELS output channels whole instead: all its channels and rows in one call
of pq_gemm_host (gemm_x86.py), its epilogue after the call for all of them (int32 accumulators
[T, N])."""
from __future__ import annotations

from tvm import s_tir, tirx

from .dot_intrin import (CHANNELS, ROW_CHANNELS, RowKernelMismatch, gemm_reads_only, mark_dot, packed_reads_only,
                         use_dot_kernel)
from .gemm_x86 import MIN_CHANNELS as GEMM_MIN_CHANNELS

MAX_BLOCKS = 64   # fusion cap: bigger kernels are left as they are (schedule primitives get slow)
# Matmul reduction loops the dot micro-kernel cannot take are unrolled by this much (when it
# divides them): less loop overhead per MAC. Only matmuls: TVM 0.27's C printer reuses a loaded
# value across the unrolled steps of a max-reduction (its ternary max is printed through a cached
# temporary), which is wrong.
UNROLL = 4


def _is_reduction(sch: s_tir.Schedule, block) -> bool:
    return any(int(iv.iter_type) != 0 for iv in sch.get(block).iter_vars)


def _inline_elementwise(sch: s_tir.Schedule, root) -> None:
    """Inline every spatial block into its consumers until none can be (outputs stay)."""
    progress = True
    while progress:
        progress = False
        for block in sch.get_child_blocks(root):
            if _is_reduction(sch, block):
                continue
            try:
                sch.compute_inline(block)
            except s_tir.ScheduleError:
                continue
            progress = True
            break


def _extent(sch: s_tir.Schedule, loop) -> int:
    return int(sch.get(loop).extent)


def _row_blocked(sch: s_tir.Schedule, block, hoists: list | None = None, gemm: bool = False) -> bool:
    """Schedule a token-row matmul [1, T, K] x [N, K] for the row kernels: output channels in groups
    of G = 2 (1 when N is odd) outside, the token rows inside one pq_dot{G}r_s8 call, the epilogue
    after it for the group's rows. The int32 accumulators take the layout [N / G, T, G] (a group's
    rows G apart: what the kernel writes; TVM then keeps one group's [T, G]). gemm: G = N when N
    is at least GEMM_MIN_CHANNELS (one pq_gemm_host call; no hoisting of the epilogue's vectors).
    False when the block is not such a matmul (nothing changed); a ScheduleError midway propagates
    (schedule_kernel then starts again without row kernels)."""
    loops = sch.get_loops(block)
    spatial = [iv for iv in sch.get(block).iter_vars if int(iv.iter_type) == 0]
    if len(loops) != 4 or len(spatial) != 3 or _extent(sch, loops[0]) != 1 or _extent(sch, loops[1]) < 2:
        return False
    consumers = sch.get_consumers(block)
    if len(consumers) != 1:
        return False
    _, rows, channels, _ = loops
    n_out = _extent(sch, channels)
    whole = gemm and n_out >= GEMM_MIN_CHANNELS
    group = n_out if whole else next(g for g in ROW_CHANNELS if n_out % g == 0)
    sch.transform_layout(block, ("write", 0), lambda b, t, n: (n // group, t, n % group))
    if group > 1:
        channels, _ = sch.split(channels, [None, group])
    sch.reorder(channels, rows)
    sch.reverse_compute_at(consumers[0], channels)
    mark_dot(sch, rows, rows=True, must=True)
    if hoists is not None and not whole:
        hoists.append((consumers[0], channels, n_out, group))
    return True


def _hoist_channel_vectors(sch: s_tir.Schedule, block, channels, n_out: int, group: int) -> None:
    """In a row-blocked matmul's epilogue (the group's rows inside the channel-group loop), read
    the per-channel vectors (bias, scale: 1-D buffers of the channel count) from a local copy of
    the group's elements made once per group, and unroll the epilogue's group loop (G = 2; its
    token-row loop stays a loop, to `rows`): the C then
    keeps them in registers across the rows (the int8 stores to the output, char-typed, would
    otherwise make the compiler load them again for every output). A ScheduleError propagates
    (schedule_kernel then keeps the schedule without it)."""
    # (a matmul whose odd channel count the importer padded has vectors of n_out - 1: not copied,
    # the last group's copy would be predicated and gcc then sees a read it cannot prove written)
    names = [r.source.name for r in sch.get(block).reads
             if len(r.source.ty.shape) == 1 and int(r.source.ty.shape[0]) == n_out]
    for name in names:
        index = next(i for i, r in enumerate(sch.get(block).reads) if r.source.name == name)
        cache = sch.cache_read(block, index, "global")
        sch.compute_at(cache, channels)
    if group > 1:
        loops = sch.get_loops(block)
        if _extent(sch, loops[-1]) != group:
            raise s_tir.ScheduleError("internal: the epilogue's innermost loop is not its channel group")
        sch.unroll(loops[-1])


def _accumulate_in_register(sch: s_tir.Schedule, root, micro_kernels: bool = True, row_kernels: bool = True,
                            hoists: list | None = None, gemm: bool = False) -> None:
    """Move each reduction's single consumer under its spatial loops; hoist the init. Without
    micro_kernels, matmul reductions stay plain loops unrolled by 4 (no channel groups). With
    row_kernels, token-row matmuls go to the row kernels (_row_blocked; gemm: its host form)."""
    for block in sch.get_child_blocks(root):
        if not _is_reduction(sch, block):
            continue
        if (micro_kernels and row_kernels and "matmul" in sch.get(block).name_hint
                and _row_blocked(sch, block, hoists, gemm)):
            continue
        n_spatial = sum(1 for iv in sch.get(block).iter_vars if int(iv.iter_type) == 0)
        loops = sch.get_loops(block)
        is_mac = "matmul" in sch.get(block).name_hint and len(loops) == n_spatial + 1 and n_spatial > 0
        n_out = int(sch.get(loops[n_spatial - 1]).extent) if n_spatial > 0 else 0
        # a channel count that 4 does not divide (e.g. 149 slot tags), or a matmul of one row (the
        # intent head): all channels of a row in one pq_dotn_s8 call (dot_intrin.py: 8 weight rows
        # at a time in assembly, or 4, 2, 1 in C), the epilogue after it for the whole row
        one_row = all(_extent(sch, l) == 1 for l in loops[:n_spatial - 1])
        whole = (is_mac and micro_kernels and n_spatial >= 2 and n_out > 2
                 and (n_out % CHANNELS[0] != 0 or one_row))
        group = next((c for c in CHANNELS if n_out % c == 0), 0) if is_mac and micro_kernels and not whole else 0
        paired = group > 0
        if paired:   # output channels in groups: one pq_dot{4,2}_s8 call computes them (dot_intrin.py)
            sch.split(loops[n_spatial - 1], [None, group])
            loops = sch.get_loops(block)
        # the epilogue goes under the last spatial loop (the group's outer loop), or the row's loop
        at = n_spatial - 2 if whole else n_spatial - 1
        consumers = sch.get_consumers(block)
        if len(consumers) == 1 and n_spatial > 0:
            try:
                sch.reverse_compute_at(consumers[0], loops[at])
            except s_tir.ScheduleError:
                pass
        if len(loops) > n_spatial + paired:
            inner = loops[-1]
            extent = sch.get(inner).extent
            sch.decompose_reduction(block, loops[at + 1])
            if (is_mac and not (micro_kernels and mark_dot(sch, loops[at + 1]))
                    and int(extent) % UNROLL == 0 and int(extent) > UNROLL):
                _, inner = sch.split(inner, [None, UNROLL])
                sch.unroll(inner)


def schedule_kernel(func: tirx.PrimFunc, micro_kernels: bool = True, int16_weights: bool = False,
                    packed: frozenset = frozenset(), gemm: bool = False) -> tirx.PrimFunc:
    """Scheduled copy of a fused PrimFunc; hand-written kernels (no root block) are returned as is.
    micro_kernels=False: the earlier plain TVM kernels (matmul reductions unrolled by 4, no
    pq_dot*_s8 calls), for `pqcompile bench --compare`. int16_weights: the 2-channel row kernels
    read pre-extended weights (dot_intrin.py: pq_dot2rw_s8; compile.py converts those constants).
    packed: names of weight buffers to read as 4-bit weights packed two per byte (dot_s4.py) when
    every read of them can be a pq_dot*_s4 call; otherwise the kernel is scheduled without them
    (int8 weights). dot_intrin.packed_params of the result says which it reads packed.
    gemm (the host): token-row matmuls of GEMM_MIN_CHANNELS or more channels become one
    pq_gemm_host call each (their weights in gemm_x86.py's layout: dot_intrin.gemm_params of the
    result says which, with their offsets); the weights such a call reads must be read by it
    alone, or the kernel is scheduled without it."""
    if gemm and micro_kernels:
        out = _schedule(func, micro_kernels, int16_weights, packed, gemm=True)
        if gemm_reads_only(out) and packed_reads_only(out, packed):
            return out
    if packed and micro_kernels:
        out = _schedule(func, micro_kernels, int16_weights, packed)
        if packed_reads_only(out, packed):
            return out
    return _schedule(func, micro_kernels, int16_weights)


def _schedule(func: tirx.PrimFunc, micro_kernels: bool, int16_weights: bool,
              packed: frozenset = frozenset(), gemm: bool = False) -> tirx.PrimFunc:
    sch = s_tir.Schedule(func)
    try:
        root = sch.get_sblock("root")
    except s_tir.ScheduleError:
        return func
    if len(sch.get_child_blocks(root)) > MAX_BLOCKS:
        return func
    _inline_elementwise(sch, root)
    if micro_kernels:
        try:
            trial, hoists = sch.copy(), []
            _accumulate_in_register(trial, trial.get_sblock("root"), micro_kernels, row_kernels=True, hoists=hoists,
                                    gemm=gemm)
            if hoists:   # the epilogues' bias and scale in registers, where the primitives allow it
                hoisted = trial.copy()
                try:
                    for args in hoists:
                        _hoist_channel_vectors(hoisted, *args)
                    trial = hoisted
                except s_tir.ScheduleError:
                    pass
            return use_dot_kernel(trial.mod["main"], int16_weights, packed, gemm)[0]
        except (s_tir.ScheduleError, RowKernelMismatch):
            pass   # a matmul the row kernels cannot take: the per-row micro-kernels below
    _accumulate_in_register(sch, root, micro_kernels, row_kernels=False)
    return use_dot_kernel(sch.mod["main"], packed=packed)[0]
