"""The bundled model as every command's default, and `pqcompile demo` (the main job) on cortex-m7."""
import json
from pathlib import Path

import onnx
import pytest
from cli_runner import run_cli as cli

from pqcompile.bundled import BUNDLED_MODEL_DIR, QMODEL, RUN, resolve_model
from pqcompile.errors import PqError
from pqcompile.export import read_metadata
from pqcompile.targets import load_target


@pytest.fixture(scope="module")
def bundled():
    return resolve_model(None).load_qmodel()


def test_the_bundled_model_ships_with_its_record_and_fits_the_demo_budget(bundled):
    ref = resolve_model(None)
    assert ref.bundled and ref.kind == QMODEL and ref.path == BUNDLED_MODEL_DIR
    metrics = json.loads((BUNDLED_MODEL_DIR / "metrics.json").read_text())
    model_md = (BUNDLED_MODEL_DIR / "MODEL.md").read_text()
    assert "pqcompile train" in model_md and "--seed" in model_md
    # the numbers in MODEL.md are the ones in metrics.json
    for kind in ("float", "int8"):
        m = metrics["mtop_en_eval"][kind]
        assert 0 < m["exact_match"] <= m["intent_accuracy"] <= 1
        assert f"{100 * m['intent_accuracy']:.2f}" in model_md and f"{100 * m['slot_f1']:.2f}" in model_md
    # the size budget (<= 260 KiB of weights as the cortex-m7 build counts them: 4-bit
    # encoder weights count as stored, two per byte), and small enough for QEMU in the main job and
    # for a full 32-token utterance in under 0.1 s on a 216 MHz Cortex-M7 (<= 16 M MACs at ~1.4
    # instructions each, one instruction per cycle)
    m7 = metrics["cortex_m7"]
    assert m7["weights"] <= 266_240 and m7["macs"] <= 16_000_000 and len(bundled.layers) == 2
    assert m7["flash"] <= load_target("cortex-m7").flash_budget and m7["ram"] <= load_target("cortex-m7").ram_budget
    assert m7["verify_mtop_en_eval"]["ok"] and m7["verify_mtop_en_eval"]["utterances"] == 2235


def test_model_arguments_resolve_the_same_everywhere(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    assert resolve_model(tmp_path / "run").kind == RUN
    with pytest.raises(PqError, match="does not exist"):
        resolve_model(tmp_path / "missing")
    with pytest.raises(PqError, match="not a run folder"):
        resolve_model(tmp_path)
    (tmp_path / "m.onnx").write_bytes(b"")
    with pytest.raises(PqError, match="not a run folder, an integer model folder"):
        resolve_model(tmp_path / "m.onnx", allow_onnx=False)
    code, _, err = cli("export", tmp_path / "missing", "-o", tmp_path / "x.onnx", ok=False)
    assert code != 0 and err.startswith("error: model") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_predict_evaluate_and_export_default_to_the_bundled_model(bundled, tmp_path):
    _, out, _ = cli("predict", "set an alarm for 7 am tomorrow", "what's the weather in paris", "--json")
    p = json.loads(out)
    assert p["precision"] == "int8" and "bundled" in p["model"]
    assert [x["intent"] for x in p["predictions"]] == ["IN:CREATE_ALARM", "IN:GET_WEATHER"]
    assert all(x["intent"] in bundled.intent_labels for x in p["predictions"])

    # evaluate on a 2-utterance MTOP file written here: the integer model's metrics
    tsv = tmp_path / "eval.tsv"
    tsv.write_text("1\tIN:CREATE_ALARM\t13:30:SL:DATE_TIME\tset an alarm for 7 am tomorrow\talarm\ten_XX\t[]\t{}\n"
                   "2\tIN:GET_WEATHER\t22:27:SL:LOCATION\twhat's the weather in paris\tweather\ten_XX\t[]\t{}\n")
    _, out, _ = cli("evaluate", "--data", f"mtop:{tsv}", "--json")
    e = json.loads(out)
    assert e["precision"] == "int8" and e["overall"]["n"] == 2 and e["overall"]["intent_accuracy"] == 1.0

    _, out, _ = cli("export", "-o", tmp_path / "bundled.onnx", "--json")
    meta = read_metadata(onnx.load(str(tmp_path / "bundled.onnx")))
    assert list(meta.intent_labels) == list(bundled.intent_labels) and meta.spec == bundled.spec


def test_demo_refuses_a_hardware_only_board():
    code, out, err = cli("demo", "--target", "stm32f746g-disco", ok=False)
    assert code != 0 and out == ""
    assert err.strip().splitlines() == [err.strip()] and "hardware-only" in err


@pytest.mark.qemu
@pytest.mark.slow
def test_demo_json_on_cortex_m7(tmp_path):
    _, out, _ = cli("demo", "--target", "cortex-m7", "-o", tmp_path / "m7", "--json")
    d = json.loads(out)
    assert d["ok"] and d["target"] == "cortex-m7" and "bundled" in d["model"]
    p = d["projection"]
    assert p["compared"] == len(p["sentences"]) >= 10 and p["mismatches"] == 0
    assert len({s["lang"] for s in p["sentences"]}) >= 10
    m = d["model_check"]
    n = m["utterances"]
    assert n == len(m["frames"]) >= 5
    assert m["device_vs_onnxruntime"] == m["reference_vs_onnxruntime"] == m["frames_equal"] == n
    assert m["frames"][0]["intent"] == "IN:CREATE_ALARM"
    assert all(f["instructions"]["network"] > f["instructions"]["projection"] > 0 for f in m["frames"])
    s = d["size"]
    assert 0 < s["flash"] <= s["flash_budget"] and 0 < s["ram"] <= s["ram_budget"]
    assert Path(d["build_dir"], "Makefile").is_file()
