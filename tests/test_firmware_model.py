"""The whole device program (projection + TVM-generated network + pqrnn_main.c) on host, Cortex-M7
(qemu-system-arm), Cortex-A53 (qemu-aarch64) and the others, stm32f405 (a real chip's image on
netduinoplus2, over its UART) included: bit-exact int8 logits (intent, and the slot rows
t < L the device reports) and identical frames against onnxruntime and the integer reference
(the inputs include utterances where the BIO-constrained Viterbi and per-token argmax disagree,
and where Viterbi's tie rule decides the path); build errors leave no build directory."""
import dataclasses
import json
import subprocess

import numpy as np
import pytest

from pqcompile.cli import main
from pqcompile.compiler.firmware import build
from pqcompile.compiler.verify import verify
from pqcompile.errors import PqError, ToolMissing
from pqcompile.export import build_onnx
from pqcompile.projection import DEFAULT_SPEC, project
from pqcompile.quant.integer_reference import run_integer
from pqcompile.quant.qmodel import QLinear, random_quantized_model
from pqcompile.targets import load_target
from pqcompile.train.decode import decode_one, slot_tags
from pqcompile.train.viterbi import viterbi_tags

from disasm import loops

SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8, max_input_bytes=48)


def utterances(seed: int, n: int) -> list[bytes]:
    """Words, punctuation, non-ASCII, malformed UTF-8, control bytes and overlong lines."""
    rng = np.random.default_rng(seed)
    words = ["wake", "me", "up", "at", "7", "am", "Turn", "OFF", "the", "lights", "¿qué?", "Straße", "日本",
             "😀", "a,b", "\"quoted\"", "back\\slash", "x" * 30]
    out = [b"", b"   ", b"\xff\xfe\xfd", b"caf\xc3", b"\xe2\x82 euro", b"tab\there\r", b"nul\x00byte",
           ("long " * 40).encode()]
    while len(out) < n:
        k = int(rng.integers(1, 14))
        line = " ".join(rng.choice(words, k)).encode()
        if rng.random() < 0.2:
            pos = int(rng.integers(0, len(line) + 1))
            line = line[:pos] + bytes(rng.integers(0x80, 0x100, 2).tolist()) + line[pos:]
        out.append(line)
    return out


def decoding_witnesses(qm, lines: list[bytes]) -> tuple[int, int]:
    """(utterances whose argmax + BIO repair tags differ from the Viterbi path, utterances whose
    Viterbi path changes when ties are broken towards higher tag indices): on those, equal
    frames check the device's Viterbi and its tie rule, not a shared argmax."""
    p = project(lines, SPEC)
    ref = run_integer(qm, p.features, p.lengths.astype(np.int32))
    differs = tie_decides = 0
    for toks, logits in zip(p.tokens, ref.slot_logits):
        differs += slot_tags(toks, logits, qm.slot_labels, "argmax") != slot_tags(toks, logits, qm.slot_labels)
        rows = logits[: len(toks)].astype(np.float64)
        tilted = rows + 1e-6 * np.arange(rows.shape[1])   # smaller than any logit step: only ties move
        is_tag = [t.is_tag for t in toks]
        tie_decides += viterbi_tags(rows, is_tag, qm.slot_labels) != viterbi_tags(tilted, is_tag, qm.slot_labels)
    return differs, tie_decides


@pytest.fixture(scope="module")
def model():
    qm = random_quantized_model(SPEC, bottleneck=12, hidden=6, n_layers=2, kernel_width=2, n_intents=4,
                                n_slot_tags=7, seed=21)
    return qm, build_onnx(qm)


