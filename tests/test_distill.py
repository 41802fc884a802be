"""Distillation: the loss against hand-computed values, augmentation, soft-label shards mapped onto a
student's labels, and the adapter feeding the student's training loop."""
import math

import numpy as np
import pytest
import torch

from pqcompile.datasets import Example
from pqcompile.distill.augment import KINDS, augment, parse_request
from pqcompile.distill.loss import DistillSettings, distillation_loss, soft_kl
from pqcompile.distill.soft_labels import SoftLabels, write_soft_labels
from pqcompile.distill.targets import ABSENT, TeacherTargets, distill_training_set
from pqcompile.errors import PqError
from pqcompile.projection import DEFAULT_SPEC, tokenize
from pqcompile.train.data import IGNORE, TrainBatch
from pqcompile.train.loop import training_loss


def _random_batch(seed=0, B=3, T=5, I=4, S=5):
    g = torch.Generator().manual_seed(seed)
    intent = torch.randn(B, I, generator=g)
    slots = torch.randn(B, T, S, generator=g)
    gold_i = torch.randint(0, I, (B,), generator=g)
    tags = torch.randint(0, S, (B, T), generator=g)
    lengths = [5, 3, 1]
    for b, n in enumerate(lengths):
        tags[b, n:] = IGNORE
    mask = tags != IGNORE
    return intent, slots, gold_i, tags, mask


def test_alpha_one_is_the_students_own_cross_entropy():
    intent, slots, gold_i, tags, mask = _random_batch()
    teacher_i, teacher_s = torch.randn_like(intent), torch.randn_like(slots)
    loss, parts = distillation_loss(intent, slots, gold_i, tags, teacher_i, teacher_s, mask,
                                    DistillSettings(alpha=1.0, temperature=3.0))
    ref, _ = training_loss(intent, slots, TrainBatch(None, gold_i, tags, np.arange(3)))
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    assert parts["kl_intent"] > 0     # computed, but weighted 0


def test_identical_logits_give_zero_kl():
    intent, slots, gold_i, tags, mask = _random_batch(1)
    loss, parts = distillation_loss(intent, slots, gold_i, tags, intent.clone(), slots.clone(), mask,
                                    DistillSettings(alpha=0.0, temperature=2.0))
    assert abs(loss.item()) < 1e-6 and abs(parts["kl_intent"]) < 1e-6 and abs(parts["kl_slot"]) < 1e-6


def test_kl_by_hand_with_temperature_and_scaling():
    # teacher [0, ln 3] -> p = (1/4, 3/4); student [0, 0] -> q = (1/2, 1/2)
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    t, s = torch.tensor([[0.0, math.log(3)]]), torch.zeros(1, 2)
    assert soft_kl(s, t, 1.0).item() == pytest.approx(kl, rel=1e-6)
    # T = 2 with the teacher scaled by 2 is the same distribution again
    assert soft_kl(s, t, 2.0, scale=2.0).item() == pytest.approx(kl, rel=1e-6)
    # alpha = 0, T = 2: the loss is T^2 * (intent KL + slot KL); one token, same pair on both heads
    settings = DistillSettings(alpha=0.0, temperature=2.0, teacher_scale=2.0)
    loss, _ = distillation_loss(s, s.unsqueeze(1), torch.tensor([0]), torch.tensor([[0]]), t, t.unsqueeze(1),
                                torch.tensor([[True]]), settings)
    assert loss.item() == pytest.approx(4 * 2 * kl, rel=1e-6)


