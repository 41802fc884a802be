"""Dataset readers, slot tags on projection tokens, label sets and the data report, on small
fixtures written here (never ../shared)."""
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pqcompile.cli import main
from pqcompile.datasets import (Example, load_source, load_sources, read_matis, read_mtod, read_mtop,
                                read_mtop6, read_snips, slot_tags, spans_from_tags)
from pqcompile.datasets.example import frame_problem
from pqcompile.datasets.labels import LabelSet
from pqcompile.datasets.report import data_report
from pqcompile.errors import PqError
from pqcompile.projection import DEFAULT_SPEC, tokenize

# -- fixtures ------------------------------------------------------------------------------------

MTOP_TSV = [
    ("1", "IN:CREATE_CALL", "5:13:SL:CONTACT,18:25:SL:CONTACT", "call Nicholas and Natasha", "en_XX"),
    ("2", "IN:GET_STORIES_NEWS", "8:23:SL:DATE_TIME,24:27:SL:NEWS_SOURCE,28:32:SL:NEWS_TYPE",
     "Give me the most recent NPR news", "en_XX"),
    ("3", "IN:GET_WEATHER", "", "Wie ist das Wetter?", "de_DE"),
    ("4", "IN:GET_LOCATION", "4:9:SL:CONTACT", "Was Larry's address", "en_XX"),
]

MTOP_JSON = [
    {"original_sentence": "remind me to call mom tonight at 5",
     "mtop_parsing": "[IN:CREATE_REMINDER [SL:PERSON_REMINDED me ] [SL:TODO [IN:CREATE_CALL "
                     "[SL:CONTACT [IN:GET_CONTACT [SL:TYPE_RELATION mom ] ] ] ] ] [SL:DATE_TIME tonight at 5 ] ]"},
    {"original_sentence": "get me my texts from my auntie Damon",
     "mtop_parsing": "[IN:GET_MESSAGE [SL:SENDER [IN:GET_CONTACT [SL:CONTACT_RELATED my ] "
                     "[SL:TYPE_RELATION auntie ] [SL:CONTACT Damon ] ] ] ]"},
    {"original_sentence": "remove 10 minutes from the timer",
     "mtop_parsing": "[IN:SUBTRACT_TIME_TIMER [SL:METHOD_TIMER timer ] [SL:DATE_TIME 10 minutes ] ]"},
    {"original_sentence": "Call Avery M. now",
     "mtop_parsing": "[IN:CREATE_CALL [SL:CONTACT Avery M . ] ]"},
    {"original_sentence": "I am no longer available", "mtop_parsing": "[IN:SET_UNAVAILABLE ]"},
    {"original_sentence": "text Bob hello", "mtop_parsing": "[IN:SEND_MESSAGE [SL:RECIPIENT Alice ] ]"},
    {"original_sentence": "broken", "mtop_parsing": "[IN:SEND_MESSAGE [SL:RECIPIENT Alice ]"},
]

MTOP6 = [
    {"id": "1",
     "question": {"en": "call Camilla on whatsapp", "de": "Ruf Camilla per Whatsapp an",
                  "th": "โทร หา คา มิ ล ลา ทาง วอตส์ แอ ปป์"},
     "mr": {"slot_intent": {"en": "[IN:CREATE_CALL [SL:CONTACT Camilla ] [SL:NAME_APP whatsapp ] ]",
                            "de": "[IN:CREATE_CALL [SL:NAME_APP Whatsapp ] [SL:CONTACT Camilla ] ]",
                            "th": "[IN:CREATE_CALL [SL:CONTACT คา มิ ล ลา ] [SL:NAME_APP วอตส์ แอ ปป์ ] ]"}}},
    {"id": "2",
     "question": {"en": "what is the weather", "de": "wie ist das Wetter", "th": "อากาศ เป็น อย่างไร"},
     "mr": {"slot_intent": {"en": "[IN:GET_WEATHER ]", "de": "[IN:GET_WEATHER ]", "th": "[IN:GET_WEATHER ]"}}},
]

