"""BIO-constrained Viterbi (pqcompile/train/viterbi.py) against brute force over every tag sequence,
its constraints and its tie rule, the decoders of decode.py that use it, and `evaluate --decode`."""
import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from cli_runner import run_cli

from pqcompile.datasets.example import Example, spans_from_tags
from pqcompile.errors import PqError
from pqcompile.projection import DEFAULT_SPEC, Token, project, tokenize
from pqcompile.quant.integer_reference import run_integer
from pqcompile.quant.qmodel import random_quantized_model
from pqcompile.train.decode import decode_one, intent_slots_from_examples, intent_tag_mask, slot_tags
from pqcompile.train.viterbi import NO_PARTNER, begin_partners, viterbi_tags

LABELS = ["O", "B-SL:A", "I-SL:A", "B-SL:B", "I-SL:B"]
# unusual orders and gaps: I-X listed before B-X, an I- tag without its B-, a B- without its I-
ODD_LABELS = ["I-SL:B", "B-SL:A", "O", "I-SL:C", "B-SL:B", "I-SL:A", "B-SL:D"]


def valid(labels, seq, is_tag) -> bool:
    """The constraints, written independently of viterbi.py: tag tokens O (None), an I-X only
    right after B-X or I-X of the same X on a word token."""
    prev = None
    for tag, tag_token in zip(seq, is_tag):
        if tag_token != (tag is None):
            return False
        if tag is not None and labels[tag].startswith("I-"):
            if prev is None or labels[prev][:2] not in ("B-", "I-") or labels[prev][2:] != labels[tag][2:]:
                return False
        prev = tag
    return True


def brute_force(logits, is_tag, labels):
    """The best valid sequence by enumeration; ties: smallest when compared from the last token
    backwards (the rule the module docstring states)."""
    choices = [[None] if tag_token else range(len(labels)) for tag_token in is_tag]
    best, best_key = None, None
    for seq in itertools.product(*choices):
        if not valid(labels, seq, is_tag):
            continue
        total = sum(logits[t, j] for t, j in enumerate(seq) if j is not None)
        key = (-total, tuple(-1 if j is None else j for j in reversed(seq)))
        if best_key is None or key < best_key:
            best, best_key = list(seq), key
    return best


@st.composite
def cases(draw):
    labels = draw(st.sampled_from([LABELS, ODD_LABELS, ["O", "B-SL:X", "I-SL:X"], ["B-SL:X", "I-SL:X"]]))
    n = draw(st.integers(1, 5 if len(labels) <= 5 else 4))
    is_tag = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    # few distinct values: many exact ties, so the tie rule is exercised
    lo, hi = draw(st.sampled_from([(-2, 2), (-128, 127)]))
    values = draw(st.lists(st.integers(lo, hi), min_size=n * len(labels), max_size=n * len(labels)))
    return np.array(values, dtype=np.int8).reshape(n, len(labels)), is_tag, labels


@given(cases())
def test_viterbi_equals_brute_force_and_obeys_the_constraints(case):
    logits, is_tag, labels = case
    path = viterbi_tags(logits, is_tag, labels)
    assert path == brute_force(logits.astype(np.int64), is_tag, labels)
    assert valid(labels, path, is_tag)


@given(cases(), st.sampled_from([1.0, 0.037, 3.5]))
def test_int8_logits_and_scaled_float_logits_give_the_same_path(case, scale):
    logits, is_tag, labels = case
    float_logits = logits.astype(np.float64) * scale    # exact in float64: the same order and ties
    assert viterbi_tags(float_logits, is_tag, labels) == viterbi_tags(logits, is_tag, labels)


def test_viterbi_differs_from_argmax_where_an_i_tag_pays_for_its_begin():
    logits = np.array([[0, 0, 0, 6, 0],     # argmax B-B
                       [0, 0, 9, 0, 8],     # argmax I-A (orphan -> repaired to B-A)
                       [0, 0, 0, 0, 0]], dtype=np.int8)
    toks = [Token(f"w{i}", b"", i * 3, i * 3 + 2, i * 3, i * 3 + 2) for i in range(3)]
    assert slot_tags(toks, logits, LABELS, "argmax") == ["B-SL:B", "B-SL:A", "O"]
    # Viterbi: B-B I-B O = 6 + 8 = 14 beats B-B B-A O = 6 + 0 = 6 and O B-A ... (I-A needs B-A first)
    assert slot_tags(toks, logits, LABELS) == ["B-SL:B", "I-SL:B", "O"]
    assert viterbi_tags(logits, [False] * 3, LABELS) == [3, 4, 0]