def test_slot_kl_reads_only_real_tokens():
    intent, slots, gold_i, tags, mask = _random_batch(2)
    teacher_s = torch.randn_like(slots)
    settings = DistillSettings(alpha=0.3, temperature=2.0)
    a, _ = distillation_loss(intent, slots, gold_i, tags, intent, teacher_s, mask, settings)
    noisy_s, noisy_t = slots.clone(), teacher_s.clone()
    noisy_s[~mask] = 50.0
    noisy_t[~mask] = -50.0
    b, _ = distillation_loss(intent, noisy_s, gold_i, tags, intent, noisy_t, mask, settings)
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_rows_without_gold_learn_from_the_teacher_only():
    intent, slots, gold_i, tags, mask = _random_batch(3)
    gold_i[1] = IGNORE
    tags[1] = IGNORE
    ti, ts = torch.randn_like(intent), torch.randn_like(slots)
    settings = DistillSettings(alpha=0.5, temperature=1.0)
    loss, parts = distillation_loss(intent, slots, gold_i, tags, ti, ts, mask, settings)
    keep = torch.tensor([0, 2])
    ce_i = torch.nn.functional.cross_entropy(intent[keep], gold_i[keep]).item()
    assert parts["intent"] == pytest.approx(ce_i, rel=1e-6)
    assert torch.isfinite(loss)
    with pytest.raises(PqError):
        DistillSettings(alpha=1.5).check()


# -- augmentation ----------------------------------------------------------------------------

def _examples():
    en = [Example("call mom now", "IN:CREATE_CALL", (("SL:CONTACT", 5, 8),), "en", "a.json", 1),
          Example("set an alarm for 7 am", "IN:CREATE_ALARM", (("SL:DATE_TIME", 17, 21),), "en", "a.json", 2),
          Example("call dad please", "IN:CREATE_CALL", (("SL:CONTACT", 5, 8),), "en", "a.json", 3),
          Example("wake me at 6 pm", "IN:CREATE_ALARM", (("SL:DATE_TIME", 11, 15),), "en", "a.json", 4)]
    de = [Example("ruf mama an", "IN:CREATE_CALL", (("SL:CONTACT", 4, 8),), "de", "a.json", 1),
          Example("wecker um 7 uhr", "IN:CREATE_ALARM", (("SL:DATE_TIME", 7, 15),), "de", "a.json", 2)]
    return en + de


def _foreign():
    """Another corpus's examples (SNIPS- and MTOD-style labels)."""
    return [Example("weather in paris tomorrow", "GetWeather", (("city", 11, 16), ("timeRange", 17, 25)), "en"),
            Example("remind me to feed the cat at noon", "reminder/set",
                    (("reminder/todo", 13, 25), ("datetime", 26, 33)), "en"),
            Example("play some jazz", "PlayMusic", (("genre", 10, 14),), "en")]


# word -> neighbours, as neighbours.teacher_neighbours gives them (wordsub)
NEIGHBOURS = {"mom": ["mother", "aunt"], "alarm": ["siren"], "dad": ["father"]}


def test_augmentation_is_deterministic_and_new():
    ex = _examples()
    req = [(k, 1.0) for k in KINDS]
    a = augment(ex, req, seed=7, foreign=_foreign(), neighbours=NEIGHBOURS)
    assert a == augment(ex, req, seed=7, foreign=_foreign(), neighbours=NEIGHBOURS) and len(a) > 0
    assert augment(ex, req, seed=8, foreign=_foreign(), neighbours=NEIGHBOURS) != a
    originals = {e.text for e in ex}
    assert all(x.text not in originals for x in a)
    assert len({x.text for x in a}) == len(a)
    assert {x.kind for x in a} == set(KINDS)