MTOD_EN = """# text: Make a note to buy milk
# intent: reminder/set_reminder
# slots: 15:23:reminder/todo
1\tmake\treminder/set_reminder\tNoLabel
2\ta\treminder/set_reminder\tNoLabel
3\tnote\treminder/set_reminder\tNoLabel
4\tto\treminder/set_reminder\tNoLabel
5\tbuy\treminder/set_reminder\tB-reminder/todo
6\tmilk\treminder/set_reminder\tI-reminder/todo

# text: cancel my alarm
# intent: alarm/cancel_alarm
# slots: 
1\tcancel\talarm/cancel_alarm\tNoLabel
2\tmy\talarm/cancel_alarm\tNoLabel
3\talarm\talarm/cancel_alarm\tNoLabel
"""

MTOD_TH = """# text: ตั้งนาฬิกาปลุกทุกๆ 10 นาที
# intent: alarm/set_alarm
# slots: 14:26:datetime
1\tตั้ง\talarm/set_alarm\tNoLabel
2\tนาฬิกา\talarm/set_alarm\tNoLabel
3\tปลุก\talarm/set_alarm\tNoLabel
4\tทุกๆ\talarm/set_alarm\tB-datetime
5\t10\talarm/set_alarm\tI-datetime
6\tนาที\talarm/set_alarm\tI-datetime

# text: ตั้ง นาฬิกา ปลุก พรุ่งนี้
# intent: alarm/set_alarm
# slots: 17:25:datetime
1\tตั้ง\talarm/set_alarm\tNoLabel
2\tนาฬิกา\talarm/set_alarm\tNoLabel
3\tปลุก\talarm/set_alarm\tNoLabel
4\tพรุ่งนี้\talarm/set_alarm\tB-datetime
"""

MATIS_DE = ("id\tutterance\tslot_labels\tintent\n"
            "1\tflüge von boston nach new york\tO O B-fromloc.city_name O B-toloc.city_name I-toloc.city_name\tatis_flight\n"
            "2\twas kostet das\tO O O\tatis_airfare\n"
            "3\tzu viele etiketten\tO O\tatis_flight\n"
            "4\tfrüh   nach denver\tB-depart_time.period_of_day O I-toloc.city_name\tatis_flight\n")

SNIPS_PLAY = {"PlayMusic": [
    {"data": [{"text": "spiele "}, {"text": "Beyoncé", "entity": "artist"}, {"text": " auf "},
              {"text": "Deezer", "entity": "service"}]},
    {"data": [{"text": "Play "}, {"text": "Motörhead", "entity": "artist"}, {"text": "."}]},
]}
SNIPS_WEATHER = {"GetWeather": [
    {"data": [{"text": "weather in "}, {"text": "Paris", "entity": "city"}, {"text": " "},
              {"text": "tomorrow", "entity": "timeRange"}]},
]}


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def tsv_line(row):
    i, intent, slots, utt, locale = row
    return "\t".join([i, intent, slots, utt, "domain", locale, "[parse]", "{}"])


@pytest.fixture
def data(tmp_path):
    """All formats in a few languages: returns {name: path}."""
    p = {}
    p["mtop_tsv"] = write(tmp_path / "mtop/en/eval.txt", "\n".join(tsv_line(r) for r in MTOP_TSV) + "\n")
    p["mtop_json"] = write(tmp_path / "mtop/en/train.json", json.dumps(MTOP_JSON, indent=4))
    p["mtop_dir"] = tmp_path / "mtop/en"
    p["mtop6"] = write(tmp_path / "aligned6/dev.json", json.dumps(MTOP6, ensure_ascii=False, indent=2))
    p["mtod_en"] = write(tmp_path / "mtod/en/dev.conllu", MTOD_EN)
    p["mtod_th"] = write(tmp_path / "mtod/th/dev.conllu", MTOD_TH)
    p["matis"] = write(tmp_path / "matis/train_DE.tsv", MATIS_DE)
    p["snips_dir"] = tmp_path / "snips"
    p["snips_latin1"] = write(tmp_path / "snips/train_PlayMusic_full.json",
                              json.dumps(SNIPS_PLAY, ensure_ascii=False, indent=2), "latin-1")
    write(tmp_path / "snips/train_GetWeather_full.json", json.dumps(SNIPS_WEATHER, indent=2))
    write(tmp_path / "snips/validate_GetWeather.json", json.dumps(SNIPS_WEATHER, indent=2))
    return p


