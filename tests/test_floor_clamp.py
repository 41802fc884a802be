"""pq_floor_clamp (requant.py: the requantisation's floor, clamp and int conversion in one inline
function) equals the float floorf and ternary clamps it replaces, for every bound pair the graphs
use, on a sweep of float32 values: every integer and half-integer from -300 to 300 with the 64
floats on either side of each, strided sweeps (every 16381st bit pattern) over all finite positive and negative floats
(subnormals, values past 2^23, 2^31 and up to FLT_MAX), +-0, +-inf, and requantisations
float32(acc) * s + 0.5f of random accumulators and scales; on the host (portable C), cortex-m7
(VCVTM), cortex-m4 (VCVT and a correction) and stm32f746g-disco's FPv5-SP (-mfpu=fpv5-sp-d16:
VCVTM through the define PQ_FPV5 its target gets, targets.py; run on cortex-m7's QEMU board, the
board itself has no emulator). The printed results of the hand-picked values are also checked
against numpy (floor, clip) in float32, independently of the target's libm."""
import dataclasses
import shutil
import subprocess

import numpy as np
import pytest

from pqcompile.compiler.dot_intrin import MICRO_KERNEL_C
from pqcompile.compiler.firmware import libm
from pqcompile.compiler.requant import REQUANT_C
from pqcompile.emulator import build_program, run_program
from pqcompile.targets import load_target

BOUNDS = [(-128, 127), (0, 127), (-127, 127), (-32768, 32767), (-3, 5)]


def picked_values() -> np.ndarray:
    k = np.arange(-300, 301, dtype=np.float32)
    base = np.concatenate([k, k + np.float32(0.5), np.float32([2**23, 2**24, 2**31, 2**32, 1e10, 3.4e38,
                                                                  -32768.5, 32767.5, 32768, -32769])])
    vals = [base, -np.float32([2**23, 2**24, 2**31, 2**32, 1e10, 3.4e38])]
    for direction in (np.inf, -np.inf):
        x = base
        for _ in range(3):
            x = np.nextafter(x, np.float32(direction))
            vals.append(x)
    tiny = np.float32([1e-45, 1e-38, 1e-7, 0.49999997, 0.50000006])
    vals += [tiny, -tiny, np.float32([0.0, -0.0, np.inf, -np.inf])]
    return np.concatenate(vals).astype(np.float32)


