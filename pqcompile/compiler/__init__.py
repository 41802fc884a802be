"""The compiler: exported ONNX -> TVM Relax -> fused TIR -> plain C kernels + a static driver.

Importing this package imports TVM (seconds, ~0.5 GB): import it only where compiling."""
from .compile import CompiledModel, compile_onnx
from .importer import load_onnx

__all__ = ["CompiledModel", "compile_onnx", "load_onnx"]
