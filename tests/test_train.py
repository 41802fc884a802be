"""pqcompile train / evaluate / predict end to end on tiny fixtures written here (2 languages,
2 formats), plus determinism, resume, atomic checkpoints and the one-line errors."""
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli
from safetensors.numpy import load_file

from pqcompile.datasets import load_sources
from pqcompile.projection import DEFAULT_SPEC, tokenize
from pqcompile.train.augment import distort_tokens, distort_word, example_rng
from pqcompile.train.loop import TrainSettings, lr_factor

ROOT = Path(__file__).resolve().parents[1]

# (intent, template, slot values); {x} marks the one slot, labelled by the dict key.
EN = [
    ("IN:CREATE_ALARM", "set an alarm for {SL:DATE_TIME}", ["7 am", "noon", "tomorrow morning", "6 pm"]),
    ("IN:GET_WEATHER", "what is the weather in {SL:LOCATION}", ["paris", "new york", "lima", "oslo"]),
    ("IN:PLAY_MUSIC", "play some {SL:MUSIC_GENRE} please", ["jazz", "rock", "hip hop", "blues"]),
    ("IN:GET_WEATHER", "will it rain in {SL:LOCATION} today", ["rome", "tokyo", "cairo"]),
]
ES = [
    ("IN:CREATE_ALARM", "pon una alarma a las {SL:DATE_TIME}", ["siete", "ocho y media", "nueve"]),
    ("IN:GET_WEATHER", "qué tiempo hace en {SL:LOCATION}", ["madrid", "buenos aires", "quito"]),
    ("IN:PLAY_MUSIC", "pon música {SL:MUSIC_GENRE}", ["salsa", "rock", "pop latino"]),
]


def _fill(template: str, value: str):
    start = template.index("{")
    end = template.index("}")
    label = template[start + 1:end]
    text = template[:start] + value + template[end + 1:]
    return text, (label, start, start + len(value))


def _rows(spec, n_repeat: int):
    rows = []
    for _ in range(n_repeat):
        for intent, template, values in spec:
            for v in values:
                text, span = _fill(template, v)
                rows.append((intent, text, span))
    return rows


def write_fixtures(d: Path, n_repeat: int = 2) -> dict[str, str]:
    """MTOP TSV (English) and MTOD CoNLL (Spanish) train/dev files; returns FORMAT:PATH sources."""
    d.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(0)
    en, es = _rows(EN, n_repeat), _rows(ES, n_repeat)
    rnd.shuffle(en)
    rnd.shuffle(es)
    out = {}
    for split, en_rows, es_rows in (("train", en, es), ("dev", _rows(EN, 1)[::2], _rows(ES, 1)[::2])):
        with open(d / f"en_{split}.tsv", "w", encoding="utf-8") as f:
            for i, (intent, text, (label, s, e)) in enumerate(en_rows):
                f.write(f"{i}\t{intent}\t{s}:{e}:{label}\t{text}\tdomain\ten_XX\t[]\t{{}}\n")
        with open(d / f"es_{split}.conllu", "w", encoding="utf-8") as f:
            for intent, text, (label, s, e) in es_rows:
                f.write(f"# text: {text}\n# intent: {intent}\n# slots: {s}:{e}:{label}\n")
                for j, word in enumerate(text.split(), 1):
                    f.write(f"{j}\t{word}\t{intent}\tNoLabel\n")
                f.write("\n")
        out[f"en_{split}"] = f"mtop:{d / f'en_{split}.tsv'}"
        out[f"es_{split}"] = f"mtod:{d / f'es_{split}.conllu'},lang=es"
    return out


