"""`pqcompile bench` on a small random model on cortex-m7 (QEMU -icount): exact counts whose
per-kernel parts add up to the plain build's total, MACs that match the model's, the same kernel
machine code in the measured programs, the JSON shape, --compare, and one-line errors for
targets that cannot count instructions."""
import json
import shutil

import pytest

from pqcompile.compiler.bench import MARK_INSNS, counter_of
from pqcompile.projection import DEFAULT_SPEC
from pqcompile.quant.qmodel import random_quantized_model
from pqcompile.targets import load_target

from cli_runner import run_cli

SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=12, max_input_bytes=96)
# odd output counts (7 slot tags, 5 intents, 3 x 5 gates) take the one-channel dot kernel
KW = dict(bottleneck=12, hidden=5, n_layers=2, kernel_width=3, n_intents=5, n_slot_tags=7, seed=21)

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs qemu-system-arm and arm-none-eabi-gcc")


@pytest.fixture(scope="module")
def qmodel():
    return random_quantized_model(SPEC, **KW)


@pytest.fixture(scope="module")
def report(qmodel, tmp_path_factory):
    d = tmp_path_factory.mktemp("bench") / "model"
    qmodel.save(d)
    r = run_cli("bench", "-t", "cortex-m7", "-m", d, "--compare", "--json")
    return json.loads(r.stdout)


@needs_qemu
def test_per_kernel_counts_add_up_to_the_plain_total(report):
    assert report["ok"]
    for variant in (report["current"], report["previous"]):
        assert variant["ok"]
        assert [u["tokens"] for u in variant["utterances"]] == [3, 10, 12]
        for u in variant["utterances"]:
            c = u["check"]
            assert c["ok"] and c["whole_numbers"] and c["misread_ticks"] == 0     # CMSDK: 40 ns, exact
            kernels = sum(k["insns"] for k in u["calls"])
            assert kernels == c["kernels"]
            assert kernels + u["driver_insns"] == u["network_insns"] == c["plain_total"]
            assert c["profiled_total"] - MARK_INSNS * c["marks"] == u["network_insns"]
            assert c["marks"] == len(u["calls"]) + 1
            assert sum(g["insns"] for g in u["groups"]) == u["network_insns"]
            assert all(k["insns"] > 0 for k in u["calls"])
            assert 0 < u["driver_insns"] < 200


@needs_qemu
def test_macs_match_the_model(report, qmodel):
    by_tokens = {u["tokens"]: u for u in report["current"]["utterances"]}
    full = by_tokens[SPEC.max_tokens]
    assert full["rows"] == SPEC.max_tokens
    assert full["macs"] == qmodel.n_macs()
    per_row = (qmodel.n_macs() - qmodel.intent.weight.size) // SPEC.max_tokens
    for n, u in by_tokens.items():
        assert u["rows"] == min(SPEC.max_tokens, n + 2)    # halo: kernel width 3 - 1
        assert u["macs"] == per_row * u["rows"] + qmodel.intent.weight.size
        assert sum(k["macs"] for k in u["calls"]) == u["macs"]
        matmuls = [k for k in u["calls"] if k["macs"]]
        assert {k["layer"] for k in matmuls} == {"bottleneck", "qrnn0.fwd", "qrnn0.bwd", "qrnn1.fwd", "qrnn1.bwd",
                                                 "attention", "intent", "slot"}
        assert all(k["role"] == "matmul" and k["insns_per_mac"] > 0 for k in matmuls)
        assert u["insns_per_mac"] == pytest.approx(u["network_insns"] / u["macs"], abs=1e-4)
        assert u["insns_per_mac"] > 1 and u["projection_insns"] > 0


@needs_qemu
def test_longer_utterances_cost_more(report):
    us = report["current"]["utterances"]
    assert us[0]["network_insns"] < us[1]["network_insns"] < us[2]["network_insns"]
    assert us[0]["projection_insns"] < us[1]["projection_insns"] < us[2]["projection_insns"]


@needs_qemu
def test_kernels_are_the_same_machine_code_in_every_program(report):
    code = report["current"]["kernel_code"]
    assert code["identical"] and code["driver_identical"]
    assert code["functions"] >= 5 and code["instructions"] > 100
    assert code["programs"] == ["pqrnn.elf", "bench_plain.elf", "bench_profile.elf"]


@needs_qemu
def test_json_shape(report):
    assert set(report) >= {"target", "model", "max_tokens", "feature_size", "counting", "current", "previous",
                           "ratios", "ok"}
    assert report["target"] == "cortex-m7" and report["max_tokens"] == SPEC.max_tokens
    cur = report["current"]
    assert set(cur) >= {"utterances", "kernel_code", "flash", "ram", "sections", "components", "arena_bytes", "ok",
                        "kernels"}
    assert 0 < cur["ram"] and 0 < cur["flash"] == cur["sections"]["flash"]
    u = cur["utterances"][1]
    assert set(u) >= {"tokens", "rows", "text", "network_insns", "macs", "insns_per_mac", "projection_insns",
                      "projection_insns_per_token", "driver_insns", "groups", "calls", "check"}
    assert set(u["calls"][0]) == {"index", "kernel", "layer", "role", "insns", "macs", "insns_per_mac", "share"}
    assert set(u["groups"][0]) == {"name", "calls", "insns", "macs", "insns_per_mac", "share", "kernels"}
    assert sum(g["share"] for g in u["groups"]) == pytest.approx(1, abs=1e-3)


@needs_qemu
def test_compare_builds_the_plain_tvm_kernels(report):
    prev, cur = report["previous"], report["current"]
    assert "plain TVM" in prev["kernels"] and "micro-kernels" in cur["kernels"]
    # the same program (the same calls, layer by layer), other kernels: the micro-kernel build pads an
    # odd channel count and slices it off inside the kernel, so a kernel's fused name may differ
    def program(u):
        return [(k["index"], k["layer"], k["role"], k["macs"]) for k in u["calls"]]
    assert program(prev["utterances"][0]) == program(cur["utterances"][0])
    assert any(k["macs"] > 0 for k in cur["utterances"][0]["calls"])
    ratios = report["ratios"]["previous_over_current"]
    for q, p, c in zip(ratios, prev["utterances"], cur["utterances"]):
        assert q["network_insns"] == pytest.approx(p["network_insns"] / c["network_insns"], abs=1e-3)
        assert p["macs"] == c["macs"]
    # SMLAD micro-kernels beat the unrolled plain loops on the matmuls
    assert all(q["network_insns"] > 1 for q in ratios)


@pytest.mark.parametrize("target", ["host", "stm32f746g-disco"])
def test_targets_that_cannot_count_fail_in_one_line(target):
    r = run_cli("bench", "-t", target, ok=False)
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.startswith(f"error: target {target} cannot count instructions")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_counters_of_the_counting_targets():
    m7 = counter_of(load_target("cortex-m7"))
    assert m7.phases == 40 and m7.insns(4920) == 4920   # ticks summed over 40 phases = instructions
    m55 = counter_of(load_target("cortex-m55"))    # SysTick at 32 MHz: 31.25 instructions per tick
    assert m55.phases == 125 and m55.insns(4 * 1000) == 1000
    # a SysTick sum one tick off a whole count is rounded (and said to be); two ticks off is not whole
    assert m55.whole_insns(4 * 407) == (407, False) and m55.whole_insns(4 * 407 + 1) == (407, True)
    assert m55.whole_insns(4 * 407 - 1) == (407, True) and m55.whole_insns(4 * 407 + 2)[0].denominator == 2
    assert m7.whole_insns(4921) == (4921, False)        # an integer tick: every sum is exact