def test_ties_follow_the_documented_rule():
    # every sequence scores 0: the rule picks the lowest index at the last token, then the lowest
    # predecessor going backwards: all O
    assert viterbi_tags(np.zeros((3, 5), np.int8), [False] * 3, LABELS) == [0, 0, 0]
    # token 1 ties B-A (1) and I-A (2) at 5; token 0: O = 5, B-A = 5. Best total 10: [O, B-A] or
    # [B-A, I-A] (or [B-A, B-A] = 10 too). Last token lowest index: B-A (1); its predecessor: the
    # lowest with the best score, O (0).
    logits = np.array([[5, 5, 0, 0, 0], [0, 5, 5, 0, 0]], np.int8)
    assert viterbi_tags(logits, [False, False], LABELS) == [0, 1]
    # I-X's two predecessors tie: the lower index wins, here I-SL:B (0) over B-SL:B (4).
    # ODD_LABELS: I-SL:B 0, B-SL:A 1, O 2, I-SL:C 3, B-SL:B 4, I-SL:A 5, B-SL:D 6
    logits = np.zeros((3, 7), np.int8)
    logits[0, 4] = 3                      # B-SL:B at token 0
    logits[1, 0] = 2                      # token 1: I-SL:B after B-SL:B scores 3 + 2 = 5,
    logits[1, 4] = 2                      # and B-SL:B after B-SL:B 3 + 2 = 5 too
    logits[2, 0] = 9                      # token 2: I-SL:B, after either of them: 14
    path = viterbi_tags(logits, [False] * 3, ODD_LABELS)
    assert path == [4, 0, 0]              # not [4, 4, 0], which scores the same
    assert path == brute_force(logits.astype(np.int64), [False] * 3, ODD_LABELS)


def test_tag_tokens_are_o_and_break_slots():
    spec = DEFAULT_SPEC.replace(bos_token="<S>", eos_token="</S>")
    toks = tokenize("play jazz", spec)                 # <S> play jazz </S>
    assert [t.is_tag for t in toks] == [True, False, False, True]
    logits = np.zeros((6, 5), np.int8)
    logits[:, 2] = 100                                  # I-SL:A everywhere, tag tokens too
    logits[1, 1] = 1                                    # a weak B-SL:A on "play"
    tags = slot_tags(toks, logits, LABELS)
    assert tags == ["O", "B-SL:A", "I-SL:A", "O"]
    assert viterbi_tags(logits, [t.is_tag for t in toks], LABELS) == [None, 1, 2, None]
    # a tag token between two words ends the slot: the word after it cannot continue it
    assert viterbi_tags(np.array([[0, 5, 0, 0, 0], [9, 9, 9, 9, 9], [0, 0, 7, 0, 0]], np.int8),
                        [False, True, False], LABELS) == [1, None, 0]


def test_decode_one_uses_viterbi_by_default_and_argmax_on_request():
    text = "wake me at 7"
    toks = tokenize(text, DEFAULT_SPEC)
    n = len(toks)
    logits = np.zeros((8, 5), np.int8)
    logits[:, 0] = 3
    logits[n - 2] = [3, 1, 0, 0, 0]       # "at": O (3) vs B-A (1)
    logits[n - 1] = [3, 0, 6, 0, 0]       # "7": I-A (6) needs B-A before: 1 + 6 = 7 > 3 + 3 = 6
    vit = decode_one(text, toks, np.array([1, 0]), logits, ["IN:X", "IN:Y"], LABELS)
    arg = decode_one(text, toks, np.array([1, 0]), logits, ["IN:X", "IN:Y"], LABELS, decode="argmax")
    assert vit.frame.spans == (("SL:A", 8, 12),) and vit.slot_texts == ["at 7"]
    assert arg.frame.spans == (("SL:A", 11, 12),) and arg.slot_texts == ["7"]
    assert vit.frame.spans == tuple(spans_from_tags(toks, vit.tags))
    with pytest.raises(PqError, match="unknown slot decoder 'beam'"):
        decode_one(text, toks, np.array([1, 0]), logits, ["IN:X", "IN:Y"], LABELS, decode="beam")