def reference(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.clip(np.floor(x), lo, hi).astype(np.int64)


def program(values: np.ndarray) -> str:
    bits = ", ".join(f"0x{int(b):08x}u" for b in values.view(np.uint32))
    checks = "\n".join(f"    CHECK({lo}, {hi});" for lo, hi in BOUNDS)
    prints = "\n".join(f"    PRINT({lo}, {hi});" for lo, hi in BOUNDS)
    return f"""#include <stdint.h>
#include <math.h>
#include "pq_platform.h"
{MICRO_KERNEL_C}
{REQUANT_C}
static const uint32_t PICKED[{len(values)}] = {{{bits}}};

/* the code pq_floor_clamp replaces, as TVM prints it */
static int32_t old_way(float x, float lo, float hi)
{{
    float v = floorf(x);
    float v1 = (v) < (hi) ? (v) : (hi);
    return (int32_t)((v1) > (lo) ? (v1) : (lo));
}}

static float from_bits(uint32_t b)
{{
    float f;
    memcpy(&f, &b, 4);
    return f;
}}

static uint32_t n_checked, n_bad;

static void put_int(int32_t v)
{{
    if (v < 0) {{ pq_write_str("-"); pq_write_uint((uint32_t)0u - (uint32_t)v); }}
    else {{ pq_write_uint((uint32_t)v); }}
}}

static void compare(float x, int32_t got, int32_t want, int32_t lo, int32_t hi)
{{
    n_checked++;
    if (got != want) {{
        n_bad++;
        if (n_bad <= 5) {{
            uint32_t b;
            memcpy(&b, &x, 4);
            pq_write_str("mismatch bits ");
            pq_write_uint(b);
            pq_write_str(" bounds ");
            put_int(lo);
            pq_write_str(" ");
            put_int(hi);
            pq_write_str(" got ");
            put_int(got);
            pq_write_str(" want ");
            put_int(want);
            pq_write_str("\\n");
        }}
    }}
}}

/* literal bounds, as in the generated kernels (SSAT/USAT where they fit) */
#define ONE(x, lo, hi) compare((x), pq_floor_clamp((x), lo, hi), old_way((x), (float)(lo), (float)(hi)), lo, hi)
#define CHECK(lo, hi) do {{                                                              \\
        uint32_t i_, k_, s_;                                                               \\
        int32_t j_;                                                                        \\
        for (i_ = 0; i_ < {len(values)}u; i_++) ONE(from_bits(PICKED[i_]), lo, hi);         \\
        for (s_ = 0; s_ < 2; s_++)                                                         \\
            for (i_ = 0; i_ < 0x7f800000u; i_ += 16381u)                                    \\
                ONE(from_bits(i_ | (s_ << 31)), lo, hi);                                   \\
        for (j_ = -600; j_ <= 600; j_++) {{                                                 \\
            float c_ = 0.5f * (float)j_;                                                   \\
            uint32_t b_;                                                                   \\
            memcpy(&b_, &c_, 4);                                                           \\
            for (k_ = 0; k_ <= 64; k_++) {{                                                 \\
                if (j_ != 0) {{                                                             \\
                    ONE(from_bits(b_ + k_), lo, hi);                                       \\
                    ONE(from_bits(b_ - k_), lo, hi);                                       \\
                }} else {{                                                                  \\
                    ONE(from_bits(k_), lo, hi);                                            \\
                    ONE(from_bits(k_ | 0x80000000u), lo, hi);                              \\
                }}                                                                         \\
            }}                                                                             \\
        }}                                                                                 \\
        for (i_ = 0, k_ = 12345u; i_ < 20000u; i_++) {{   /* requantisations */             \\
            int32_t acc_;                                                                  \\
            float s_f_, x_;                                                                \\
            k_ = k_ * 1664525u + 1013904223u;                                              \\
            acc_ = (int32_t)k_ >> (k_ & 15u);                                              \\
            k_ = k_ * 1664525u + 1013904223u;                                              \\
            s_f_ = (float)(k_ >> 8) * 5.9604645e-08f * ((k_ & 1u) ? 0.001f : 1.0f);        \\
            x_ = (float)acc_ * s_f_;                                                       \\
            x_ = x_ + 0.5f;                                                                \\
            ONE(x_, lo, hi);                                                               \\
        }}                                                                                 \\
    }} while (0)
#define PRINT(lo, hi) do {{                                                              \\
        uint32_t i_;                                                                       \\
        for (i_ = 0; i_ < {len(values)}u; i_++) {{                                          \\
            put_int(pq_floor_clamp(from_bits(PICKED[i_]), lo, hi));                        \\
            pq_write_str(i_ + 1 < {len(values)}u ? " " : "\\n");                            \\
        }}                                                                                 \\
    }} while (0)

int main(void)
{{
    pq_platform_init();
{checks}
    pq_write_str("checked ");
    pq_write_uint(n_checked);
    pq_write_str(" bad ");
    pq_write_uint(n_bad);
    pq_write_str("\\n");
{prints}
    return 0;
}}
"""


def fpv5_sp_on_cortex_m7():
    """stm32f746g-disco's compiler flags and defines (FPv5-SP) on cortex-m7's QEMU board (mps2-an500)."""
    disco, m7 = load_target("stm32f746g-disco"), load_target("cortex-m7")
    assert "-mfpu=fpv5-sp-d16" in disco.cflags and dict(disco.defines).get("PQ_FPV5") == "1"
    return dataclasses.replace(m7, cflags=disco.cflags, defines=tuple({**dict(m7.defines), **dict(disco.defines)}.items()))


@pytest.mark.parametrize("target_name", ["host", "cortex-m7", "cortex-m4", "stm32f746g-disco"])
def test_floor_clamp_equals_floorf(target_name, tmp_path):
    target = fpv5_sp_on_cortex_m7() if target_name == "stm32f746g-disco" else load_target(target_name)
    if shutil.which(target.compiler) is None or (target.emulator and shutil.which(target.emulator) is None):
        pytest.skip(f"{target.compiler} or {target.emulator} missing")
    values = picked_values()
    (tmp_path / "fc.c").write_text(program(values))
    exe = build_program(target, [tmp_path / "fc.c", *libm(target)],
                        tmp_path / ("fc.elf" if target.kind == "baremetal" else "fc"))
    if target_name != "host":   # the path under test there
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(exe)], capture_output=True, text=True).stdout
        fpv5 = ["vcvtm.s32.f32", "ssat", "usat"]
        want = {"cortex-m7": fpv5, "stm32f746g-disco": fpv5, "cortex-m4": ["vcvt.s32.f32", "ssat", "usat"]}
        assert all(w in dis for w in want[target_name])
        assert "vcvtm" not in dis or target_name != "cortex-m4"
    if target_name == "stm32f746g-disco":   # without the define, FPv5-SP would take the FPv4 path
        plain = dataclasses.replace(target, defines=tuple((k, v) for k, v in target.defines if k != "PQ_FPV5"))
        other = build_program(plain, [tmp_path / "fc.c", *libm(plain)], tmp_path / "fc_nodefine.elf")
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(other)], capture_output=True, text=True).stdout
        assert "vcvtm" not in dis and "vcvt.s32.f32" in dis
    res = run_program(target, exe, timeout=600)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().splitlines()
    assert not [x for x in lines if x.startswith("mismatch")], lines[:6]
    n_sweep = 2 * -(-0x7f800000 // 16381) + 1201 * 65 * 2 + 20000
    assert lines[-len(BOUNDS) - 1] == f"checked {len(BOUNDS) * (len(values) + n_sweep)} bad 0"
    for (lo, hi), line in zip(BOUNDS, lines[-len(BOUNDS):]):
        np.testing.assert_array_equal(np.array(line.split(), np.int64), reference(values, lo, hi),
                                      err_msg=f"bounds {lo}, {hi}")
