"""Teacher: sub-word alignment, fine-tuning with checkpoints and resume, evaluation, soft labels.

Every test uses a tiny random BERT (pqcompile.teacher.tiny) built from the fixture text and a
small MTOP-format file the tests write themselves: no downloaded weights, no ../shared data.
"""
import json
import os

import numpy as np
import pytest
import torch

from pqcompile.cli import main
from pqcompile.datasets import load_sources
from pqcompile.distill import label as label_mod
from pqcompile.distill.soft_labels import SoftLabels, partial_dir
from pqcompile.errors import PqError
from pqcompile.projection import DEFAULT_SPEC, tokenize
from pqcompile.teacher import train as train_mod
from pqcompile.teacher.align import encode_batch, first_subwords
from pqcompile.teacher.encoder import load_tokenizer
from pqcompile.teacher.model import load_teacher
from pqcompile.teacher.predict import teacher_logits
from pqcompile.teacher.tiny import write_tiny_bert
from pqcompile.teacher.train import TrainSettings, train_teacher

# MTOP's TSV: id, intent, slots (start:end:SL:NAME), utterance, domain, locale, parse, tokens
ROWS = [
    ("IN:CREATE_ALARM", "16:20:SL:DATE_TIME", "set an alarm at 7 am"),
    ("IN:CREATE_ALARM", "15:24:SL:DATE_TIME", "wake me up at tomorrow"),
    ("IN:CREATE_ALARM", "", "set an alarm please"),
    ("IN:CREATE_CALL", "5:8:SL:CONTACT", "call mom"),
    ("IN:CREATE_CALL", "5:8:SL:CONTACT,13:16:SL:CONTACT", "call dad and mom now"),
    ("IN:CREATE_CALL", "8:13:SL:CONTACT", "ring up james"),
    ("IN:GET_WEATHER", "15:21:SL:LOCATION", "weather today paris"),
    ("IN:GET_WEATHER", "11:17:SL:LOCATION", "is it cold London?"),
    ("IN:GET_WEATHER", "", "what is the weather like"),
    ("IN:CREATE_CALL", "10:14:SL:CONTACT", "phone for john"),
    ("IN:GET_WEATHER", "16:22:SL:LOCATION", "forecast for in berlin"),
    ("IN:CREATE_ALARM", "14:19:SL:DATE_TIME", "alarm for the 6 pm"),
]


def _fix_spans():
    """Recompute each slot span from its words so the fixture cannot drift from its text."""
    out = []
    words = {"16:20": "7 am", "15:24": "tomorrow", "5:8": "mom", "13:16": "mom", "8:13": "james",
             "15:21": "paris", "11:17": "London", "10:14": "john", "16:22": "berlin", "14:19": "6 pm"}
    for intent, slots, text in ROWS:
        items = []
        for item in filter(None, slots.split(",")):
            s, e, label = item.split(":", 2)
            if "," in slots and s == "5":
                w = "dad"
            else:
                w = words[f"{s}:{e}"]
            start = text.index(w) if not items else text.index(w, int(items[-1].split(":")[1]))
            items.append(f"{start}:{start + len(w)}:{label}")
        out.append((intent, ",".join(items), text))
    return out


def write_mtop(path, rows):
    lines = [f"{i}\t{intent}\t{slots}\t{text}\tdomain\ten_XX\t[{intent} ]\t{{}}"
             for i, (intent, slots, text) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"mtop:{path}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher")
    data = write_mtop(root / "train.txt", _fix_spans())
    examples = load_sources([data])
    model = write_tiny_bert(root / "tiny-bert", [ex.text for ex in examples] + ["?"])
    return {"root": root, "data": data, "examples": examples, "model": model}