def test_begin_partners_and_label_errors():
    assert list(begin_partners(LABELS)) == [NO_PARTNER, NO_PARTNER, 1, NO_PARTNER, 3]
    assert list(begin_partners(ODD_LABELS)) == [4, NO_PARTNER, NO_PARTNER, NO_PARTNER, NO_PARTNER, 1, NO_PARTNER]
    with pytest.raises(PqError, match="no O or B- tag"):
        viterbi_tags(np.zeros((2, 2), np.int8), [False, False], ["I-SL:A", "I-SL:B"])
    with pytest.raises(PqError, match=r"do not fit 3 tokens and 5 slot tags"):
        viterbi_tags(np.zeros((2, 5), np.int8), [False] * 3, LABELS)


def test_evaluate_decode_option_scores_each_decoder(tmp_path):
    """Gold frames are the Viterbi frames of a random integer model: `evaluate` scores them 1.0
    by default and with --decode viterbi, and --decode argmax scores exactly the utterances where
    argmax + BIO repair gives the same frame."""
    spec = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8, max_input_bytes=64)
    qm = random_quantized_model(spec, bottleneck=12, hidden=6, n_layers=2, kernel_width=2, n_intents=4,
                                n_slot_tags=7, seed=21)
    qm.save(tmp_path / "model")
    rng = np.random.default_rng(0)
    words = ["wake", "me", "up", "at", "seven", "turn", "off", "the", "lights", "play", "jazz", "now"]
    texts = [" ".join(rng.choice(words, int(rng.integers(1, 8)))) for _ in range(60)]
    p = project([t.encode() for t in texts], spec)
    ref = run_integer(qm, p.features, p.lengths.astype(np.int32))
    rows, agree = [], 0
    for i, text in enumerate(texts):
        args = (text, p.tokens[i], ref.intent_logits[i], ref.slot_logits[i], qm.intent_labels, qm.slot_labels)
        vit, arg = decode_one(*args), decode_one(*args, decode="argmax")
        agree += vit.frame == arg.frame
        spans = ",".join(f"{s}:{e}:{label}" for label, s, e in vit.frame.spans)
        rows.append(f"{i}\t{vit.frame.intent}\t{spans}\t{text}\tdomain\ten_XX\t[]\t{{}}\n")
    assert 0 < agree < len(texts)
    data = tmp_path / "gold.tsv"
    data.write_text("".join(rows), encoding="utf-8")
    results = {d: json.loads(run_cli("evaluate", tmp_path / "model", "--data", f"mtop:{data}", "--json",
                                     *(["--decode", d] if d else [])).stdout) for d in ("", "viterbi", "argmax")}
    assert results[""]["decode"] == "viterbi" and results["argmax"]["decode"] == "argmax"
    for d in ("", "viterbi"):
        assert results[d]["overall"]["n"] == len(texts)
        assert results[d]["overall"]["exact_match"] == 1.0 and results[d]["overall"]["slot_f1"] == 1.0
    assert results["argmax"]["overall"]["exact_match"] == pytest.approx(agree / len(texts))
    assert "argmax decoding" in run_cli("evaluate", tmp_path / "model", "--data", f"mtop:{data}",
                                        "--decode", "argmax").stdout


# -- slot labels allowed per intent (decode.py rule 2b) ------------------------------------------

def brute_force_allowed(logits, is_tag, labels, allowed):
    """brute_force over the sequences that use allowed tags only (written independently)."""
    blocked = -10 ** 6    # below any sum of int8 logits: a sequence with a blocked tag never wins
    masked = np.where(allowed, logits.astype(np.int64), blocked)
    best = brute_force(masked, is_tag, labels)
    assert all(j is None or allowed[j] for j in best)
    return best


@given(cases(), st.data())
def test_viterbi_with_an_allowed_mask_equals_brute_force_over_allowed_sequences(case, data):
    logits, is_tag, labels = case
    allowed = np.array(data.draw(st.lists(st.booleans(), min_size=len(labels), max_size=len(labels))))
    allowed[labels.index("O") if "O" in labels else 0] = True     # O (or a B- tag) always remains
    path = viterbi_tags(logits, is_tag, labels, allowed)
    assert path == brute_force_allowed(logits, is_tag, labels, allowed)
    assert valid(labels, path, is_tag) and all(j is None or allowed[j] for j in path)
    # allowing every tag is the unconstrained decoder
    assert viterbi_tags(logits, is_tag, labels, np.ones(len(labels), bool)) == viterbi_tags(logits, is_tag, labels)


