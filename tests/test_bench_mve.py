"""`pqcompile bench --target cortex-m55` measures the Helium (MVE) kernels (dot_mve.py): a small
random model with 4-bit encoder weights (test_int4_firmware.py's), counted exactly as on cortex-m7
(the per-kernel counts add up, the kernels' code is the same in the three programs), its report
names the Helium kernels, and its matmuls take far fewer instructions per MAC than cortex-m7's DSP
kernels on the same model."""
import json
import shutil

import pytest

from cli_runner import run_cli
from test_int4_firmware import int4_model

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs qemu-system-arm and arm-none-eabi-gcc")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_mve") / "model"
    int4_model().save(d)
    return {t: json.loads(run_cli("bench", "-t", t, "-m", d, "--json").stdout) for t in ("cortex-m55", "cortex-m7")}


def test_m55_bench_counts_the_helium_kernels(reports):
    m55, m7 = reports["cortex-m55"], reports["cortex-m7"]
    assert m55["ok"] and m7["ok"]
    assert "Helium" in m55["current"]["kernels"] and "Helium" not in m7["current"]["kernels"]
    code = m55["current"]["kernel_code"]
    assert code["identical"] and code["driver_identical"]
    for u, v in zip(m55["current"]["utterances"], m7["current"]["utterances"]):
        assert u["check"]["ok"] and u["macs"] == v["macs"] and u["tokens"] == v["tokens"]
        mm55 = {g["name"]: g for g in u["groups"] if g["macs"]}
        mm7 = {g["name"]: g for g in v["groups"] if g["macs"]}
        assert set(mm55) == set(mm7) and {"bottleneck matmul", "slot matmul", "intent matmul"} <= set(mm55)
        # every matmul group (packed encoder, int8 heads) fewer instructions than the DSP kernels', all
        # together less than half (this model's depths are small: 64, 33, 14; the bundled model's ~5x)
        for name, g in mm55.items():
            assert g["insns"] < mm7[name]["insns"], (u["tokens"], name, g["insns"], mm7[name]["insns"])
        assert 2 * sum(g["insns"] for g in mm55.values()) < sum(g["insns"] for g in mm7.values())
        assert u["network_insns"] < v["network_insns"]