def test_first_subword_of_each_projection_token():
    # "set alarms for mom?" -> tokens set, alarms, for, mom, ?; sub-words [CLS] set alarm ##s for mom ? [SEP]
    tokens = tokenize("set alarms for mom?", DEFAULT_SPEC)
    offsets = [(0, 0), (0, 3), (4, 9), (9, 10), (11, 14), (15, 18), (18, 19), (0, 0)]
    special = [1, 0, 0, 0, 0, 0, 0, 1]
    assert first_subwords(tokens, offsets, special) == [1, 2, 4, 5, 6]
    # a projection token the sub-words do not reach (cut by max_length) reads [CLS]
    assert first_subwords(tokens, offsets[:4] + [(0, 0)], [1, 0, 0, 0, 1]) == [1, 2, 0, 0, 0]


def test_alignment_with_the_fast_tokenizer(setup):
    tok = load_tokenizer(setup["model"])
    b = encode_batch(["Set alarms for MOM?", "call dad"], tok, DEFAULT_SPEC, 32)
    ids = b.input_ids[0].tolist()
    picked = [tok.convert_ids_to_tokens(ids[i]) for i in b.first_subword[0].tolist()]
    assert picked == ["set", "alarm", "for", "mom", "?"]
    assert b.token_mask.tolist() == [[True] * 5, [True, True, False, False, False]]


def _train(setup, out, **kw):
    settings = TrainSettings(**{"epochs": 3, "lr": 3e-3, "batch_size": 4, "seed": 1, **kw})
    return train_teacher(setup["model"], setup["examples"], out, settings, DEFAULT_SPEC)


def test_train_then_evaluate_from_the_cli(setup, capsys):
    out = setup["root"] / "teachers" / "t"
    main(["teacher", "train", "--model", str(setup["model"]), "--data", setup["data"], "--out", str(out),
          "--epochs", "20", "--lr", "3e-3", "--batch-size", "4", "--train-embeddings", "--seed", "0", "--json"])
    rec = json.loads(capsys.readouterr().out)
    assert rec["steps"] == 60 and rec["epochs"] == 20
    assert (out / "teacher.json").is_file() and not (out.parent / ".t.ckpt").exists()
    main(["teacher", "evaluate", str(out), "--data", setup["data"], "--json"])
    m = json.loads(capsys.readouterr().out)
    assert m["parameters"] == load_teacher(out).n_parameters() and m["fp32_bytes"] == 4 * m["parameters"]
    # 12 memorable utterances, 3 intents: twenty epochs learn the intents far above chance (1/3)
    assert m["overall"]["n"] == 12 and m["overall"]["intent_accuracy"] >= 0.75
    assert set(m["per_lang"]) == {"en"}