def texts(ex):
    return [e.span_texts() for e in ex]


# -- readers ---------------------------------------------------------------------------------------

def test_mtop_tsv(data):
    ex = read_mtop(data["mtop_tsv"])
    assert len(ex) == 4 and ex.skipped == []
    assert ex[0].intent == "IN:CREATE_CALL"
    assert ex[0].span_texts() == [("SL:CONTACT", "Nicholas"), ("SL:CONTACT", "Natasha")]
    assert ex[1].span_texts() == [("SL:DATE_TIME", "the most recent"), ("SL:NEWS_SOURCE", "NPR"),
                                  ("SL:NEWS_TYPE", "news")]
    assert [e.lang for e in ex] == ["en", "en", "de", "en"]
    assert (ex[2].file, ex[2].line) == (str(data["mtop_tsv"]), 3)


def test_mtop_parse_json_flat_frame_and_unaligned(data):
    ex = read_mtop(data["mtop_json"])
    # the nested [IN:CREATE_CALL ...] is covered by its slot; the "call" a decoupled parse drops
    # is recovered (mtop_parse.extend_edges)
    assert ex[0].intent == "IN:CREATE_REMINDER"
    assert ex[0].span_texts() == [("SL:PERSON_REMINDED", "me"), ("SL:TODO", "call mom"),
                                  ("SL:DATE_TIME", "tonight at 5")]
    # gaps inside a nested intent; the span is the tightest one, not from the first "my"
    assert ex[1].span_texts() == [("SL:SENDER", "my auntie Damon")]
    # parse order differs from sentence order; spans come out sorted by position
    assert ex[2].span_texts() == [("SL:DATE_TIME", "10 minutes"), ("SL:METHOD_TIMER", "timer")]
    assert ex[3].span_texts() == [("SL:CONTACT", "Avery M.")]
    assert ex[4].spans == () and ex[4].intent == "IN:SET_UNAVAILABLE"
    assert len(ex) == 5 and all(e.lang == "en" for e in ex)
    # one parse names a word absent from the sentence, one is unbalanced: counted, not fatal
    assert len(ex.skipped) == 2
    assert "not all found" in ex.skipped[0][1] and ex.skipped[0][0].endswith(":22")
    assert "bad parse" in ex.skipped[1][1]
    assert ex[1].line == 6   # line where the item starts in the indented JSON


def test_mtop_folder_split(data):
    assert len(read_mtop(data["mtop_dir"], split="eval")) == 4
    assert len(load_source(f"mtop:{data['mtop_dir']},split=train")) == 5
    with pytest.raises(PqError, match="no test file"):
        read_mtop(data["mtop_dir"], split="test")


def test_mtop6_languages(data):
    ex = read_mtop6(data["mtop6"], langs="de+th")
    assert [e.lang for e in ex] == ["de", "de", "th", "th"]
    assert ex[0].span_texts() == [("SL:CONTACT", "Camilla"), ("SL:NAME_APP", "Whatsapp")]
    assert ex[2].span_texts() == [("SL:CONTACT", "คา มิ ล ลา"), ("SL:NAME_APP", "วอตส์ แอ ปป์")]
    assert len(load_source(f"mtop6:{data['mtop6']}")) == 6   # all languages present in the file's items
    with pytest.raises(PqError, match=r"language\(s\) xx not in .*dev.json \(it has en\+de\+th\)"):
        read_mtop6(data["mtop6"], langs="en+xx")