def test_each_kind_does_what_it_says():
    ex = _examples()
    for x in augment(ex, [("slotsub", 1.0)], seed=1):
        src = ex[x.source]
        label, s, e = src.spans[0]
        # the text around the slot stays; the slot holds another same-language value of that label
        assert x.text.startswith(src.text[:s]) and x.text.endswith(src.text[e:])
        assert src.lang == "en" and x.text[s: len(x.text) - (len(src.text) - e)] in {"mom", "dad", "7 am", "6 pm"}
    xs = augment(ex, [("xslotsub", 1.0)], seed=1, foreign=_foreign())
    # only the DATE_TIME examples have a foreign match (timeRange, datetime); CONTACT has none
    assert xs and {ex[x.source].spans[0][0] for x in xs} == {"SL:DATE_TIME"}
    for x in xs:
        src = ex[x.source]
        label, s, e = src.spans[0]
        assert x.text.startswith(src.text[:s]) and x.text.endswith(src.text[e:])
        assert x.text[s: len(x.text) - (len(src.text) - e)] in {"tomorrow", "at noon"}
    with pytest.raises(PqError, match="xslotsub needs --transfer"):
        augment(ex, [("xslotsub", 1.0)], seed=1)
    cs = augment(ex, [("codeswitch", 1.0)], seed=1)
    assert {x.text for x in cs} >= {"call mama now"} or {x.text for x in cs} >= {"ruf mom an"}
    assert all(x.text in {"call mama now", "set an alarm for um 7 uhr", "ruf mom an", "wecker 7 am"} for x in cs)
    for x in augment(ex, [("dropout", 1.0)], seed=1):
        assert len(x.text.split()) < len(ex[x.source].text.split())
    for x in augment(ex, [("swap", 1.0)], seed=1):
        assert sorted(x.text.split()) == sorted(ex[x.source].text.split())
    ws = augment(ex, [("wordsub", 1.0)], seed=1, neighbours=NEIGHBOURS)
    assert {x.text for x in ws} <= {"call mother now", "call aunt now", "set an siren for 7 am", "call father please"}
    assert {x.source for x in ws} == {0, 1, 2}              # "wake me at 6 pm" and German: no neighbours
    capital = [Example("Call Mom, not DAD", "IN:CREATE_CALL", (), "en")]       # the words' case is kept
    texts = {x.text for x in augment(capital, [("wordsub", 3.0)], seed=0, neighbours=NEIGHBOURS)}
    assert texts and texts <= {"Call Mother, not DAD", "Call Aunt, not DAD", "Call Mom, not FATHER",
                               "Call Mother, not FATHER", "Call Aunt, not FATHER"}
    with pytest.raises(PqError, match="wordsub needs word neighbours"):
        augment(ex, [("wordsub", 1.0)], seed=1)
    assert parse_request("chars=0.5") == ("chars", 0.5)
    with pytest.raises(PqError, match="unknown augmentation"):
        parse_request("paraphrase=1")


def test_embedding_neighbours_are_nearest_whole_words_without_their_own_stems():
    from pqcompile.distill.neighbours import content_words, embedding_neighbours
    vocab = {"[CLS]": 0, "pizza": 1, "pizzas": 2, "burger": 3, "##er": 4, "tea": 5, "7": 6, "pasta": 7, "x": 8}
    emb = torch.tensor([[0.0, 0, 1], [1, 0.1, 0], [1, 0.1, 0], [1, 0.3, 0], [1, 0.1, 0], [0, 1, 0], [1, 0.1, 0],
                        [1, 0.5, 0], [1, 0.1, 0]])
    near = embedding_neighbours(vocab, emb, ["Pizza", "coffee", "tea"], k=2)
    # "pizzas" shares the stem, "##er", "7" and "x" are not whole words, "coffee" is not in the vocabulary
    assert near == {"pizza": ["burger", "pasta"], "tea": ["pasta", "burger"]}
    assert content_words(["call mom", "call dad", "Call the 11pm bus"], frequent=1) == \
        ["call", "mom", "dad", "the", "bus"]                                  # 5 distinct words: none skipped
    many = [f"call w{chr(97 + i)}x" for i in range(12)]
    assert content_words(many, frequent=1) == [f"w{chr(97 + i)}x" for i in range(12)]   # "call" is the top tenth
    with pytest.raises(PqError, match="no whole-word pieces"):
        embedding_neighbours({"##a": 0}, emb, ["a"])


# -- soft labels -> the student's loop ---------------------------------------------------------

TEACHER_LABELS = {"intents": ["IN:B", "IN:A"], "slot_tags": ["O", "B-SL:X", "I-SL:X", "B-SL:Y", "I-SL:Y"]}


def _write_labels(out, rows):
    for r in rows:
        r["n_tokens"] = len(tokenize(r["text"], DEFAULT_SPEC))
    rng = np.random.default_rng(0)
    made = {}

    def label_batch(texts):
        T = max(len(tokenize(t, DEFAULT_SPEC)) for t in texts)
        intent = rng.normal(size=(len(texts), 2)).astype(np.float32)
        slots = rng.normal(size=(len(texts), T, 5)).astype(np.float32)
        for t, i, s in zip(texts, intent, slots):
            made[t] = (i, s[: len(tokenize(t, DEFAULT_SPEC))])
        return intent, slots

    header = {"teacher": "none", "labels": TEACHER_LABELS, "spec": DEFAULT_SPEC.to_dict()}
    write_soft_labels(out, rows, header, label_batch, shard_size=2, batch_size=1, progress=False)
    return made