@pytest.mark.parametrize("every", [100, 2])   # resume from an epoch's end / from inside an epoch
def test_resume_after_an_interruption_matches_an_uninterrupted_run(setup, monkeypatch, every):
    whole = setup["root"] / f"whole{every}"
    if not whole.exists():
        _train(setup, whole)
    out = setup["root"] / f"resumed{every}"
    calls = {"n": 0}
    real = train_mod.joint_loss

    def interrupt_in_epoch_two(*args):
        calls["n"] += 1
        if calls["n"] == 5:   # 3 steps per epoch; checkpoints after step 3 (every=100) or step 4 (every=2)
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_mod, "joint_loss", interrupt_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        _train(setup, out, checkpoint_every=every)
    monkeypatch.setattr(train_mod, "joint_loss", real)
    ckpt = setup["root"] / f".resumed{every}.ckpt" / "state.pt"
    assert not out.exists() and torch.load(ckpt, weights_only=False)["step"] == (3 if every == 100 else 4)
    with pytest.raises(PqError, match="other data or settings"):
        train_teacher(setup["model"], setup["examples"], out,
                      TrainSettings(epochs=3, lr=1e-3, batch_size=4, seed=1), DEFAULT_SPEC, resume=True)
    rec = train_teacher(setup["model"], setup["examples"], out,
                        TrainSettings(epochs=3, lr=3e-3, batch_size=4, seed=1, checkpoint_every=every),
                        DEFAULT_SPEC, resume=True)
    assert rec["steps"] == 9 and rec["epochs"] == 3
    a, b = load_teacher(whole).model.state_dict(), load_teacher(out).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bf16_training_resumes_an_fp32_checkpoint_and_bf16_logits_stay_near_fp32(setup, monkeypatch, capsys):
    out = setup["root"] / "bf16"
    calls = {"n": 0}
    real = train_mod.joint_loss

    def interrupt(*args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_mod, "joint_loss", interrupt)
    with pytest.raises(KeyboardInterrupt):
        _train(setup, out, checkpoint_every=2)
    monkeypatch.setattr(train_mod, "joint_loss", real)
    # precision is how the arithmetic runs, not what is trained: an fp32 checkpoint resumes in bf16
    rec = train_teacher(setup["model"], setup["examples"], out,
                        TrainSettings(epochs=3, lr=3e-3, batch_size=4, seed=1, checkpoint_every=2, precision="bf16"),
                        DEFAULT_SPEC, resume=True)
    assert rec["steps"] == 9 and rec["settings"]["precision"] == "bf16"
    texts = [ex.text for ex in setup["examples"]]
    i32, s32, _ = teacher_logits(load_teacher(out), texts)
    i16, s16, _ = teacher_logits(load_teacher(out, "bf16"), texts)
    assert i16.dtype == np.float32 and i16.shape == i32.shape and s16.shape == s32.shape
    assert not np.array_equal(i16, i32)   # the bf16 products really ran
    assert np.linalg.norm(i16 - i32) <= 0.05 * np.linalg.norm(i32)
    assert np.linalg.norm(s16 - s32) <= 0.05 * np.linalg.norm(s32)
    main(["teacher", "evaluate", str(out), "--data", setup["data"], "--precision", "bf16", "--json"])
    assert json.loads(capsys.readouterr().out)["precision"] == "bf16"
    with pytest.raises(PqError, match="precision must be one of"):
        load_teacher(out, "fp16")


def test_length_grouped_batches_cover_every_example_once_with_less_padding():
    texts = [" ".join(["w"] * n) for n in range(1, 401)]
    examples = [type("Ex", (), {"text": t})() for t in texts]
    plain = TrainSettings(batch_size=8, seed=3)
    grouped = TrainSettings(batch_size=8, seed=3, group_by_length=True)
    for epoch in (0, 1):
        a = train_mod.epoch_batches(examples, plain, epoch)
        b = train_mod.epoch_batches(examples, grouped, epoch)
        assert b == train_mod.epoch_batches(examples, grouped, epoch)   # resume replays the same batches
        assert sorted(i for batch in b for i in batch) == list(range(len(texts)))
        assert len(b) == len(a) == 50 and all(len(batch) == 8 for batch in b)

        def padded(bs):
            return sum(max(len(texts[i]) for i in batch) * len(batch) for batch in bs)
        assert padded(b) < 0.7 * padded(a)
    # batches are not in length order: an epoch does not go from short to long texts
    lengths = [len(texts[batch[0]]) for batch in train_mod.epoch_batches(examples, grouped, 0)]
    assert lengths != sorted(lengths)


def test_resume_without_a_checkpoint_is_an_error(setup):
    with pytest.raises(PqError, match="nothing to resume"):
        train_teacher(setup["model"], setup["examples"], setup["root"] / "none", TrainSettings(), DEFAULT_SPEC,
                      resume=True)


def test_bad_teacher_folder_is_a_one_line_error(setup, capsys):
    with pytest.raises(SystemExit) as e:
        main(["teacher", "evaluate", str(setup["root"]), "--data", setup["data"]])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "not a teacher folder" in err and "\n" not in err
    # an existing output is never overwritten
    with pytest.raises(SystemExit) as e:
        main(["teacher", "train", "--model", str(setup["model"]), "--data", setup["data"],
              "--out", str(setup["root"])])
    assert e.value.code == 2 and "already exists" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["teacher", "label", str(setup["root"]), "--data", setup["data"], "--out", "x", "--augment", "paraphrase=1"])
    assert e.value.code == 2 and "unknown augmentation" in capsys.readouterr().err


