"""The classic CRF + logistic-regression baseline on a small self-written fixture: it learns,
its frames are the students' frames (projection tokens, BIO repair, character spans), its metrics
are frame_metrics, and its sizes are what it ships."""
import itertools

import pytest

from pqcompile.baselines_classic import (CrfSettings, IntentSettings, prepare, token_features, train_baseline,
                                         word_shape)
from pqcompile.datasets import Example
from pqcompile.errors import PqError
from pqcompile.projection import DEFAULT_SPEC, tokenize
from pqcompile.train.metrics import Frame, frame_metrics

SPEC = DEFAULT_SPEC.replace(max_tokens=16)
CITIES = ["boston", "denver", "new york", "san francisco", "paris", "Oslo"]
TIMES = ["7 am", "noon", "6:30 pm", "midnight"]


def example(parts, intent):
    """parts: plain strings and (label, text) slots, joined by spaces -> an Example with char spans."""
    text, spans = "", []
    for p in parts:
        if text and not (isinstance(p, str) and p in "?!.,"):
            text += " "
        if isinstance(p, tuple):
            spans.append((p[0], len(text), len(text) + len(p[1])))
            p = p[1]
        text += p
    return Example(text, intent, tuple(spans), "en")


def flights(pairs):
    out = []
    for k, (a, b) in enumerate(pairs):
        lead = ["fly from", "show flights from", "i need a flight from"][k % 3]
        tail = ["?"] if k % 2 else []
        out.append(example([lead, ("SL:FROM", a), "to", ("SL:TO", b), *tail], "IN:GET_FLIGHT"))
    return out


def fixture():
    pairs = [(a, b) for a, b in itertools.permutations(CITIES, 2)]
    train = flights(pairs[::2])
    train += [example([lead, ("SL:CITY", c), *tail], "IN:GET_WEATHER")
              for c in CITIES for lead, tail in (("weather in", []), ("what is the weather like in", ["?"]))]
    train += [example([lead, ("SL:TIME", t)], "IN:CREATE_ALARM")
              for t in TIMES for lead in ("wake me at", "set an alarm for")]
    held_out = flights(pairs[1::2])   # city pairs never seen together, in the other direction too
    return train, held_out


@pytest.fixture(scope="module")
def trained():
    train, held_out = fixture()
    model = train_baseline(train, SPEC, CrfSettings(c1=0.0, c2=0.01, max_iterations=100),
                           IntentSettings(C=10.0, char_ngrams=(2, 4)))
    return model, train, held_out


def test_token_features_name_the_projection_words_and_their_neighbours():
    toks = tokenize("Fly from Boston?", SPEC)     # fly from boston ?
    f = token_features(toks, 2)
    assert {"w=boston", "shape=Xx", "p3=bos", "s3=ton", "w-1=from", "w-2=fly", "w+1=?", "w+2=EOS",
            "w-1|w=from|boston", "w|w+1=boston|?"} <= set(f)
    assert "BOS" in token_features(toks, 0) and "w-1=BOS" in token_features(toks, 0)
    assert "EOS" in token_features(toks, 3) and "EOS" not in f
    assert word_shape("6:30pm") == "d:dx"


def test_learns_its_training_data_and_generalises_by_context(trained):
    model, train, held_out = trained
    on_train = model.evaluate(train)["overall"]
    assert on_train["n"] == len(train)
    assert on_train["exact_match"] >= 0.95 and on_train["slot_f1"] >= 0.95
    # From and to are the same cities: only the neighbouring words tell them apart.
    on_held_out = model.evaluate(held_out)["overall"]
    assert on_held_out["exact_match"] >= 0.9, on_held_out


def test_frames_are_character_spans_decoded_like_the_students(trained):
    model = trained[0]
    text = "show flights from Oslo to san francisco?"
    [frame] = model.predict([Example(text, "IN:GET_FLIGHT", (), "en")])
    assert frame == Frame("IN:GET_FLIGHT", (("SL:FROM", 18, 22), ("SL:TO", 26, 39)))
    assert [text[s:e] for _, s, e in frame.spans] == ["Oslo", "san francisco"]


def test_evaluate_is_frame_metrics_of_its_predictions(trained):
    model, train, held_out = trained
    examples = held_out[:6] + [Example("wake me at noon", "IN:UNSEEN", (("SL:TIME", 11, 15),), "de")]
    preds = model.predict(examples)
    golds = [Frame(ex.intent, ex.spans) for ex in examples]
    result = model.evaluate(examples)
    assert result == frame_metrics(golds, preds, [ex.lang for ex in examples])
    assert result["per_lang"]["de"]["intent_accuracy"] == 0.0    # an intent it never saw counts as an error


def test_unrepresentable_training_frames_are_left_out_and_counted():
    train, _ = fixture()
    glued = Example("fly from bostons to paris", "IN:GET_FLIGHT", (("SL:FROM", 9, 15), ("SL:TO", 20, 25)), "en")
    data = prepare(train + [glued], SPEC, training=True)
    assert (len(data), data.n_unrepresentable) == (len(train), 1)
    assert glued not in data.examples
    assert data.tags[0][:3] == ["O", "O", "B-SL:FROM"]


def test_sizes_are_the_crf_file_and_float32_weights(trained):
    model = trained[0]
    s = model.sizes()
    assert s["crf_model_file"] == len(model.crf.model_bytes) > 1000
    n_intents = len(model.intent.model.classes_)
    assert n_intents == 3
    assert s["lr_coefficients_float32"] == 4 * (n_intents * s["lr_features"] + n_intents)
    assert s["total"] == s["crf_model_file"] + s["lr_coefficients_float32"] + s["tfidf_vocabulary"]
    assert model.train_seconds > 0 and model.crf.iterations > 0


def test_bad_training_sets_are_one_line_errors():
    one_intent = [example(["weather in", ("SL:CITY", c)], "IN:GET_WEATHER") for c in CITIES]
    with pytest.raises(PqError, match="at least two intents"):
        train_baseline(one_intent, SPEC)
    with pytest.raises(PqError, match="at least one example"):
        train_baseline([], SPEC)
