"""The whole flow through the CLI on fixtures written here: train a tiny pQRNN -> export ONNX ->
build for cortex-m7 (qemu-system-arm) and cortex-a53 (qemu-aarch64) -> run under QEMU -> verify
bit-exact against the Python integer reference and onnxruntime; the device's frames equal
`pqcompile predict --int8`'s; the build directory's Makefile runs the same program; a real
board's build directory flashes with the documented command (`make -n flash`)."""
import json
import random
import subprocess
from pathlib import Path

import onnx
import pytest
from cli_runner import run_cli as cli

from pqcompile.export import read_metadata
from pqcompile.targets import load_target

ROOT = Path(__file__).resolve().parents[1]

# (intent, words before the slot, slot label, values, words after)
TEMPLATES = [
    ("IN:CREATE_ALARM", "set an alarm for", "SL:DATE_TIME", ["7 am", "noon", "six thirty", "tomorrow morning"], ""),
    ("IN:GET_WEATHER", "what is the weather in", "SL:LOCATION", ["paris", "new york", "oslo", "lima"], "today"),
    ("IN:PLAY_MUSIC", "play some", "SL:MUSIC_GENRE", ["jazz", "hip hop", "blues", "rock"], "music please"),
    ("IN:CREATE_CALL", "call", "SL:CONTACT", ["mom", "anna", "the office", "david"], "now"),
]
UTTERANCES = ["set an alarm for noon", "what is the weather in oslo today", "play some jazz music please",
              "call anna now", "call david", "wake me up tomorrow morning",
              "¿qué tiempo hace en Zürich?", "x" * 700, ""]


def write_mtop_tsv(path: Path, repeat: int, seed: int) -> None:
    """An MTOP-format TSV (id, intent, slot span, utterance, domain, locale, parse, tokens)."""
    rows = []
    for _ in range(repeat):
        for intent, before, label, values, after in TEMPLATES:
            for v in values:
                text = f"{before} {v}" + (f" {after}" if after else "")
                start = len(before) + 1
                rows.append(f"{intent}\t{start}:{start + len(v)}:{label}\t{text}")
    random.Random(seed).shuffle(rows)
    path.write_text("".join(f"{i}\t{r}\tdomain\ten_XX\t[]\t{{}}\n" for i, r in enumerate(rows)), encoding="utf-8")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("e2e")
    write_mtop_tsv(d / "train.tsv", repeat=3, seed=0)
    write_mtop_tsv(d / "dev.tsv", repeat=1, seed=1)
    run = d / "run"
    _, out, _ = cli("train", "--data", f"mtop:{d / 'train.tsv'}", "--dev", f"mtop:{d / 'dev.tsv'}",
                    "--config", "tiny", "--set", "feature_size=64", "--set", "bottleneck=16", "--set", "hidden=16",
                    "--set", "float_epochs=2", "--epochs", 4, "--batch-size", 8, "--lr", 0.02, "--seed", 0,
                    "--quiet", "--out", run, "--json")
    assert json.loads(out)["best"]["epoch"] >= 1
    assert (run / "int8" / "qmodel.json").is_file()
    return run


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("texts") / "utterances.txt"
    p.write_bytes(b"".join(u.encode("utf-8") + b"\n" for u in UTTERANCES) + b"play \xff\xfe jazz\n")
    return p


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("target", ["cortex-m7", "cortex-a53"])
def test_train_export_build_run_verify(run_dir, texts_file, target, tmp_path):
    # export: the ONNX file carries the run's labels and projection spec
    onnx_path = tmp_path / "model.onnx"
    _, out, _ = cli("export", run_dir, "-o", onnx_path, "--json")
    assert json.loads(out)["onnx"] == str(onnx_path)
    cfg = json.loads((run_dir / "config.json").read_text())
    meta = read_metadata(onnx.load(str(onnx_path)))
    assert list(meta.intent_labels) == cfg["intent_labels"] and meta.spec.feature_size == 64

    # build from the run folder: sizes within the target's budget, the build dir's files
    build = tmp_path / "build"
    _, out, _ = cli("build", "--target", target, run_dir, "-o", build, "--json")
    report = json.loads(out)
    t = load_target(target)
    assert 0 < report["sections"]["flash"] <= t.flash_budget and 0 < report["sections"]["ram"] <= t.ram_budget
    assert report["macs"] > 0 and report["intents"] == len(cfg["intent_labels"])
    for name in (report["image"], report["verify_image"], "Makefile", "README.md", "gen/pq_model.c"):
        assert (build / name).is_file(), name

    # verify: device == onnxruntime == integer reference, frames == the Python decoder's
    lines = len(texts_file.read_bytes().splitlines())
    _, out, _ = cli("verify", "--target", target, run_dir, "-o", build, "--texts", texts_file, "--json")
    v = json.loads(out)
    assert v["ok"] and v["utterances"] == lines
    assert v["device_vs_onnxruntime"] == v["reference_vs_onnxruntime"] == v["frames_equal"] == lines
    assert ("mean_instructions" in v) == t.counts_instructions
    # the exported ONNX file itself, built and verified: same program, device == onnxruntime
    _, out, _ = cli("verify", "--target", target, onnx_path, "-o", tmp_path / "build-onnx", "--texts", texts_file,
                    "--json")
    assert json.loads(out)["device_vs_onnxruntime"] == lines

    # run: the device's frames are exactly what `pqcompile predict --int8` says for the same texts
    texts = UTTERANCES[:6]
    _, out, _ = cli("run", "--target", target, "-o", build, "-m", run_dir, *texts)
    device = [json.loads(line) for line in out.splitlines()]
    _, out, _ = cli("predict", "-m", run_dir, "--int8", *texts, "--json")
    python = [{"intent": p["intent"], "slots": p["slots"]} for p in json.loads(out)["predictions"]]
    assert device == python
    assert device[0]["intent"] == "IN:CREATE_ALARM"   # the tiny model learned its fixtures

    # the generated Makefile runs the same program
    proc = subprocess.run(["make", "-s", "run"], cwd=build, input="\n".join(texts) + "\n", capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line) for line in proc.stdout.splitlines()] == device


@pytest.mark.slow
def test_hardware_board_build_dir_flashes_with_the_documented_command(run_dir, tmp_path):
    target = load_target("stm32f746g-disco")
    build = tmp_path / "disco"
    _, out, _ = cli("build", "--target", target.name, run_dir, "-o", build, "--json")
    report = json.loads(out)
    assert report["sections"]["flash"] <= target.flash_budget
    command = target.flash_command.format(elf=report["image"])
    assert command == "pyocd flash --target stm32f746xg pqrnn.elf"
    proc = subprocess.run(["make", "-n", "flash"], cwd=build, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == command
    assert command in (build / "README.md").read_text()
    hardware_md = (ROOT / "docs" / "hardware.md").read_text()
    assert "make flash" in hardware_md and command in hardware_md
    # a hardware-only board cannot be run; its Makefile says so instead of pretending
    proc = subprocess.run(["make", "-s", "run"], cwd=build, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "make flash" in proc.stderr
