"""Metrics and decoding against hand-worked cases."""
import numpy as np
import pytest

from pqcompile.projection import DEFAULT_SPEC, tokenize
from pqcompile.train.decode import argmax_lowest, decode_one, repair_bio
from pqcompile.train.metrics import Frame, FrameCounts, frame_metrics


def F(intent, *spans):
    return Frame(intent, tuple(spans))


def test_perfect_prediction():
    g = [F("IN:A", ("SL:X", 0, 3)), F("IN:B")]
    m = frame_metrics(g, g, ["en", "en"])["overall"]
    assert m == {"n": 2, "intent_accuracy": 1.0, "slot_precision": 1.0, "slot_recall": 1.0,
                 "slot_f1": 1.0, "exact_match": 1.0}


def test_hand_worked_counts():
    # utterance 1: gold X[0,3) Y[4,9); pred X[0,3) (right), Y[4,6) (wrong end): 1 correct of 2/2
    # utterance 2: gold Z[2,5), wrong intent; pred Z[2,5) right + an extra W[6,8): 1 of 2 pred, 1 gold
    # utterance 3: no gold slot; pred none; intent right -> exact
    golds = [F("IN:A", ("SL:X", 0, 3), ("SL:Y", 4, 9)), F("IN:B", ("SL:Z", 2, 5)), F("IN:C")]
    preds = [F("IN:A", ("SL:X", 0, 3), ("SL:Y", 4, 6)), F("IN:A", ("SL:Z", 2, 5), ("SL:W", 6, 8)), F("IN:C")]
    m = frame_metrics(golds, preds)["overall"]
    assert m["n"] == 3
    assert m["intent_accuracy"] == pytest.approx(2 / 3)
    # correct 2, predicted 4, gold 3
    assert m["slot_precision"] == pytest.approx(0.5)
    assert m["slot_recall"] == pytest.approx(2 / 3)
    assert m["slot_f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))   # 4/7
    assert m["slot_f1"] == pytest.approx(4 / 7)
    assert m["exact_match"] == pytest.approx(1 / 3)


def test_label_must_match_as_well_as_boundaries():
    m = frame_metrics([F("IN:A", ("SL:X", 0, 3))], [F("IN:A", ("SL:Y", 0, 3))])["overall"]
    assert m["slot_f1"] == 0.0 and m["exact_match"] == 0.0 and m["intent_accuracy"] == 1.0


def test_conlleval_zero_conventions():
    # nothing predicted and nothing gold: P = R = F1 = 0 (conlleval), exact match still 1
    m = frame_metrics([F("IN:A")], [F("IN:A")])["overall"]
    assert (m["slot_precision"], m["slot_recall"], m["slot_f1"], m["exact_match"]) == (0.0, 0.0, 0.0, 1.0)
    assert FrameCounts().result()["intent_accuracy"] == 0.0


def test_per_language_split():
    golds = [F("IN:A", ("SL:X", 0, 1)), F("IN:A"), F("IN:B", ("SL:X", 0, 1))]
    preds = [F("IN:A", ("SL:X", 0, 1)), F("IN:B"), F("IN:B")]
    r = frame_metrics(golds, preds, ["en", "th", "en"])
    assert r["per_lang"]["en"]["n"] == 2 and r["per_lang"]["th"]["n"] == 1
    assert r["per_lang"]["en"]["intent_accuracy"] == 1.0
    assert r["per_lang"]["en"]["slot_recall"] == 0.5 and r["per_lang"]["en"]["slot_precision"] == 1.0
    assert r["per_lang"]["en"]["exact_match"] == 0.5
    assert r["per_lang"]["th"]["intent_accuracy"] == 0.0
    assert r["overall"]["exact_match"] == pytest.approx(1 / 3)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        frame_metrics([F("IN:A")], [])


def test_argmax_lowest_index_wins_ties():
    assert argmax_lowest(np.array([1, 3, 3, 0], dtype=np.int8)) == 1
    assert list(argmax_lowest(np.array([[5, 5], [0, 2]]))) == [0, 1]


def test_bio_repair_and_spans():
    spec = DEFAULT_SPEC.replace(bos_token="<S>")
    text = "wake me at 7 am please"
    toks = tokenize(text, spec)   # <S> wake me at 7 am please
    raw = ["I-SL:X", "O", "O", "I-SL:T", "I-SL:T", "I-SL:T", "B-SL:P"]
    assert repair_bio(toks, raw) == ["O", "O", "O", "B-SL:T", "I-SL:T", "I-SL:T", "B-SL:P"]
    # I- of another label starts a new slot
    assert repair_bio(toks, ["O", "B-SL:A", "I-SL:B", "I-SL:B", "O", "O", "O"])[1:4] == ["B-SL:A", "B-SL:B", "I-SL:B"]


def test_decode_one_reads_logits_and_text():
    spec = DEFAULT_SPEC
    text = "Set alarm for 7 am"
    toks = tokenize(text, spec)
    intents = ["IN:GET", "IN:CREATE_ALARM"]
    slots = ["O", "B-SL:TIME", "I-SL:TIME"]
    intent_logits = np.array([3, 7], dtype=np.int8)
    slot_logits = np.full((8, 3), -5, dtype=np.int8)
    slot_logits[:, 0] = 9                       # all O ...
    slot_logits[3] = [0, 4, 4]                  # "7": tie B/I -> B (lowest index)
    slot_logits[4] = [0, 1, 6]                  # "am": I
    slot_logits[6] = [0, 99, 0]                 # past the tokens: ignored
    d = decode_one(text, toks, intent_logits, slot_logits, intents, slots)
    assert d.frame == Frame("IN:CREATE_ALARM", (("SL:TIME", 14, 18),))
    assert d.slot_texts == ["7 am"]
    assert d.tags == ["O", "O", "O", "B-SL:TIME", "I-SL:TIME"]
    assert d.to_dict(text)["slots"][0] == {"label": "SL:TIME", "start": 14, "end": 18, "text": "7 am"}