def test_masking_a_slot_label_changes_the_path_and_keeps_the_tie_rule():
    # LABELS: O 0, B-SL:A 1, I-SL:A 2, B-SL:B 3, I-SL:B 4
    logits = np.array([[0, 5, 0, 5, 0], [0, 0, 5, 0, 5], [1, 0, 0, 0, 0]], np.int8)
    # unmasked: [B-A, I-A, O] and [B-B, I-B, O] both score 11; the tie rule (lowest index at the
    # last token, then the lowest predecessor) picks SL:A
    assert viterbi_tags(logits, [False] * 3, LABELS) == [1, 2, 0]
    no_a = np.array([True, False, False, True, True])
    assert viterbi_tags(logits, [False] * 3, LABELS, no_a) == [3, 4, 0]
    # only O allowed: all O, whatever the logits
    assert viterbi_tags(logits, [False] * 3, LABELS, np.array([True, False, False, False, False])) == [0, 0, 0]
    # a masked B-X also takes its I-X away, even where I-X is allowed on its own
    assert viterbi_tags(logits, [False] * 3, LABELS, np.array([True, False, True, True, True])) == [3, 4, 0]
    # ties between allowed tags: all zeros with SL:A masked -> all O (lowest index)
    assert viterbi_tags(np.zeros((3, 5), np.int8), [False] * 3, LABELS, no_a) == [0, 0, 0]
    with pytest.raises(PqError, match="allows no O or B- tag"):
        viterbi_tags(logits, [False] * 3, LABELS, np.array([False, False, True, False, True]))
    with pytest.raises(PqError, match="does not fit 5 slot tags"):
        viterbi_tags(logits, [False] * 3, LABELS, np.ones(4, bool))


def test_argmax_decoder_takes_the_argmax_over_allowed_tags_then_repairs():
    toks = [Token(f"w{i}", b"", i * 3, i * 3 + 2, i * 3, i * 3 + 2) for i in range(3)]
    logits = np.array([[1, 7, 0, 5, 0],     # B-A (7); SL:A masked: B-B (5)
                       [2, 0, 9, 0, 2],     # I-A (9); masked: O (2) and I-B (2) tie -> O (lowest index)
                       [0, 0, 0, 0, 6]], np.int8)   # I-B after O: repaired to B-B
    assert slot_tags(toks, logits, LABELS, "argmax") == ["B-SL:A", "I-SL:A", "B-SL:B"]
    no_a = np.array([True, False, False, True, True])
    assert slot_tags(toks, logits, LABELS, "argmax", no_a) == ["B-SL:B", "O", "B-SL:B"]
    assert slot_tags(toks, logits, LABELS, "argmax", np.ones(5, bool)) == slot_tags(toks, logits, LABELS, "argmax")


def test_decode_one_applies_the_decoded_intents_row():
    text = "wake me at 7"
    toks = tokenize(text, DEFAULT_SPEC)
    n = len(toks)
    logits = np.zeros((8, 5), np.int8)
    logits[n - 2] = [0, 4, 0, 3, 0]      # "at": B-A 4, B-B 3
    logits[n - 1] = [0, 0, 4, 0, 4]      # "7": I-A 4, I-B 4
    intents = ["IN:X", "IN:Y", "IN:Z"]
    mask = intent_tag_mask([["SL:A", "SL:B"], ["SL:B"], []], intents, LABELS)
    assert mask.tolist() == [[True] * 5, [True, False, False, True, True], [True] + [False] * 4]
    frames = {}
    for k, intent in enumerate(intents):
        il = np.zeros(3, np.int8)
        il[k] = 5
        d = decode_one(text, toks, il, logits, intents, LABELS, tag_mask=mask)
        assert d.frame.intent == intent
        frames[intent] = d.frame.spans
        # without a table: the unconstrained decoder, whatever the intent
        assert decode_one(text, toks, il, logits, intents, LABELS).frame.spans == (("SL:A", 8, 12),)
    assert frames == {"IN:X": (("SL:A", 8, 12),), "IN:Y": (("SL:B", 8, 12),), "IN:Z": ()}
    # the intent is still the argmax, lowest index on ties: IN:X (all allowed)
    assert decode_one(text, toks, np.zeros(3, np.int8), logits, intents, LABELS, tag_mask=mask).frame.spans \
        == (("SL:A", 8, 12),)


