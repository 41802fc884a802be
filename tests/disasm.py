"""Loops in `objdump -d` output, for tests that count the instructions of compiled inner loops."""
import re


def loops(disassembly: str, function: str | None = None) -> list[tuple[str, int, int]]:
    """(function, instructions, SMLADs) of every loop (a backward branch to an address inside the
    same function) in objdump -d output, of `function` only when given"""
    insns, current = [], None
    for line in disassembly.splitlines():
        head = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if head:
            current = head.group(1)
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(?:[0-9a-f]{4}\s?)+\s+(\S+)\s*(.*)$", line)
        if m and current is not None and function in (None, current):
            insns.append((current, int(m.group(1), 16), m.group(2), m.group(3)))
    out = []
    for name, addr, op, arg in insns:
        target = re.match(r"([0-9a-f]+) <", arg)
        if op.startswith("b") and not op.startswith("bl") and target and int(target.group(1), 16) < addr:
            body = [i for i in insns if i[0] == name and int(target.group(1), 16) <= i[1] <= addr]
            out.append((name, len(body), sum(i[2] == "smlad" for i in body)))
    return out
