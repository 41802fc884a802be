"""Reader messages say what is wrong: MTOP column counts, reversed or empty spans, a JSON object
where a list belongs; data-report says how many utterances were left out in all, and suggests
the multilingual spec where it represents a language's frames far better."""
import json

import pytest
from cli_runner import run_cli

from pqcompile.datasets import read_mtop
from pqcompile.errors import PqError


def tsv_row(utterance: str, slot_bytes: tuple[int, int] | None, locale: str = "en_XX", extra: list[str] = ()) -> str:
    slots = f"{slot_bytes[0]}:{slot_bytes[1]}:SL:X" if slot_bytes else ""
    return "\t".join(["1", "IN:X", slots, utterance, "domain", locale, "[IN:X ]", "{}", *extra])


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("row, message", [
    ("1\tIN:X\t", "expected MTOP's tab-separated columns id, intent, slots, utterance[, domain, locale, parse, "
                  "tokens] (4 to 8), got 3"),
    (tsv_row("call anna", (5, 9), extra=["more"]), "(4 to 8), got 9"),
    (tsv_row("call anna now", (5, 2)), "bad slot '5:2:SL:X': the span 5:2 ends before it starts"),
    (tsv_row("call anna now", (5, 5)), "bad slot '5:5:SL:X': the span 5:5 is empty"),
    (tsv_row("call anna", (5, 30)), "span 5:30 lies outside the text (9 UTF-8 bytes)"),
])
def test_mtop_tsv_messages(tmp_path, row, message):
    p = write(tmp_path / "eval.txt", row + "\n")
    with pytest.raises(PqError) as e:
        read_mtop(p)
    assert str(e.value).startswith(f"{p}:1: ") and message in str(e.value)


def test_mtop_tsv_with_fewer_columns_is_read(tmp_path):
    p = write(tmp_path / "eval.txt", "\t".join(["1", "IN:X", "5:9:SL:X", "call anna", "domain"]) + "\n")
    (ex,) = read_mtop(p)
    assert ex.spans == (("SL:X", 5, 9),)


def test_a_json_object_is_named_as_such(tmp_path):
    p = write(tmp_path / "train.json", json.dumps({"original_sentence": "hi", "mtop_parsing": "[IN:X ]"}))
    with pytest.raises(PqError, match=r"train.json:1: expected a JSON list of \{original_sentence, mtop_parsing\} "
                                      r"objects, got a JSON object \(\{original_sentence, mtop_parsing\}\)"):
        read_mtop(p)
    r = run_cli("data-report", f"mtop6:{p}", ok=False)
    assert "got a JSON object" in r.stderr and "column" not in r.stderr


def test_data_report_says_how_many_were_left_out(tmp_path):
    items = [{"original_sentence": "call anna", "mtop_parsing": "[IN:CALL [SL:CONTACT anna ] ]"}]
    items += [{"original_sentence": f"text bob {i}", "mtop_parsing": "[IN:SEND [SL:RECIPIENT alice ] ]"}
              for i in range(7)]
    p = write(tmp_path / "train.json", json.dumps(items, indent=1))
    out = run_cli("data-report", f"mtop:{p}").stdout
    assert "left out (the first 5 of 7):" in out
    assert out.count(f"{p}:") == 5


def thai_rows(n: int) -> str:
    """Thai requests without spaces between words, the slot a word inside the run of letters."""
    rows = []
    for i in range(n):
        before, slot = "ตั้งนาฬิกาปลุก", ["เจ็ดโมง", "แปดโมง", "พรุ่งนี้"][i % 3]
        start = len(before.encode("utf-8"))
        rows.append(tsv_row(before + slot, (start, start + len(slot.encode("utf-8"))), locale="th_TH"))
    return "\n".join(rows) + "\n"


def test_data_report_suggests_the_multilingual_spec_for_thai(tmp_path):
    p = write(tmp_path / "th.txt", thai_rows(6))
    r = run_cli("data-report", f"mtop:{p}", "--json")
    report = json.loads(r.stdout)
    assert report["total"]["languages"]["th"]["unrepresentable_share"] == 1.0
    (hint,) = report["hints"]
    assert hint["lang"] == "th" and hint["unrepresentable_share_with_spec"] == 0.0
    assert hint["spec"].endswith("specs/multilingual.json")
    text = run_cli("data-report", f"mtop:{p}").stdout
    assert "hint: th: 100.0% of the frames are not representable with this spec, 0.0% with --spec " in text
    # with that spec, or on data it already represents, there is nothing to suggest
    assert json.loads(run_cli("data-report", "--spec", hint["spec"], f"mtop:{p}", "--json").stdout)["hints"] == []
    en = write(tmp_path / "en.txt", tsv_row("call anna now", (5, 9)) + "\n")
    assert json.loads(run_cli("data-report", f"mtop:{en}", "--json").stdout)["hints"] == []
