"""Data sets -> Examples (text, intent, gold slot character spans, language) and their BIO tags
on the projection's own tokens. Readers: mtop, mtop6, mtod, matis, snips; see sources.FORMATS."""
from .common import ExampleList
from .example import OUTSIDE, Example, frame_problem, slot_tags, spans_from_tags
from .labels import LabelSet
from .matis import read_matis
from .mtod import read_mtod
from .mtop import read_mtop, read_mtop6
from .report import data_report
from .snips import read_snips
from .sources import FORMATS, load_source, load_sources, parse_source

__all__ = ["Example", "ExampleList", "OUTSIDE", "slot_tags", "spans_from_tags", "frame_problem", "LabelSet",
           "data_report", "FORMATS", "load_source",
           "load_sources", "parse_source", "read_mtop", "read_mtop6", "read_mtod", "read_matis", "read_snips"]