def test_label_writes_memory_mapped_shards_and_resumes(setup, monkeypatch):
    teacher_dir = setup["root"] / "label-teacher"
    _train(setup, teacher_dir, epochs=1)
    teacher = load_teacher(teacher_dir)
    ex = setup["examples"]
    out = setup["root"] / "labels" / "x"
    real = label_mod.ensemble_logits
    calls = {"n": 0}

    def die_in_shard_two(t, texts):
        calls["n"] += 1
        if calls["n"] == 3:     # batch 2 per shard of 4: shard 0 done, then shard 1 dies
            raise KeyboardInterrupt
        return real(t, texts)

    monkeypatch.setattr(label_mod, "ensemble_logits", die_in_shard_two)
    kw = dict(requests=[("swap", 0.5)], seed=3, shard_size=4, batch_size=2, progress=False)
    with pytest.raises(KeyboardInterrupt):
        label_mod.label_corpus(teacher, teacher_dir, ex, out, **kw)
    monkeypatch.setattr(label_mod, "ensemble_logits", real)
    part = partial_dir(out)
    assert not out.exists() and sorted(p.name for p in part.glob("*.npy")) == ["00000.intent.npy",
                                                                              "00000.slots.npy"]
    first_shard = (part / "00000.slots.npy").stat()
    index = label_mod.label_corpus(teacher, teacher_dir, ex, out, **kw)
    assert not part.exists() and len(index["shards"]) == 5      # 12 gold + 6 swapped = 18 rows
    assert (out / "00000.slots.npy").stat().st_ino == first_shard.st_ino   # kept, not redone

    soft = SoftLabels(out)
    assert len(soft) == 18 and [r["origin"] for r in soft.rows].count("swap") == 6
    assert all(r["intent"] is None for r in soft.rows if r["origin"] == "swap")
    assert np.load(out / "00000.slots.npy", mmap_mode="r").dtype == np.float16
    # the stored logits are the teacher's own, row by row
    for i in (0, 7, 17):
        intent, slots, toks = teacher_logits(teacher, [soft.rows[i]["text"]])
        got_intent, got_slots = soft.logits(i)
        assert got_slots.shape == (len(toks[0]), len(teacher.labels.slot_tags))
        np.testing.assert_allclose(got_intent, intent[0], atol=2e-2, rtol=1e-2)
        np.testing.assert_allclose(got_slots, slots[0], atol=2e-2, rtol=1e-2)


def test_an_ensemble_labels_and_evaluates_with_its_mean_log_probabilities(setup, tmp_path, capsys):
    """Two teachers (other seeds) label as one: each stored row is the mean of their
    log_softmax; `teacher evaluate A B` scores that ensemble; a teacher with other labels is refused."""
    from cli_runner import run_cli
    a, b = setup["root"] / "ens-a", setup["root"] / "ens-b"
    _train(setup, a, epochs=1)
    _train(setup, b, epochs=1, seed=5)
    out = tmp_path / "ens-labels"
    run_cli("teacher", "label", a, b, "--data", setup["data"], "--out", out, "--json")
    soft = SoftLabels(out)
    assert soft.index["ensemble"] == [str(a), str(b)] and len(soft) == 12
    ta, tb = load_teacher(a), load_teacher(b)
    for i in (0, 5, 11):
        text = soft.rows[i]["text"]
        (ia, sa, _), (ib, sb, _) = teacher_logits(ta, [text]), teacher_logits(tb, [text])
        assert not np.allclose(ia, ib, atol=1e-3)          # two different teachers
        mean_i = (torch.log_softmax(torch.from_numpy(ia[0]), -1) + torch.log_softmax(torch.from_numpy(ib[0]), -1)) / 2
        mean_s = (torch.log_softmax(torch.from_numpy(sa[0]), -1) + torch.log_softmax(torch.from_numpy(sb[0]), -1)) / 2
        got_i, got_s = soft.logits(i)
        np.testing.assert_allclose(got_i, mean_i.numpy(), atol=2e-2, rtol=1e-2)
        np.testing.assert_allclose(got_s, mean_s.numpy(), atol=2e-2, rtol=1e-2)
    # the ensemble's evaluation differs from either member's only through the averaged logits
    ens = json.loads(run_cli("teacher", "evaluate", a, b, "--data", setup["data"], "--json").stdout)
    assert ens["teacher"] == [str(a), str(b)] and ens["overall"]["n"] == 12
    assert ens["parameters"] == ta.n_parameters() + tb.n_parameters()
    # members must share labels: a teacher trained on other intents is refused in one line
    c = setup["root"] / "ens-other"
    no_weather = [ex for ex in setup["examples"] if ex.intent != "IN:GET_WEATHER"]
    train_teacher(setup["model"], no_weather, c, TrainSettings(epochs=1, lr=3e-3, batch_size=4), DEFAULT_SPEC)
    with pytest.raises(SystemExit) as e:
        main(["teacher", "evaluate", str(a), str(c), "--data", setup["data"]])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "other intents or slot tags" in err and "\n" not in err