def run_subprocess(*args) -> subprocess.CompletedProcess:
    """The installed entry point in a fresh interpreter (for what only a real process shows)."""
    return subprocess.run([sys.executable, "-c", "from pqcompile.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


TINY = ["--config", "tiny", "--set", "hidden=16", "--set", "bottleneck=16", "--set", "feature_size=64"]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def trained(fixtures, tmp_path_factory):
    """One pqrnn run trained through the CLI (6 epochs: 3 float, then QAT), shared by several tests."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    p = run_cli("train", "--data", fixtures["en_train"], "--data", fixtures["es_train"],
                "--dev", fixtures["en_dev"], "--dev", fixtures["es_dev"], "--config", "tiny", "--set", "float_epochs=3",
                "--epochs", 6, "--batch-size", 8, "--lr", 0.02, "--out", out, "--json")
    return out, json.loads(p.stdout), p.stderr


def test_fixtures_read_as_two_languages(fixtures):
    ex = load_sources([fixtures["en_train"], fixtures["es_train"]])
    assert {e.lang for e in ex} == {"en", "es"} and len(ex) == 2 * (15 + 9)


def test_train_writes_a_complete_run_folder(trained):
    out, summary, stderr = trained
    assert summary["complete"] and len(summary["epochs"]) == 6
    for name in ("config.json", "metrics.json", "learning_curve.png", "best/model.safetensors",
                 "checkpoint/model.safetensors", "checkpoint/optimizer.pt", "int8/qmodel.json", "int8/qmodel.npz"):
        assert (out / name).is_file(), name
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["spec"]["feature_size"] == 128 and cfg["model"]["kind"] == "pqrnn"
    assert "IN:PLAY_MUSIC" in cfg["intent_labels"] and "B-SL:LOCATION" in cfg["slot_labels"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["quantized"] for r in metrics["epochs"]] == [False] * 3 + [True] * 3
    assert metrics["epochs"][-1]["loss"] < metrics["epochs"][0]["loss"]
    assert set(metrics["epochs"][0]["dev"]["per_lang"]) == {"en", "es"}
    assert summary["data"]["train"] == 48 and summary["int8_bytes"] > 0
    # the integer model allows with each intent the slot labels of its gold training rows
    qm = json.loads((out / "int8" / "qmodel.json").read_text())
    allowed = dict(zip(qm["intent_labels"], qm["intent_slots"]))
    assert allowed == {"IN:CREATE_ALARM": ["SL:DATE_TIME"], "IN:GET_WEATHER": ["SL:LOCATION"],
                       "IN:PLAY_MUSIC": ["SL:MUSIC_GENRE"]}
    # the progress bar reports loss and throughput on stderr
    assert "utt_per_s" in stderr and "loss" in stderr
    # no temporary folders left behind
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_model_learns_the_fixture(trained):
    out, summary, _ = trained
    dev = summary["best"]["dev"]["overall"]
    assert dev["intent_accuracy"] >= 0.8 and dev["slot_f1"] >= 0.6


def test_evaluate_float_and_int8_agree_with_training(trained, fixtures):
    out, summary, _ = trained
    args = ["evaluate", out, "--data", fixtures["en_dev"], "--data", fixtures["es_dev"], "--json"]
    flt = json.loads(run_cli(*args).stdout)
    # the dev metrics of the best epoch are exactly what evaluate computes from best/
    assert flt["overall"] == summary["best"]["dev"]["overall"]
    i8 = json.loads(run_cli(*args, "--int8").stdout)
    assert i8["precision"] == "int8" and set(i8["per_lang"]) == {"en", "es"}
    # the best epoch was trained with QAT: its float model and the integer model nearly agree
    assert abs(i8["overall"]["intent_accuracy"] - flt["overall"]["intent_accuracy"]) <= 0.15
    text = run_cli("evaluate", out, "--data", fixtures["en_dev"]).stdout
    assert "overall" in text and "en" in text


def test_evaluate_counts_labels_the_model_never_saw_as_errors(trained, fixtures, tmp_path):
    """Data with an intent and a slot label outside the model's inventory is scored, not refused."""
    out, _, _ = trained
    extra = tmp_path / "extra.tsv"
    extra.write_text("0\tIN:BOOK_TAXI\t\tget me a taxi\tdomain\ten_XX\t[]\t{}\n"
                     "1\tIN:GET_WEATHER\t23:28:SL:WHEN\twhat is the weather in paris\tdomain\ten_XX\t[]\t{}\n",
                     encoding="utf-8")
    both = json.loads(run_cli("evaluate", out, "--data", fixtures["en_dev"], "--data", f"mtop:{extra}",
                              "--json").stdout)
    known = json.loads(run_cli("evaluate", out, "--data", fixtures["en_dev"], "--json").stdout)["overall"]
    n = known["n"]
    assert both["unknown_labels"] == 2 and both["overall"]["n"] == n + 2
    # neither extra example can be exactly right; the known ones score as before
    assert both["overall"]["exact_match"] == pytest.approx(known["exact_match"] * n / (n + 2))
    text = run_cli("evaluate", out, "--data", f"mtop:{extra}").stdout
    assert "2 example(s) carry a label the model does not know" in text


def test_predict_decodes_slots_to_text(trained):
    out, _, _ = trained
    p = run_cli("predict", "-m", out, "set an alarm for 7 am", "what is the weather in paris", "--json")
    r = json.loads(p.stdout)["predictions"]
    assert r[0]["intent"] == "IN:CREATE_ALARM" and r[1]["intent"] == "IN:GET_WEATHER"
    for pred in r:
        for s in pred["slots"]:
            assert pred["text"][s["start"]:s["end"]] == s["text"]
    assert {"label": "SL:LOCATION", "start": 23, "end": 28, "text": "paris"} in r[1]["slots"]
    i8 = json.loads(run_cli("predict", "-m", out, "--int8", "set an alarm for 7 am", "--json").stdout)
    assert i8["predictions"][0]["intent"] == "IN:CREATE_ALARM"
    assert "intent:" in run_cli("predict", "-m", out, "play some jazz please").stdout


def test_same_seed_same_weights_and_resume_continues_exactly(fixtures, tmp_path):
    common = ["--data", fixtures["en_train"], "--data", fixtures["es_train"], *TINY,
              "--batch-size", 8, "--seed", 3, "--quiet"]
    run_cli("train", *common, "--epochs", 2, "--out", tmp_path / "a")
    run_cli("train", *common, "--epochs", 2, "--out", tmp_path / "b")
    a = load_file(str(tmp_path / "a/checkpoint/model.safetensors"))
    b = load_file(str(tmp_path / "b/checkpoint/model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # a different seed gives different weights
    run_cli("train", *common[:-3], "--seed", 4, "--quiet", "--epochs", 1, "--out", tmp_path / "c")
    run_cli("train", *common, "--epochs", 1, "--out", tmp_path / "d")
    c = load_file(str(tmp_path / "c/checkpoint/model.safetensors"))
    d1 = load_file(str(tmp_path / "d/checkpoint/model.safetensors"))
    assert not all(np.array_equal(c[k], d1[k]) for k in c)
    # 1 epoch + resume to 2 == 2 epochs straight
    run_cli("train", *common, "--epochs", 2, "--out", tmp_path / "d", "--resume")
    d2 = load_file(str(tmp_path / "d/checkpoint/model.safetensors"))
    assert all(np.array_equal(a[k], d2[k]) for k in a)
    m = json.loads((tmp_path / "d/metrics.json").read_text())
    assert [r["epoch"] for r in m["epochs"]] == [1, 2] and m["complete"]


@pytest.mark.parametrize("kind", ["bilstm", "transformer"])
def test_baselines_train_and_evaluate(kind, fixtures, tmp_path):
    out = tmp_path / kind
    s = json.loads(run_cli("train", "--model", kind, "--config", "tiny", "--data", fixtures["en_train"],
                           "--dev", fixtures["en_dev"], "--epochs", 1, "--batch-size", 16, "--quiet",
                           "--out", out, "--json").stdout)
    assert s["model"] == kind and s["parameters"] > 0 and not (out / "int8").exists()
    r = json.loads(run_cli("evaluate", out, "--data", fixtures["en_dev"], "--json").stdout)
    assert r["overall"] == s["best"]["dev"]["overall"]
    p = run_cli("evaluate", out, "--data", fixtures["en_dev"], "--int8", ok=False)
    assert p.returncode != 0 and "no integer model" in p.stderr


def _one_line_error(p):
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), p.stderr
    return lines[0]


@pytest.mark.slow
def test_bad_input_gives_one_line_errors(fixtures, tmp_path, trained):
    out = tmp_path / "r"
    base = ["train", "--data", fixtures["en_train"], "--epochs", 1, "--quiet", "--out", out]
    # through a real process: exit status and stderr as a user sees them
    assert "unknown pqrnn config 'huge'" in _one_line_error(run_subprocess(*base, "--config", "huge"))
    assert "not found" in _one_line_error(run_cli("train", "--data", f"mtop:{tmp_path}/nope.tsv", "--out", out,
                                                  ok=False))
    (tmp_path / "empty.tsv").write_text("")
    assert "no examples" in _one_line_error(run_cli("train", "--data", f"mtop:{tmp_path}/empty.tsv",
                                                    "--out", out, ok=False))
    assert "unknown pqrnn config option" in _one_line_error(run_cli(*base, "--set", "colour=3", ok=False))
    assert not out.exists()          # nothing written for bad input
    # a resumed run keeps the dev set its best epoch was chosen on
    (tmp_path / "new.tsv").write_text("0\tIN:ORDER_PIZZA\t\tone pizza please\td\ten_XX\t[]\t{}\n")
    run_dir, _, _ = trained
    msg = _one_line_error(run_cli("train", "--data", fixtures["en_train"], "--dev", f"mtop:{tmp_path}/new.tsv",
                                  "--out", run_dir, "--resume", "--epochs", 7, ok=False))
    assert "cannot resume with --dev" in msg and "new.tsv" in msg
    assert "--schedule" in _one_line_error(run_cli(*base, "--schedule", "step", ok=False))
    assert "--warmup" in _one_line_error(run_cli(*base, "--warmup", 1.5, ok=False))
    # not a run folder
    assert "not a run folder" in _one_line_error(run_cli("evaluate", tmp_path, "--data", fixtures["en_dev"],
                                                         ok=False))
    assert "does not exist" in _one_line_error(run_cli("predict", "-m", tmp_path / "nothing", "hi", ok=False))
    # an existing run is not overwritten; resume refuses changed settings
    assert "already exists" in _one_line_error(run_cli("train", "--data", fixtures["en_train"],
                                                       "--out", run_dir, ok=False))
    assert "cannot resume" in _one_line_error(run_cli("train", "--data", fixtures["en_train"], "--out", run_dir,
                                                      "--resume", "--lr", 0.5, ok=False))


def test_resume_without_dev_keeps_the_runs_dev_set(fixtures, tmp_path):
    """--resume without --dev evaluates every later epoch on the dev set the run started with
    (it used to drop it and then compare training loss against dev exact match)."""
    common = ["--data", fixtures["en_train"], *TINY, "--batch-size", 8, "--quiet", "--out", tmp_path / "r"]
    run_cli("train", *common, "--dev", fixtures["en_dev"], "--epochs", 1)
    run_cli("train", *common, "--epochs", 2, "--resume")
    m = json.loads((tmp_path / "r/metrics.json").read_text())
    assert [r["epoch"] for r in m["epochs"]] == [1, 2]
    assert all(r["dev"] is not None for r in m["epochs"]) and len(m["best"]["score"]) == 3


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_learning_rate_schedule(schedule):
    s = TrainSettings(schedule=schedule, warmup=0.1)
    f = [lr_factor(s, i, 100) for i in range(100)]
    assert f[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])     # linear warm-up to the peak
    assert f[10] == pytest.approx(1.0)
    if schedule == "constant":
        assert f[10:] == pytest.approx([1.0] * 90)
    else:
        assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] < 0.03   # decays to ~0 at the end
        mid = f[55]                                                           # halfway through the decay
        assert mid == pytest.approx(0.5, abs=0.02)
    assert lr_factor(TrainSettings(), 0, 100) == 1.0                          # the default: constant, no warm-up


def test_distortion_edits_one_character_and_is_reproducible():
    rng = np.random.default_rng(0)
    for word in ["alarm", "ab", "x", "música"]:
        for _ in range(20):
            w = distort_word(word, rng)
            assert abs(len(w) - len(word)) <= 1 and w != "" and set(w) <= set(word)
    toks = tokenize("set an alarm for seven", DEFAULT_SPEC.replace(bos_token="<S>"))
    a = distort_tokens(toks, 1.0, example_rng(1, 2, 3))
    b = distort_tokens(toks, 1.0, example_rng(1, 2, 3))
    assert a == b and a[0] == toks[0]                     # same stream; the tag token is never distorted
    assert all(x.hashed != y.hashed for x, y in zip(a[1:], toks[1:]))   # no word has a doubled letter
    assert [(t.char_start, t.char_end) for t in a] == [(t.char_start, t.char_end) for t in toks]
    assert distort_tokens(toks, 0.0, example_rng(1, 2, 3)) == toks


def test_unseen_words_replace_only_whole_token_columns_reproducibly():
    """--unseen-words: chosen words get random ternary whole-token columns; their n-gram and case
    columns, every tag and every other word stay; the same (seed, epoch, index) draws the same."""
    from pqcompile.projection import project
    from pqcompile.train.augment import UNSEEN_STREAM, simulate_unseen_words
    spec = DEFAULT_SPEC.replace(feature_size=128, char_ngrams=[3], ngram_features=32, case_features=16,
                                bos_token="<S>")
    texts = ["set an alarm for Seven", "call Anna Smith now please"]
    toks = [tokenize(t, spec) for t in texts]
    clean = project(None, spec, tokens=toks).features

    def noisy(prob, epoch=0):
        f = clean.copy()
        n = simulate_unseen_words(f, toks, spec.token_features, prob,
                                  [example_rng(0, epoch, i, UNSEEN_STREAM) for i in range(len(texts))])
        return f, n
    every, n = noisy(0.999)
    assert n == sum(len(t) - 1 for t in toks)                              # every word, no BOS tag
    assert (every[:, 0] == clean[:, 0]).all()                              # the tag row stays
    assert (every[..., spec.token_features:] == clean[..., spec.token_features:]).all()
    assert set(np.unique(every[..., :spec.token_features])) <= {-1, 0, 1}
    assert (every[:, 1:6, :spec.token_features] != clean[:, 1:6, :spec.token_features]).any(axis=-1).all()
    assert (noisy(0.3)[0] == noisy(0.3)[0]).all() and not (noisy(0.3)[0] == noisy(0.3, epoch=1)[0]).all()
    assert noisy(0.0)[1] == 0 and (noisy(0.0)[0] == clean).all()



def test_crash_while_writing_a_checkpoint_leaves_the_previous_one(fixtures, tmp_path, monkeypatch):
    """A failure in the middle of writing epoch 2's checkpoint (weights written, state not yet):
    checkpoint/ and best/ still hold epoch 1, no temporary folder is left, and --resume finishes."""
    import pqcompile.train.run as run_mod
    out = tmp_path / "crash"
    common = ["--data", fixtures["en_train"], *TINY, "--batch-size", 16, "--seed", 1, "--quiet"]
    run_cli("train", *common, "--epochs", 1, "--out", out)
    before = (out / "checkpoint/model.safetensors").read_bytes()
    real_write_json = run_mod.write_json

    def failing_write_json(path, obj):
        if Path(path).name == "state.json":
            raise OSError("disk full")
        real_write_json(path, obj)

    monkeypatch.setattr(run_mod, "write_json", failing_write_json)
    try:                                  # the CLI reports an OSError as a one-line error
        assert run_cli("train", *common, "--epochs", 2, "--out", out, "--resume", ok=False).returncode != 0
    except OSError:
        pass
    monkeypatch.undo()
    assert (out / "checkpoint/model.safetensors").read_bytes() == before
    assert json.loads((out / "checkpoint/state.json").read_text())["epoch"] == 1
    assert json.loads((out / "best/state.json").read_text())["epoch"] == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    run_cli("train", *common, "--epochs", 2, "--out", out, "--resume")
    assert json.loads((out / "checkpoint/state.json").read_text())["epoch"] == 2


def _kill_in_epoch_2_then_resume(common: list, out: Path, monkeypatch) -> None:
    """Train with `common` into `out`, dying while epoch 2's checkpoint is written, then resume."""
    import pqcompile.train.run as run_mod
    real_write_json = run_mod.write_json

    def dies_in_epoch_2(path, obj):
        if Path(path).name == "state.json" and obj.get("epoch") == 2:
            raise OSError("killed")
        real_write_json(path, obj)

    monkeypatch.setattr(run_mod, "write_json", dies_in_epoch_2)
    try:                                  # the CLI may report the error itself or let it through
        assert run_cli("train", *common, "--out", out, ok=False).returncode != 0
    except OSError:
        pass
    monkeypatch.undo()
    assert json.loads((out / "checkpoint/state.json").read_text())["epoch"] == 1
    run_cli("train", *common, "--out", out, "--resume")


def test_a_run_killed_mid_schedule_resumes_exactly(fixtures, tmp_path, monkeypatch):
    """A decaying schedule with warm-up and weight decay: the rate is a function of the update
    number alone, so a run that dies in epoch 2 and is resumed equals an uninterrupted one."""
    common = ["--data", fixtures["en_train"], *TINY, "--schedule", "cosine", "--warmup", 0.2,
              "--weight-decay", 0.01, "--batch-size", 8, "--seed", 2, "--epochs", 2, "--quiet"]
    run_cli("train", *common, "--out", tmp_path / "straight")
    _kill_in_epoch_2_then_resume(common, tmp_path / "killed", monkeypatch)
    a = load_file(str(tmp_path / "straight/checkpoint/model.safetensors"))
    b = load_file(str(tmp_path / "killed/checkpoint/model.safetensors"))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_weight_average_follows_the_formula_and_swaps_back():
    import torch
    from pqcompile.train.weight_average import WeightAverage
    model = torch.nn.Linear(3, 2)
    start = [p.detach().clone() for p in model.parameters()]
    average = WeightAverage(model, 0.5)
    expected = [s.clone() for s in start]
    for n in range(1, 4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        average.update()
        d = min(0.5, (1 + n) / (10 + n))
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters())]
    live = [p.detach().clone() for p in model.parameters()]
    assert not torch.equal(expected[0], live[0])
    with average.swapped_in():
        assert all(torch.allclose(p, e) for p, e in zip(model.parameters(), expected))
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), live))


