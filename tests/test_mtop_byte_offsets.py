"""MTOP's TSV gives slot spans as UTF-8 byte offsets into the utterance (as its tokenSpans): the
reader turns them into character offsets. Fixtures hold multi-byte characters (’ é ä ธ 🎵) before
and inside slots, as the official non-English files do."""
import pytest

from pqcompile.datasets import read_mtop
from pqcompile.errors import PqError


def byte_span(text: str, part: str, label: str, after: int = 0) -> str:
    """`start:end:LABEL` of `part` in text, in UTF-8 bytes (found by searching the bytes)."""
    data, needle = text.encode("utf-8"), part.encode("utf-8")
    start = data.index(needle, after)
    return f"{start}:{start + len(needle)}:{label}"


def row(i: int, intent: str, slots: str, text: str, locale: str = "en_XX") -> str:
    return "\t".join([str(i), intent, slots, text, "domain", locale, f"[{intent} ]", "{}"])


def write_tsv(path, rows):
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_byte_offsets_before_and_inside_a_slot(tmp_path):
    t1 = "it’s time to call André now"             # ’ (3 bytes) before the slot, é (2 bytes) inside
    t2 = "remind me to buy mom’s gift and dad’s card"   # two ’, the slot runs to the end
    t3 = "spiel Musik von Die Ärzte"
    t4 = "เปิดเพลง ร็อค 🎵 ดัง ๆ"                       # 3-byte Thai, a 4-byte emoji
    rows = [row(1, "IN:CREATE_CALL", "20:26:SL:CONTACT", t1),   # literal: chars 18:23
            row(2, "IN:CREATE_REMINDER", byte_span(t2, "mom’s gift and dad’s card", "SL:TODO"), t2),
            row(3, "IN:PLAY_MUSIC", byte_span(t3, "Die Ärzte", "SL:MUSIC_ARTIST_NAME"), t3, "de_DE"),
            row(4, "IN:PLAY_MUSIC", f"{byte_span(t4, 'ร็อค', 'SL:MUSIC_GENRE')},"
                                    f"{byte_span(t4, 'ดัง ๆ', 'SL:MUSIC_VOLUME')}", t4, "th_TH")]
    ex = read_mtop(write_tsv(tmp_path / "eval.txt", rows))
    assert ex[0].spans == (("SL:CONTACT", 18, 23),)
    assert [e.span_texts() for e in ex] == [
        [("SL:CONTACT", "André")],
        [("SL:TODO", "mom’s gift and dad’s card")],
        [("SL:MUSIC_ARTIST_NAME", "Die Ärzte")],
        [("SL:MUSIC_GENRE", "ร็อค"), ("SL:MUSIC_VOLUME", "ดัง ๆ")],
    ]
    assert [e.lang for e in ex] == ["en", "en", "de", "th"]


def test_ascii_rows_are_unchanged(tmp_path):
    ex = read_mtop(write_tsv(tmp_path / "eval.txt", [row(1, "IN:CREATE_CALL", "5:13:SL:CONTACT", "call Nicholas now")]))
    assert ex[0].spans == (("SL:CONTACT", 5, 13),)


@pytest.mark.parametrize("slots,message", [
    ("3:26:SL:CONTACT", r"eval.txt:1: slot SL:CONTACT span 3:26 cuts a multi-byte character"),
    ("20:25:SL:CONTACT", r"eval.txt:1: slot SL:CONTACT span 20:25 cuts a multi-byte character"),
    ("20:31:SL:CONTACT", r"eval.txt:1: slot SL:CONTACT span 20:31 lies outside the text \(30 UTF-8 bytes\)"),
])
def test_a_span_off_the_characters_is_a_one_line_error(tmp_path, slots, message):
    path = write_tsv(tmp_path / "eval.txt", [row(1, "IN:CREATE_CALL", slots, "it’s time to call André now")])
    with pytest.raises(PqError, match=message):
        read_mtop(path)
