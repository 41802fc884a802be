"""`pqcompile bench` on the Linux user-mode targets, cortex-a53 (qemu-aarch64) and cortex-a7
(qemu-arm), counted by the pq_icount TCG plugin: a small random model; whole counts whose
per-kernel parts add up exactly to the plain build's total, the same kernel and driver machine
code in the measured programs, and the same numbers when the programs run again."""
import json
import shutil

import pytest

from pqcompile.compiler.bench import _run_bench_plugin, counter_of, format_report, utterances
from pqcompile.projection import DEFAULT_SPEC
from pqcompile.quant.qmodel import random_quantized_model
from pqcompile.targets import load_target

from cli_runner import run_cli

SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=12, max_input_bytes=96)
KW = dict(bottleneck=12, hidden=5, n_layers=2, kernel_width=3, n_intents=5, n_slot_tags=7, seed=21)
TARGETS = ["cortex-a53", "cortex-a7"]


@pytest.fixture(scope="module")
def qmodel():
    return random_quantized_model(SPEC, **KW)


@pytest.fixture(scope="module", params=TARGETS)
def bench_run(request, qmodel, tmp_path_factory):
    target = load_target(request.param)
    if shutil.which(target.compiler) is None or shutil.which(target.emulator) is None or shutil.which("gcc") is None:
        pytest.skip(f"needs {target.compiler}, {target.emulator} and gcc")
    d = tmp_path_factory.mktemp(request.param)
    qmodel.save(d / "model")
    r = run_cli("bench", "-t", request.param, "-m", d / "model", "--json", "--keep", d / "keep")
    return target, json.loads(r.stdout), d / "keep" / "current"


def test_counter_is_the_plugin():
    for name in TARGETS:
        c = counter_of(load_target(name))
        assert c.plugin and c.phases == 1 and c.mark_insns == 1 and c.insns(12345) == 12345
        assert c.defines == {"PQ_BENCH_PLUGIN": None, "PQ_BENCH_PHASES": 1}


def test_per_kernel_counts_add_up_exactly(bench_run, qmodel):
    target, report, _ = bench_run
    assert report["ok"] and report["target"] == target.name
    assert "pq_icount TCG plugin" in report["counting"] and target.emulator in report["counting"]
    cur = report["current"]
    assert cur["ok"] and [u["tokens"] for u in cur["utterances"]] == [3, 10, 12]
    for u in cur["utterances"]:
        c = u["check"]
        assert c["ok"] and c["whole_numbers"] and c["mark_insns"] == 1
        numbers = [u["network_insns"], u["projection_insns"], u["driver_insns"], c["profiled_total"],
                   *(k["insns"] for k in u["calls"])]
        assert all(isinstance(x, int) and x > 0 for x in numbers)
        kernels = sum(k["insns"] for k in u["calls"])
        assert kernels == c["kernels"]
        assert kernels + u["driver_insns"] == u["network_insns"] == c["plain_total"]
        assert c["profiled_total"] - c["marks"] == u["network_insns"]
        assert c["marks"] == len(u["calls"]) + 1
        assert sum(g["insns"] for g in u["groups"]) == u["network_insns"]
        assert 0 < u["driver_insns"] < 100
        assert u["insns_per_mac"] == pytest.approx(u["network_insns"] / u["macs"], abs=1e-4)
    full = cur["utterances"][-1]
    assert full["macs"] == qmodel.n_macs()
    us = cur["utterances"]
    assert us[0]["network_insns"] < us[1]["network_insns"] <= us[2]["network_insns"]
    assert us[0]["projection_insns"] < us[1]["projection_insns"] < us[2]["projection_insns"]


def test_kernel_and_driver_code_are_the_same_in_every_program(bench_run):
    _, report, _ = bench_run
    code = report["current"]["kernel_code"]
    assert code["identical"] and code["driver_identical"]
    assert code["functions"] >= 5 and code["instructions"] > 100


def test_a_second_run_gives_the_same_numbers(bench_run):
    target, report, keep = bench_run
    texts = list(utterances(SPEC).values())
    us = report["current"]["utterances"]
    n_marks = us[0]["check"]["marks"]
    plain = _run_bench_plugin(target, keep / "bench_plain.elf", texts, 0)
    prof = _run_bench_plugin(target, keep / "bench_profile.elf", texts, n_marks)
    for u, p, q in zip(us, plain, prof):
        assert p["n"] == q["n"] == u["tokens"]
        assert p["network"] == u["network_insns"] and p["projection"] == u["projection_insns"]
        assert q["network"] == u["check"]["profiled_total"]
        per_call = [b - a - 1 for a, b in zip(q["marks"], q["marks"][1:])]
        assert per_call == [k["insns"] for k in u["calls"]]


def test_text_report_names_the_plugin(bench_run):
    _, report, _ = bench_run
    text = format_report(report)
    assert "pq_icount TCG plugin" in text and text.count("marks x 1: ok") == 3 and "MISMATCH" not in text


def test_aarch64_page_offsets_are_taken_out_of_the_comparison():
    from pqcompile.compiler.bench import _page_offsets_removed
    lines = ["adrp\tx23, <pq_const_2+0x1d0>", "add\tx2, x23, #0x888", "ldr\tw1, [x23, #16]",
             "ldp\tq0, q1, [x23, #0x20]", "mov\tx23, x0", "add\tx3, x23, #0x8", "ldr\tw1, [x23, #16]",
             "adrp\tx4, <pq_arena>", "bl\t<pq_k1_add>", "add\tx5, x4, #0x10", "add\tx6, x5, #0x10"]
    assert _page_offsets_removed(lines) == [
        "adrp\tx23, <page>", "add\tx2, x23, #lo12", "ldr\tw1, [x23, #lo12]", "ldp\tq0, q1, [x23, #lo12]",
        "mov\tx23, x0", "add\tx3, x23, #0x8", "ldr\tw1, [x23, #16]",     # x23 no longer holds a page
        "adrp\tx4, <page>", "bl\t<pq_k1_add>", "add\tx5, x4, #0x10",      # a call clobbers x0-x18
        "add\tx6, x5, #0x10"]