def test_mtop6_item_without_a_language_is_an_error(tmp_path):
    items = [MTOP6[0], {"id": "3", "question": {"en": "hi"}, "mr": {"slot_intent": {"en": "[IN:GREET ]"}}}]
    write(tmp_path / "dev.json", json.dumps(items, indent=2))
    with pytest.raises(PqError, match=r"dev.json:\d+: expected question.de and mr.slot_intent.de"):
        read_mtop6(tmp_path / "dev.json", langs="de")


def test_mtod(data):
    ex = read_mtod(data["mtod_en"])
    assert [e.intent for e in ex] == ["reminder/set_reminder", "alarm/cancel_alarm"]
    assert ex[0].span_texts() == [("reminder/todo", "buy milk")] and ex[1].spans == ()
    assert [e.line for e in ex] == [1, 11] and ex[0].lang == "en"
    th = load_source(f"mtod:{data['mtod_th'].parent},split=dev")
    assert [e.lang for e in th] == ["th", "th"]
    assert th[0].span_texts() == [("datetime", "ทุกๆ 10 นาที")]


def test_matis(data):
    ex = read_matis(data["matis"])
    assert len(ex) == 3 and ex[0].lang == "de"
    assert ex[0].span_texts() == [("fromloc.city_name", "boston"), ("toloc.city_name", "new york")]
    # an I- after O starts a new span (conlleval); irregular spacing keeps character offsets right
    assert ex[2].span_texts() == [("depart_time.period_of_day", "früh"), ("toloc.city_name", "denver")]
    assert ex.skipped == [(f"{data['matis']}:4", "2 slot labels for 3 words")]


def test_snips_latin1_and_folder(data):
    ex = read_snips(data["snips_latin1"])
    assert ex[0].text == "spiele Beyoncé auf Deezer"
    assert ex[0].span_texts() == [("artist", "Beyoncé"), ("service", "Deezer")]
    assert ex[1].span_texts() == [("artist", "Motörhead")] and ex[1].intent == "PlayMusic"
    with pytest.raises(PqError, match="not valid utf-8"):
        read_snips(data["snips_latin1"], encoding="utf-8")
    train = load_source(f"snips:{data['snips_dir']}")
    assert sorted(e.intent for e in train) == ["GetWeather", "PlayMusic", "PlayMusic"]
    val = load_source(f"snips:{data['snips_dir']},split=validate")
    assert [e.span_texts() for e in val] == [[("city", "Paris"), ("timeRange", "tomorrow")]]


def test_load_sources_concatenates_and_keeps_skipped(data):
    ex = load_sources([f"mtop:{data['mtop_json']}", f"matis:{data['matis']}", f"mtod:{data['mtod_th']}"])
    assert len(ex) == 5 + 3 + 2 and len(ex.skipped) == 3
    assert {e.lang for e in ex} == {"en", "de", "th"}


def test_lang_option_overrides(data):
    assert {e.lang for e in load_source(f"snips:{data['snips_latin1']},lang=de")} == {"de"}


def test_limit_and_offset_take_disjoint_seeded_samples(data):
    src = f"mtop:{data['mtop_json']}"
    full = load_source(src)
    first = load_source(f"{src},limit=3")
    rest = load_source(f"{src},offset=3")
    assert len(first) == 3 and len(rest) == len(full) - 3
    assert {e.text for e in first} | {e.text for e in rest} == {e.text for e in full}
    assert not {e.text for e in first} & {e.text for e in rest}
    assert [e.line for e in first] == sorted(e.line for e in first)            # file order kept
    assert [e.text for e in load_source(f"{src},limit=3")] == [e.text for e in first]   # same seed
    assert first.skipped == full.skipped
    texts = lambda opts: {e.text for e in load_source(f"{src},{opts}")}   # noqa: E731
    assert texts("offset=1,limit=2") == texts("limit=3") - texts("limit=1")
    with pytest.raises(PqError, match="no examples left"):
        load_source(f"{src},offset=99")
    with pytest.raises(PqError, match="not a whole number"):
        load_source(f"{src},limit=-1")