@pytest.mark.slow
@pytest.mark.parametrize("target_name", [
    "host",
    pytest.param("cortex-m7", marks=pytest.mark.qemu),
    pytest.param("cortex-a53", marks=pytest.mark.qemu),
    pytest.param("cortex-m4", marks=pytest.mark.qemu),   # no rounding instruction: pq_floor_clamp's VFP path
    pytest.param("stm32f405", marks=pytest.mark.qemu),   # Cortex-M4F image of a real chip, over its UART
    pytest.param("cortex-a7", marks=pytest.mark.qemu),
])
def test_device_is_bit_exact(model, target_name, tmp_path):
    qm, onnx_model = model
    target = load_target(target_name)
    report = build(onnx_model, target, tmp_path / "b", "random")
    lines = utterances(seed=len(target_name), n=40)
    result = verify(onnx_model, qm, target, tmp_path / "b", report, lines)
    assert result.mismatches == []
    assert result.ok and result.utterances == 40
    assert result.device_vs_onnxruntime == result.reference_vs_onnxruntime == result.frames_equal == 40
    differs, tie_decides = decoding_witnesses(qm, lines)
    assert differs >= 3 and tie_decides >= 1
    if target.counts_instructions:
        # deterministic counts: the network stops at the utterance's length, so a 1-token
        # utterance costs far fewer instructions than a full one (not a timing test)
        n_tokens = project(lines, SPEC).lengths
        insns = np.array(result.insns_network)
        short, full = insns[n_tokens == 1], insns[n_tokens == SPEC.max_tokens]
        assert len(short) and len(full)
        assert 2 * max(short) < min(full)
        assert min(full) > qm.n_macs()        # at least one instruction per MAC
    if target.cpu in ("cortex-m4", "cortex-m7"):   # the matmuls' dot products use the DSP extension
        objdump = target.size_tool.replace("size", "objdump")
        dis = subprocess.run([objdump, "-d", str(tmp_path / "b" / report["image"])], capture_output=True, text=True)
        assert "smlad" in dis.stdout and "sxtb16" in dis.stdout
        # the bottleneck (depth 64) in row triples: the 3 x 2 assembly loop, 111 instructions per 96 MACs
        assert any(n == 111 and s == 48 for _, n, s in loops(dis.stdout)), loops(dis.stdout)
    sizes = report["sections"]
    assert 0 < sizes["flash"] <= target.flash_budget and report["arena_bytes"] > 0
    assert (tmp_path / "b" / "report.txt").read_text().startswith(f"pqcompile build for {target_name}")


@pytest.mark.slow
@pytest.mark.parametrize("target_name", [
    "host",
    pytest.param("cortex-m7", marks=pytest.mark.qemu),
    pytest.param("cortex-m4", marks=pytest.mark.qemu),
    pytest.param("cortex-a7", marks=pytest.mark.qemu),
])
def test_int16_weights_build_is_bit_exact(target_name, tmp_path):
    """The build option int16_weights (weights of the bottleneck and the gates pre-extended to
    int16, read by pq_dot2rw_s8): same logits and frames as onnxruntime and the integer reference;
    depths 30 and 12 (a 4-deep tail and a plain-loop tail), odd row counts; more flash."""
    qm = random_quantized_model(SPEC, bottleneck=10, hidden=6, n_layers=2, kernel_width=[3, 1], n_intents=11,
                                n_slot_tags=7, seed=22)   # 11 intents: pq_dotn_s8's 8-, 2- and 1-row blocks
    onnx_model = build_onnx(qm)
    target = load_target(target_name)
    report = build(onnx_model, target, tmp_path / "b", "random", int16_weights=True)
    assert report["int16_weights"] is True
    int8 = qm.bottleneck.weight.size + sum(l.fwd.weight.size + l.bwd.weight.size for l in qm.layers)
    wide = sum(v for k, v in report["weights_by_layer"].items() if k.startswith(("qrnn0.", "qrnn1.", "bottleneck")))
    assert wide >= 2 * int8
    lines = utterances(seed=3, n=40)
    result = verify(onnx_model, qm, target, tmp_path / "b", report, lines)
    assert result.mismatches == [] and result.ok
    assert result.device_vs_onnxruntime == result.reference_vs_onnxruntime == result.frames_equal == 40
    if target.cpu in ("cortex-m4", "cortex-m7"):   # weight words by LDRD, no SXTB16 for them
        objdump = target.size_tool.replace("size", "objdump")
        dis = subprocess.run([objdump, "-d", str(tmp_path / "b" / report["image"])], capture_output=True, text=True)
        assert "smlad" in dis.stdout and "ldrd" in dis.stdout
        # row triples on pre-extended weights: the 3 x 2 assembly loop, 95 instructions per 96 MACs
        assert any(n == 95 and s == 48 for _, n, s in loops(dis.stdout)), loops(dis.stdout)


def all_ties_model(qm):
    """qm with BOS/EOS tag tokens and a slot head that gives every token the logits [2, 2, 0] for
    the tags [I-SL:A, B-SL:A, O] (I- listed before its B-). Every Viterbi choice is then a tie
    (the best previous tag, I-SL:A's predecessor B-SL:A or I-SL:A, the last token's tag), so the
    tie rule alone makes the path: BOS O, B-SL:A, I-SL:A ... I-SL:A, EOS O, one slot over the words
    (breaking any of those ties the other way gives other slots)."""
    slot = QLinear(np.zeros((qm.slot.n_in, 3), np.int8), np.array([2, 2, 0]), np.ones(3, np.float32))
    return dataclasses.replace(qm, spec=SPEC.replace(bos_token="<S>", eos_token="</S>"), slot=slot,
                               slot_labels=["I-SL:A", "B-SL:A", "O"])


