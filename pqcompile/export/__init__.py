"""ONNX export of the integer network (see onnx_export.py)."""
from .onnx_export import ModelMetadata, build_onnx, export_onnx, read_metadata

__all__ = ["ModelMetadata", "build_onnx", "export_onnx", "read_metadata"]