# -- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, message", [
    ("nope:x", "unknown data format 'nope'.*formats: mtop, mtop6, mtod, matis, snips"),
    ("mtop", "is not FORMAT:PATH"),
    ("mtop:/no/such/file.txt", "data file not found: /no/such/file.txt"),
    ("mtop:x,color=red", "unknown option 'color=red' for mtop"),
])
def test_bad_source_names(source, message):
    with pytest.raises(PqError, match=message):
        load_source(source)


@pytest.mark.parametrize("name, content, message", [
    ("bad.conllu", "# text: hi there\n# intent: greet\n# slots: \n1\thi\tgreet\n", r"bad.conllu:4: expected a token line"),
    ("bad2.conllu", "# text: hi\n# intent: greet\n# slots: 0:9:x\n", r"bad2.conllu:1: slot x span 0:9 lies outside"),
    ("bad.txt", tsv_line(MTOP_TSV[0]) + "\n" + tsv_line(("2", "IN:X", "a:b:SL:Y", "hi", "en_XX")) + "\n",
     r"bad.txt:2: bad slot 'a:b:SL:Y'"),
    ("bad.json", '[\n  {"original_sentence": "hi",\n   "mtop_parsing": "[IN:X ]"},\n  oops\n]', r"bad.json:4: invalid JSON"),
    ("bad.tsv", "id\tutterance\tintent\n1\thi\tx\n", r"bad.tsv:1: header row lacks column\(s\) slot_labels"),
    ("bad3.tsv", "id\tutterance\tslot_labels\tintent\n1\thi\tQ-x\tatis_x\n", r"bad3.tsv:2: not a BIO tag: 'Q-x'"),
])
def test_malformed_files_name_file_and_line(tmp_path, name, content, message):
    fmt = {"conllu": "mtod", "txt": "mtop", "json": "mtop", "tsv": "matis"}[name.rsplit(".", 1)[1]]
    write(tmp_path / name, content)
    with pytest.raises(PqError, match=message):
        load_source(f"{fmt}:{tmp_path / name}")


def test_empty_data_set(tmp_path):
    write(tmp_path / "empty.conllu", "\n\n")
    with pytest.raises(PqError, match="no examples in"):
        load_source(f"mtod:{tmp_path / 'empty.conllu'}")
    write(tmp_path / "allbad.json", json.dumps([MTOP_JSON[5]]))
    with pytest.raises(PqError, match=r"no examples in .*\(1 left out"):
        read_mtop(tmp_path / "allbad.json")


def test_invalid_utf8_names_line(tmp_path):
    (tmp_path / "x.conllu").write_bytes(b"# text: ok\n# intent: a\n# text: \xff\n")
    with pytest.raises(PqError, match=r"x.conllu:3: not valid utf-8"):
        read_mtod(tmp_path / "x.conllu")


# -- slot tags on projection tokens ---------------------------------------------------------------

def ex(text, *spans, intent="IN:X"):
    return Example(text, intent, tuple(spans), "en")


def test_slot_tags_basic_and_separators():
    e = ex("call Nicholas and Natasha?", ("SL:CONTACT", 5, 13), ("SL:CONTACT", 18, 25))
    assert slot_tags(e, DEFAULT_SPEC) == ["O", "B-SL:CONTACT", "O", "B-SL:CONTACT", "O"]
    e = ex("wake me at 7 a.m. tomorrow", ("SL:DATE_TIME", 8, 26))
    tags = slot_tags(e, DEFAULT_SPEC)
    assert tags == ["O", "O"] + ["B-SL:DATE_TIME"] + ["I-SL:DATE_TIME"] * 6