def test_ema_run_keeps_the_average_and_resumes_exactly(fixtures, tmp_path, monkeypatch):
    """--ema: dev, best/ and int8/ use the averaged weights (they differ from the live ones in
    checkpoint/), and a run killed in epoch 2 and resumed equals an uninterrupted one, average included."""
    common = ["--data", fixtures["en_train"], "--dev", fixtures["en_dev"], *TINY, "--ema", 0.9,
              "--batch-size", 8, "--seed", 2, "--epochs", 2, "--quiet"]
    run_cli("train", *common, "--out", tmp_path / "straight")
    straight = tmp_path / "straight"
    live = load_file(str(straight / "checkpoint/model.safetensors"))
    average = load_file(str(straight / "checkpoint/ema.safetensors"))
    assert set(average) <= set(live) and any(not np.array_equal(average[k], live[k]) for k in average)
    state = json.loads((straight / "checkpoint/state.json").read_text())
    assert state["ema_updates"] > 0
    epochs = json.loads((straight / "metrics.json").read_text())["epochs"]
    assert all(0 <= r["dev_live_weights"]["overall"]["exact_match"] <= 1 for r in epochs)
    if state["best"]["epoch"] == 2:      # best/ holds the average of that epoch
        best = load_file(str(straight / "best/model.safetensors"))
        assert all(np.array_equal(best[k], average[k]) for k in average)
    _kill_in_epoch_2_then_resume(common, tmp_path / "killed", monkeypatch)
    for name in ("model.safetensors", "ema.safetensors"):
        a = load_file(str(straight / "checkpoint" / name))
        b = load_file(str(tmp_path / "killed/checkpoint" / name))
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    bad = run_cli("train", "--data", fixtures["en_train"], *TINY, "--ema", 1.5, "--out", tmp_path / "bad", ok=False)
    assert bad.returncode != 0 and "--ema must be" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()