@pytest.mark.slow
@pytest.mark.parametrize("target_name", ["host", pytest.param("cortex-m7", marks=pytest.mark.qemu)])
def test_device_viterbi_breaks_ties_like_python(model, target_name, tmp_path):
    qm = all_ties_model(model[0])
    onnx_model = build_onnx(qm)
    target = load_target(target_name)
    report = build(onnx_model, target, tmp_path / "b", "ties")
    lines = [b"wake me up at 7", b"", b"lights", b"turn off the lights"]
    result = verify(onnx_model, qm, target, tmp_path / "b", report, lines)
    assert result.mismatches == [] and result.ok and result.frames_equal == len(lines)
    slots = [f["slots"] for f in result.device_frames]
    assert slots[0] == [{"label": "SL:A", "start": 0, "end": 15, "text": "wake me up at 7"}]
    assert slots[1] == []
    assert [[s["text"] for s in frame] for frame in slots[2:]] == [["lights"], ["turn off the lights"]]


@pytest.mark.slow
@pytest.mark.parametrize("target_name", ["host", pytest.param("cortex-m7", marks=pytest.mark.qemu)])
def test_device_applies_the_slot_labels_allowed_per_intent(model, target_name, tmp_path):
    """A model with intent_slots (decode.py rule 2b): pq_labels.h carries the table, and the
    device's frames equal the Python decoder's with it, on utterances where the table changes the
    frame (and where Viterbi and argmax disagree); every slot is one the frame's intent allows."""
    qm = dataclasses.replace(model[0], intent_slots=[["SL:0", "SL:1", "SL:2"], ["SL:1"], [], ["SL:2", "SL:0"]])
    onnx_model = build_onnx(qm)
    target = load_target(target_name)
    report = build(onnx_model, target, tmp_path / "b", "intent slots")
    header = (tmp_path / "b" / "gen" / "pq_labels.h").read_text()
    assert "#define PQ_INTENT_SLOTS 1" in header and "pq_intent_slot_bits[4][1]" in header
    assert "{0x7f},  /* IN:0 */" in header and "{0x01},  /* IN:2 */" in header
    lines = utterances(seed=11, n=40)
    result = verify(onnx_model, qm, target, tmp_path / "b", report, lines)
    assert result.mismatches == [] and result.ok
    assert result.device_vs_onnxruntime == result.reference_vs_onnxruntime == result.frames_equal == 40
    allowed = dict(zip(qm.intent_labels, qm.intent_slots))
    assert all(s["label"] in allowed[f["intent"]] for f in result.device_frames for s in f["slots"])
    # the table decides: the unconstrained decoder's frames differ on many of these utterances
    p = project(lines, SPEC)
    ref = run_integer(qm, p.features, p.lengths.astype(np.int32))
    changed = sum(decode_one("", t, i, s, qm.intent_labels, qm.slot_labels).frame.spans != tuple(
                      (x["label"], x["start"], x["end"]) for x in f["slots"])
                  for t, i, s, f in zip(p.tokens, ref.intent_logits, ref.slot_logits, result.device_frames))
    assert changed >= 10


@pytest.mark.slow
def test_device_viterbi_with_more_than_256_tags(tmp_path):
    """301 slot tags: the device's backpointers are uint16_t; frames still equal Python's."""
    qm = random_quantized_model(SPEC, bottleneck=12, hidden=6, n_layers=1, kernel_width=2, n_intents=3,
                                n_slot_tags=301, seed=4)
    onnx_model = build_onnx(qm)
    target = load_target("host")
    report = build(onnx_model, target, tmp_path / "b", "301 tags")
    assert report["slot_tags"] == 301
    lines = utterances(seed=7, n=24)
    result = verify(onnx_model, qm, target, tmp_path / "b", report, lines)
    assert result.mismatches == [] and result.ok and result.frames_equal == 24
    differs, _ = decoding_witnesses(qm, lines)
    assert differs >= 1