@pytest.fixture(scope="module")
def cli_labels(setup):
    """A teacher's soft labels of the fixture plus one swapped and one word-dropped text per example,
    made through the CLI."""
    from cli_runner import run_cli
    teacher_dir = setup["root"] / "cli-teacher"
    _train(setup, teacher_dir, epochs=1)
    labels = setup["root"] / "cli-labels"
    run_cli("teacher", "label", teacher_dir, "--data", setup["data"], "--out", labels, "--augment", "swap=1",
            "--augment", "dropout=1", "--json")
    return labels


def test_a_student_trains_on_two_labels_folders_and_resumes(setup, cli_labels, tmp_path):
    """A second labelling run (more augmented text, same teacher) joins the first one at training
    time: `--teacher-labels A --teacher-labels B` uses each distinct text once; --resume reads both."""
    from cli_runner import run_cli
    more = tmp_path / "more-labels"
    run_cli("teacher", "label", setup["root"] / "cli-teacher", "--data", setup["data"], "--out", more,
            "--augment", "chars=1", "--json")
    student = tmp_path / "two-folders"
    common = ["--teacher-labels", cli_labels, "--teacher-labels", more, "--model", "pqrnn", "--config", "tiny",
              "--set", "feature_size=64", "--out", student, "--quiet", "--json"]
    summary = json.loads(run_cli("train", *common, "--epochs", "1").stdout)
    n_first = len(SoftLabels(cli_labels))
    n_chars = sum(r["origin"] == "chars" for r in SoftLabels(more).rows)
    assert summary["data"]["train"] == 12 and summary["data"]["train_used"] == n_first + n_chars
    assert json.loads((student / "config.json").read_text())["train"]["distill"]["labels"] == [str(cli_labels), str(more)]
    resumed = json.loads(run_cli("train", *common, "--epochs", "2", "--resume").stdout)
    assert resumed["complete"] and len(resumed["epochs"]) == 2


