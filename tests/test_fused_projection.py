"""--fuse-projection: the projection fused into the bottleneck (compiler/fuse.py). The fused C
projection (pq_tokenize + pq_project_rows) against the plain pq_project on the host, under
ASan/UBSan; the row-wise check on a real graph; fused device programs against the plain build's
output, byte for byte; bad option values as one-line errors; the plain build unchanged."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from cli_runner import run_cli
from pqcompile.compiler.fuse import parse_option, row_wise
from pqcompile.compiler.firmware import build
from pqcompile.emulator import run_program
from pqcompile.errors import PqError
from pqcompile.export import build_onnx
from pqcompile.projection import DEFAULT_SPEC
from pqcompile.projection.emit_c import emit_projection_c, render, render_fused
from pqcompile.quant.qmodel import random_quantized_model
from pqcompile.targets import load_target
from test_projection_c import SPECS

# each line: n, the token spans, then all PQ_MAX_TOKENS feature rows (pq_project's, or the fused
# functions' block by block with R rows, a guard row after the block checked untouched)
HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "projection.h"
static uint8_t buf[4096];
static int8_t feats[PQ_MAX_TOKENS][PQ_FEATURE_SIZE];
static pq_token_t tokens[PQ_MAX_TOKENS];
#ifdef FUSED
static int8_t block[PQ_MAX_TOKENS + 1][PQ_FEATURE_SIZE];
#endif
int main(int argc, char **argv) {
    size_t len = 0; int c, R = argc > 1 ? atoi(argv[1]) : 1;
    (void)R;
    for (;;) {
        int n, t, f;
        c = getchar();
        if (c == EOF && len == 0) break;
        if (c != '\n' && c != EOF) { if (len < sizeof buf) buf[len++] = (uint8_t)c; continue; }
#ifdef FUSED
        memset(feats, 0x55, sizeof feats);
        n = pq_tokenize(buf, len, tokens);
        for (t = 0; t < PQ_MAX_TOKENS; t += R) {
            int k = PQ_MAX_TOKENS - t < R ? PQ_MAX_TOKENS - t : R;
            memset(block, 0x55, sizeof block);
            pq_project_rows(buf, tokens, n, t, k, block);
            for (f = 0; f < PQ_FEATURE_SIZE; f++) if (block[k][f] != 0x55) return 3;
            memcpy(feats[t], block, (size_t)k * PQ_FEATURE_SIZE);
        }
#else
        n = pq_project(buf, len, feats, tokens);
#endif
        printf("%d", n);
        for (t = 0; t < n; t++) printf(" %u:%u:%u:%u:%u", tokens[t].byte_start, tokens[t].byte_end,
                                       tokens[t].char_start, tokens[t].char_end, tokens[t].is_tag);
        for (t = 0; t < PQ_MAX_TOKENS; t++) { putchar(t ? ';' : '|'); for (f = 0; f < PQ_FEATURE_SIZE; f++) printf("%d,", feats[t][f]); }
        putchar('\n');
        len = 0;
        if (c == EOF) break;
    }
    return 0;
}
"""

EDGE = [b"", b"   ", b"set an alarm for 7 am", "Réveille-moi à 6h ☀️ 東京 İSTANBUL Straße".encode(),
        b"\xff\xfe\xc3 broken \xe2\x82", b"nul\x00byte, tab\there!", ("word " * 200).encode(), b"x" * 3000,
        "สวัสดี ครับ かな カナ 😀😁 a-b.c".encode(), b"a.b,c;d:e!f?g(h)i[j]k{l}m/n" * 4]


def _host_build(spec, d, fused: bool):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no host C compiler")
    emit_projection_c(spec, d, fused=fused)
    (d / "harness.c").write_text(HARNESS)
    exe = d / "h"
    subprocess.run([cc, "-O1", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", "-I", str(d), str(d / "harness.c"), str(d / "projection.c"),
                    "-o", str(exe)] + (["-DFUSED"] if fused else []), check=True)
    return exe


@pytest.mark.parametrize("name", ["default", "small", "multilingual", "small-chars", "subword", "small-ngrams",
                                  "nocase-digits"])
def test_fused_projection_equals_pq_project(name, tmp_path):
    """Every row of every block, tokens and n: as pq_project gives them, for R = 1, 3 and T."""
    spec = SPECS[name]
    data = b"\n".join(EDGE) + b"\n"
    plain = subprocess.run([_host_build(spec, tmp_path / "plain", False)], input=data, capture_output=True,
                           check=True).stdout
    fused = _host_build(spec, tmp_path / "fused", True)
    assert plain.count(b"\n") == len(EDGE)
    for R in sorted({1, 3, spec.max_tokens}):
        got = subprocess.run([fused, str(R)], input=data, capture_output=True)
        assert got.returncode == 0, got.stderr.decode()[-2000:]
        assert got.stdout == plain, R


def test_plain_projection_unchanged():
    """Without the option the projection is exactly render(spec); the fused one has no pq_project."""
    src, hdr = render(DEFAULT_SPEC)
    fsrc, fhdr = render_fused(DEFAULT_SPEC)
    assert "pq_tokenize" not in src + hdr and "int pq_project(" in src
    assert "int pq_project(" not in fsrc and "pq_project(const" not in fhdr
    assert "int pq_tokenize(" in fsrc and "void pq_project_rows(" in fsrc
    assert "features" not in fsrc.split("int pq_tokenize(")[1].split("void pq_project_rows(")[0]


@pytest.mark.parametrize("value,want", [(None, "auto"), ("auto", "auto"), ("AUTO", "auto"), ("1", 1), ("18", 18),
                                        ("off", None), (" Off ", None)])
