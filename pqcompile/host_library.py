"""Small C sources built once with the host C compiler into a cached shared library.

The QRNN pooling kernel of training (model/qrnn_kernel.py) and the instruction-counting QEMU
plugin (qemu_plugin.py) are built this way: the library's name carries a digest of the source,
the compiler and the flags, so a changed source builds anew; the build goes to a temporary file
that is renamed into place, so processes building at the same time (DDP workers) never see half a
library. The cache is $XDG_CACHE_HOME/pqcompile/host (default ~/.cache/pqcompile/host)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path


class HostBuildError(RuntimeError):
    """The host compiler failed; the message is the first line it wrote with "error" in it."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pqcompile" / "host"


def cached_library(name: str, source: str, cc: str, flags: list[str], libs: tuple[str, ...] = ()) -> Path:
    """The shared library built from C `source` with `cc flags ... libs`, from the cache when built
    before. HostBuildError when the compiler fails."""
    key = hashlib.sha256("\0".join([source, cc, *flags, *libs]).encode()).hexdigest()[:16]
    lib = cache_dir() / f"{name}-{key}.so"
    if lib.is_file():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        src, tmp_lib = Path(tmp) / f"{name}.c", Path(tmp) / f"{name}.so"
        src.write_text(source)
        proc = subprocess.run([cc, *flags, "-o", str(tmp_lib), str(src), *libs], capture_output=True,
                              text=True, errors="replace")
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            first = next((line for line in lines if "error" in line), lines[0] if lines else "")
            raise HostBuildError(first or f"{cc} exited with status {proc.returncode}")
        os.replace(tmp_lib, lib)
    return lib