def test_intent_tag_mask_and_intent_slots_from_examples():
    assert intent_tag_mask(None, ["IN:X"], LABELS) is None
    with pytest.raises(PqError, match="2 rows for 1 intents"):
        intent_tag_mask([[], []], ["IN:X"], LABELS)
    with pytest.raises(PqError, match="needs an O slot tag"):
        intent_tag_mask([["SL:A"]], ["IN:X"], ["B-SL:A", "I-SL:A"])
    examples = [Example("a b", "IN:X", (("SL:B", 0, 1),), "en"),
                Example("c d", "IN:X", (("SL:A", 0, 1), ("SL:B", 2, 3)), "en"),
                Example("e f", "IN:Y", (("SL:B", 0, 1),), "en"),
                Example("g h", "", (("SL:A", 0, 1),), "en", "<swap>"),        # augmented: no gold intent
                Example("i j", "IN:UNSEEN", (("SL:A", 0, 1),), "en"),         # an intent the model lacks
                Example("k l", "IN:Y", (("SL:NEW", 0, 1),), "en")]            # a slot label it lacks
    got = intent_slots_from_examples(examples, ["IN:X", "IN:Y", "IN:Z"], LABELS)
    assert got == [["SL:A", "SL:B"], ["SL:B"], []]   # in the order of the slot labels


def test_quantized_model_keeps_intent_slots_and_old_folders_load_without(tmp_path):
    from pqcompile.bundled import BUNDLED_MODEL_DIR
    from pqcompile.export import build_onnx, read_metadata
    from pqcompile.quant.qmodel import QuantizedModel
    spec = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8, max_input_bytes=64)
    qm = random_quantized_model(spec, n_intents=3, n_slot_tags=5)   # O, B/I-SL:0, B/I-SL:1
    qm.save(tmp_path / "plain")
    assert "intent_slots" not in json.loads((tmp_path / "plain" / "qmodel.json").read_text())
    assert QuantizedModel.load(tmp_path / "plain").intent_slots is None
    assert read_metadata(build_onnx(qm)).intent_slots is None
    qm.intent_slots = [["SL:0"], [], ["SL:1", "SL:0"]]
    qm.save(tmp_path / "table")
    assert QuantizedModel.load(tmp_path / "table").intent_slots == qm.intent_slots
    assert read_metadata(build_onnx(qm)).intent_slots == qm.intent_slots
    # the bundled model folder (written before intent_slots existed, or with them) still loads
    bundled = QuantizedModel.load(BUNDLED_MODEL_DIR)
    assert bundled.intent_slots is None or len(bundled.intent_slots) == len(bundled.intent_labels)
    cfg = json.loads((tmp_path / "table" / "qmodel.json").read_text())
    for bad, message in (([["SL:0"]], "one list per intent"), ([["SL:9"], [], []], "'SL:9' is no slot label"),
                         ([[1], [], []], "expected a list of slot labels")):
        (tmp_path / "table" / "qmodel.json").write_text(json.dumps(cfg | {"intent_slots": bad}))
        with pytest.raises(PqError, match=message) as e:
            QuantizedModel.load(tmp_path / "table")
        assert str(e.value).startswith(str(tmp_path / "table")) and "\n" not in str(e.value)


def test_evaluate_and_predict_decode_with_the_models_intent_slots(tmp_path):
    """The integer model's intent_slots reach `evaluate` and `predict`: with a table that allows
    no slot at all, every frame has no slots (and without it, some do)."""
    spec = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8, max_input_bytes=64)
    qm = random_quantized_model(spec, bottleneck=12, hidden=6, n_layers=2, kernel_width=2, n_intents=4,
                                n_slot_tags=7, seed=21)
    texts = ["wake me up at seven", "turn off the lights now", "play jazz", "the lights at seven now"]
    qm.save(tmp_path / "plain")
    qm.intent_slots = [[] for _ in qm.intent_labels]
    qm.save(tmp_path / "none")
    plain = json.loads(run_cli("predict", "-m", tmp_path / "plain", *texts, "--json").stdout)["predictions"]
    none = json.loads(run_cli("predict", "-m", tmp_path / "none", *texts, "--json").stdout)["predictions"]
    assert any(p["slots"] for p in plain) and not any(p["slots"] for p in none)
    assert [p["intent"] for p in plain] == [p["intent"] for p in none]
    rows = [f"{i}\t{p['intent']}\t\t{t}\tdomain\ten_XX\t[]\t{{}}\n" for i, (t, p) in enumerate(zip(texts, plain))]
    (tmp_path / "gold.tsv").write_text("".join(rows), encoding="utf-8")
    em = {name: json.loads(run_cli("evaluate", tmp_path / name, "--data", f"mtop:{tmp_path / 'gold.tsv'}",
                                   "--json").stdout)["overall"]["exact_match"] for name in ("plain", "none")}
    assert em["none"] == 1.0 and em["plain"] < 1.0
