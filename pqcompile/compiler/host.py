"""Run generated C on this machine: build a shared library with the host C compiler, call it by ctypes.

For bit-exact checks against onnxruntime and the integer reference, and for host latency."""
from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import PqError, ToolMissing

CFLAGS = ["-O2", "-ffp-contract=off", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"]


class HostModel:
    """model_run() of a compiled model, built for the host (files: name -> C text; extra_cflags
    after the usual ones, e.g. -DPQ_NO_X86_SIMD for the portable micro-kernels on x86-64)."""

    def __init__(self, files: dict[str, str], max_tokens: int, feature_size: int, n_intents: int, n_slots: int,
                 cc: str = "gcc", extra_cflags: tuple[str, ...] = ()):
        if shutil.which(cc) is None:
            raise ToolMissing(f"host C compiler {cc!r} not found (install gcc)")
        self.shape = (max_tokens, feature_size, n_intents, n_slots)
        self._dir = tempfile.TemporaryDirectory(prefix="pq-host-")
        d = Path(self._dir.name)
        for name, text in files.items():
            (d / name).write_text(text)
        lib = d / "libpqmodel.so"
        sources = [str(d / n) for n in files if n.endswith(".c")]
        proc = subprocess.run([cc, *CFLAGS, *extra_cflags, "-I", str(d), *sources, "-o", str(lib), "-lm"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise PqError(f"host C build of the generated model failed:\n{proc.stderr.strip()[:2000]}")
        self._lib = ctypes.CDLL(str(lib))
        self._lib.model_run.restype = None
        self._lib.model_run.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p]

    def run(self, features: np.ndarray, length: int, fill: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """features int8 [T, F], length -> (intent int8 [n_intents], slots int8 [T, n_slots]).
        Slot rows >= length are not the network's result: they keep `fill` where model_run did
        not write them."""
        T, F, n_i, n_s = self.shape
        x = np.ascontiguousarray(features, dtype=np.int8).reshape(T, F)
        intent = np.zeros(n_i, np.int8)
        slots = np.full((T, n_s), fill, np.int8)
        self._lib.model_run(x.ctypes.data, int(length), intent.ctypes.data, slots.ctypes.data)
        return intent, slots
