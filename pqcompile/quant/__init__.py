"""Quantisation: the integer model format, lookup tables, the integer reference executor
(and, in qat.py, the fake-quantisation modules for quantisation-aware training)."""
