"""`--fuse-projection R|auto`: the projection fused into the layer that reads the features.

The plain device program projects the whole utterance into an int8 [T, F] matrix, then runs the
network, whose first kernel (the bottleneck, a matmul over the token rows) reads it. When that
kernel is row-wise, i.e. output row t depends on input row t alone, the matrix need never exist:
model_run_rows (emit_driver.py) calls it on blocks of R token rows, and before each block asks the
program (a callback) for those R feature rows, which the generated projection computes from the
token spans (pq_tokenize + pq_project_rows, projection/emit_c.py) into an R x F block in the arena.

Row-wise is checked on the kernel's TIR before scheduling (its blocks still present):
  * every buffer region indexed by a block's token iterator is a [1, T, C] buffer whose axis 1 is
    exactly that iterator (extent 1), which is a data-parallel iterator over all T rows and
    appears in no other axis;
  * every buffer a block with a token iterator writes is such a [1, T, C] buffer (no sums over
    the rows, no shared state);
  * the kernel's outputs are [1, T, C] buffers, and its token loops stop at `rows` (rows.py).
A block without a token iterator only reads or writes data shared by all rows (weights, scalars).
Then calling the kernel with every [1, T, C] argument advanced by r0 rows and rows = R computes
rows r0..r0+R-1 exactly as the whole call does (its other arguments are passed as they are).

auto picks R among those whose block grows the arena no more than a one-row block does (the
greedy planner is not monotonic in R, so each is tried): the largest multiple of 6 if there is one,
else the largest. The row micro-kernels take 3 rows at a time (Cortex-M assembly) or 2 (NEON, C),
and a block of 6k rows leaves no single-row remainder before the utterance's last block: on the
bundled model (cortex-m7, 32 tokens) R = 22 costs 60,000 instructions more than R = 18.
The plain build (no option) is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import tvm
from tvm import s_tir, tirx

from ..errors import PqError
from .tir_rebuild import children as children_of


AUTO_MULTIPLE = 6


@dataclass
class Fusion:
    """How model_run_rows runs the call that reads the features."""

    call: int                    # index of the call in the program
    feature_arg: int             # which of its arguments the feature rows are
    rows: int                    # R, token rows per block
    row_elems: list[int | None]  # per argument of the call: elements per token row, or None (shared)
    block_offset: int = -1       # arena byte offset of the R x F feature block
    arena_bytes: int = 0         # the arena with the block
    plain_arena_bytes: int = 0   # the arena of the plain build


class NotFusable(PqError):
    """The features' reader cannot take the projection (not one kernel, not row-wise, ...): with
    `auto` the plain driver is built instead; internal inconsistencies stay plain PqErrors."""


DEFAULT_OPTION = "auto"   # the CLI's default: fused wherever the features' reader allows it


def parse_option(value: str | None) -> int | str | None:
    """--fuse-projection's value: None ("off": the plain build), "auto" (also when not given) or
    R >= 1; PqError otherwise."""
    text = DEFAULT_OPTION if value is None else str(value).strip().lower()
    if text == "off":
        return None
    if text == "auto":
        return "auto"
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise PqError(f"--fuse-projection {value!r}: give a number of token rows (1 or more), auto or off")


def _token_rank3(buf, T: int) -> int | None:
    """C for a [1, T, C] buffer, else None."""
    shape = buf.ty.shape if hasattr(buf, "ty") else buf.shape
    dims = [int(s) if isinstance(s, tirx.IntImm) else None for s in shape]
    if len(dims) == 3 and dims[0] == 1 and dims[1] == T and dims[2] is not None:
        return dims[2]
    return None


def _vars(expr) -> list:
    return list(tirx.analysis.undefined_vars(expr, []))


def row_wise(func: tirx.PrimFunc, T: int) -> tuple[list[int | None], str | None]:
    """(per buffer parameter: elements per token row for a [1, T, C] buffer, None for a shared one;
    None, or why the kernel is not row-wise) -- see the module docstring."""
    problems: list[str] = []

    def visit(stmt):
        if not isinstance(stmt, s_tir.SBlockRealize):
            return
        blk = stmt.block
        iters = {iv.var: iv for iv in blk.iter_vars}
        regions = [(r, False) for r in blk.reads] + [(r, True) for r in blk.writes]
        token = set()
        for r, _ in regions:
            if _token_rank3(r.source, T) is not None:
                token |= {v for v in _vars(r.region[1].min) if v in iters}
        if len(token) > 1:
            problems.append(f"block {blk.name_hint} indexes the token axis with several iterators")
            return
        if not token:
            for r, _ in regions:
                rank3 = _token_rank3(r.source, T) is not None
                if rank3:
                    problems.append(f"block {blk.name_hint} reads or writes rows of {r.source.name} "
                                    f"that do not follow a token iterator")
            return
        (tv,) = token
        iv = iters[tv]
        if iv.iter_type != tirx.IterVar.DataPar or not isinstance(iv.dom.extent, tirx.IntImm) \
                or int(iv.dom.extent) != T:
            problems.append(f"block {blk.name_hint}'s token iterator is not data-parallel over {T} rows")
            return
        for r, written in regions:
            used = [any(v.same_as(tv) for v in _vars(x.min) + _vars(x.extent)) for x in r.region]
            if _token_rank3(r.source, T) is not None:
                ax = r.region[1]
                if not (ax.min.same_as(tv) and isinstance(ax.extent, tirx.IntImm) and int(ax.extent) == 1) \
                        or used[0] or used[2]:
                    problems.append(f"block {blk.name_hint} reads {r.source.name} at other rows than its own")
            elif any(used) or written:
                problems.append(f"block {blk.name_hint} {'writes' if written else 'reads'} {r.source.name}, "
                                f"which is not a [1, {T}, C] row buffer")

    def scan(stmt, in_block: bool) -> None:
        """Every statement that does something sits in a block (whose regions the check reads);
        outside blocks only loops of constant extent and sequences (the root block aside)."""
        if isinstance(stmt, s_tir.SBlockRealize):
            blk = stmt.block
            root = not in_block and not blk.iter_vars and not blk.reads and not blk.writes
            if not root:
                visit(stmt)
            children = [blk.body] + ([blk.init] if blk.init is not None else [])
            for child in children:
                scan(child, in_block or not root)
            return
        if not in_block:
            if isinstance(stmt, tirx.For):
                if not isinstance(stmt.extent, tirx.IntImm):
                    problems.append("a loop outside its blocks runs to a computed extent")
            elif not isinstance(stmt, tirx.SeqStmt):
                problems.append(f"a {type(stmt).__name__} outside any block (an opaque kernel)")
                return
        for child in children_of(stmt):
            scan(child, in_block)

    scan(func.body, False)
    params = [p for p in func.params if not isinstance(p.ty, tvm.ir.PrimType)]   # as lower.py's Kernel.args
    elems = [_token_rank3(b, T) for b in params]
    return elems, (problems[0] if problems else None)


def plan_fusion(prog, prims: dict, kernels: dict, T: int, F: int) -> Fusion:
    """The call that reads the features and its per-argument row sizes; NotFusable (one line, why)
    when the projection cannot be fused into it."""
    readers = [i for i, c in enumerate(prog.calls)
               if any(a.kind == "input" and a.key == "features" for a in c.args)]
    if len(readers) != 1:
        raise NotFusable(f"--fuse-projection: the features are read by {len(readers)} kernels, not one")
    i = readers[0]
    call = prog.calls[i]
    k = kernels[call.kernel]
    if not k.rows:
        raise NotFusable(f"--fuse-projection: {k.symbol}, which reads the features, has no token loop that "
                         f"stops at the utterance's rows")
    elems, why = row_wise(prims[call.kernel], T)
    if why:
        raise NotFusable(f"--fuse-projection: {k.symbol} is not row-wise ({why})")
    n_args = len(k.args)
    if len(elems) != n_args:
        raise PqError(f"internal: {k.symbol} has {n_args} arguments, its PrimFunc {len(elems)} buffers")
    f_index = next(j for j, a in enumerate(call.args) if a.kind == "input" and a.key == "features")
    if elems[f_index] != F:
        raise PqError(f"internal: {k.symbol} reads the features as rows of {elems[f_index]}, not {F}")
    if elems[n_args - 1] is None:   # call_tir kernels have one output, the last argument
        raise NotFusable(f"--fuse-projection: {k.symbol}'s output is not a [1, {T}, C] row buffer")
    # scratch arguments (after k.args) are whole-call workspaces: passed as they are
    return Fusion(call=i, feature_arg=f_index, rows=0, row_elems=elems + [None] * len(k.scratch))


def _arena_with(prog, extra) -> tuple[int, list[int]]:
    """(arena bytes, offsets) of prog's tensors plus `extra`, planned afresh (prog unchanged)."""
    from .plan import Program, _plan_arena
    tensors = [replace(t, offset=-1) for t in prog.tensors] + [replace(extra, offset=-1)]
    trial = Program(tensors=tensors)
    _plan_arena(trial)
    return trial.arena_bytes, [t.offset for t in tensors]