def test_teacher_label_then_distilled_student_from_the_cli(setup, cli_labels):
    """The whole distillation flow on the fixture: teacher train -> teacher label (with augmented
    text) -> `pqcompile train --teacher-labels` -> evaluate the int8 student; then resume it."""
    from cli_runner import run_cli
    labels = cli_labels
    student = setup["root"] / "cli-student"
    common = ["--teacher-labels", labels, "--alpha", "0.3", "--temperature", "3", "--augmented", "swap",
              "--model", "pqrnn", "--config", "tiny", "--set", "feature_size=64", "--set", "float_epochs=1",
              "--out", student, "--quiet", "--json"]
    summary = json.loads(run_cli("train", *common, "--epochs", "1").stdout)
    # 12 gold texts + one swapped text each (dropout rows left out by --augmented swap)
    assert summary["distilled"] and summary["data"]["train"] == 12 and summary["data"]["train_used"] == 24
    config = json.loads((student / "config.json").read_text())
    assert config["train"]["distill"] == {"labels": str(labels), "alpha": 0.3, "temperature": 3.0,
                                          "teacher_scale": 1.0, "augmented": ["swap"]}
    assert config["train"]["teacher_labels"] == str(labels)
    # the student tokenises as the teacher's labels did, with its own feature size
    assert config["spec"] == SoftLabels(labels).index["spec"] | {"feature_size": 64}

    refused = run_cli("train", *common, "--epochs", "2", "--resume", "--alpha", "0.5", ok=False)
    assert refused.returncode != 0 and "alpha" in refused.stderr and "Traceback" not in refused.stderr
    resumed = json.loads(run_cli("train", "--out", student, "--epochs", "2", "--resume", "--quiet", "--json").stdout)
    assert resumed["distilled"] and [e["epoch"] for e in resumed["epochs"]] == [1, 2]
    assert (student / "int8" / "qmodel.json").is_file()
    # intent_slots from the gold rows only (the augmented rows have no gold frame)
    from pqcompile.datasets import load_sources
    from pqcompile.quant.qmodel import QuantizedModel
    qm = QuantizedModel.load(student / "int8")
    gold = {(ex.intent, label) for ex in load_sources([setup["data"]]) for label, _, _ in ex.spans}
    assert {(i, x) for i, row in zip(qm.intent_labels, qm.intent_slots) for x in row} == gold
    metrics = json.loads(run_cli("evaluate", student, "--data", setup["data"], "--int8", "--json").stdout)
    assert 0 <= metrics["overall"]["exact_match"] <= 1 and metrics["overall"]["n"] == 12


@pytest.mark.parametrize("args, message", [
    (["--data", "DATA"], "exclude each other"),
    (["--augmented", "paraphrase"], "no paraphrase text"),
    (["--augmented", "swap=x"], "KIND or KIND=N"),
    (["--alpha", "1.5"], "--alpha must be in [0, 1]"),
])
def test_bad_distillation_options_are_one_line_errors(setup, cli_labels, tmp_path, args, message):
    from cli_runner import run_cli
    args = [setup["data"] if a == "DATA" else a for a in args]
    r = run_cli("train", "--teacher-labels", cli_labels, *args, "--config", "tiny", "--out", tmp_path / "run",
                "--quiet", ok=False)
    assert r.returncode != 0 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_distillation_options_need_teacher_labels(setup, tmp_path):
    from cli_runner import run_cli
    r = run_cli("train", "--data", setup["data"], "--alpha", "0.5", "--config", "tiny", "--out", tmp_path / "r",
                ok=False)
    assert r.returncode != 0 and "need --teacher-labels" in r.stderr and not (tmp_path / "r").exists()


def test_transfer_texts_are_labelled_once_without_gold_and_never_from_held_out_data(setup, tmp_path):
    """`teacher label --transfer`: another corpus's texts become teacher-only rows (origin
    "transfer", no gold frame); repeats of a gold text, of each other, or of an --exclude text
    (compared lowercased, on words only) are not labelled; the student trains on them."""
    from cli_runner import run_cli
    teacher_dir = setup["root"] / "cli-teacher"
    if not teacher_dir.exists():
        _train(setup, teacher_dir, epochs=1)
    other = write_mtop(tmp_path / "other.txt", [
        ("IN:X", "", "Call mom!"),                    # a gold text, other case and punctuation
        ("IN:X", "", "remind me to buy milk"),
        ("IN:Y", "", "Remind me to buy milk."),       # repeats the line above
        ("IN:X", "", "what is the forecast in rome"),  # held out below
        ("IN:Z", "", "set a timer for ten minutes"),
    ])
    held_out = write_mtop(tmp_path / "held.txt", [("IN:GET_WEATHER", "", "What is the forecast in Rome")])
    labels = tmp_path / "labels"
    rec = json.loads(run_cli("teacher", "label", teacher_dir, "--data", setup["data"], "--out", labels,
                             "--transfer", other, "--exclude", held_out, "--json").stdout)
    assert rec["origins"] == {"gold": 12, "transfer": 2}
    soft = SoftLabels(labels)
    transfer = [r for r in soft.rows if r["origin"] == "transfer"]
    assert [r["text"] for r in transfer] == ["remind me to buy milk", "set a timer for ten minutes"]
    assert all(r["intent"] is None and r["spans"] is None for r in transfer)
    assert soft.index["transfer"] == [other] and soft.index["exclude"] == [held_out]

    student = tmp_path / "student"
    summary = json.loads(run_cli("train", "--teacher-labels", labels, "--augmented", "transfer", "--model", "pqrnn",
                                 "--config", "tiny", "--set", "feature_size=64", "--epochs", "1", "--out", student,
                                 "--quiet", "--json").stdout)
    assert summary["data"]["train"] == 12 and summary["data"]["train_used"] == 14

    refused = run_cli("teacher", "label", teacher_dir, "--data", setup["data"], "--out", tmp_path / "l2",
                      "--exclude", held_out, ok=False)
    assert refused.returncode != 0 and "give --transfer too" in refused.stderr and not (tmp_path / "l2").exists()