def test_teacher_targets_in_the_students_label_order(tmp_path):
    rows = [{"text": "alpha beta", "lang": "en", "origin": "gold", "intent": "IN:A", "spans": [["SL:X", 6, 10]]},
            {"text": "gamma", "lang": "en", "origin": "gold", "intent": "IN:B", "spans": []},
            {"text": "beta alpha delta", "lang": "en", "origin": "swap", "intent": None, "spans": None}]
    made = _write_labels(tmp_path / "labels", rows)
    soft = SoftLabels(tmp_path / "labels")
    assert len(soft) == 3 and len(soft.index["shards"]) == 2
    # the student knows IN:A, IN:B, IN:C (not the teacher's) and tags O, B/I-SL:X, B/I-SL:Z
    student_intents = ["IN:A", "IN:B", "IN:C"]
    student_tags = ["O", "B-SL:X", "I-SL:X", "B-SL:Z", "I-SL:Z"]
    targets = TeacherTargets(soft, student_intents, student_tags, DistillSettings())
    ti, ts, mask = targets.batch([2, 0], 4)
    want_i, want_s = made["beta alpha delta"]
    np.testing.assert_allclose(ti[0, :2].numpy(), want_i[[1, 0]], atol=1e-2)   # columns matched by name
    assert ti[0, 2].item() == ABSENT
    np.testing.assert_allclose(ts[0, :3, :3].numpy(), want_s[:, :3], atol=1e-2)
    assert (ts[0, :3, 3:] == ABSENT).all()
    assert mask.tolist() == [[True, True, True, False], [True, True, False, False]]

    enc = distill_training_set(soft, DEFAULT_SPEC, student_intents, student_tags)
    assert enc.intent_ids.tolist() == [0, 1, IGNORE]
    assert enc.tag_ids[0].tolist() == [0, 1] and enc.tag_ids[2].tolist() == [IGNORE] * 3


def test_labels_from_another_tokenisation_are_refused(tmp_path):
    rows = [{"text": "alpha, beta", "lang": "en", "origin": "gold", "intent": "IN:A", "spans": []}]
    _write_labels(tmp_path / "labels", rows)
    soft = SoftLabels(tmp_path / "labels")
    with pytest.raises(PqError, match="another tokenisation"):
        distill_training_set(soft, DEFAULT_SPEC.replace(separators=""), ["IN:A"], ["O"])


def test_a_half_written_labels_folder_is_not_readable(tmp_path):
    with pytest.raises(PqError, match="not a soft-labels folder"):
        SoftLabels(tmp_path)


