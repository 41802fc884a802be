"""A pQRNN trained on a spec with character n-gram features (char_ngrams), through the CLI on
fixtures written here: `pqcompile train --spec` records the spec, the QAT model equals the integer
reference bit for bit on n-gram inputs (sums beyond {-1, 0, +1}), and the device program built for
host and cortex-m7 is bit-exact with onnxruntime and the integer reference, with the same frames as
`pqcompile predict --int8`. No change to the network, QAT, export or compiler is needed: the
features stay int8 with input scale 1. The spec also has case columns (case_features), so the same
checks cover them."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import run_cli as cli
from test_end_to_end import write_mtop_tsv

from pqcompile.model.registry import model_from_config
from pqcompile.projection import DEFAULT_SPEC, ProjectionSpec, project
from pqcompile.quant.integer_reference import run_integer
from pqcompile.quant.qmodel import QuantizedModel
from pqcompile.train.run import RunFolder

ROOT = Path(__file__).resolve().parents[1]

SPEC = DEFAULT_SPEC.replace(feature_size=64, char_ngrams=[2, 3], ngram_features=24, case_features=8)
# Seen words, unseen inflections and words, long tokens (clamped sums), malformed UTF-8.
TEXTS = ["set an alarm for noon", "what is the weather in oslo today", "play some jazz music please",
         "call anna now", "what is the weather in osloo", "play some jazzy music", "call annas office",
         "¿qué tiempo hace en Zürich?", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "",
         "Call Anna SMITH on her iPhone", "ÉCOLE Straße"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("subword")
    write_mtop_tsv(d / "train.tsv", repeat=3, seed=0)
    write_mtop_tsv(d / "dev.tsv", repeat=1, seed=1)
    (d / "spec.json").write_text(SPEC.to_json(), encoding="utf-8")
    run = d / "run"
    _, out, _ = cli("train", "--data", f"mtop:{d / 'train.tsv'}", "--dev", f"mtop:{d / 'dev.tsv'}",
                    "--spec", d / "spec.json", "--config", "tiny", "--set", "bottleneck=16", "--set", "hidden=16",
                    "--epochs", 3, "--batch-size", 8, "--lr", 0.02, "--seed", 0, "--quiet", "--out", run, "--json")
    assert json.loads(out)["best"]["epoch"] >= 1
    return run


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("texts") / "utterances.txt"
    p.write_bytes(b"".join(t.encode("utf-8") + b"\n" for t in TEXTS) + b"play \xff\xfe jazzz\n")
    return p


def test_run_records_the_ngram_spec_and_the_model_reads_its_columns(run_dir):
    run = RunFolder.open(run_dir)
    assert run.spec() == SPEC and run.config()["spec"]["char_ngrams"] == [2, 3]
    qm = QuantizedModel.load(run.int8)
    assert qm.spec == SPEC and qm.bottleneck.weight.shape == (64, 16)            # [in, out]
    # The trained bottleneck reads the n-gram columns (non-zero int8 weights on them).
    assert np.abs(qm.bottleneck.weight[SPEC.token_features:SPEC.case_start].astype(int)).sum() > 0
    assert run.config()["spec"]["case_features"] == 8


def test_qat_model_equals_integer_reference_on_ngram_features(run_dir):
    run = RunFolder.open(run_dir)
    model = model_from_config(run.config()["model"])
    model.load_state_dict(run.load_weights("best"))
    model.set_quantize(True)
    model.eval()
    qm = QuantizedModel.load(run.int8)
    p = project(TEXTS, SPEC)
    assert int(np.abs(p.features[..., SPEC.token_features:SPEC.case_start]).max()) > 1   # sums, not ternary values
    assert p.features[..., SPEC.case_start:].any()                                 # capitals in TEXTS
    with torch.no_grad():
        out = model.forward_int(torch.from_numpy(p.features), torch.from_numpy(p.mask))
    ref = run_integer(qm, p.features, p.lengths)
    assert np.array_equal(out["intent"].numpy(), ref.intent_logits.astype(np.float32))
    assert np.array_equal(out["slot"].numpy()[p.mask], ref.slot_logits[p.mask].astype(np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["host", pytest.param("cortex-m7", marks=pytest.mark.qemu)])
def test_build_verify_and_run_bit_exact(run_dir, texts_file, target, tmp_path):
    build = tmp_path / "build"
    _, out, _ = cli("build", "--target", target, run_dir, "-o", build, "--json")
    report = json.loads(out)
    header = (build / "gen" / "projection.h").read_text()
    assert "#define PQ_NGRAM_FEATURES 24" in header and "#define PQ_CASE_FEATURES 8" in header
    assert report["intents"] == 4
    lines = len(texts_file.read_bytes().splitlines())
    _, out, _ = cli("verify", "--target", target, run_dir, "-o", build, "--texts", texts_file, "--json")
    v = json.loads(out)
    assert v["ok"] and v["utterances"] == lines
    assert v["device_vs_onnxruntime"] == v["reference_vs_onnxruntime"] == v["frames_equal"] == lines
    # The device's frames are what `pqcompile predict --int8` says for the same texts.
    texts = TEXTS[:7]
    _, out, _ = cli("run", "--target", target, "-o", build, "-m", run_dir, *texts)
    device = [json.loads(line) for line in out.splitlines()]
    _, out, _ = cli("predict", "-m", run_dir, "--int8", *texts, "--json")
    assert device == [{"intent": p["intent"], "slots": p["slots"]} for p in json.loads(out)["predictions"]]


def test_spec_file_for_training_loads_through_the_cli(tmp_path):
    """`pqcompile project --spec specs/subword256.json` shows the n-gram columns; a spec file with
    a bad n-gram option is a one-line error."""
    _, out, _ = cli("project", "--spec", ROOT / "specs" / "subword256.json", "--json", "cats")
    report = json.loads(out)
    assert report["spec"]["char_ngrams"] == [3] and len(report["utterances"][0]["tokens"][0]["features"]) == 256
    assert ProjectionSpec.from_dict(report["spec"]).ngram_features == 64
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**SPEC.to_dict(), "ngram_features": 64}))
    res = cli("project", "--spec", bad, "x", ok=False)
    assert res.returncode != 0 and "ngram_features must be in 1..feature_size - 1 = 63" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_a_student_may_add_ngrams_to_its_teachers_spec(tmp_path):
    """Distillation: teacher labels made with the default spec accept a student spec that only
    adds n-grams or digit folding (and changes the feature size); a spec that tokenises
    differently is refused."""
    from test_distill import _write_labels

    from pqcompile.distill.student import check_spec_matches
    from pqcompile.errors import PqError
    from pqcompile.projection import tokenize
    from pqcompile.projection.spec import FEATURE_ONLY_FIELDS

    rows = [{"text": "alpha, beta", "lang": "en", "origin": "gold", "intent": "IN:A", "spans": []}]
    _write_labels(tmp_path / "labels", rows)
    subword = ProjectionSpec.load(ROOT / "specs" / "subword256.json")
    check_spec_matches(str(tmp_path / "labels"), subword)
    with pytest.raises(PqError, match="differs from the teacher labels' projection in separators"):
        check_spec_matches(str(tmp_path / "labels"), subword.replace(separators=""))
    # the fields that may differ never change the tokens
    assert {k for k in DEFAULT_SPEC.to_dict() if DEFAULT_SPEC.to_dict()[k] != subword.to_dict().get(k)} \
        <= set(FEATURE_ONLY_FIELDS)
    text = "Set an alarm, for 7 am ¿qué? \xff"
    assert tokenize(text, subword) == tokenize(text, DEFAULT_SPEC)
    # digit folding changes only the hashed bytes, never the tokens' text or spans
    digits = ProjectionSpec.load(ROOT / "specs" / "subword1024-digits.json")
    check_spec_matches(str(tmp_path / "labels"), digits)
    strip = lambda toks: [(t.text, t.char_start, t.char_end, t.byte_start, t.byte_end, t.is_tag) for t in toks]
    assert strip(tokenize(text, digits)) == strip(tokenize(text, DEFAULT_SPEC))
    assert [t.hashed for t in tokenize(text, digits)][5] == b"0"
    # case columns neither
    cased = ProjectionSpec.load(ROOT / "specs" / "subword1024-digits-case.json")
    check_spec_matches(str(tmp_path / "labels"), cased)
    assert tokenize(text, cased) == tokenize(text, digits)