def test_slot_tags_tags_are_outside_and_unrepresentable_frames():
    spec = DEFAULT_SPEC.replace(bos_token="<S>", eos_token="</S>")
    e = ex("play jazz", ("SL:GENRE", 5, 9))
    assert slot_tags(e, spec) == ["O", "O", "B-SL:GENRE", "O"]
    larry = ex("Larry's address", ("SL:CONTACT", 0, 5))
    no_apostrophe = DEFAULT_SPEC.replace(separators=".,?")
    assert slot_tags(larry, no_apostrophe) is None
    assert frame_problem(larry, no_apostrophe) == "inside a token at \"'\""
    assert slot_tags(larry, DEFAULT_SPEC) == ["B-SL:CONTACT", "O", "O", "O"]
    thai = ex("ตั้งนาฬิกาปลุกทุกๆ 10", ("SL:DATE_TIME", 14, 21))   # Thai: no spaces between words
    assert frame_problem(thai, DEFAULT_SPEC) == "inside a token between letters"
    assert slot_tags(thai, DEFAULT_SPEC) is None
    long = ex("a b c d e", ("SL:Z", 8, 9))
    assert slot_tags(long, DEFAULT_SPEC.replace(max_tokens=4)) is None
    assert frame_problem(long, DEFAULT_SPEC.replace(max_tokens=4)) == "beyond max tokens/bytes"
    assert slot_tags(long, DEFAULT_SPEC.replace(max_tokens=5)) == ["O"] * 4 + ["B-SL:Z"]
    cut = ex("ab cé", ("SL:Z", 3, 5))   # "é" is two bytes; 5 bytes keep only half of it
    assert slot_tags(cut, DEFAULT_SPEC.replace(max_input_bytes=5)) is None
    assert slot_tags(cut, DEFAULT_SPEC.replace(max_input_bytes=6)) == ["O", "B-SL:Z"]


def test_thai_fixture_frame_representable_with_character_tokens(data):
    """MTOD Thai writes words without spaces: the slot starts inside a whitespace token, but with
    Thai character tokens every gold boundary falls between tokens and the span comes back."""
    th = read_mtod(data["mtod_th"])[0]                       # ตั้งนาฬิกาปลุกทุกๆ 10 นาที, datetime 14:26
    assert frame_problem(th, DEFAULT_SPEC) == "inside a token between letters"
    spec = DEFAULT_SPEC.replace(char_token_ranges=["thai"])
    toks = tokenize(th.text, spec)
    tags = slot_tags(th, spec, toks)
    assert tags is not None and frame_problem(th, spec) is None
    assert tags[:10] == ["O"] * 10 and tags[10] == "B-datetime" and set(tags[11:]) == {"I-datetime"}
    assert spans_from_tags(toks, tags) == list(th.spans)
    assert slot_tags(th, spec.replace(max_tokens=12)) is None  # 17 tokens: needs a larger max_tokens


def test_spans_from_tags_conlleval_repair():
    toks = tokenize("a b c d e f", DEFAULT_SPEC)
    tags = ["I-X", "I-X", "B-X", "I-Y", "O", "I-Y"]
    assert spans_from_tags(toks, tags) == [("X", 0, 3), ("X", 4, 5), ("Y", 6, 7), ("Y", 10, 11)]
    with pytest.raises(PqError, match="not a BIO tag"):
        spans_from_tags(toks, ["Q-X"] + ["O"] * 5)
    with pytest.raises(PqError, match="6 tokens"):
        spans_from_tags(toks, ["O"])


WORD = st.text(alphabet=st.sampled_from("abcdéß日ก'-?"), min_size=1, max_size=5)


@given(words=st.lists(WORD, min_size=1, max_size=12), seps=st.lists(st.sampled_from([" ", "  ", "\t"]),
                                                                     min_size=12, max_size=12),
       marks=st.lists(st.integers(0, 3), min_size=12, max_size=12))