def test_parse_option(value, want):
    """Not given: auto (the default); off: the plain build."""
    assert parse_option(value) == want


@pytest.mark.parametrize("value", ["0", "-3", "x", "", "1.5", "auto2"])
def test_bad_option_is_one_line_error(value):
    with pytest.raises(PqError, match="--fuse-projection"):
        parse_option(value)
    res = run_cli("build", "--target", "cortex-m7", "--fuse-projection", value, ok=False)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--fuse-projection" in lines[0] and "Traceback" not in res.stderr


SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8, max_input_bytes=48)


@pytest.fixture(scope="module")
def model():
    qm = random_quantized_model(SPEC, bottleneck=12, hidden=6, n_layers=2, kernel_width=2, n_intents=4,
                                n_slot_tags=7, seed=21)
    return qm, build_onnx(qm)


def test_row_wise_check(model):
    """The bottleneck kernel is row-wise; windows, fo-pooling and sums over the rows are not."""
    from tvm import tirx

    from pqcompile.compiler.compile import RELAX_PASSES
    from pqcompile.compiler.importer import import_onnx
    mod = RELAX_PASSES(import_onnx(model[1], pad_channels=True).mod)
    found = {gv.name_hint: row_wise(f, SPEC.max_tokens) for gv, f in mod.functions.items()
             if isinstance(f, tirx.PrimFunc)}
    bottleneck = [v for k, v in found.items() if k.startswith("fused_NT_matmul_add")]
    assert len(bottleneck) == 1 and bottleneck[0][1] is None
    assert bottleneck[0][0][0] == SPEC.feature_size      # the features: rows of F
    for name in ("fo_pool", "strided_slice", "sum"):
        hits = [v for k, v in found.items() if name in k and "matmul" not in k]
        assert hits and all(why is not None for _, why in hits), name


def test_auto_falls_back_to_the_plain_driver_where_fusion_cannot_be(model, monkeypatch):
    """auto (the default) fuses wherever plan_fusion allows and otherwise compiles the plain
    driver; a number of rows asked for explicitly keeps the one-line error."""
    import pqcompile.compiler.compile as compile_mod

    from pqcompile.compiler.fuse import NotFusable

    def refuse(*args):
        raise NotFusable("--fuse-projection: fused_x is not row-wise (test)")
    assert compile_mod.compile_onnx(model[1], fuse_projection="auto").fusion is not None
    monkeypatch.setattr(compile_mod, "plan_fusion", refuse)
    cm = compile_mod.compile_onnx(model[1], fuse_projection="auto")
    assert cm.fusion is None and "model_run_rows" not in cm.files["pq_model.c"]
    with pytest.raises(PqError, match="not row-wise"):
        compile_mod.compile_onnx(model[1], fuse_projection=3)

    def broken(*args):       # an internal inconsistency is never hidden by auto's fallback
        raise PqError("internal: fused_x has 3 arguments, its PrimFunc 2 buffers (test)")
    monkeypatch.setattr(compile_mod, "plan_fusion", broken)
    with pytest.raises(PqError, match="internal"):
        compile_mod.compile_onnx(model[1], fuse_projection="auto")


def test_rows_beyond_model_is_an_error(model, tmp_path):
    with pytest.raises(PqError, match=r"--fuse-projection 9: the model has 8 token rows"):
        build(model[1], load_target("host"), tmp_path / "b", "random", fuse_projection=9)


LINES = EDGE + [b"wake me up at 7 am", b"Turn OFF the lights", "¿qué? 日本 😀".encode(), b"a,b \"quoted\"",
                b"one two three four five six seven eight nine ten"]


def _answers(target, out):
    exe = out / ("pqrnn_verify" + (".elf" if target.kind == "baremetal" else ""))
    res = run_program(target, exe, input=b"".join(l + b"\n" for l in LINES), timeout=120)
    assert res.returncode == 0, res.stderr[-500:]
    rows = [json.loads(l) for l in res.stdout.decode().splitlines()]
    assert len(rows) == len(LINES)
    for r in rows:
        r.pop("insns", None)
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("target_name", ["host", pytest.param("cortex-m7", marks=pytest.mark.qemu)])
def test_fused_build_equals_plain_build(model, target_name, tmp_path):
    """Frames, token counts and int8 logits of fused builds (auto, R = 1, 3, T) equal the plain
    build's on empty, over-long, non-ASCII and malformed lines; the fused program keeps no
    feature matrix (less RAM), and the plain build's driver is model_run as before."""
    target = load_target(target_name)
    plain = build(model[1], target, tmp_path / "plain", "random")
    assert "fused" not in plain and plain["fuse_projection"] is None
    assert "model_run_rows" not in (tmp_path / "plain" / "gen" / "pq_model.c").read_text()
    assert "pq_tokenize" not in (tmp_path / "plain" / "gen" / "projection.c").read_text()
    want = _answers(target, tmp_path / "plain")
    assert {r["n"] for r in want} >= {1, SPEC.max_tokens}
    for option in ("auto", 1, 3, SPEC.max_tokens):
        out = tmp_path / f"fused-{option}"
        report = build(model[1], target, out, "random", fuse_projection=option)
        assert report["fused"]["rows"] == (option if option != "auto" else report["fused"]["rows"])
        assert 1 <= report["fused"]["rows"] <= SPEC.max_tokens
        assert _answers(target, out) == want, option
        if target.kind == "baremetal":
            saved = SPEC.max_tokens * SPEC.feature_size
            grown = report["arena_bytes"] - plain["arena_bytes"]
            assert report["sections"]["ram"] <= plain["sections"]["ram"] - saved + grown + 64
            assert report["sections"]["ram"] < plain["sections"]["ram"] or option == SPEC.max_tokens