def apply_fusion(prog, fusion: Fusion, option: int | str, T: int, F: int) -> Fusion:
    """Choose R (option: a number, at most T, or "auto"), give the R x F feature block an arena
    tensor live during the fused call only, point the call at it, and plan the arena again."""
    from .plan import Ref, Tensor
    if option != "auto" and not 1 <= option <= T:
        raise PqError(f"--fuse-projection {option}: the model has {T} token rows; give 1..{T} or auto")
    plain = prog.arena_bytes

    def block(r: int) -> Tensor:
        return Tensor("int8", r * F, fusion.call, fusion.call)
    if option == "auto":   # the arena no larger than with one row; then a multiple of 6, the largest
        least = _arena_with(prog, block(1))[0]
        fits = [r for r in range(1, T + 1) if _arena_with(prog, block(r))[0] <= least]
        whole = [r for r in fits if r % AUTO_MULTIPLE == 0]
        R = max(whole or fits)
    else:
        R = option
    prog.tensors.append(block(R))
    total, offsets = _arena_with(prog, Tensor("int8", 0, 0, 0))
    for t, off in zip(prog.tensors, offsets):
        t.offset = off
    prog.arena_bytes = total
    prog.calls[fusion.call].args[fusion.feature_arg] = Ref("arena", len(prog.tensors) - 1)
    return replace(fusion, rows=R, block_offset=prog.tensors[-1].offset, arena_bytes=total, plain_arena_bytes=plain)