def test_wordsub_labels_texts_with_the_teachers_embedding_neighbours(setup, tmp_path):
    """`teacher label --augment wordsub=N`: words replaced by their nearest whole-word pieces in the
    teacher's own embedding table; each new text is a gold text with some words changed."""
    import re

    from cli_runner import run_cli

    from pqcompile.distill.neighbours import content_words, teacher_neighbours
    teacher_dir = setup["root"] / "cli-teacher"
    if not teacher_dir.exists():
        _train(setup, teacher_dir, epochs=1)
    labels = tmp_path / "labels"
    rec = json.loads(run_cli("teacher", "label", teacher_dir, "--data", setup["data"], "--out", labels,
                             "--augment", "wordsub=1", "--json").stdout)
    soft = SoftLabels(labels)
    gold = [r["text"] for r in soft.rows if r["origin"] == "gold"]
    made = [r for r in soft.rows if r["origin"] == "wordsub"]
    assert rec["origins"]["wordsub"] == len(made) > 0 and all(r["intent"] is None for r in made)
    near = teacher_neighbours(load_teacher(teacher_dir), content_words(gold))
    for r in made:
        src = gold[r["source"]]
        a, b = re.split(r"([A-Za-z]+)", src), re.split(r"([A-Za-z]+)", r["text"])
        changed = [(x, y) for x, y in zip(a, b) if x != y]
        assert len(a) == len(b) and changed and r["text"] not in gold
        assert all(y.lower() in near[x.lower()] for x, y in changed)


@pytest.fixture(scope="module")
def cli_lexicon(setup, cli_labels):
    """`teacher lexicon` of the CLI teacher: its vocabulary's whole words and the fixture's words."""
    from cli_runner import run_cli
    out = setup["root"] / "lexicon.npz"
    rec = json.loads(run_cli("teacher", "lexicon", setup["root"] / "cli-teacher", "--data", setup["data"],
                             "--out", out, "--json").stdout)
    return out, rec


def test_teacher_lexicon_holds_each_one_token_word_once_with_its_vector_read_alone(setup, cli_lexicon):
    """Each word once, only words the projection reads as one token, and each vector the encoder's
    hidden state of that word alone (averaged over its sub-words): padding in a batch changes nothing."""
    from pqcompile.distill.lexicon import load_lexicon
    path, rec = cli_lexicon
    words, vectors, meta = load_lexicon(path)
    teacher = load_teacher(setup["root"] / "cli-teacher")
    assert rec["words"] == len(words) == len(set(words)) and vectors.shape == (len(words), 32)
    fixture_words = {t.text.lower() for ex in setup["examples"] for t in tokenize(ex.text, teacher.spec)}
    assert fixture_words - {"?", "6", "7"} <= set(words) and not {"?", "6", "7"} & set(words)   # words hold a letter
    assert all(len(tokenize(w, teacher.spec)) == 1 for w in words)
    assert meta["teacher"].endswith("cli-teacher") and meta["data"] == [setup["data"]]
    with torch.no_grad():
        for w in ["tomorrow", "london", "set"]:
            enc = teacher.tokenizer([w], return_tensors="pt")
            hidden = teacher.model.encoder(**enc).last_hidden_state[0, 1:-1].mean(0).numpy()
            np.testing.assert_allclose(vectors[words.index(w)], hidden, rtol=2e-3, atol=2e-3)


