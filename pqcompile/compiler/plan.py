"""The static program: Relax `main` (a straight line of call_tir) -> kernel calls over one arena.

Each intermediate tensor lives from the call that writes it to the last call that reads it;
tensors whose lifetimes do not overlap share arena bytes (greedy first-fit, largest first).
Graph outputs are written straight into the caller's buffers; constants become flash arrays."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tvm
from tvm import relax

from ..errors import PqError
from .importer import const_key

ALIGN = 8


@dataclass
class Tensor:
    dtype: str
    n_elems: int
    first: int            # index of the call that writes it
    last: int             # index of the last call that reads it
    offset: int = -1      # arena byte offset

    @property
    def nbytes(self) -> int:
        return self.n_elems * np.dtype("uint8" if self.dtype == "bool" else self.dtype).itemsize


@dataclass
class Ref:
    """An argument of a kernel call: kind is 'input', 'output', 'const' or 'arena' (a tensor id)."""

    kind: str
    key: object


@dataclass
class Call:
    kernel: str
    args: list[Ref]


@dataclass
class Program:
    calls: list[Call] = field(default_factory=list)
    tensors: list[Tensor] = field(default_factory=list)
    consts: list[tuple[str, np.ndarray]] = field(default_factory=list)   # (C name, value)
    const_sources: list[str] = field(default_factory=list)                # initializer names
    arena_bytes: int = 0


def _shape(ty) -> list[int]:
    return [int(s) for s in ty.shape]


def build_program(main: relax.Function, scratch: dict[str, list], const_names: dict[tuple, str],
                  output_names: list[str]) -> Program:
    """Walk main; `scratch` maps kernel name -> its scratch KernelParams (extra arena tensors)."""
    prog = Program()
    call_tir = tvm.ir.Op.get("relax.call_tir")
    env: dict = {}
    const_ids: dict = {}

    def const_ref(c) -> Ref:
        """Constants with equal contents share one flash array (e.g. the gate lookup table)."""
        arr = c.value.numpy()
        key = const_key(arr)
        if key not in const_ids:
            prog.consts.append((f"pq_const_{len(prog.consts)}", arr))
            prog.const_sources.append(const_names.get(key, ""))
            const_ids[key] = Ref("const", len(prog.consts) - 1)
        return const_ids[key]

    def use(expr, step: int) -> Ref:
        if isinstance(expr, tvm.ir.expr.Constant):
            return const_ref(expr)
        if isinstance(expr, relax.Var) and expr in env:
            ref = env[expr]
            if ref.kind == "arena":
                prog.tensors[ref.key].last = max(prog.tensors[ref.key].last, step)
            return ref
        raise PqError(f"internal: unsupported Relax argument {type(expr).__name__} in the planned program")

    for p in main.params:
        env[p] = Ref("input", p.name)
    for block in main.body.blocks:
        for binding in block.bindings:
            v = binding.value
            if isinstance(v, relax.Call) and v.op.same_as(call_tir):
                step = len(prog.calls)
                args = [use(a, step) for a in v.args[1].fields]
                out_ty = v.ty_args[0]
                if isinstance(out_ty, relax.TupleType):
                    raise PqError("internal: multi-output kernels are not supported")
                prog.tensors.append(Tensor(str(out_ty.dtype), int(np.prod(_shape(out_ty))), step, step))
                out = Ref("arena", len(prog.tensors) - 1)
                extra = []
                for s in scratch.get(v.args[0].name_hint, []):
                    prog.tensors.append(Tensor(s.dtype, s.n_elems, step, step))
                    extra.append(Ref("arena", len(prog.tensors) - 1))
                prog.calls.append(Call(v.args[0].name_hint, args + [out] + extra))
                env[binding.var] = out
            elif isinstance(v, relax.Tuple):
                env[binding.var] = [env[f] if isinstance(f, relax.Var) else const_ref(f) for f in v.fields]
            elif isinstance(v, relax.Var):
                env[binding.var] = env[v]
            else:
                raise PqError(f"internal: unsupported Relax binding {type(v).__name__} "
                              f"{getattr(getattr(v, 'op', None), 'name', '')}")
    results = env[main.body.body]
    if not isinstance(results, list) or len(results) != len(output_names):
        raise PqError("internal: main must return one tensor per graph output")
    for name, ref in zip(output_names, results):
        if ref.kind != "arena":
            raise PqError(f"output {name} is not computed by a kernel")
        # the graph output is written straight into the caller's buffer
        for call in prog.calls:
            call.args = [Ref("output", name) if a.kind == "arena" and a.key == ref.key else a for a in call.args]
        prog.tensors[ref.key].n_elems = 0
    _plan_arena(prog)
    return prog


def _plan_arena(prog: Program) -> None:
    order = sorted(range(len(prog.tensors)), key=lambda i: -prog.tensors[i].nbytes)
    placed: list[Tensor] = []
    for i in order:
        t = prog.tensors[i]
        size = -(-t.nbytes // ALIGN) * ALIGN
        if size == 0:
            continue
        busy = sorted((p.offset, p.offset + -(-p.nbytes // ALIGN) * ALIGN) for p in placed
                      if not (p.last < t.first or t.last < p.first))
        off = 0
        for start, end in busy:
            if off + size <= start:
                break
            off = max(off, end)
        t.offset = off
        placed.append(t)
        prog.arena_bytes = max(prog.arena_bytes, off + size)


def live_bytes_by_call(prog: Program) -> list[int]:
    """For each call, the bytes of the arena tensors live while it runs (written before or by it and
    read by it or later)."""
    return [sum(t.nbytes for t in prog.tensors if t.first <= i <= t.last) for i in range(len(prog.calls))]