def test_tags_round_trip_to_spans(words, seps, marks):
    """Spans over whole words: slot_tags then spans_from_tags gives them back whenever representable,
    and is None only with a span boundary strictly inside a projection token."""
    text, word_spans = "", []
    for w, sep in zip(words, seps):
        word_spans.append((len(text), len(text) + len(w)))
        text += w + sep
    text = text.rstrip()
    spans, i = [], 0
    while i < len(words):
        n = marks[i]
        if n:
            j = min(len(words), i + n)
            spans.append((f"L{n}", word_spans[i][0], word_spans[j - 1][1]))
            i = j
        else:
            i += 1
    e = Example(text, "IN:X", tuple(spans), "en")
    toks = tokenize(text, DEFAULT_SPEC)
    tags = slot_tags(e, DEFAULT_SPEC, toks)
    bounds = {b for _, s, t in spans for b in (s, t)}
    inside = any(t.char_start < b < t.char_end for t in toks for b in bounds)
    assert (tags is None) == inside
    if tags is not None:
        assert len(tags) == len(toks)
        assert spans_from_tags(toks, tags) == spans


# -- labels ----------------------------------------------------------------------------------------

def test_label_set(data):
    examples = load_sources([f"mtop:{data['mtop_tsv']}", f"matis:{data['matis']}"])
    labels = LabelSet.from_examples(examples)
    assert labels.slot_tags[0] == "O"
    assert labels.intents == tuple(sorted(labels.intents))
    assert labels.slot_tags[1:5] == ("B-SL:CONTACT", "I-SL:CONTACT", "B-SL:DATE_TIME", "I-SL:DATE_TIME")
    assert LabelSet.from_examples(list(reversed(examples))) == labels
    again = LabelSet.from_dict(json.loads(json.dumps(labels.to_dict())))
    assert again == labels and again.tag_id("I-toloc.city_name") == labels.slot_tags.index("I-toloc.city_name")
    with pytest.raises(PqError, match="intent 'IN:NOPE' is not in the model's labels"):
        labels.intent_id("IN:NOPE")
    labels.check(examples)
    stranger = Example("call mom", "IN:CREATE_CALL", (("SL:TODO", 0, 4),), "en", "x.tsv", 3)
    with pytest.raises(PqError, match=r"x.tsv:3: slot tag 'B-SL:TODO' is not in"):
        labels.check([stranger])
    with pytest.raises(PqError, match="must start with 'O'"):
        LabelSet.from_dict({"intents": ["a"], "slot_tags": ["B-x"]})


# -- report and CLI ----------------------------------------------------------------------------------

def test_data_report_counts(data):
    r = data_report([f"mtop:{data['mtop_tsv']}", f"mtod:{data['mtod_th']}", f"mtop:{data['mtop_json']}"],
                    DEFAULT_SPEC.replace(separators=".,?"))   # no apostrophe: "Larry's" is one token
    tsv = r["sources"][f"mtop:{data['mtop_tsv']}"]
    assert tsv["examples"] == 4 and tsv["unrepresentable"] == 1           # Larry's
    assert tsv["languages"] == {"de": {"examples": 1, "unrepresentable": 0, "unrepresentable_share": 0.0},
                                "en": {"examples": 3, "unrepresentable": 1, "unrepresentable_share": 0.3333}}
    th = r["sources"][f"mtod:{data['mtod_th']}"]
    assert th["unrepresentable_causes"] == {"inside a token between letters": 1}
    assert r["total"]["not_aligned"] == 2 and r["total"]["examples"] == 11


def test_cli_data_report_json_and_errors(data, capsys):
    main(["data-report", "--json", f"snips:{data['snips_dir']}", f"mtop6:{data['mtop6']},langs=th"])
    out = json.loads(capsys.readouterr().out)
    assert out["total"]["examples"] == 5 and set(out["total"]["languages"]) == {"en", "th"}
    main(["data-report", f"mtod:{data['mtod_th']}"])
    text = capsys.readouterr().out
    assert "th: 2 examples, 1 not representable (50.00%)" in text
    with pytest.raises(SystemExit) as e:
        main(["data-report", "bogus:x"])
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert err.startswith("error: unknown data format 'bogus'") and err.count("\n") == 1