@pytest.mark.slow
@pytest.mark.qemu
def test_cli_build_run_verify_on_cortex_m7(model, tmp_path, capsys):
    qm, _ = model
    qm.save(tmp_path / "run")
    out = tmp_path / "m7"
    main(["build", "--target", "cortex-m7", str(tmp_path / "run"), "-o", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "cortex-m7" and report["macs"] > 0 and (out / "pqrnn.elf").is_file()
    main(["run", "--target", "cortex-m7", "-o", str(out), "-m", str(tmp_path / "run"), "set an alarm", "Straße 5"])
    frames = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert len(frames) == 2 and all(f["intent"] in qm.intent_labels for f in frames)
    texts = tmp_path / "texts.txt"
    texts.write_bytes(b"\n".join(utterances(seed=5, n=12)) + b"\n")
    main(["verify", "--target", "cortex-m7", str(tmp_path / "run"), "-o", str(out), "--texts", str(texts), "--json"])
    v = json.loads(capsys.readouterr().out)
    assert v["ok"] and v["utterances"] == 12 and v["frames_equal"] == 12 and v["reference_vs_onnxruntime"] == 12


@pytest.mark.slow
def test_cli_int16_weights_option_is_part_of_the_build(model, tmp_path, capsys):
    """build --int16-weights records the option; verify/run with the same option reuse the build,
    without it they rebuild (a build folder is never used with the other weights)."""
    qm, _ = model
    qm.save(tmp_path / "run")
    out = tmp_path / "h"
    main(["build", "--target", "host", str(tmp_path / "run"), "-o", str(out), "--int16-weights", "--json"])
    assert json.loads(capsys.readouterr().out)["int16_weights"] is True
    texts = tmp_path / "texts.txt"
    texts.write_bytes(b"\n".join(utterances(seed=6, n=8)) + b"\n")
    args = ["verify", "--target", "host", str(tmp_path / "run"), "-o", str(out), "--texts", str(texts), "--json"]
    main(args + ["--int16-weights"])
    got = capsys.readouterr()
    assert json.loads(got.out)["ok"] and "building" not in got.err
    main(args)
    got = capsys.readouterr()
    assert json.loads(got.out)["ok"] and "building" in got.err
    assert json.loads((out / "report.json").read_text())["int16_weights"] is False


def test_a_build_made_by_other_compiler_code_is_rebuilt(model, tmp_path, capsys, monkeypatch):
    """The build key includes a digest of the code that writes the sources (compiler, projection
    emitter, firmware folder): a build folder from other code is rebuilt, not reused."""
    from pqcompile.compiler import firmware
    qm, _ = model
    qm.save(tmp_path / "run")
    out = tmp_path / "h"
    main(["build", "--target", "host", str(tmp_path / "run"), "-o", str(out), "--json"])
    capsys.readouterr()
    assert json.loads((out / "report.json").read_text())["generator_sha256"] == firmware.generator_digest()
    texts = tmp_path / "texts.txt"
    texts.write_bytes(b"\n".join(utterances(seed=7, n=4)) + b"\n")
    args = ["verify", "--target", "host", str(tmp_path / "run"), "-o", str(out), "--texts", str(texts), "--json"]
    main(args)
    assert "building" not in capsys.readouterr().err          # same code: reused
    monkeypatch.setattr(firmware, "generator_digest", lambda: "0" * 64)
    main(args)
    got = capsys.readouterr()
    assert json.loads(got.out)["ok"] and "out-of-date build" in got.err
    assert json.loads((out / "report.json").read_text())["generator_sha256"] == "0" * 64


def test_over_budget_fails_with_numbers_and_leaves_no_dir(model, tmp_path):
    _, onnx_model = model
    tiny = dataclasses.replace(load_target("host"), flash_budget=4096)
    with pytest.raises(PqError, match=r"does not fit host: flash \d+ B > budget 4096 B"):
        build(onnx_model, tiny, tmp_path / "b", "random")
    assert list(tmp_path.iterdir()) == []


def test_missing_cross_compiler_is_tool_missing(model, tmp_path):
    _, onnx_model = model
    target = dataclasses.replace(load_target("cortex-m7"), compiler="arm-none-eabi-gcc-not-installed")
    with pytest.raises(ToolMissing, match="arm-none-eabi-gcc-not-installed not found"):
        build(onnx_model, target, tmp_path / "b", "random")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["build", "--target", "cortex-m99", "{model}"], "unknown target 'cortex-m99'"),
    (["build", "--target", "host", "{bad}"], "cannot parse ONNX file"),
    (["build", "--target", "host", "{missing}"], "not found"),
    (["verify", "--target", "host", "{model}"], "exactly one of --data"),
])
def test_cli_errors_are_one_line_and_leave_no_build_dir(model, tmp_path, capsys, args, message):
    qm, _ = model
    qm.save(tmp_path / "run")
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage" * 10)
    paths = {"model": str(tmp_path / "run"), "bad": str(tmp_path / "bad.onnx"), "missing": str(tmp_path / "nope")}
    with pytest.raises(SystemExit) as e:
        main([a.format(**paths) for a in args] + ["-o", str(tmp_path / "out")])
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