def test_distill_inputs_drive_a_real_student(tmp_path):
    """Soft labels -> the loop's training set and loss -> a tiny pQRNN's forward and backward."""
    from pqcompile.distill.student import distill_inputs, labels_spec
    from pqcompile.train.data import make_batch
    from pqcompile.train.loop import TrainSettings, new_run_config
    from pqcompile.model.registry import model_from_config
    rows = [{"text": "alpha beta", "lang": "en", "origin": "gold", "intent": "IN:A", "spans": [["SL:X", 6, 10]]},
            {"text": "gamma delta", "lang": "en", "origin": "gold", "intent": "IN:B", "spans": [["SL:Y", 0, 5]]},
            {"text": "beta alpha delta", "lang": "en", "origin": "chars", "intent": None, "spans": None}]
    _write_labels(tmp_path / "labels", rows)
    spec = labels_spec(str(tmp_path / "labels"), 64)
    soft = SoftLabels(tmp_path / "labels")
    from pqcompile.distill.targets import gold_examples
    config = new_run_config(gold_examples(soft), [], spec, "pqrnn", "tiny", {"feature_size": 64},
                            TrainSettings(), {})
    train_set, loss_fn = distill_inputs(str(tmp_path / "labels"), config, DistillSettings(alpha=0.5))
    assert config["train"]["distill"]["alpha"] == 0.5 and len(train_set) == 3
    model = model_from_config(config["model"])
    batch = make_batch(train_set, np.arange(3), spec)
    intent, slots = model(batch.inputs)
    loss, parts = loss_fn(intent, slots, batch)
    loss.backward()
    assert torch.isfinite(loss) and parts["kl_slot"] > 0
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_select_rows_picks_gold_and_the_kinds_asked_for(tmp_path):
    from pqcompile.distill.targets import select_rows
    gold = [{"text": t, "lang": "en", "origin": "gold", "intent": "IN:A", "spans": []} for t in ("a b", "c d")]
    aug = [{"text": f"{k} {n} {src}", "lang": "en", "origin": k, "source": src, "intent": None, "spans": None}
           for k in ("swap", "chars") for src in (0, 1) for n in range(2)]
    _write_labels(tmp_path / "labels", gold + aug)
    soft = SoftLabels(tmp_path / "labels")
    assert select_rows(soft).tolist() == list(range(10))
    assert select_rows(soft, ["none"]).tolist() == [0, 1]
    assert [soft.rows[i]["origin"] for i in select_rows(soft, ["swap"])] == ["gold"] * 2 + ["swap"] * 4
    one_each = select_rows(soft, ["swap=1", "chars"])
    assert [soft.rows[i]["text"] for i in one_each if soft.rows[i]["origin"] == "swap"] == ["swap 0 0", "swap 0 1"]
    assert len(one_each) == 2 + 2 + 4
    with pytest.raises(PqError, match="no slotsub text"):
        select_rows(soft, ["slotsub"])
    enc = distill_training_set(soft, DEFAULT_SPEC, ["IN:A"], ["O"], one_each)
    assert [ex.text for ex in enc.examples] == [soft.rows[i]["text"] for i in one_each]
    targets = TeacherTargets(soft, ["IN:A"], ["O"], DistillSettings(), one_each)
    intent, _, _ = targets.batch([2], 4)
    assert intent[0, 0].item() == pytest.approx(float(soft.logits(int(one_each[2]))[0][1]), abs=1e-3)


def test_several_labels_folders_train_as_one_corpus(tmp_path):
    """A union of labels folders: rows in folder order, a text repeated in a later folder (the gold
    rows of a second labelling run) used once with the first folder's targets; the student's
    inputs come from all of them; folders with other teacher labels are refused."""
    import json as _json
    from pqcompile.distill.soft_labels import SoftLabelsUnion, open_labels
    from pqcompile.distill.student import distill_inputs, labels_spec
    from pqcompile.distill.targets import gold_examples
    from pqcompile.train.loop import TrainSettings, new_run_config
    gold = [{"text": "alpha beta", "lang": "en", "origin": "gold", "intent": "IN:A", "spans": [["SL:X", 6, 10]]},
            {"text": "gamma", "lang": "en", "origin": "gold", "intent": "IN:B", "spans": []}]
    first = _write_labels(tmp_path / "a", [dict(r) for r in gold] +
                          [{"text": "beta alpha", "lang": "en", "origin": "swap", "source": 0, "intent": None, "spans": None}])
    second = _write_labels(tmp_path / "b", [dict(gold[1]),
                                            {"text": "delta gamma", "lang": "en", "origin": "transfer", "source": 0,
                                             "intent": None, "spans": None}, dict(gold[0])])
    union = open_labels([str(tmp_path / "a"), str(tmp_path / "b")])
    assert isinstance(union, SoftLabelsUnion) and len(union) == 4
    assert [r["text"] for r in union.rows] == ["alpha beta", "gamma", "beta alpha", "delta gamma"]
    assert len(gold_examples(union)) == 2                      # the repeated gold rows count once
    np.testing.assert_allclose(union.logits(0)[0], first["alpha beta"][0], atol=1e-2)    # first folder wins
    assert not np.allclose(first["alpha beta"][0], second["alpha beta"][0], atol=1e-2)
    np.testing.assert_allclose(union.logits(3)[1], second["delta gamma"][1], atol=1e-2)
    assert union.index["parts"] == [str(tmp_path / "a"), str(tmp_path / "b")]
    # a student trains on the union; its config records both folders
    folders = [str(tmp_path / "a"), str(tmp_path / "b")]
    spec = labels_spec(folders, 64)
    config = new_run_config(gold_examples(union), [], spec, "pqrnn", "tiny", {"feature_size": 64}, TrainSettings(), {})
    train_set, _ = distill_inputs(folders, config, DistillSettings())
    assert len(train_set) == 4 and _json.loads(_json.dumps(config))["train"]["distill"]["labels"] == folders
    # one folder in a list is that folder
    assert isinstance(open_labels([folders[0]]), SoftLabels)
    # other teacher labels: refused in one line
    other = tmp_path / "c"
    write_soft_labels(other, [dict(gold[1], n_tokens=1)], {"teacher": "none", "labels": {"intents": ["IN:Z"], "slot_tags": ["O"]},
                      "spec": DEFAULT_SPEC.to_dict()},
                      lambda texts: (np.zeros((len(texts), 1), np.float32), np.zeros((len(texts), 1, 1), np.float32)),
                      progress=False)
    with pytest.raises(PqError, match="other intents or slot tags"):
        open_labels([folders[0], str(other)])


