"""Rebuild a scheduled TIR statement bottom-up (TVM 0.27 exposes no IR mutator to Python).

Covers the statements the scheduled pqcompile kernels contain (For, SeqStmt, IfThenElse,
SBlockRealize/SBlock); anything else is a leaf, kept as it is."""
from __future__ import annotations

from typing import Callable

import tvm
from tvm import s_tir, tirx


def children(stmt) -> list:
    if isinstance(stmt, tirx.For):
        return [stmt.body]
    if isinstance(stmt, tirx.SeqStmt):
        return list(stmt.seq)
    if isinstance(stmt, s_tir.SBlockRealize):
        return [stmt.block.body]
    if isinstance(stmt, tirx.IfThenElse):
        return [stmt.then_case] + ([stmt.else_case] if stmt.else_case is not None else [])
    return []


def walk(stmt, visit: Callable) -> None:
    """visit(stmt) for every statement, parents first."""
    visit(stmt)
    for child in children(stmt):
        walk(child, visit)


def rebuild(stmt, fn: Callable):
    """fn(node) applied bottom-up: each node is rebuilt over its rebuilt children, then passed to fn."""
    if isinstance(stmt, tirx.For):
        stmt = tirx.For(stmt.loop_var, stmt.min, stmt.extent, stmt.kind, rebuild(stmt.body, fn),
                        stmt.thread_binding, stmt.annotations)
    elif isinstance(stmt, tirx.SeqStmt):
        stmt = tirx.SeqStmt([rebuild(s, fn) for s in stmt.seq])
    elif isinstance(stmt, tirx.IfThenElse):
        other = rebuild(stmt.else_case, fn) if stmt.else_case is not None else None
        stmt = tirx.IfThenElse(stmt.condition, rebuild(stmt.then_case, fn), other)
    elif isinstance(stmt, s_tir.SBlockRealize):
        b = stmt.block
        blk = s_tir.SBlock(b.iter_vars, b.reads, b.writes, b.name_hint, rebuild(b.body, fn), b.init,
                           b.alloc_buffers, b.match_buffers, b.annotations)
        stmt = s_tir.SBlockRealize(stmt.iter_values, stmt.predicate, blk)
    return fn(stmt)


def with_block_body(realize, body):
    """A copy of an SBlockRealize whose block has `body`."""
    b = realize.block
    blk = s_tir.SBlock(b.iter_vars, b.reads, b.writes, b.name_hint, body, b.init, b.alloc_buffers,
                       b.match_buffers, b.annotations)
    return s_tir.SBlockRealize(realize.iter_values, realize.predicate, blk)


def extern_name(expr) -> str | None:
    """the function name of a call_extern expression, else None"""
    if isinstance(expr, tvm.ir.Call) and expr.args and isinstance(expr.args[0], tvm.ir.StringImm):
        return expr.args[0].value
    return None