def test_lexicon_loss_trains_the_bottleneck_and_resumes_exactly(setup, cli_labels, cli_lexicon, tmp_path):
    """--lexicon adds a loss on the bottleneck only (the int8 model is the same size and holds no
    head); a run interrupted after epoch 1 and resumed ends with the uninterrupted run's weights."""
    from cli_runner import run_cli
    from safetensors.torch import load_file

    from pqcompile.quant.qmodel import QuantizedModel
    lexicon, _ = cli_lexicon
    common = ["--teacher-labels", cli_labels, "--model", "pqrnn", "--config", "tiny", "--set", "feature_size=64",
              "--set", "float_epochs=1", "--batch-size", "8", "--seed", "3", "--quiet", "--json"]
    plain = json.loads(run_cli("train", *common, "--epochs", "2", "--out", tmp_path / "plain").stdout)
    with_lex = ["--lexicon", lexicon, "--lexicon-weight", "0.5", "--lexicon-batch", "16"]
    whole = json.loads(run_cli("train", *common, *with_lex, "--epochs", "2", "--out", tmp_path / "whole").stdout)
    assert all(e["lexicon_loss"] > 0 for e in whole["epochs"]) and "lexicon_loss" not in plain["epochs"][0]
    run_cli("train", *common, *with_lex, "--epochs", "1", "--out", tmp_path / "split")
    resumed = json.loads(run_cli("train", "--out", tmp_path / "split", "--epochs", "2", "--resume", "--quiet",
                                 "--json").stdout)
    assert [e["lexicon_loss"] for e in resumed["epochs"]] == [e["lexicon_loss"] for e in whole["epochs"]]
    for name in ("model.safetensors", "lexicon_head.safetensors"):
        a, b = load_file(tmp_path / "whole/checkpoint" / name), load_file(tmp_path / "split/checkpoint" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    a, p = load_file(tmp_path / "whole/checkpoint/model.safetensors"), load_file(tmp_path / "plain/checkpoint/model.safetensors")
    assert not torch.equal(a["bottleneck.weight"], p["bottleneck.weight"])
    assert QuantizedModel.load(tmp_path / "whole/int8").n_weight_bytes() == plain["int8_bytes"]
    assert not any("lexicon" in f.name for f in (tmp_path / "whole/int8").iterdir())


@pytest.mark.parametrize("args, message", [
    (["--lexicon", "MISSING"], "not found"),
    (["--lexicon", "NOTLEX"], "is not a lexicon file"),
    (["--lexicon-weight", "0.5"], "need --lexicon"),
    (["--lexicon", "LEX", "--lexicon-weight", "0"], "--lexicon-weight must be > 0"),
    (["--lexicon", "LEX", "--model", "bilstm"], "trains a pQRNN's bottleneck"),
])
def test_bad_lexicon_options_are_one_line_errors(setup, cli_labels, cli_lexicon, tmp_path, args, message):
    from cli_runner import run_cli
    (tmp_path / "not.npz").write_bytes(b"not a zip")
    subst = {"MISSING": tmp_path / "missing.npz", "NOTLEX": tmp_path / "not.npz", "LEX": cli_lexicon[0]}
    args = [subst.get(a, a) for a in args]
    r = run_cli("train", "--teacher-labels", cli_labels, "--config", "tiny", *args, "--out", tmp_path / "run",
                "--quiet", ok=False)
    assert r.returncode != 0 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