def test_combined_labels_are_the_teachers_mean_log_probabilities(tmp_path):
    """`teacher combine`: per text, the mean of the folders' log-softmax (intent and each token's
    slots), on the first folder's rows, whatever order the other folder holds them in; folders of
    other texts are refused in one line, and nothing is written then."""
    from pqcompile.distill.combine import combine_labels
    from pqcompile.distill.soft_labels import log_softmax
    rows = [{"text": "alpha beta", "lang": "en", "origin": "gold", "intent": "IN:A", "spans": [["SL:X", 6, 10]]},
            {"text": "gamma", "lang": "en", "origin": "gold", "intent": "IN:B", "spans": []},
            {"text": "beta alpha delta", "lang": "en", "origin": "swap", "intent": None, "spans": None}]
    a = _write_labels(tmp_path / "a", [dict(r) for r in rows])
    b = _write_labels(tmp_path / "b", [dict(r) for r in reversed(rows)])
    index = combine_labels([tmp_path / "a", tmp_path / "b"], tmp_path / "ab", progress=False)
    assert [r["text"] for r in index["rows"]] == [r["text"] for r in rows]
    assert index["combined"] == [str(tmp_path / "a"), str(tmp_path / "b")]
    soft = SoftLabels(tmp_path / "ab")
    for k, r in enumerate(rows):
        (ia, sa), (ib, sb) = a[r["text"]], b[r["text"]]
        intent, slots = soft.logits(k)
        np.testing.assert_allclose(intent, (log_softmax(ia) + log_softmax(ib)) / 2, atol=2e-2)
        np.testing.assert_allclose(slots, (log_softmax(sa) + log_softmax(sb)) / 2, atol=2e-2)
        assert slots.shape == sa.shape
    # the ensemble differs from either teacher alone
    assert not np.allclose(soft.logits(0)[0], log_softmax(a["alpha beta"][0]), atol=1e-2)

    _write_labels(tmp_path / "c", [dict(rows[0])])
    with pytest.raises(PqError, match="2 of the 3 texts of .* are not in"):
        combine_labels([tmp_path / "a", tmp_path / "c"], tmp_path / "ac", progress=False)
    assert not (tmp_path / "ac").exists()
    with pytest.raises(PqError, match="already exists"):
        combine_labels([tmp_path / "a", tmp_path / "b"], tmp_path / "ab", progress=False)


def test_combine_command_reports_bad_folders_in_one_line(tmp_path):
    from cli_runner import run_cli
    rows = [{"text": "gamma", "lang": "en", "origin": "gold", "intent": "IN:B", "spans": []}]
    _write_labels(tmp_path / "a", [dict(r) for r in rows])
    _write_labels(tmp_path / "b", [dict(r) for r in rows])
    bad = run_cli("teacher", "combine", str(tmp_path / "a"), str(tmp_path / "nothing"), "--out", str(tmp_path / "x"), ok=False)
    assert bad.returncode != 0 and "not a soft-labels folder" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
    good = run_cli("teacher", "combine", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "ab"), "--json")
    assert '"rows": 1' in good.stdout and SoftLabels(tmp_path / "ab").rows[0]["text"] == "gamma"
